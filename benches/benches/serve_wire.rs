//! B8: `pv-host serve` on the wire against the platform's Python adapter.
//!
//! One client, the platform's frames, the same machine and run: each server is
//! started as a process, pinged, and given execute calls whose image is a
//! 1920x1200 RGB `.npy` written into the shared-memory directory (a RAM file
//! system where there is one) before each call, as the platform does. The
//! Python side is `benches/python/numpy_adapter.py` (loads the `.npy` with
//! numpy, answers); the pv-host side serves the trivial algorithm (hostile
//! `GOOD`) from a warm compile cache. Prints each figure and the ratios with
//! their goals (issue 18):
//!
//! - ping round trip p50: pv-host at most the adapter's (ratio >= 1.0);
//! - execute end to end p50: pv-host at least 1.5x faster;
//! - the server's share of an execute (end to end minus the client's write):
//!   within 1.5x of one read of the file plus one memcpy of the frame, timed
//!   here on the same file;
//! - start to the first answered call: pv-host at least 10x faster;
//! - pongs while an execute runs for 30 s (the hostile `LOOP`, stopped by its
//!   deadline): p99 under 1 ms.
//!
//! Needs the `pv-host` binary beside the benchmark (`cargo build --release -p
//! pv-host-cli` before `cargo bench -p pv-benches --bench serve_wire`), or named by
//! `PV_HOST_BIN`, and python3
//! with numpy; skipped with a message otherwise. Without `--bench` (as `cargo
//! test` runs it) it makes a handful of calls to check that it works.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pv_benches::subprocess::shm_dir;
use pv_test_support::Server;
use serde_json::json;

const WIDTH: usize = 1920;
const HEIGHT: usize = 1200;

/// Start the server `command`, its images in `shm`, timed to its first
/// answered call: pv-host says hello before it has loaded its package, so the
/// hello alone would time nothing.
fn start(mut command: Command, shm: &Path) -> (Server, Duration) {
    command.env("PROC_SHM_DIR", shm);
    let started = Instant::now();
    let mut server = Server::spawn(command);
    let info = server.call(0, serde_json::json!({"phase": "info", "step_index": 1}));
    assert_eq!(info["type"], "result", "the server answers: {info}");
    (server, started.elapsed())
}

/// The frame as a `.npy` file: NumPy's version-1 header, then the pixels.
fn npy_bytes(pixels: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({HEIGHT}, {WIDTH}, 3), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(pixels);
    bytes
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

struct Figures {
    hello: Duration,
    ping_p50: Duration,
    ping_p99: Duration,
    execute_p50: Duration,
    write_p50: Duration,
}

fn measure(command: impl Fn() -> Command, shm: &Path, npy: &[u8], rounds: (usize, usize, usize)) -> Figures {
    let (starts, pings, executes) = rounds;
    let mut hellos = Vec::new();
    for _ in 0..starts {
        let (server, hello) = start(command(), shm);
        hellos.push(hello);
        server.stop();
    }
    let (mut server, _) = start(command(), shm);
    let mut ping_times = Vec::new();
    for _ in 0..pings {
        let started = Instant::now();
        let pong = server.round_trip(json!({"type": "ping"}));
        ping_times.push(started.elapsed());
        assert_eq!(pong["type"], "pong");
    }
    let id = "dev-shm:session-1:cur";
    let path = shm.join("dev-shm_session-1_cur.npy");
    let call = json!({"type": "call", "data": {"phase": "execute", "step_index": 1, "pid": "GOOD",
        "session": {"id": "bench", "context": {}}, "user_params": {},
        "shared_mem_id": id, "image_meta": {"width": WIDTH, "height": HEIGHT, "timestamp_ms": 0, "camera_id": "cam"}}});
    let (mut totals, mut writes) = (Vec::new(), Vec::new());
    for _ in 0..executes {
        let started = Instant::now();
        let mut file = std::fs::File::create(&path).expect("the frame file");
        file.write_all(npy).expect("write the frame");
        drop(file);
        writes.push(started.elapsed());
        let reply = server.round_trip(call.clone());
        totals.push(started.elapsed());
        assert_eq!(reply["status"], "OK", "{reply}");
    }
    server.stop();
    Figures {
        hello: percentile(&mut hellos, 0.5),
        ping_p50: percentile(&mut ping_times.clone(), 0.5),
        ping_p99: percentile(&mut ping_times, 0.99),
        execute_p50: percentile(&mut totals, 0.5),
        write_p50: percentile(&mut writes, 0.5),
    }
}

/// One read of the frame file into a buffer and one memcpy of the pixels into
/// another, both buffers resident: the floor of what a server must do with an
/// image passed as a file. Median of `rounds`.
fn read_and_memcpy(path: &Path, rounds: usize) -> Duration {
    let len = std::fs::metadata(path).expect("the frame file").len() as usize;
    let (mut read, mut copy) = (vec![1u8; len], vec![1u8; len]);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let mut file = std::fs::File::open(path).expect("open the frame");
        std::io::Read::read_exact(&mut file, &mut read).expect("read the frame");
        std::hint::black_box(&mut copy).copy_from_slice(std::hint::black_box(&read));
        times.push(started.elapsed());
    }
    percentile(&mut times, 0.5)
}

/// Pong round trips while one execute (the hostile `LOOP`) spins until its
/// deadline of `deadline`: the p50 and p99 of the pongs, and how many.
fn pongs_during_a_long_call(pv_host: &Path, shm: &Path, npy: &[u8], deadline: Duration) -> (Duration, Duration, usize) {
    let mut command = Command::new(pv_host);
    command.args(["serve", pv_test_artifacts::HOSTILE, "--allow-unsigned", "--no-fuel", "--timeout-ms"]);
    command.arg(deadline.as_millis().to_string());
    let (mut server, _) = start(command, shm);
    let id = "dev-shm:session-1:loop";
    std::fs::write(shm.join("dev-shm_session-1_loop.npy"), npy).expect("write the frame");
    let call = json!({"type": "call", "request_id": "loop", "data": {"phase": "execute", "step_index": 1, "pid": "LOOP",
        "session": {"id": "loop", "context": {}}, "user_params": {}, "shared_mem_id": id,
        "image_meta": {"width": WIDTH, "height": HEIGHT, "timestamp_ms": 0, "camera_id": "cam"}}});
    server.send(&call);
    let mut times = Vec::new();
    loop {
        let id = server.next_id();
        let started = Instant::now();
        server.send(&json!({"type": "ping", "request_id": id}));
        let reply = server.receive();
        if reply["type"] == "pong" {
            times.push(started.elapsed());
            // A ping every millisecond or so, as a platform watching closely would.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        assert_eq!(reply["request_id"], "loop", "{reply}");
        assert_eq!(reply["error_code"], "1005", "the loop ends at its deadline: {reply}");
        // The pong of the last ping is still to come.
        let pong = server.receive();
        assert_eq!(pong["type"], "pong", "{pong}");
        break;
    }
    server.stop();
    let count = times.len();
    (percentile(&mut times.clone(), 0.5), percentile(&mut times, 0.99), count)
}

fn pv_host_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PV_HOST_BIN") {
        return Some(PathBuf::from(path));
    }
    // target/<profile>/deps/serve_wire-<hash> -> target/<profile>/pv-host
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("pv-host");
    candidate.is_file().then_some(candidate)
}

fn python_with_numpy() -> bool {
    Command::new("python3").args(["-c", "import numpy"]).output().is_ok_and(|out| out.status.success())
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let Some(pv_host) = pv_host_binary() else {
        println!("serve_wire: skipped: no pv-host binary beside the benchmark (cargo build --release -p pv-host-cli first)");
        return;
    };
    if !python_with_numpy() {
        println!("serve_wire: skipped: python3 with numpy is needed for the platform's adapter (pip install numpy)");
        return;
    }
    let rounds = if full { (10, 2000, 200) } else { (1, 5, 2) };
    let pixels: Vec<u8> = (0..WIDTH * HEIGHT * 3).map(|i| (i * 7 % 251) as u8).collect();
    let npy = npy_bytes(&pixels);
    let shm = shm_dir();
    let serve = || {
        let mut command = Command::new(&pv_host);
        command.args(["serve", pv_test_artifacts::HOSTILE, "--allow-unsigned"]);
        command
    };
    let adapter = || {
        let mut command = Command::new("python3");
        command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/numpy_adapter.py"));
        command
    };
    // One warm-up start fills the compile cache: the figures are for a warm one.
    start(serve(), shm.path()).0.stop();
    let ours = measure(serve, shm.path(), &npy, rounds);
    let theirs = measure(adapter, shm.path(), &npy, rounds);
    let floor = read_and_memcpy(&shm.path().join("dev-shm_session-1_cur.npy"), rounds.2);
    let deadline = Duration::from_millis(if full { 30_000 } else { 300 });
    let (pong_p50, pong_p99, pongs) = pongs_during_a_long_call(&pv_host, shm.path(), &npy, deadline);
    println!("B8 serve on the wire ({WIDTH}x{HEIGHT} RGB .npy from {}):", shm.path().display());
    println!("{:<34} {:>14} {:>14}", "", "pv-host serve", "numpy adapter");
    for (name, a, b) in [
        ("process start to first answer (p50)", ours.hello, theirs.hello),
        ("ping round trip p50", ours.ping_p50, theirs.ping_p50),
        ("ping round trip p99", ours.ping_p99, theirs.ping_p99),
        ("execute end to end p50", ours.execute_p50, theirs.execute_p50),
        ("  of which the client's write p50", ours.write_p50, theirs.write_p50),
    ] {
        println!("{name:<34} {:>14} {:>14}", micros(a), micros(b));
    }
    let ratio = |theirs: Duration, ours: Duration| theirs.as_secs_f64() / ours.as_secs_f64().max(1e-9);
    println!("ping p50 ratio (adapter / pv-host): {:.2}x, goal >= 1.0x", ratio(theirs.ping_p50, ours.ping_p50));
    println!("execute p50 ratio: {:.2}x, goal >= 1.5x", ratio(theirs.execute_p50, ours.execute_p50));
    println!("start to first answer ratio: {:.1}x, goal >= 10x", ratio(theirs.hello, ours.hello));
    let share = |figures: &Figures| figures.execute_p50.saturating_sub(figures.write_p50);
    println!(
        "server-side share of an execute (end to end minus the write) p50: pv-host {}, numpy adapter {} ({:.2}x)",
        micros(share(&ours)),
        micros(share(&theirs)),
        ratio(share(&theirs), share(&ours))
    );
    println!(
        "pv-host's share against one read of the file and one memcpy ({}): {:.2}x, goal <= 1.5x",
        micros(floor),
        share(&ours).as_secs_f64() / floor.as_secs_f64().max(1e-9)
    );
    println!(
        "pongs during a {} s execute: p50 {}, p99 {} ({pongs} pongs), goal p99 < 1 ms",
        deadline.as_secs_f64(),
        micros(pong_p50),
        micros(pong_p99)
    );
}
