//! What the sandbox's bounds cost, and how well the deadline holds.
//!
//! 1. The scratch detector on a 1920x1200 frame (brick.png scaled up), on four
//!    hosts: fuel metering on or off, epoch deadlines on or off. Criterion times
//!    each side by side; a summary then prints each variant's median over
//!    interleaved runs as a ratio to the unbounded host (goal: both on ≤ 1.2x).
//! 2. Deadline overshoot: the hostile guest's endless loop under a 100 ms execute
//!    deadline with a 10 ms tick, fuel off, run repeatedly; how long past the
//!    deadline the call returned, in epoch ticks (goal: ≤ 2).
//!
//! Run with `cargo bench -p pv-benches --bench sandbox_overhead`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use pv_benches::compare::median;
use pv_benches::{execute_ok, ready_instance, step_input};
use pv_host::sandbox::DEFAULT_EPOCH_TICK;
use pv_host::types::StepInput;
use pv_host::{Host, Instance, Limits, Phase, Session};

const FRAME: (u32, u32) = (1920, 1200);

/// The four hosts: (name, limits).
fn variants() -> [(&'static str, Limits); 4] {
    let unbounded = Limits::default().with_fuel_per_call(None).without_deadlines();
    [
        ("fuel off, epoch off", unbounded),
        ("fuel on, epoch off", Limits::default().without_deadlines()),
        ("fuel off, epoch on", Limits::default().with_fuel_per_call(None)),
        ("fuel on, epoch on", Limits::default()),
    ]
}

fn frame() -> image::DynamicImage {
    image::DynamicImage::ImageLuma8(pv_benches::gray_frame(FRAME.0, FRAME.1))
}

struct Setup {
    name: &'static str,
    instance: Instance,
    input: StepInput,
}

fn setups() -> Vec<Setup> {
    let frame = frame();
    variants()
        .into_iter()
        .map(|(name, limits)| {
            let host = Host::builder().limits(limits).build().expect("host");
            let instance = ready_instance(&host, pv_test_artifacts::SCRATCH_DETECTOR);
            let input = step_input(&instance, "B01", frame.clone(), serde_json::json!({}));
            Setup { name, instance, input }
        })
        .collect()
}

fn side_by_side(c: &mut Criterion) {
    let mut group = c.benchmark_group("scratch-detector 1920x1200");
    group.sample_size(10);
    let mut session = Session::new("bench");
    for mut setup in setups() {
        group.bench_function(setup.name, |b| b.iter(|| execute_ok(&mut setup.instance, &mut session, &setup.input)));
    }
    group.finish();
}

/// Medians over interleaved runs (so drift in the machine's speed hits every
/// variant alike), printed as ratios to the unbounded host.
fn overhead_summary() {
    const ROUNDS: usize = 15;
    let mut setups = setups();
    let mut session = Session::new("bench");
    let mut samples = vec![Vec::with_capacity(ROUNDS); setups.len()];
    for _ in 0..ROUNDS {
        for (setup, samples) in setups.iter_mut().zip(&mut samples) {
            let started = Instant::now();
            execute_ok(&mut setup.instance, &mut session, &setup.input);
            samples.push(started.elapsed());
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s).unwrap_or_default()).collect();
    println!("\nsandbox overhead, scratch-detector on {}x{}, median of {ROUNDS} interleaved runs:", FRAME.0, FRAME.1);
    for (setup, median) in setups.iter().zip(&medians) {
        let ratio = median.as_secs_f64() / medians[0].as_secs_f64();
        println!("  {:<20} {:>8.1} ms  {ratio:.3}x", setup.name, median.as_secs_f64() * 1e3);
    }
}

/// How far past its deadline an endless loop is stopped, in epoch ticks.
fn deadline_overshoot() {
    const RUNS: usize = 20;
    let deadline = Duration::from_millis(100);
    let limits = Limits::default().with_fuel_per_call(None).with_deadline(Phase::Execute, deadline);
    let host = Host::builder().limits(limits).build().expect("host");
    let mut hostile = ready_instance(&host, pv_test_artifacts::HOSTILE);
    let input = step_input(&hostile, "LOOP", image::DynamicImage::new_luma8(16, 16), serde_json::json!({}));
    let mut session = Session::new("bench");
    let mut overshoots: Vec<f64> = (0..RUNS)
        .map(|_| {
            let report = hostile.execute(&mut session, &input);
            assert!(report.result.is_err(), "the loop must be stopped");
            let over = report.usage.wall_time.saturating_sub(deadline);
            over.as_secs_f64() / DEFAULT_EPOCH_TICK.as_secs_f64()
        })
        .collect();
    overshoots.sort_by(f64::total_cmp);
    println!(
        "\ndeadline overshoot, {} ms deadline, {} ms tick, {RUNS} runs: median {:.2} ticks, max {:.2} ticks",
        deadline.as_millis(),
        DEFAULT_EPOCH_TICK.as_millis(),
        overshoots[RUNS / 2],
        overshoots[RUNS - 1]
    );
}

criterion_group!(benches, side_by_side);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if pv_benches::is_full_benchmark_run() {
        overhead_summary();
        deadline_overshoot();
    }
}
