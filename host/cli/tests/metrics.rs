//! `pv-host serve --station --metrics-addr`: the exposition a real Prometheus
//! (Debian's `prometheus` 2.42, started by the test on loopback) scrapes, and
//! that `promtool check metrics` accepts; the counts read back through
//! Prometheus's HTTP query API are the calls the test made.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pv_test_support::{Server, Setup, station};
use serde_json::{Value, json};

/// How long the test waits for Prometheus to start and scrape (never a timing check).
const WAIT_BOUND: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `GET path` on `addr` over HTTP/1.0: the body, if the answer was 200.
fn get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then_some(())?;
    head.lines().next()?.contains(" 200 ").then(|| body.to_owned())
}

fn available(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|out| out.status.success());
    assert!(found || std::env::var_os("CI").is_none(), "{tool} is missing: .ci/run installs it");
    if !found {
        eprintln!("{tool} not found: the Prometheus test is skipped");
    }
    found
}

/// `query`'s single value through Prometheus's HTTP API, once it has one.
fn query(prometheus: &str, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"_-.".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect();
    let body = get(prometheus, &format!("/api/v1/query?query={encoded}"))?;
    let answer: Value = serde_json::from_str(&body).ok()?;
    answer["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_scrapes_the_station_and_reads_back_the_calls_made() {
    if !available("prometheus") || !available("promtool") {
        return;
    }
    let setup = Setup::new().with_images();
    setup.install(&station::station().part_counter);
    setup.station_ok(&["activate", "part-counter", "1.0.0"]);
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut command = setup.pv_host_process();
    command.args(["serve", "--station"]).arg(setup.station()).args(["--metrics-addr", &metrics_addr]);
    let mut server = Server::spawn(command);

    // Five OK and two NG executes, on two product ids.
    let execute = |pid: &str, session: &str, expected: u32| {
        json!({ "phase": "execute", "step_index": 1, "pid": pid, "session": {"id": session, "context": {}},
                "user_params": {"expected_count": expected}, "shared_mem_id": "coins" })
    };
    for n in 0..5 {
        let reply = server.call(n + 1, execute("A01", &format!("ok-{n}"), 24));
        assert_eq!(reply["data"]["result_status"], "OK", "{reply}");
    }
    for n in 0..2 {
        let reply = server.call(n + 10, execute("A02", &format!("ng-{n}"), 25));
        assert_eq!(reply["data"]["result_status"], "NG", "{reply}");
    }

    // The exposition: the counts, and promtool's approval.
    let text = get(&metrics_addr, "/metrics").expect("/metrics answers");
    let line = |needle: &[&str]| {
        text.lines().find(|l| l.starts_with("pv_host_calls_total{") && needle.iter().all(|n| l.contains(n))).map(str::to_owned)
    };
    let ok = line(&["pid=\"A01\"", "phase=\"execute\"", "outcome=\"OK\""]).expect("OK executes counted");
    assert!(ok.ends_with(" 5"), "{ok}");
    let ng = line(&["pid=\"A02\"", "outcome=\"NG\""]).expect("NG executes counted");
    assert!(ng.ends_with(" 2"), "{ng}");
    for metric in [
        "pv_host_call_duration_seconds_bucket",
        "pv_host_queue_wait_seconds_count",
        "pv_host_fuel_consumed_total",
        "pv_host_guest_memory_peak_bytes",
        "pv_host_instances{",
        "pv_host_package_loads_total",
        "pv_host_station_switches_total",
        "pv_host_active_version_info{pid=\"A01\",package=\"part-counter\",version=\"1.0.0\"} 1",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    promtool.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write the exposition");
    let checked = promtool.wait_with_output().expect("promtool ends");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus scrapes it; its query API gives the counts back.
    let prometheus_addr = format!("127.0.0.1:{}", free_port());
    let config = setup.path("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pv-host\n    static_configs:\n      - targets: ['{metrics_addr}']\n"
        ),
    )
    .expect("write the config");
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", setup.path("tsdb").display()))
        .arg(format!("--web.listen-address={prometheus_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let started = Instant::now();
    let mut read = (None, None);
    while started.elapsed() < WAIT_BOUND {
        read = (
            query(&prometheus_addr, r#"sum(pv_host_calls_total{phase="execute",outcome="OK"})"#),
            query(&prometheus_addr, r#"sum(pv_host_calls_total{phase="execute",outcome="NG"})"#),
        );
        if read.0.is_some() && read.1.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = query(&prometheus_addr, r#"up{job="pv-host"}"#);
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    server.shutdown();
    assert_eq!(read, (Some(5.0), Some(2.0)), "what Prometheus read back (up = {up:?})");
    assert_eq!(up, Some(1.0));
}
