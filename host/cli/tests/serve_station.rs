//! `pv-host serve --station`: one server process for every product id active
//! on a station, driven through the platform's frame protocol, while
//! `pv-host station` changes the station from other processes. Refusals are
//! matched by code, never by message.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pv_host::ErrorCode;
use pv_test_support::{Server, Setup, is_result_error, station};
use serde_json::{Value, json};

/// How long a test waits for a state before failing (never a timing check).
const WAIT_BOUND: Duration = Duration::from_secs(120);

/// Exit codes of the binary.
const EXIT_USAGE: i32 = 2;
const EXIT_INVALID_INPUT: i32 = 3;

/// `pv-host serve --station` (the setup's station) with `flags`.
fn serve_station(setup: &Setup, flags: &[&str]) -> Server {
    let mut command = setup.pv_host_process();
    command.args(["serve", "--station"]).arg(setup.station());
    serve(command, flags)
}

/// `command` with `flags`, serving.
fn serve(mut command: Command, flags: &[&str]) -> Server {
    command.args(flags);
    Server::spawn(command)
}

/// A generation-1 execute for `pid` in `session` on the shared-memory image `shm_id`.
fn execute(pid: &str, session: &str, shm_id: &str, user_params: Value) -> Value {
    json!({ "phase": "execute", "step_index": 1, "pid": pid, "session": {"id": session, "context": {}},
            "user_params": user_params, "shared_mem_id": shm_id })
}

/// A generation-2 execute (no phase, no pid, no session).
fn execute_only(cur: &str, guide: &str) -> Value {
    json!({ "step_index": 1, "cur_image_shm_id": cur, "guide_image_shm_id": guide, "guide_info": [] })
}

fn verdict(reply: &Value) -> Option<&str> {
    (reply["type"] == "result" && reply["status"] == "OK").then(|| reply["data"]["result_status"].as_str()).flatten()
}

/// Which version of the part counter answered a successful execute: it says
/// its version in its debug output.
fn part_counter_version(reply: &Value) -> Option<String> {
    reply["data"]["debug"]["version"].as_str().map(str::to_owned)
}

/// The version the versioned guest says it is, from a successful execute.
fn reported_version(reply: &Value) -> Option<String> {
    (reply["status"] == "OK").then(|| reply["data"]["debug"]["version"].as_str().map(str::to_owned)).flatten()
}

/// The part counter and the scratch detector installed and active.
fn two_package_station() -> Setup {
    let setup = Setup::new().with_images();
    let fixture = station::station();
    setup.install(&fixture.part_counter);
    setup.install(&fixture.scratch_detector);
    setup.station_ok(&["activate", "part-counter", "1.0.0"]);
    setup.station_ok(&["activate", "scratch-detector", "1.0.0"]);
    setup
}

#[test]
fn one_server_answers_the_part_counter_and_the_scratch_detector_by_product_id() {
    let setup = two_package_station();
    let mut server = serve_station(&setup, &[]);

    let reply = server.call(1, execute("A01", "tray-1", "coins", json!({"expected_count": 24})));
    assert_eq!(verdict(&reply), Some("OK"), "{reply}");
    let reply = server.call(2, execute("A02", "tray-2", "coins", json!({"expected_count": 25})));
    assert_eq!(verdict(&reply), Some("NG"), "{reply}");
    let reply = server.call(3, execute("B01", "wall-1", "brick", json!({})));
    assert_eq!(verdict(&reply), Some("OK"), "{reply}");
    let reply = server.call(4, execute("B02", "wall-2", "scratched", json!({})));
    assert_eq!(verdict(&reply), Some("NG"), "{reply}");
    assert!(reply["data"]["defect_rects"].as_array().is_some_and(|rects| !rects.is_empty()), "{reply}");
    // One session, two product ids on two packages: each step on its own.
    let reply = server.call(5, execute("A01", "line", "coins", json!({})));
    assert_eq!(verdict(&reply), Some("OK"), "{reply}");
    let reply = server.call(6, execute("B01", "line", "scratched", json!({})));
    assert_eq!(verdict(&reply), Some("NG"), "{reply}");

    // `info` for a product id describes its package; without one, the station.
    let info = |pid: &str| json!({ "phase": "info", "pid": pid, "session": {"id": "i"} });
    assert_eq!(server.call(7, info("A02"))["data"]["info"]["name"], "part-counter");
    assert_eq!(server.call(8, info("B01"))["data"]["info"]["name"], "scratch-detector");
    let station_info = server.call(9, json!({ "phase": "info" }));
    assert_eq!(station_info["data"]["info"]["supported_pids"], json!(["A01", "A02", "B01", "B02"]), "{station_info}");
    assert_eq!(station_info["data"]["info"]["pids"]["B02"]["name"], "scratch-detector", "{station_info}");

    // Product ids nothing is active for.
    for (id, pid) in [(10, "Z99"), (11, "")] {
        let reply = server.call(id, execute(pid, "s", "coins", json!({})));
        assert!(is_result_error(&reply, ErrorCode::InvalidPid), "{pid:?}: {reply}");
    }
    assert!(is_result_error(&server.call(12, info("Z99")), ErrorCode::InvalidPid));
    // A generation-2 call names no product id, and four are active.
    assert!(is_result_error(&server.call(13, execute_only("coins", "coins")), ErrorCode::InvalidPid));
    // Setup and the step hooks are routed the same way.
    for (id, phase) in [(14, "setup"), (15, "on_step_start"), (16, "reset")] {
        let reply = server.call(id, json!({ "phase": phase, "pid": "B02", "session": {"id": "wall-3"} }));
        assert_eq!(reply["status"], "OK", "{phase}: {reply}");
    }
    assert!(is_result_error(&server.call(17, json!({ "phase": "setup", "pid": "Z99" })), ErrorCode::InvalidPid));
    assert_eq!(server.call(18, json!({ "phase": "teardown" }))["status"], "OK");
    assert_eq!(verdict(&server.call(19, execute("A01", "tray-3", "coins", json!({})))), Some("OK"), "served after teardown");
    server.shutdown();

    // Generation 2 with --pid, the station found through $PV_HOST_STATION.
    let mut command = setup.pv_host_process();
    command.arg("serve");
    let mut server = serve(command, &["--pid", "B01"]);
    assert_eq!(verdict(&server.call(20, execute_only("scratched", "brick"))), Some("NG"));
    assert_eq!(verdict(&server.call(21, execute_only("brick", "brick"))), Some("OK"));
    server.shutdown();
}

#[test]
fn serve_station_refuses_what_it_cannot_serve() {
    let setup = Setup::new().with_images();
    let status = |args: &[&str]| {
        setup
            .pv_host_process()
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("runs")
            .code()
    };
    let station = setup.station();
    let station = station.to_str().expect("utf-8 path");
    // A package and a station at once; flags of a package file.
    assert_eq!(status(&[station::part_counter(), "--station", station]), Some(EXIT_USAGE));
    assert_eq!(status(&["--station", station, "--allow-unsigned"]), Some(EXIT_USAGE));
    assert_eq!(status(&["--station", station, "--params", "{}"]), Some(EXIT_USAGE));
    assert_eq!(status(&["--allow-downgrade"]), Some(EXIT_USAGE), "the station of $PV_HOST_STATION");
    assert_eq!(status(&[station::part_counter(), "--watch-ms", "10"]), Some(EXIT_USAGE));
    // Nothing active.
    assert_eq!(status(&["--station", station]), Some(EXIT_INVALID_INPUT));
    setup.install(&station::station().part_counter);
    assert_eq!(status(&["--station", station]), Some(EXIT_INVALID_INPUT), "installed is not active");
    setup.station_ok(&["activate", "part-counter", "1.0.0", "--pid", "A01"]);
    // A --pid nothing is active for.
    assert_eq!(status(&["--station", station, "--pid", "A02"]), Some(EXIT_INVALID_INPUT));
    // Served: the end of input ends it cleanly.
    assert_eq!(status(&["--station", station, "--pid", "A01"]), Some(0));
}

/// A session begun on a version finishes on it after another version is
/// activated, and after its product id is deactivated; new sessions, and
/// calls that name no session, take the version active when they start.
#[test]
fn a_session_stays_on_the_version_it_began_on() {
    let setup = Setup::new().with_images();
    setup.install(&setup.versioned("versioned", "1.0.0", &["V"]));
    setup.install(&setup.versioned("versioned", "2.0.0", &["V"]));
    setup.station_ok(&["activate", "versioned", "1.0.0"]);
    // Generation-2 calls share one session, begun on each version they reach.
    let mut server = serve_station(&setup, &["--watch-ms", "10", "--execute-session", "line"]);
    let mut ids = 0u64..;
    let mut next = move || ids.next().expect("ids");

    assert_eq!(server.call(next(), json!({ "phase": "setup", "pid": "V", "session": {"id": "part-1"} }))["status"], "OK");
    let step = |session: &str| execute("V", session, "coins", json!({}));
    assert_eq!(reported_version(&server.call(next(), step("part-1"))).as_deref(), Some("1.0.0"));
    let sessionless = json!({ "phase": "execute", "pid": "V", "shared_mem_id": "coins" });
    assert_eq!(reported_version(&server.call(next(), sessionless.clone())).as_deref(), Some("1.0.0"));
    // The only active product id serves generation 2 without --pid.
    assert_eq!(reported_version(&server.call(next(), execute_only("coins", "coins"))).as_deref(), Some("1.0.0"));
    // One version serves every active product id: `info` is its own.
    let info = server.call(next(), json!({ "phase": "info" }));
    assert_eq!(
        (info["data"]["info"]["name"].as_str(), info["data"]["info"]["version"].as_str()),
        (Some("versioned"), Some("1.0.0")),
        "{info}"
    );
    assert_eq!(info["data"]["info"]["supported_pids"], json!(["V"]));

    setup.station_ok(&["activate", "versioned", "2.0.0"]);
    let deadline = Instant::now() + WAIT_BOUND;
    for probe in 0.. {
        let reply = server.call(next(), step(&format!("probe-{probe}")));
        if reported_version(&reply).as_deref() == Some("2.0.0") {
            break;
        }
        assert_eq!(reported_version(&reply).as_deref(), Some("1.0.0"), "{reply}");
        assert!(Instant::now() < deadline, "the server never took up 2.0.0");
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..3 {
        let reply = server.call(next(), step("part-1"));
        assert_eq!(reported_version(&reply).as_deref(), Some("1.0.0"), "part-1 stays on its version: {reply}");
    }
    let finish = json!({ "phase": "on_step_finish", "pid": "V", "outcome": "OK", "session": {"id": "part-1"} });
    assert_eq!(server.call(next(), finish)["status"], "OK");
    assert_eq!(reported_version(&server.call(next(), step("part-2"))).as_deref(), Some("2.0.0"));
    assert_eq!(reported_version(&server.call(next(), sessionless.clone())).as_deref(), Some("2.0.0"), "no session follows");
    assert_eq!(reported_version(&server.call(next(), execute_only("coins", "coins"))).as_deref(), Some("2.0.0"));

    // Rolled back: new sessions go back to 1.0.0, part-2 stays on 2.0.0.
    setup.station_ok(&["rollback", "V"]);
    let deadline = Instant::now() + WAIT_BOUND;
    for probe in 0.. {
        if reported_version(&server.call(next(), step(&format!("back-{probe}")))).as_deref() == Some("1.0.0") {
            break;
        }
        assert!(Instant::now() < deadline, "the server never rolled back");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(reported_version(&server.call(next(), step("part-2"))).as_deref(), Some("2.0.0"));

    // Deactivated: a new session is refused as an unknown product id; the
    // sessions begun before finish on their versions.
    setup.station_ok(&["deactivate", "V"]);
    let deadline = Instant::now() + WAIT_BOUND;
    for probe in 0.. {
        let reply = server.call(next(), step(&format!("gone-{probe}")));
        if is_result_error(&reply, ErrorCode::InvalidPid) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never dropped V: {reply}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(is_result_error(&server.call(next(), sessionless), ErrorCode::InvalidPid));
    assert!(is_result_error(&server.call(next(), execute_only("coins", "coins")), ErrorCode::InvalidPid));
    assert!(is_result_error(&server.call(next(), json!({ "phase": "info", "pid": "V" })), ErrorCode::InvalidPid));
    assert_eq!(reported_version(&server.call(next(), step("part-1"))).as_deref(), Some("1.0.0"));
    assert_eq!(reported_version(&server.call(next(), step("part-2"))).as_deref(), Some("2.0.0"));
    server.shutdown();
}

/// The demonstration: one `serve --station` process serves the part
/// counter and the scratch detector while a client keeps calling; a new
/// part-counter version (the same algorithm built as 1.1.0) is installed,
/// then activated and rolled back through
/// the binary in other processes, back and forth 50 times. No call fails, and
/// every answer comes from a version that was active when its call started.
#[test]
fn fifty_switches_through_the_binary_under_a_continuous_client_fail_no_call() {
    let setup = two_package_station();
    let mut server = serve_station(&setup, &["--watch-ms", "10", "--instances", "2"]);
    // Installed while the server serves.
    let first = server.call(0, execute("A01", "first", "coins", json!({})));
    assert_eq!(part_counter_version(&first).as_deref(), Some("1.0.0"), "{first}");
    setup.install(&station::station().part_counter_next);

    let versions = ["1.0.0", pv_test_artifacts::PART_COUNTER_NEXT_VERSION];
    // The versions activated, in order; an activation is appended before it
    // is made, so a call that starts when the log has n entries may run on
    // entry n-2 (the switch not yet seen) or any later one.
    let log = Arc::new(Mutex::new(vec![versions[0].to_owned()]));
    let stop = Arc::new(AtomicBool::new(false));
    let last_answer = Arc::new(Mutex::new(String::new()));
    let calls = Arc::new(AtomicU64::new(0));
    let client = {
        let (log, stop, last_answer, calls) = (Arc::clone(&log), Arc::clone(&stop), Arc::clone(&last_answer), Arc::clone(&calls));
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut id = 1u64;
            while !stop.load(Ordering::SeqCst) {
                // A batch of calls sent at once, so that calls are in flight
                // (two run at a time) when a switch lands: three on the part
                // counter, each in a session of its own (each takes the version
                // active then), and one on the scratch detector, which the
                // switches never disturb.
                let start = log.lock().expect("log").len();
                let batch: Vec<(u64, &str)> = ["A01", "A01", "B01", "A01"]
                    .iter()
                    .map(|pid| {
                        id += 1;
                        (id, *pid)
                    })
                    .collect();
                for (id, pid) in &batch {
                    let data = match *pid {
                        "A01" => execute("A01", &format!("tray-{id}"), "coins", json!({})),
                        _ => execute("B01", &format!("wall-{id}"), "scratched", json!({})),
                    };
                    server.send(&json!({ "type": "call", "request_id": id, "data": data }));
                }
                let mut replies: Vec<Value> = batch.iter().map(|_| server.receive()).collect();
                let end = log.lock().expect("log").len();
                calls.fetch_add(batch.len() as u64, Ordering::SeqCst);
                replies.sort_by_key(|reply| reply["request_id"].as_u64());
                let allowed = log.lock().expect("log")[start.saturating_sub(2)..end].to_vec();
                for ((sent, pid), reply) in batch.iter().zip(&replies) {
                    if reply["request_id"] != *sent {
                        failures.push(format!("request {sent} unanswered; got {reply}"));
                        continue;
                    }
                    if *pid == "B01" {
                        if verdict(reply) != Some("NG") {
                            failures.push(format!("scratch detector: {reply}"));
                        }
                        continue;
                    }
                    let Some(answered) = part_counter_version(reply).filter(|_| verdict(reply) == Some("OK")) else {
                        failures.push(format!("call failed: {reply}"));
                        continue;
                    };
                    if !allowed.contains(&answered) {
                        failures.push(format!("answered by {answered}, active then: {allowed:?}"));
                    }
                    *last_answer.lock().expect("answer") = answered;
                }
            }
            (server, failures)
        })
    };

    for switch in 1..=50 {
        let next = versions[switch % 2];
        log.lock().expect("log").push(next.to_owned());
        if switch % 10 == 0 {
            // Every tenth switch is a rollback.
            setup.station_ok(&["rollback", "A01"]);
        } else {
            setup.station_ok(&["activate", "part-counter", next]);
        }
        let deadline = Instant::now() + WAIT_BOUND;
        while *last_answer.lock().expect("answer") != next {
            assert!(Instant::now() < deadline, "switch {switch}: the client never got an answer from {next}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (server, failures) = client.join().expect("the client thread");
    let calls = calls.load(Ordering::SeqCst);
    assert!(failures.is_empty(), "{} failures in {calls} calls: {failures:?}", failures.len());
    assert!(calls >= 50);
    eprintln!("{calls} calls across 50 switches made by the binary, none failed");
    server.shutdown();
}
