//! B4: a fresh, set-up instance against a fresh subprocess.
//!
//! The sandbox side instantiates the trivial algorithm from its pre-linked
//! package (`InstancePre`) on the default pooled host, asks for its info and
//! runs `setup`; the subprocess side starts `subprocess-adapter` and waits for
//! its hello. Stopping the process is left out, and so is dropping the
//! instance, which is also timed on its own lines (a pooled slot is reset
//! then). An on-demand host (no pool) is timed beside them to show what the
//! pool saves, and, when `python3` is installed, the Python adapter in
//! `benches/python/` (the model as the platform runs it) for context. Goal:
//! the sandbox at least 1000x faster than the Rust adapter.
//!
//! Run with `cargo bench -p pv-benches --bench instance_start`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report};
use pv_benches::subprocess::{Adapter, AdapterKind};
use pv_host::{Host, Package};

const RUST_ADAPTER: AdapterKind = AdapterKind::Rust(env!("CARGO_BIN_EXE_subprocess-adapter"));

fn load(host: &Host) -> Package {
    host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("the trivial algorithm loads")
}

/// Instantiate and set up, timed; dropping the instance (where a pooled slot
/// is reset) is inside the clock only if `with_drop`.
fn fresh_instance(package: &Package, with_drop: bool) -> Duration {
    let started = Instant::now();
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("sets up");
    let ready = started.elapsed();
    drop(instance);
    if with_drop { started.elapsed() } else { ready }
}

/// Start the adapter to its hello, timed; stopping it happens after the clock.
fn fresh_process(kind: AdapterKind) -> Duration {
    let started = Instant::now();
    let adapter = Adapter::start(kind, &std::env::temp_dir());
    let elapsed = started.elapsed();
    adapter.shutdown();
    elapsed
}

fn instance_start(c: &mut Criterion) {
    let pooled = load(&Host::new().expect("host"));
    let on_demand = load(&Host::builder().pooled_instances(None).build().expect("host"));

    let (sandbox, unpooled, subprocess, python) = (Side::default(), Side::default(), Side::default(), Side::default());
    let (sandbox_dropped, unpooled_dropped) = (Side::default(), Side::default());
    let mut group = c.benchmark_group("B4 fresh instance");
    group.bench_function("sandbox, pooled", |b| sandbox.iter_timed(b, || fresh_instance(&pooled, false)));
    group.bench_function("sandbox, on demand", |b| unpooled.iter_timed(b, || fresh_instance(&on_demand, false)));
    group.bench_function("sandbox, pooled, with the drop", |b| sandbox_dropped.iter_timed(b, || fresh_instance(&pooled, true)));
    group.bench_function("sandbox, on demand, with the drop", |b| {
        unpooled_dropped.iter_timed(b, || fresh_instance(&on_demand, true))
    });
    let mut time_start = |name: &str, kind: AdapterKind, side: &Side| {
        group.bench_function(name, |b| side.iter_timed(b, || fresh_process(kind)));
    };
    time_start("subprocess to its hello", RUST_ADAPTER, &subprocess);
    if AdapterKind::Python.available() {
        time_start("python subprocess to its hello", AdapterKind::Python, &python);
    }
    group.finish();
    let goal = Goal::AtLeastFaster(1000.0);
    report("B4 fresh instance + setup", ("pooled", &sandbox), ("subprocess", &subprocess), goal);
    report("B4 (without the pool)", ("on demand", &unpooled), ("subprocess", &subprocess), goal);
    report("B4 (the instance's drop timed too)", ("pooled", &sandbox_dropped), ("subprocess", &subprocess), goal);
    report("B4 (without the pool, drop timed too)", ("on demand", &unpooled_dropped), ("subprocess", &subprocess), goal);
    report("B4 (context: Python adapter)", ("pooled", &sandbox), ("python", &python), goal);
}

criterion_group!(benches, instance_start);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
