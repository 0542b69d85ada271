//! The `resources` group: fuel, peak memory and time per phase against the
//! limits, with a warning under 25% headroom.

use std::time::{Duration, Instant};

use super::Run;
use crate::harness::Status;
use crate::phase::Phase;
use crate::sandbox::Limits;

/// Headroom under which a resource gets a warning.
const MIN_HEADROOM: f64 = 0.25;
pub(super) fn resource_check(limits: &Limits, run: &mut Run<'_>) {
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut status = Status::Pass;
    for phase in [Phase::PreExecute, Phase::Execute] {
        let calls: Vec<_> = run.usage.iter().filter(|(p, _)| *p == phase).map(|(_, u)| *u).collect();
        if calls.is_empty() {
            continue;
        }
        let fuel = calls.iter().filter_map(|u| u.fuel_consumed).max().unwrap_or(0);
        let memory = calls.iter().map(|u| u.peak_memory_bytes).max().unwrap_or(0);
        let time = calls.iter().map(|u| u.wall_time).max().unwrap_or(Duration::ZERO);
        let mut used = vec![(memory as f64 / limits.memory_bytes() as f64, "memory")];
        if let Some(cap) = limits.fuel_per_call() {
            used.push((fuel as f64 / cap as f64, "fuel"));
        }
        if let Some(deadline) = limits.deadline(phase) {
            used.push((time.as_secs_f64() / deadline.as_secs_f64(), "time"));
        }
        for (fraction, what) in &used {
            if 1.0 - fraction < MIN_HEADROOM {
                status = Status::Warn;
                lines.push(format!("{phase} {what} at {:.0}% of its limit", fraction * 100.0));
            }
        }
        lines.push(format!(
            "{phase}: max {:.1} Mfuel, {:.1} MiB, {:.1} ms over {} calls",
            fuel as f64 / 1e6,
            memory as f64 / (1 << 20) as f64,
            time.as_secs_f64() * 1e3,
            calls.len()
        ));
    }
    if lines.is_empty() {
        lines.push("no successful call to measure".to_owned());
        status = Status::Warn;
    }
    run.record("resources", "headroom", started, status, lines.join("; "));
}
