//! B7: throughput of two concurrent workers against one.
//!
//! A `Runner` of the part counter with one instance, and one with two, each
//! given the same batch: two platform threads on two sessions, each making
//! four `execute` calls on coins.png. With one instance the second thread's
//! calls queue; with two they run at once. On a 2-core machine the goal is at
//! least 1.8x the throughput (the batch in at most 1/1.8 of the time).
//!
//! For context, the same kernel natively (`part_counter::vision::segment_parts`)
//! on one thread and on two: how well the machine itself scales, the ceiling
//! for the sandbox.
//!
//! Run with `cargo bench -p pv-benches --bench concurrency`.

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report};
use pv_benches::step_input;
use pv_host::types::StepInput;
use pv_host::{Host, Runner, RunnerConfig};
use pv_test_artifacts::fixtures;

const THREADS: usize = 2;
const CALLS_PER_THREAD: usize = 4;

fn batch(runner: &Runner, input: &StepInput) {
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                let session = format!("line-{thread}");
                for _ in 0..CALLS_PER_THREAD {
                    let report = runner.execute_blocking(&session, input.clone());
                    if let Err(err) = report.result {
                        panic!("execute failed during the benchmark: {err}");
                    }
                }
            });
        }
    });
}

/// The batch natively: the kernel on `threads` threads sharing the calls.
fn native_batch(image: ndarray::ArrayView2<u8>, threads: usize) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || {
                for _ in 0..THREADS * CALLS_PER_THREAD / threads {
                    std::hint::black_box(part_counter::vision::segment_parts(image, 40));
                }
            });
        }
    });
}

fn concurrency(c: &mut Criterion) {
    let host = Host::new().expect("host");
    let package = host.load_component_file(pv_test_artifacts::PART_COUNTER.as_ref()).expect("loads");
    let coins = image::DynamicImage::ImageLuma8(fixtures::load_gray("coins.png"));
    let input = step_input(&package.instantiate().expect("instantiates"), "A01", coins, serde_json::json!({}));
    let runner_with = |instances: usize| {
        let runner = Runner::new(package.clone(), RunnerConfig::default().with_instances(instances));
        for thread in 0..THREADS {
            runner.begin_session(&format!("line-{thread}"), serde_json::json!({})).expect("a session");
        }
        runner
    };
    let (one, two) = (runner_with(1), runner_with(2));

    let (one_worker, two_workers) = (Side::default(), Side::default());
    let mut group = c.benchmark_group(format!("B7 {} execute calls from {THREADS} threads", THREADS * CALLS_PER_THREAD));
    group.bench_function("one worker", |b| one_worker.iter(b, || batch(&one, &input)));
    group.bench_function("two workers", |b| two_workers.iter(b, || batch(&two, &input)));
    let photo = fixtures::load_gray("coins.png");
    let view = ndarray::ArrayView2::from_shape((photo.height() as usize, photo.width() as usize), photo.as_raw())
        .expect("a grey image is rows of pixels");
    let (native_one, native_two) = (Side::default(), Side::default());
    group.bench_function("native, one thread", |b| native_one.iter(b, || native_batch(view, 1)));
    group.bench_function("native, two threads", |b| native_two.iter(b, || native_batch(view, 2)));
    group.finish();
    let goal = Goal::AtLeastFaster(1.8);
    report("B7 two workers vs one", ("two workers", &two_workers), ("one worker", &one_worker), goal);
    report("B7 (context: native, two threads vs one)", ("two threads", &native_two), ("one thread", &native_one), goal);
}

criterion_group!(benches, concurrency);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
