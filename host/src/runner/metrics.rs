//! What a runner counts: calls, errors by code, a latency histogram, fuel,
//! traps and recycled instances.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::error::ErrorKind;
use crate::instance::CallReport;

/// Upper bounds of the latency histogram buckets, in milliseconds; the last
/// bucket counts everything slower.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000];

/// What a runner has done, for dashboards and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Calls made (refused ones included).
    pub calls: u64,
    /// Failed calls by error code.
    pub errors_by_code: BTreeMap<u32, u64>,
    /// Calls per latency bucket: `latency_ms_buckets[i]` counts calls that took
    /// at most [`LATENCY_BUCKETS_MS`]`[i]` ms; the extra last entry counts the rest.
    pub latency_ms_buckets: Vec<u64>,
    /// Fuel consumed by all phases.
    pub fuel_consumed: u64,
    /// Calls that trapped or hit a limit.
    pub traps: u64,
    /// Instances dropped after a trap and replaced.
    pub instance_recycles: u64,
    /// Calls refused with 3001 because the queue was full.
    pub busy: u64,
}

impl Metrics {
    /// Count one call, timed by its report (for embedders that drive
    /// [`Instance`](crate::Instance)s themselves; a [`Runner`](super::Runner) counts its own calls).
    pub fn record<T>(&mut self, report: &CallReport<T>) {
        self.record_timed(report, report.usage.wall_time);
    }

    pub(super) fn record_timed<T>(&mut self, report: &CallReport<T>, wall_time: Duration) {
        self.calls += 1;
        if self.latency_ms_buckets.is_empty() {
            self.latency_ms_buckets = vec![0; LATENCY_BUCKETS_MS.len() + 1];
        }
        let ms = wall_time.as_millis();
        let bucket = LATENCY_BUCKETS_MS.iter().position(|&bound| ms <= u128::from(bound)).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency_ms_buckets[bucket] += 1;
        self.fuel_consumed += report.usage.fuel_consumed.unwrap_or(0);
        if let Err(err) = &report.result {
            *self.errors_by_code.entry(err.code().number()).or_default() += 1;
            if matches!(err.kind(), ErrorKind::Trap | ErrorKind::Limit) {
                self.traps += 1;
            }
        }
    }
}
