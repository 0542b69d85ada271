//! `pv-host serve` end to end: the platform's frame protocol from a Python
//! client (standard library only) and from Rust, and each hostile input.

#[path = "../../tests/station/mod.rs"]
mod station;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use pv_test_artifacts::fixtures;
use serde_json::{Value, json};

fn pv_host_binary() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("pv-host")
}

#[test]
fn a_python_client_drives_the_whole_protocol() {
    let shm = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve_client.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(pv_host_binary())
        .arg(station::part_counter())
        .arg(&station::station().trust)
        .arg(pv_test_artifacts::HOSTILE)
        .arg(fixtures::image_path("coins.png"))
        .arg(shm.path())
        .env_remove("PV_HOST_LOG")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
}

impl Server {
    fn start(package: &str, shm: &Path, flags: &[&str]) -> Server {
        let mut child = Command::new(pv_host_binary())
            .args(["serve", package])
            .args(flags)
            .env("PROC_SHM_DIR", shm)
            .env("PV_HOST_TRUST", &station::station().trust)
            .env_remove("PV_HOST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take().expect("stdout"));
        let mut server = Server { child, stdin, stdout };
        assert_eq!(server.receive()["type"], "hello");
        server
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).and_then(|()| stdin.flush()).expect("write");
    }

    fn send(&mut self, message: Value) {
        let payload = serde_json::to_vec(&message).expect("json");
        self.send_raw(&[&(payload.len() as u32).to_be_bytes()[..], &payload].concat());
    }

    fn receive(&mut self) -> Value {
        let mut prefix = [0u8; 4];
        self.stdout.read_exact(&mut prefix).expect("a frame");
        let mut payload = vec![0u8; u32::from_be_bytes(prefix) as usize];
        self.stdout.read_exact(&mut payload).expect("the frame's payload");
        serde_json::from_slice(&payload).expect("JSON frame")
    }

    fn call(&mut self, id: u64, data: Value) -> Value {
        self.send(json!({ "type": "call", "request_id": id, "data": data }));
        let reply = self.receive();
        assert_eq!(reply["request_id"], id, "{reply}");
        reply
    }

    /// Close stdin and wait for the exit code.
    fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        self.child.wait().expect("exits").code().expect("an exit code")
    }
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
    let mut server = Server::start(station::part_counter(), shm.path(), &[]);
    let data = |count: u32| {
        json!({ "phase": "execute", "pid": "A01", "session": {"id": "s1", "context": {}}, "user_params": {"expected_count": count},
                "cur_image_shm_id": "coins-rgb", "cur_image_meta": {"width": 384, "height": 303, "color_space": "RGB"} })
    };
    assert_eq!(server.call(1, data(24))["data"]["result_status"], "OK");
    assert_eq!(server.call(2, data(25))["data"]["result_status"], "NG");
    let mut wrong_meta = data(24);
    wrong_meta["cur_image_meta"]["width"] = json!(100);
    assert_eq!(server.call(3, wrong_meta)["error_code"], "1006");
    let mut escape = data(24);
    escape["cur_image_shm_id"] = json!("../coins-rgb");
    assert_eq!(server.call(4, escape)["error_code"], "1002", "ids cannot leave the directory");
    let mut missing = data(24);
    missing["cur_image_shm_id"] = json!("nothing-here");
    assert_eq!(server.call(5, missing)["error_code"], "1002");
    server.send(json!({"type": "shutdown"}));
    assert_eq!(server.receive()["type"], "shutdown");
    assert_eq!(server.finish(), 0);
}

#[test]
fn bad_json_and_unknown_types_get_error_frames_and_the_server_goes_on() {
    let shm = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(station::part_counter(), shm.path(), &[]);
    server.send_raw(&[0, 0, 0, 5, b'{', b'o', b'o', b'p', b's']);
    let reply = server.receive();
    assert_eq!((reply["type"].as_str(), reply["error_code"].as_str()), (Some("error"), Some("1000")), "{reply}");
    server.send(json!({"type": "dance"}));
    assert_eq!(server.receive()["error_code"], "1000");
    assert_eq!(server.call(1, json!({"phase": "moonwalk"}))["error_code"], "1000");
    server.send(json!({"type": "ping", "request_id": 9}));
    assert_eq!(server.receive()["type"], "pong", "still serving");
    assert_eq!(server.finish(), 0, "the end of input between frames is a clean end");
}

#[test]
fn an_oversized_frame_is_refused_and_the_connection_closed() {
    let shm = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(station::part_counter(), shm.path(), &["--max-frame-bytes", "1024"]);
    // Claims 4 GiB - 1: refused from the prefix alone.
    server.send_raw(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let reply = server.receive();
    assert_eq!((reply["type"].as_str(), reply["error_code"].as_str()), (Some("error"), Some("1000")), "{reply}");
    assert_eq!(server.finish(), 3);
}

#[test]
fn the_end_of_input_inside_a_frame_tears_down_and_exits() {
    let shm = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(station::part_counter(), shm.path(), &[]);
    server.send_raw(&[0, 0, 1, 0, b'{', b'"']);
    assert_eq!(server.finish(), 3);
}

#[test]
fn with_no_queue_a_call_made_while_another_runs_is_busy() {
    let shm = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures::image_path("coins.png"), shm.path().join("f.bin")).expect("copy image");
    let flags = ["--allow-unsigned", "--instances", "1", "--queue", "0", "--timeout-ms", "1500"];
    let mut server = Server::start(pv_test_artifacts::HOSTILE, shm.path(), &flags);
    let call = |id: u64, pid: &str| {
        json!({ "type": "call", "request_id": id,
                "data": { "phase": "execute", "pid": pid, "session": {"id": format!("s{id}")}, "shared_mem_id": "f" } })
    };
    // Calls race for the only instance: whichever holds it, the others are
    // refused at once. Keep the loop running (re-sent if a GOOD call won the
    // race) and watch for a call refused while another runs.
    let mut loop_id = 1;
    server.send(call(loop_id, "LOOP"));
    let mut busy = false;
    let mut next_id = 2;
    let loop_end = loop {
        if !busy {
            server.send(call(next_id, "GOOD"));
            next_id += 1;
        }
        let reply = server.receive();
        if reply["request_id"] == loop_id {
            if reply["error_code"] == "3001" {
                // A GOOD call held the instance when the loop arrived: try again.
                loop_id = next_id;
                next_id += 1;
                server.send(call(loop_id, "LOOP"));
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
