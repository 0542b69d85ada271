//! B1 and B2: a warm call through the sandbox against the same call to the
//! subprocess model it replaces, side by side.
//!
//! - B1, warm call overhead: the trivial algorithm (the hostile guest's `GOOD`
//!   PID, which returns OK at once) on a 64x64 RGB image, against
//!   `subprocess-adapter` doing the same nothing: the image written to a
//!   shared-memory file, a call frame over the pipe, the image read back, a
//!   result frame. Goal: at most 1/20 of the subprocess time.
//! - B2, the same with a 1920x1200 RGB camera frame. Goal: at most 1/20.
//!
//! The goals are judged against the Rust adapter, the subprocess model's
//! floor; when `python3` is installed the Python adapter in `benches/python/`
//! (the model as the platform runs it) is timed too, for context.
//!
//! The sandbox side is the whole host path with the default limits (fuel and
//! deadlines on): input checks, the image copied into the guest, the call, the
//! output lifted and checked. Both sides start from the frame in the host's
//! memory. The sandbox is timed a second way, the frame written from that
//! memory straight into the guest's (`Instance::execute_in_place`), as an
//! embedder with a camera buffer would call it.
//!
//! For B1 the sandbox is also timed through a [`Runner`] (its session, pool
//! and queue, and the host's metrics, which count every runner call): what
//! `serve` and a station do per call.
//!
//! Run with `cargo bench -p pv-benches --bench call_overhead`.

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report};
use pv_benches::subprocess::{Adapter, AdapterKind, ShmImage, shm_dir};
use pv_benches::{execute_ok, ready_instance, rgb_frame, step_input};
use pv_host::{Host, Runner, RunnerConfig, Session};

const RUST_ADAPTER: AdapterKind = AdapterKind::Rust(env!("CARGO_BIN_EXE_subprocess-adapter"));

fn compare(c: &mut Criterion, label: &str, (width, height): (u32, u32)) {
    let host = Host::new().expect("host");
    let mut instance = ready_instance(&host, pv_test_artifacts::HOSTILE);
    let frame = rgb_frame(width, height);
    let input = step_input(&instance, "GOOD", frame.clone(), serde_json::json!({}));
    let mut session = Session::new("bench");

    let dir = shm_dir();
    let shm = ShmImage::create(dir.path(), "frame", width, height, 3);
    let pixels = frame.into_bytes();

    let (sandbox, subprocess, python) = (Side::default(), Side::default(), Side::default());
    let in_place = Side::default();
    let mut without_pixels = input.clone();
    without_pixels.image.pixels = Vec::new();
    let mut group = c.benchmark_group(format!("{label} call {width}x{height} RGB"));
    group.bench_function("sandbox", |b| sandbox.iter(b, || execute_ok(&mut instance, &mut session, &input)));
    group.bench_function("sandbox, frame filled in place", |b| {
        in_place.iter(b, || {
            let report = instance.execute_in_place(&mut session, &without_pixels, |target| {
                target.copy_from_slice(&pixels);
                Ok(())
            });
            if let Err(err) = report.result {
                panic!("execute_in_place failed during the benchmark: {err}");
            }
        })
    });
    let through_runner = Side::default();
    if label == "B1" {
        let component = std::fs::read(pv_test_artifacts::HOSTILE).expect("the hostile guest is built");
        let package = host.load_component(&component, "hostile").expect("loads");
        let runner = Runner::new(package, RunnerConfig::default());
        runner.begin_session("bench", serde_json::json!({})).expect("a session");
        group.bench_function("sandbox through a runner", |b| {
            through_runner.iter(b, || {
                let report = runner.execute_blocking("bench", input.clone());
                if let Err(err) = report.result {
                    panic!("the runner's execute failed during the benchmark: {err}");
                }
            })
        });
    }
    let mut time_adapter = |name: &str, kind: AdapterKind, side: &Side| {
        let mut adapter = Adapter::start(kind, dir.path());
        group.bench_function(name, |b| {
            side.iter(b, || {
                shm.write(&pixels);
                adapter.execute(&shm)
            })
        });
        adapter.shutdown();
    };
    time_adapter("subprocess", RUST_ADAPTER, &subprocess);
    if AdapterKind::Python.available() {
        time_adapter("python subprocess", AdapterKind::Python, &python);
    }
    group.finish();
    let goal = Goal::AtMostFraction(1.0 / 20.0);
    let label = format!("{label} call, {width}x{height} RGB");
    report(&label, ("sandbox", &sandbox), ("subprocess", &subprocess), goal);
    report(&format!("{label} (frame filled in place)"), ("in place", &in_place), ("subprocess", &subprocess), goal);
    report(&format!("{label} (context: Python adapter)"), ("sandbox", &sandbox), ("python", &python), goal);
    // Context, with no goal of its own: the runner's session, pool and
    // metrics on top of the sandbox call.
    if let (true, Some(runner), Some(direct)) = (pv_benches::is_benchmark_run(), through_runner.median(), sandbox.median()) {
        println!(
            "{label} context: through a runner {} (the sandbox call alone {})",
            pv_benches::compare::format_duration(runner),
            pv_benches::compare::format_duration(direct)
        );
    }
}

fn call_overhead(c: &mut Criterion) {
    compare(c, "B1", (64, 64));
    compare(c, "B2", (1920, 1200));
}

criterion_group!(benches, call_overhead);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
