//! The `contract` group: get-info sane: steps numbered from 1, param specs valid,
//! defaults inside their rules, choices non-empty, PIDs non-empty and unique.

use std::collections::BTreeSet;
use std::time::Instant;

use super::Run;
use crate::harness::Status;
use crate::types::{AlgorithmInfo, ParamKind};

pub(super) fn contract_check(info: &AlgorithmInfo, run: &mut Run<'_>) {
    let started = Instant::now();
    match contract_problems(info) {
        problems if problems.is_empty() => run.record(
            "contract",
            "info",
            started,
            Status::Pass,
            format!("{} step(s), {} PID(s)", info.steps.len(), info.supported_pids.len()),
        ),
        problems => run.record("contract", "info", started, Status::Fail, problems.join("; ")),
    }
}

fn contract_problems(info: &AlgorithmInfo) -> Vec<String> {
    let mut problems = Vec::new();
    if info.name.trim().is_empty() {
        problems.push("the name is empty".to_owned());
    }
    if semver::Version::parse(&info.version).is_err() {
        problems.push(format!("version `{}` is not semver", info.version));
    }
    if info.supported_pids.is_empty() {
        problems.push("no supported PIDs".to_owned());
    }
    let mut pids = BTreeSet::new();
    for pid in &info.supported_pids {
        if pid.trim().is_empty() || !pids.insert(pid) {
            problems.push(format!("PID `{pid}` is empty or listed twice"));
        }
    }
    if info.steps.is_empty() {
        problems.push("no steps".to_owned());
    }
    for (i, step) in info.steps.iter().enumerate() {
        if step.index != i as u32 + 1 {
            problems.push(format!("step #{} has index {}: steps are numbered 1, 2, 3...", i + 1, step.index));
        }
        let mut names = BTreeSet::new();
        for spec in &step.params {
            let at = format!("step {} param `{}`", step.index, spec.name);
            if spec.name.is_empty() || !names.insert(&spec.name) {
                problems.push(format!("{at}: the name is empty or used twice"));
            }
            match &spec.kind {
                ParamKind::Int(r) if r.min.zip(r.max).is_some_and(|(a, b)| a > b) => {
                    problems.push(format!("{at}: min above max"));
                }
                ParamKind::Float(r)
                    if r.min.zip(r.max).is_some_and(|(a, b)| a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) && a != b) =>
                {
                    problems.push(format!("{at}: min above max (or not a number)"));
                }
                ParamKind::Enumeration(choices) if choices.is_empty() => problems.push(format!("{at}: no choices")),
                _ => {}
            }
            if let Some(default) = &spec.default
                && let Err(err) = crate::params::check_value(spec, default)
            {
                problems.push(format!("{at}: default breaks its own rule ({err})"));
            }
        }
    }
    problems
}
