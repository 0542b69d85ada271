//! B4: a fresh, set-up instance against a fresh subprocess.
//!
//! The sandbox side instantiates the trivial algorithm from its pre-linked
//! package (`InstancePre`) on the default pooled host, asks for its info and
//! runs `setup`; the subprocess side starts `subprocess-adapter` and waits for
//! its hello. Dropping the instance and stopping the process are left out of
//! both timings. An on-demand host (no pool) is timed beside them to show what
//! the pool saves. Goal: the sandbox at least 1000x faster.
//!
//! Run with `cargo bench -p pv-benches --bench instance_start`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report};
use pv_benches::subprocess::Adapter;
use pv_host::{Host, Package};

const ADAPTER: &str = env!("CARGO_BIN_EXE_subprocess-adapter");

fn load(host: &Host) -> Package {
    host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("the trivial algorithm loads")
}

/// Instantiate and set up, timed; the teardown happens after the clock stops.
fn fresh_instance(package: &Package) -> Duration {
    let started = Instant::now();
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("sets up");
    let elapsed = started.elapsed();
    drop(instance);
    elapsed
}

fn instance_start(c: &mut Criterion) {
    let pooled = load(&Host::new().expect("host"));
    let on_demand = load(&Host::builder().pooled_instances(None).build().expect("host"));

    let (sandbox, unpooled, subprocess) = (Side::default(), Side::default(), Side::default());
    let mut group = c.benchmark_group("B4 fresh instance");
    group.bench_function("sandbox, pooled", |b| sandbox.iter_timed(b, || fresh_instance(&pooled)));
    group.bench_function("sandbox, on demand", |b| unpooled.iter_timed(b, || fresh_instance(&on_demand)));
    group.bench_function("subprocess to its hello", |b| {
        subprocess.iter_timed(b, || {
            let started = Instant::now();
            let adapter = Adapter::start(ADAPTER.as_ref());
            let elapsed = started.elapsed();
            adapter.shutdown();
            elapsed
        })
    });
    group.finish();
    report("B4 fresh instance + setup", ("pooled", &sandbox), ("subprocess", &subprocess), Goal::AtLeastFaster(1000.0));
    report("B4 (without the pool)", ("on demand", &unpooled), ("subprocess", &subprocess), Goal::AtLeastFaster(1000.0));
}

criterion_group!(benches, instance_start);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
