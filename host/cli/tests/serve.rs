//! `pv-host serve` end to end: the platform's frame protocol from a Python
//! client (standard library only) and from Rust, and each hostile input.

use std::path::Path;
use std::process::{Command, Stdio};

use pv_host::ErrorCode;
use pv_test_artifacts::fixtures;
use pv_test_support::{Server, is_result_error, pv_host_binary, pv_host_process, station};
use serde_json::{Value, json};

#[test]
fn a_platform_client_drives_both_generations_and_the_validation_flow() {
    let shm = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve_client.py");
    // The photograph's raw pixels, for the client's numpy to write as a `.npy`.
    let coins = image::open(fixtures::image_path("coins.png")).expect("coins").to_rgb8();
    let raw = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(raw.path(), coins.as_raw()).expect("raw pixels");
    let output = Command::new("python3")
        .arg(script)
        .arg(pv_host_binary())
        .arg(station::part_counter())
        .arg(&station::station().trust)
        .arg(pv_test_artifacts::HOSTILE)
        .arg(fixtures::image_path("coins.png"))
        .arg(raw.path())
        .arg(coins.width().to_string())
        .arg(coins.height().to_string())
        .arg(shm.path())
        .env_remove("PV_HOST_LOG")
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout: {}\nstderr: {stderr}", String::from_utf8_lossy(&output.stdout));
    if stderr.contains("numpy is not installed") {
        eprintln!("the .npy part of the platform client was skipped: numpy is not installed");
    }
}

/// `pv-host serve PACKAGE FLAGS`, its images in `shm`, trusting the test station.
fn serve(package: &str, shm: &Path, flags: &[&str]) -> Server {
    let mut command = pv_host_process();
    command.env("PROC_SHM_DIR", shm);
    serve_with(command, package, flags)
}

/// `command serve PACKAGE FLAGS`, trusting the test station.
fn serve_with(command: Command, package: &str, flags: &[&str]) -> Server {
    spawn(command, package, flags, &station::station().trust)
}

/// Serve `package` admitted by the trust store in `trust`.
fn serve_trusting(command: Command, package: &str, trust: &Path) -> Server {
    spawn(command, package, &[], trust)
}

fn spawn(mut command: Command, package: &str, flags: &[&str], trust: &Path) -> Server {
    command.args(["serve", package]).args(flags).env("PV_HOST_TRUST", trust);
    Server::spawn(command)
}

fn write_npy(path: &Path, image: &image::RgbImage) {
    use npyz::WriterBuilder;
    let mut bytes = Vec::new();
    let shape = [u64::from(image.height()), u64::from(image.width()), 3];
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut bytes).begin_nd().expect("npy writer");
    writer.extend(image.as_raw().iter().copied()).expect("pixels");
    writer.finish().expect("finish");
    std::fs::write(path, bytes).expect("write npy");
}

#[test]
fn a_rust_client_runs_npy_frames_and_sessions() {
    let shm = tempfile::tempdir().expect("tempdir");
    let coins = image::open(fixtures::image_path("coins.png")).expect("coins").to_rgb8();
    write_npy(&shm.path().join("coins-rgb.npy"), &coins);
    let mut server = serve(station::part_counter(), shm.path(), &[]);
    let data = |count: u32| {
        json!({ "phase": "execute", "pid": "A01", "session": {"id": "s1", "context": {}}, "user_params": {"expected_count": count},
                "cur_image_shm_id": "coins-rgb", "cur_image_meta": {"width": 384, "height": 303, "color_space": "RGB"} })
    };
    assert_eq!(server.call(1, data(24))["data"]["result_status"], "OK");
    assert_eq!(server.call(2, data(25))["data"]["result_status"], "NG");
    let mut wrong_meta = data(24);
    wrong_meta["cur_image_meta"]["width"] = json!(100);
    assert!(is_result_error(&server.call(3, wrong_meta), ErrorCode::InvalidParams));
    let mut escape = data(24);
    escape["cur_image_shm_id"] = json!("../coins-rgb");
    assert!(is_result_error(&server.call(4, escape), ErrorCode::ImageLoadFailed), "ids cannot leave the directory");
    let mut missing = data(24);
    missing["cur_image_shm_id"] = json!("nothing-here");
    assert!(is_result_error(&server.call(5, missing), ErrorCode::ImageLoadFailed));
    let mut empty = data(24);
    empty["cur_image_shm_id"] = json!("");
    assert!(is_result_error(&server.call(6, empty), ErrorCode::ImageLoadFailed));
    server.shutdown();
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[test]
fn npy_pixels_reach_the_guest_exactly_and_a_vanished_file_is_1002() {
    let shm = tempfile::tempdir().expect("tempdir");
    let frame = image::RgbImage::from_fn(97, 61, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, (x ^ y) as u8]));
    let guide = image::RgbImage::from_fn(97, 61, |x, y| image::Rgb([(y * 7) as u8, x as u8, 200]));
    write_npy(&shm.path().join("cur.npy"), &frame);
    write_npy(&shm.path().join("guide.npy"), &guide);
    let mut server = serve(pv_test_artifacts::HOSTILE, shm.path(), &["--allow-unsigned", "--pid", "DIGEST"]);
    let digest = |bytes: &[u8]| json!({ "len": bytes.len(), "fnv1a": fnv1a(bytes).to_string() });
    let call = json!({ "phase": "execute", "pid": "DIGEST", "session": {"id": "s1"}, "shared_mem_id": "cur",
                       "image_meta": {"width": 97, "height": 61} });
    let reply = server.call(1, call.clone());
    let debug = &reply["data"]["debug"];
    assert_eq!(debug["image"], digest(frame.as_raw()), "{reply}");
    // Generation 2: the current and the guide image, both read in place.
    let both = json!({ "step_index": 1, "cur_image_shm_id": "cur", "cur_image_meta": {"width": 97, "height": 61},
                       "guide_image_shm_id": "guide", "guide_image_meta": {"width": 97, "height": 61} });
    let reply = server.call(2, both);
    let debug = &reply["data"]["debug"];
    assert_eq!((&debug["image"], &debug["guide"]), (&digest(frame.as_raw()), &digest(guide.as_raw())), "{reply}");
    std::fs::remove_file(shm.path().join("cur.npy")).expect("remove");
    assert!(is_result_error(&server.call(3, call), ErrorCode::ImageLoadFailed));
    server.shutdown();
}

fn coins_call(id: &str) -> Value {
    json!({ "phase": "execute", "pid": "A01", "session": {"id": "s1"}, "user_params": {"expected_count": 24},
            "shared_mem_id": id, "image_meta": {"width": 384, "height": 303} })
}

#[test]
fn ids_with_colons_are_read_under_the_platforms_names_from_its_default_directory() {
    let temp = tempfile::tempdir().expect("tempdir");
    // No PROC_SHM_DIR: the platform's directory in $TMPDIR.
    let platform_dir = temp.path().join("procvision_dev_shm");
    std::fs::create_dir(&platform_dir).expect("mkdir");
    std::fs::copy(fixtures::image_path("coins.png"), platform_dir.join("dev-shm_session-1732870000000_cur.bin")).expect("copy");
    let mut command = pv_host_process();
    command.env_remove("PROC_SHM_DIR").env("TMPDIR", temp.path()).env("TEMP", "/nonexistent").env("TMP", "/nonexistent");
    let mut server = serve_with(command, station::part_counter(), &[]);
    let reply = server.call(1, coins_call("dev-shm:session-1732870000000:cur"));
    assert_eq!((reply["status"].as_str(), reply["data"]["result_status"].as_str()), (Some("OK"), Some("OK")), "{reply}");
    server.shutdown();

    // --shm-dir wins over PROC_SHM_DIR.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut command = pv_host_process();
    command.env("PROC_SHM_DIR", elsewhere.path());
    let flags = ["--shm-dir", platform_dir.to_str().expect("utf-8")];
    let mut server = serve_with(command, station::part_counter(), &flags);
    let reply = server.call(2, coins_call("dev-shm:session-1732870000000:cur"));
    assert_eq!(reply["data"]["result_status"], "OK", "{reply}");
    server.shutdown();
}

#[cfg(unix)]
#[test]
fn symlinks_fifos_and_directories_in_the_shm_directory_are_refused() {
    let shm = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("coins.png");
    std::fs::copy(fixtures::image_path("coins.png"), &secret).expect("copy");
    std::os::unix::fs::symlink(&secret, shm.path().join("link.bin")).expect("symlink");
    std::os::unix::fs::symlink(&secret, shm.path().join("link2.npy")).expect("symlink");
    let fifo = shm.path().join("pipe.bin");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    std::fs::create_dir(shm.path().join("dir.bin")).expect("mkdir");
    let mut server = serve(station::part_counter(), shm.path(), &[]);
    for (i, id) in ["link", "link2", "pipe", "dir"].iter().enumerate() {
        let reply = server.call(i as u64, coins_call(id));
        assert!(is_result_error(&reply, ErrorCode::ImageLoadFailed), "{id}: {reply}");
    }
    // Nothing hangs on the FIFO: the server still answers and shuts down.
    server.send(&json!({"type": "ping", "request_id": 9}));
    assert_eq!(server.receive()["type"], "pong");
    server.shutdown();
}

fn npy_with_header(header_len: u32, header: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header);
    bytes
}

#[test]
fn npy_header_bombs_are_refused_before_anything_is_allocated() {
    let shm = tempfile::tempdir().expect("tempdir");
    // A header that claims 4 GiB, and a real one of 8 MiB of `[0,0,...`.
    std::fs::write(shm.path().join("claims.npy"), npy_with_header(0xFFFF_FFF0, b"{'descr': '|u1'")).expect("write");
    let mut big = b"{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1), 'x': [".to_vec();
    big.resize(8 << 20, b'0');
    big.extend_from_slice(b"]}\n");
    std::fs::write(shm.path().join("big.npy"), npy_with_header(big.len() as u32, &big)).expect("write");
    let mut server = serve(station::part_counter(), shm.path(), &[]);
    // The hello comes before the package is loaded: an answered `info` means
    // loading is over, so what the memory does after it is the call's.
    assert_eq!(server.call(100, json!({"phase": "info"}))["status"], "OK");
    let before = server.peak_rss_kib();
    for (i, id) in ["claims", "big"].iter().enumerate() {
        let mut call = coins_call(id);
        call["image_meta"] = json!({});
        let reply = server.call(i as u64, call);
        assert!(is_result_error(&reply, ErrorCode::ImageLoadFailed), "{id}: {reply}");
    }
    if let (Some(before), Some(after)) = (before, server.peak_rss_kib()) {
        // The 8 MiB header is never read, the 4 GiB one never reserved.
        assert!(after < before + 8 * 1024, "peak RSS grew from {before} KiB to {after} KiB");
    }
    server.shutdown();
}

fn execute_only(cur: &str, guide: &str) -> Value {
    let meta = json!({"width": 384, "height": 303, "timestamp_ms": 1, "camera_id": "cam-1"});
    json!({ "step_index": 1, "step_desc": "count the coins", "cur_image_shm_id": cur, "cur_image_meta": meta,
            "guide_image_shm_id": guide, "guide_image_meta": meta,
            "guide_info": [{"label": "1", "posList": [{"x": 94, "y": 269, "width": 19, "height": 30}]}] })
}

#[test]
fn guide_info_over_its_caps_and_a_bin_over_its_meta_are_refused_and_the_server_goes_on() {
    let shm = tempfile::tempdir().expect("tempdir");
    for name in ["dev-shm_s_cur.bin", "dev-shm_s_guide.bin"] {
        std::fs::copy(fixtures::image_path("coins.png"), shm.path().join(name)).expect("copy");
    }
    let mut server = serve(station::part_counter(), shm.path(), &["--pid", "A02"]);
    // The hello comes before the package is loaded: an answered `info` means
    // loading is over, so what the memory does after it is the call's.
    assert_eq!(server.call(100, json!({"phase": "info"}))["status"], "OK");
    let before = server.peak_rss_kib();
    // A 1 MiB label shared by 1000 rects: a gigabyte once copied into each rect.
    let mut call = execute_only("dev-shm:s:cur", "dev-shm:s:guide");
    call["guide_info"] = json!([{"label": "L".repeat(1 << 20), "posList": vec![[94, 269, 19, 30]; 1000]}]);
    let reply = server.call(1, call);
    assert!(is_result_error(&reply, ErrorCode::InvalidParams), "{reply}");
    if let (Some(before), Some(after)) = (before, server.peak_rss_kib()) {
        assert!(after < before + 64 * 1024, "peak RSS grew from {before} KiB to {after} KiB");
    }
    // A `.bin` larger than an image of its meta's size could need encoded.
    let big = std::fs::File::create(shm.path().join("dev-shm_s_big.bin")).expect("create");
    big.set_len(64 << 20).expect("size");
    let reply = server.call(2, execute_only("dev-shm:s:big", "dev-shm:s:guide"));
    assert!(is_result_error(&reply, ErrorCode::ImageLoadFailed), "{reply}");
    // The server serves on.
    let ok = server.call(3, execute_only("dev-shm:s:cur", "dev-shm:s:guide"));
    assert_eq!(ok["data"]["result_status"], "OK", "{ok}");
    server.shutdown();
}

#[test]
fn execute_only_calls_take_the_pid_and_params_from_the_command_line() {
    let shm = tempfile::tempdir().expect("tempdir");
    for name in ["dev-shm_s_cur.bin", "dev-shm_s_guide.bin"] {
        std::fs::copy(fixtures::image_path("coins.png"), shm.path().join(name)).expect("copy");
    }
    let call = execute_only("dev-shm:s:cur", "dev-shm:s:guide");
    let mut server = serve(station::part_counter(), shm.path(), &[]);
    assert!(is_result_error(&server.call(1, call.clone()), ErrorCode::InvalidPid), "two PIDs and no --pid");
    server.shutdown();

    let mut server = serve(station::part_counter(), shm.path(), &["--pid", "A02"]);
    let ok = server.call(2, call.clone());
    assert_eq!((ok["status"].as_str(), ok["data"]["result_status"].as_str()), (Some("OK"), Some("OK")), "{ok}");
    assert_eq!(ok["data"]["step_index"], 1);
    assert!(ok["data"].get("phase").is_none(), "no phase in an execute-only reply: {ok}");
    // Both call shapes on one connection.
    assert_eq!(server.call(3, coins_call("dev-shm:s:cur"))["data"]["phase"], "execute");
    server.shutdown();

    let mut server = serve(station::part_counter(), shm.path(), &["--pid", "A01", "--params", r#"{"expected_count": 25}"#]);
    assert_eq!(server.call(4, call.clone())["data"]["result_status"], "NG");
    server.shutdown();

    // One session shared by every execute-only call, kept across them.
    let mut server = serve(station::part_counter(), shm.path(), &["--pid", "A01", "--execute-session", "station"]);
    for id in 5..8 {
        assert_eq!(server.call(id, call.clone())["data"]["result_status"], "OK");
    }
    server.shutdown();
}

/// A private copy of the test station's trust store, whose lock a test may
/// hold without stopping the other tests.
fn private_trust_store() -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(&station::station().trust).expect("the trust store") {
        let entry = entry.expect("an entry");
        let target = copy.path().join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            std::fs::create_dir(&target).expect("a directory");
            for inner in std::fs::read_dir(entry.path()).expect("a directory") {
                let inner = inner.expect("an entry");
                std::fs::copy(inner.path(), target.join(inner.file_name())).expect("copied");
            }
        } else {
            std::fs::copy(entry.path(), &target).expect("copied");
        }
    }
    copy
}

#[test]
fn serve_says_hello_and_answers_pings_while_it_waits_for_a_lock() {
    let shm = tempfile::tempdir().expect("tempdir");
    let trust = private_trust_store();
    let hold = || {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(trust.path().join(".lock"));
        let file = file.expect("the lock file");
        file.lock().expect("locked");
        file
    };
    // Held, then released: hello and pongs while the package waits for the
    // trust store's lock, the call made meanwhile answered once it is loaded.
    let held = hold();
    let mut command = pv_host_process();
    command.env("PROC_SHM_DIR", shm.path()).env("PV_HOST_LOCK_TIMEOUT_MS", "60000");
    let mut server = serve_trusting(command, station::part_counter(), trust.path());
    server.send(&json!({"type": "ping", "request_id": 1}));
    assert_eq!(server.receive()["type"], "pong");
    server.send(&json!({"type": "call", "request_id": 2, "data": {"phase": "info"}}));
    server.send(&json!({"type": "ping", "request_id": 3}));
    assert_eq!(server.receive()["request_id"], 3, "the ping is answered before the waiting call");
    drop(held);
    let info = server.receive();
    assert_eq!((info["request_id"].as_i64(), info["status"].as_str()), (Some(2), Some("OK")), "{info}");
    server.shutdown();

    // Held for good: the waiting call gets busy (3001), and serve exits 10.
    let _held = hold();
    let mut command = pv_host_process();
    command.env("PROC_SHM_DIR", shm.path()).env("PV_HOST_LOCK_TIMEOUT_MS", "500");
    let mut server = serve_trusting(command, station::part_counter(), trust.path());
    server.send(&json!({"type": "call", "request_id": 4, "data": {"phase": "info"}}));
    assert!(is_result_error(&server.receive(), ErrorCode::Busy));
    assert_eq!(server.finish(), 10);
}

#[test]
fn serve_refuses_a_pid_or_params_the_algorithm_does_not_take() {
    let shm = tempfile::tempdir().expect("tempdir");
    for flags in [&["--pid", "Z99"][..], &["--params", r#"{"nope": 1}"#], &["--params", r#"{"expected_count": -3}"#]] {
        let status = pv_host_process()
            .args(["serve", station::part_counter()])
            .args(flags)
            .env("PROC_SHM_DIR", shm.path())
            .env("PV_HOST_TRUST", &station::station().trust)
            .env_remove("PV_HOST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("runs");
        assert!(!status.success(), "{flags:?} is refused before serving");
    }
}

#[test]
fn a_ping_is_answered_before_a_looping_call_in_an_evicted_session_ends() {
    let shm = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures::image_path("coins.png"), shm.path().join("f.bin")).expect("copy image");
    let flags = ["--allow-unsigned", "--instances", "1", "--queue", "0", "--timeout-ms", "6000"];
    let mut server = serve(pv_test_artifacts::HOSTILE, shm.path(), &flags);
    server.send(&json!({ "type": "call", "request_id": "loop",
                        "data": { "phase": "execute", "pid": "LOOP", "session": {"id": "s0"}, "shared_mem_id": "f" } }));
    // 256 new sessions: the last one evicts s0, whose call is still running.
    let mut loop_done = false;
    for i in 1..=256u64 {
        let setup = json!({ "type": "call", "request_id": i, "data": { "phase": "setup", "session": {"id": format!("s{i}")} } });
        server.send(&setup);
        loop {
            let reply = server.receive();
            if reply["request_id"] == "loop" {
                loop_done = true;
                continue;
            }
            assert_eq!(reply["request_id"], i, "{reply}");
            break;
        }
    }
    server.send(&json!({"type": "ping", "request_id": "hb"}));
    let first = server.receive();
    assert!(!loop_done && first["type"] == "pong", "the pong comes before the loop's end: {first}");
    assert!(is_result_error(&server.receive(), ErrorCode::Timeout), "then the loop's deadline");
    server.shutdown();
}

#[test]
fn bad_json_and_unknown_types_get_error_frames_and_the_server_goes_on() {
    let shm = tempfile::tempdir().expect("tempdir");
    let mut server = serve(station::part_counter(), shm.path(), &[]);
    server.send_raw(&[0, 0, 0, 5, b'{', b'o', b'o', b'p', b's']);
    let reply = server.receive();
    assert_eq!((reply["type"].as_str(), reply["error_code"].as_str()), (Some("error"), Some("1000")), "{reply}");
    server.send(&json!({"type": "dance", "request_id": 4}));
    let reply = server.receive();
    assert_eq!((reply["error_code"].as_str(), reply["request_id"].as_i64()), (Some("1000"), Some(4)), "{reply}");
    assert_eq!(server.call(1, json!({"phase": "moonwalk"}))["error_code"], "1000");
    server.send(&json!({"type": "ping", "request_id": 9}));
    assert_eq!(server.receive()["type"], "pong", "still serving");
    assert_eq!(server.finish(), 0, "the end of input between frames is a clean end");
}

#[test]
fn an_oversized_frame_is_refused_and_the_connection_closed() {
    let shm = tempfile::tempdir().expect("tempdir");
    let mut server = serve(station::part_counter(), shm.path(), &["--max-frame-bytes", "1024"]);
    // Claims 4 GiB - 1: refused from the prefix alone.
    server.send_raw(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let reply = server.receive();
    assert_eq!((reply["type"].as_str(), reply["error_code"].as_str()), (Some("error"), Some("1000")), "{reply}");
    assert_eq!(server.finish(), 3);
}

#[test]
fn the_end_of_input_inside_a_frame_tears_down_and_exits() {
    let shm = tempfile::tempdir().expect("tempdir");
    let mut server = serve(station::part_counter(), shm.path(), &[]);
    server.send_raw(&[0, 0, 1, 0, b'{', b'"']);
    assert_eq!(server.finish(), 3);
}

#[test]
fn with_no_queue_a_call_made_while_another_runs_is_busy() {
    let shm = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures::image_path("coins.png"), shm.path().join("f.bin")).expect("copy image");
    let flags = ["--allow-unsigned", "--instances", "1", "--queue", "0", "--timeout-ms", "1500"];
    let mut server = serve(pv_test_artifacts::HOSTILE, shm.path(), &flags);
    let call = |id: u64, pid: &str| {
        json!({ "type": "call", "request_id": id,
                "data": { "phase": "execute", "pid": pid, "session": {"id": format!("s{id}")}, "shared_mem_id": "f" } })
    };
    // Calls race for the only instance: whichever holds it, the others are
    // refused at once. Keep the loop running (re-sent if a GOOD call won the
    // race) and watch for a call refused while another runs.
    let mut loop_id = 1;
    server.send(&call(loop_id, "LOOP"));
    let mut busy = false;
    let mut next_id = 2;
    let loop_end = loop {
        if !busy {
            server.send(&call(next_id, "GOOD"));
            next_id += 1;
        }
        let reply = server.receive();
        if reply["request_id"] == loop_id {
            if reply["error_code"] == "3001" {
                // A GOOD call held the instance when the loop arrived: try again.
                loop_id = next_id;
                next_id += 1;
                server.send(&call(loop_id, "LOOP"));
                continue;
            }
            break reply;
        }
        if reply["error_code"] == "3001" {
            busy = true;
        }
        assert!(next_id < 10_000, "no call was ever refused as busy");
    };
    assert!(busy, "a call made while another ran was refused as busy");
    assert_eq!(loop_end["error_code"], "1005");
    assert_eq!(server.finish(), 0);
}

// ---- in process: what the server holds and decodes ----------------------------

mod in_process {
    use std::sync::Arc;

    use pv_host::serve::frame::{encode_frame, read_frame};
    use pv_host::serve::{ServeConfig, ServeStats, serve};
    use pv_host::{Host, Limits, Phase, Runner, RunnerConfig};
    use serde_json::{Value, json};
    use tokio::io::{AsyncWriteExt, DuplexStream};

    struct Client {
        to: DuplexStream,
        from: DuplexStream,
    }

    impl Client {
        async fn send(&mut self, message: Value) {
            self.to.write_all(&encode_frame(&message).expect("encodes")).await.expect("write");
        }

        async fn receive(&mut self) -> Value {
            let payload = read_frame(&mut self.from, 1 << 24).await.expect("a frame").expect("not the end");
            serde_json::from_slice(&payload).expect("JSON")
        }
    }

    /// The hostile guest served in process over pipes; returns the client, the
    /// server's counters and the server's task.
    fn start(
        runtime: &tokio::runtime::Runtime,
        config: RunnerConfig,
        shm: &std::path::Path,
    ) -> (Client, Arc<ServeStats>, tokio::task::JoinHandle<pv_host::serve::ServeEnd>) {
        start_with(runtime, config, ServeConfig { shm_dir: shm.to_owned(), ..ServeConfig::default() })
    }

    fn start_with(
        runtime: &tokio::runtime::Runtime,
        config: RunnerConfig,
        serve_config: ServeConfig,
    ) -> (Client, Arc<ServeStats>, tokio::task::JoinHandle<pv_host::serve::ServeEnd>) {
        let limits = Limits::default().with_deadline(Phase::Execute, std::time::Duration::from_millis(1500));
        let host = Host::builder().limits(limits).build().expect("host");
        let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
        let info = package.instantiate().expect("instantiates").info().clone();
        let runner = Runner::new(package, config);
        let stats = Arc::clone(&serve_config.stats);
        let (to, server_in) = tokio::io::duplex(1 << 20);
        let (server_out, from) = tokio::io::duplex(1 << 20);
        let task = runtime.spawn(serve(runner, info, serve_config, server_in, server_out));
        (Client { to, from }, stats, task)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
    }

    #[test]
    fn finished_calls_are_reaped_not_kept() {
        let runtime = runtime();
        let shm = tempfile::tempdir().expect("tempdir");
        let (mut client, stats, task) = start(&runtime, RunnerConfig::default().with_instances(1), shm.path());
        runtime.block_on(async {
            assert_eq!(client.receive().await["type"], "hello");
            for i in 0..400u64 {
                let phase = if i % 2 == 0 { "info" } else { "reset" };
                client.send(json!({"type": "call", "request_id": i, "data": {"phase": phase, "session": {"id": "s"}}})).await;
                let reply = client.receive().await;
                assert_eq!((reply["request_id"].as_u64(), reply["status"].as_str()), (Some(i), Some("OK")), "{reply}");
            }
            client.send(json!({"type": "shutdown"})).await;
            assert_eq!(client.receive().await["type"], "shutdown");
        });
        runtime.block_on(task).expect("the server ends");
        // One call at a time: the set holds the call in flight and at most the
        // one before it, never the 400 that ran.
        assert!(stats.calls_held_peak() <= 2, "the server held {} calls at once", stats.calls_held_peak());
    }

    /// A PNG of a few hundred KB that decodes to 64 MiB.
    fn png_bomb() -> Vec<u8> {
        let mut bytes = Vec::new();
        image::DynamicImage::ImageLuma8(image::GrayImage::new(8192, 8192))
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .expect("encode");
        bytes
    }

    #[test]
    fn calls_refused_as_busy_never_decode_their_images() {
        let runtime = runtime();
        let shm = tempfile::tempdir().expect("tempdir");
        std::fs::write(shm.path().join("bomb.bin"), png_bomb()).expect("write bomb");
        std::fs::copy(pv_test_artifacts::fixtures::image_path("coins.png"), shm.path().join("small.bin")).expect("copy");
        let config = RunnerConfig::default().with_instances(1).with_queue(0);
        let (mut client, stats, task) = start(&runtime, config, shm.path());
        let call = |id: u64, pid: &str, image: &str| {
            json!({"type": "call", "request_id": id,
                   "data": {"phase": "execute", "pid": pid, "session": {"id": format!("s{id}")}, "shared_mem_id": image}})
        };
        let (busy, answered) = runtime.block_on(async {
            assert_eq!(client.receive().await["type"], "hello");
            // The loop holds the only instance; twelve bombs arrive behind it.
            client.send(call(0, "LOOP", "small")).await;
            for id in 1..=12 {
                client.send(call(id, "GOOD", "bomb")).await;
            }
            let mut busy = 0;
            for _ in 0..13 {
                let reply = client.receive().await;
                if reply["error_code"] == "3001" {
                    assert_eq!(reply["type"], "result", "busy is a result ERROR: {reply}");
                    busy += 1;
                }
            }
            client.send(json!({"type": "shutdown"})).await;
            assert_eq!(client.receive().await["type"], "shutdown");
            (busy, 13)
        });
        runtime.block_on(task).expect("the server ends");
        assert!(busy >= 1, "a call made while the loop ran was refused");
        assert_eq!(stats.images_loaded(), (answered - busy) as u64, "only the calls that ran decoded an image");
    }

    #[test]
    fn images_larger_than_the_budget_run_one_at_a_time_and_all_answer() {
        let runtime = runtime();
        let shm = tempfile::tempdir().expect("tempdir");
        std::fs::copy(pv_test_artifacts::fixtures::image_path("coins.png"), shm.path().join("small.bin")).expect("copy");
        // 1 KiB for all images in flight: each call's image alone is larger.
        let serve_config =
            ServeConfig { shm_dir: shm.path().to_owned(), max_image_bytes_in_flight: 1024, ..ServeConfig::default() };
        let (mut client, stats, task) = start_with(&runtime, RunnerConfig::default().with_instances(2), serve_config);
        runtime.block_on(async {
            assert_eq!(client.receive().await["type"], "hello");
            for id in 0..6u64 {
                let data =
                    json!({"phase": "execute", "pid": "GOOD", "session": {"id": format!("s{id}")}, "shared_mem_id": "small"});
                client.send(json!({"type": "call", "request_id": id, "data": data})).await;
            }
            for _ in 0..6 {
                let reply = client.receive().await;
                assert_eq!((reply["type"].as_str(), reply["status"].as_str()), (Some("result"), Some("OK")), "{reply}");
            }
            client.send(json!({"type": "shutdown"})).await;
            assert_eq!(client.receive().await["type"], "shutdown");
        });
        runtime.block_on(task).expect("the server ends");
        assert_eq!(stats.images_loaded(), 6);
    }
}

#[test]
fn pv_host_run_takes_the_platforms_development_flags() {
    let run = |guide_info: &str| {
        pv_host_process()
            .args(["run", station::part_counter(), "--pid", "A01", "--step", "1", "--step-desc", "数硬币"])
            .arg("--cur-image")
            .arg(fixtures::image_path("coins.png"))
            .arg("--guide-image")
            .arg(fixtures::image_path("coins.png"))
            .args(["--guide-info", guide_info, "--json"])
            .env("PV_HOST_TRUST", &station::station().trust)
            .env_remove("PV_HOST_LOG")
            .output()
            .expect("runs")
    };
    let ok = run(r#"[{"label": "1", "posList": [{"x": 94, "y": 269, "width": 19, "height": 30}]}]"#);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let result: Value = serde_json::from_slice(&ok.stdout).expect("JSON");
    assert_eq!(result["data"]["result_status"], "OK", "{result}");
    let refused = run(r#"[{"label": "1", "posList": 3}]"#);
    assert!(!refused.status.success(), "a malformed --guide-info is refused");
    // A file that never ends is read up to the cap and refused, as invalid params.
    let endless = run("@/dev/zero");
    let error: Value = serde_json::from_slice(&endless.stdout).expect("a JSON error");
    assert_eq!(error["error_code"], "1006", "{error}");
    let endless_params = pv_host_process()
        .args(["run", station::part_counter(), "--pid", "A01", "--params", "@/dev/zero", "--json", "--image"])
        .arg(fixtures::image_path("coins.png"))
        .env("PV_HOST_TRUST", &station::station().trust)
        .env_remove("PV_HOST_LOG")
        .output()
        .expect("runs");
    let error: Value = serde_json::from_slice(&endless_params.stdout).expect("a JSON error");
    assert_eq!(error["error_code"], "1006", "{error}");
}
