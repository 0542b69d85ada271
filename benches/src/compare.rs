//! Side-by-side comparisons: criterion times each side, and every sample it
//! takes is kept here too, so that after the group the two sides' medians are
//! set against each other and printed as a ratio with its goal.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::Bencher;

/// Criterion's default number of samples per benchmark.
pub const DEFAULT_SAMPLE_SIZE: usize = 100;

/// The time per iteration of every sample criterion took of one side.
#[derive(Debug, Clone)]
pub struct Side {
    samples: Rc<RefCell<Vec<Duration>>>,
    sample_size: usize,
}

impl Default for Side {
    fn default() -> Self {
        Side::new(DEFAULT_SAMPLE_SIZE)
    }
}

impl Side {
    /// A side of a benchmark group whose `sample_size` is `sample_size`.
    pub fn new(sample_size: usize) -> Side {
        Side { samples: Rc::default(), sample_size }
    }

    /// Time `routine`, as `Bencher::iter` does (one clock reading around the
    /// whole run of iterations), keeping the samples.
    pub fn iter<O>(&self, b: &mut Bencher<'_>, mut routine: impl FnMut() -> O) {
        let samples = Rc::clone(&self.samples);
        b.iter_custom(move |iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                black_box(routine());
            }
            record(&samples, started.elapsed(), iterations)
        });
    }

    /// Time a routine that measures itself (for example leaving out a teardown
    /// that belongs to no side), keeping the samples.
    pub fn iter_timed(&self, b: &mut Bencher<'_>, mut routine: impl FnMut() -> Duration) {
        let samples = Rc::clone(&self.samples);
        b.iter_custom(move |iterations| record(&samples, (0..iterations).map(|_| routine()).sum(), iterations));
    }

    /// The median time per iteration over the measured samples, if any were
    /// taken. Criterion's warm-up runs come first; only the last
    /// `sample_size` runs are its samples.
    pub fn median(&self) -> Option<Duration> {
        let samples = self.samples.borrow();
        let mut measured = samples[samples.len().saturating_sub(self.sample_size)..].to_vec();
        median(&mut measured)
    }
}

fn record(samples: &RefCell<Vec<Duration>>, total: Duration, iterations: u64) -> Duration {
    samples.borrow_mut().push(total.div_f64(iterations.max(1) as f64));
    total
}

/// The median of `samples` (sorted in place), if there are any.
pub fn median(samples: &mut [Duration]) -> Option<Duration> {
    samples.sort();
    samples.get(samples.len() / 2).copied()
}

/// What a comparison must show.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// The sandbox takes at most this fraction of the reference's time
    /// (`0.05`: at most 1/20).
    AtMostFraction(f64),
    /// The sandbox takes at most this multiple of the reference's time
    /// (`1.5`: at most 1.5x).
    AtMostTimes(f64),
    /// The sandbox is at least this many times faster than the reference
    /// (its throughput this many times higher, for a concurrency goal).
    AtLeastFaster(f64),
}

impl Goal {
    fn met(self, ratio: f64) -> bool {
        match self {
            Goal::AtMostFraction(goal) | Goal::AtMostTimes(goal) => ratio <= goal,
            Goal::AtLeastFaster(goal) => 1.0 / ratio >= goal,
        }
    }

    fn describe(self, ratio: f64) -> String {
        match self {
            Goal::AtMostFraction(goal) => format!("1/{:.1} of the time (goal: at most 1/{:.0})", 1.0 / ratio, 1.0 / goal),
            Goal::AtMostTimes(goal) => format!("{} the time (goal: at most {goal}x)", times(ratio)),
            Goal::AtLeastFaster(goal) => format!("{} faster (goal: at least {goal}x)", times(1.0 / ratio)),
        }
    }
}

/// Print `label`'s two medians and their ratio against `goal`, one line that
/// starts with the label (`cargo bench -p pv-benches | grep '^B'` gives the
/// table). Prints nothing on a test run or when a filter left a side out.
pub fn report(label: &str, sandbox: (&str, &Side), reference: (&str, &Side), goal: Goal) {
    let (Some(ours), Some(theirs)) = (sandbox.1.median(), reference.1.median()) else { return };
    report_times(label, (sandbox.0, ours), (reference.0, theirs), goal);
}

/// [`report`] of two times worked out from samples (for example the
/// difference between two sides).
pub fn report_times(label: &str, (our_name, ours): (&str, Duration), (their_name, theirs): (&str, Duration), goal: Goal) {
    if !crate::is_benchmark_run() || theirs.is_zero() {
        return;
    }
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    let verdict = if goal.met(ratio) { "met" } else { "NOT MET" };
    println!(
        "{label}: {our_name} {}, {their_name} {}: {}: {verdict}",
        format_duration(ours),
        format_duration(theirs),
        goal.describe(ratio)
    );
}

/// A factor with the digits that matter: `1.76x`, `61.5x`, `5841x`.
fn times(factor: f64) -> String {
    match factor {
        f if f < 10.0 => format!("{f:.2}x"),
        f if f < 1000.0 => format!("{f:.1}x"),
        f => format!("{f:.0}x"),
    }
}

/// A duration with a unit that suits it.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    match seconds {
        s if s < 1e-6 => format!("{:.0} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.1} µs", s * 1e6),
        s if s < 1.0 => format!("{:.2} ms", s * 1e3),
        s => format!("{s:.2} s"),
    }
}
