//! The battery of checks, one file per group of the table in the harness docs:
//! `package`, `contract`, `behaviour`, `resources` and `golden`. This file holds
//! what the groups share: the run that collects results, and the guest calls and
//! thumbnails several groups make.

mod behaviour;
mod contract;
mod golden;
mod package;
mod resources;

use std::time::Instant;

use serde_json::Map;

use self::behaviour::behaviour_checks;
use self::contract::contract_check;
use self::golden::golden_check;
use self::package::package_checks;
use self::resources::resource_check;
use super::{Check, Harness, Status, THUMBNAIL_WIDTH, TestReport, Thumbnail};
use crate::annotate::{Mark, annotate_thumbnail};
use crate::error::{Error, ErrorKind};
use crate::instance::{CallReport, Instance};
use crate::package::Package;
use crate::params::params_from_json;
use crate::phase::Phase;
use crate::session::Session;
use crate::step::{StepCalls, StepDriver};
use crate::types::{ExecuteOutput, Image, Rect, StepInput, StepSpec};
use crate::wire::verdict_name;

/// Collects results and feeds the progress callback.
struct Run<'p> {
    checks: Vec<Check>,
    thumbnails: Vec<Thumbnail>,
    progress: &'p mut dyn FnMut(&Check),
    /// Every call's report, for the resource summary: (phase, usage).
    usage: Vec<(Phase, crate::instance::ResourceUsage)>,
}

impl Run<'_> {
    fn record(&mut self, group: &str, name: &str, started: Instant, status: Status, reason: impl Into<String>) {
        let check = Check {
            name: format!("{group}.{name}"),
            group: group.to_owned(),
            status,
            reason: reason.into(),
            duration: started.elapsed(),
        };
        (self.progress)(&check);
        self.checks.push(check);
    }

    fn keep<T>(&mut self, phase: Phase, report: &CallReport<T>) {
        self.usage.push((phase, report.usage));
    }
}

fn describe(err: &Error) -> String {
    format!("[{}] {err}", err.code())
}

/// Whether an error is a sandbox stop (a trap or a limit), which a conformant
/// algorithm never causes on valid input.
fn crashed(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Trap | ErrorKind::Limit | ErrorKind::InvalidOutput)
}

pub(super) fn run(harness: &Harness<'_>, progress: &mut dyn FnMut(&Check)) -> TestReport {
    let mut run = Run { checks: Vec::new(), thumbnails: Vec::new(), progress, usage: Vec::new() };
    let package = package_checks(harness, &mut run);
    if let Some(package) = package {
        let pid = harness.pid.clone();
        match package.instantiate() {
            Ok(probe) => {
                let info = probe.info().clone();
                drop(probe);
                contract_check(&info, &mut run);
                let pid = pid.or_else(|| info.supported_pids.first().cloned()).unwrap_or_default();
                behaviour_checks(harness, &package, &info, &pid, &mut run);
                resource_check(package.limits(), &mut run);
                if let Some(cases) = &harness.cases {
                    for case in &cases.cases {
                        golden_check(&package, &info, case, cases.iou, &mut run);
                    }
                }
            }
            Err(err) => {
                run.record("contract", "instantiate", Instant::now(), Status::Fail, describe(&err));
            }
        }
    }
    TestReport { package: harness.origin.clone(), checks: run.checks, thumbnails: run.thumbnails }
}

// ---- calls and thumbnails the groups share -----------------------------------

fn input(step: &StepSpec, pid: &str, image: Image) -> crate::Result<StepInput> {
    Ok(StepInput {
        step_index: step.index,
        pid: pid.to_owned(),
        step_desc: step.description.clone(),
        params: params_from_json(step, &Map::new())?,
        image,
        guide_image: None,
        guide_info: Vec::new(),
    })
}

fn ready(package: &Package) -> crate::Result<Instance> {
    let mut instance = package.instantiate()?;
    instance.setup().into_result()?;
    Ok(instance)
}

/// One whole step in `session`, driven as a station drives it (the library's
/// [`StepDriver`]: hooks, pre-execute, execute); the execute output, or the
/// first error.
fn step_once(
    run: &mut Run<'_>,
    instance: &mut Instance,
    session: &mut Session,
    input: &StepInput,
) -> crate::Result<ExecuteOutput> {
    let step = StepDriver::new(StepCalls::PreExecuteThenExecute).run(instance, session, input);
    if let Some(pre) = &step.pre_execute {
        run.keep(Phase::PreExecute, pre);
        pre.result.clone()?;
    }
    match step.execute {
        Some(exec) => {
            run.keep(Phase::Execute, &exec);
            exec.result
        }
        None => Err(Error::host("the step driver ran no execute")),
    }
}
/// An annotated, downscaled copy of `image` for the HTML report.
fn thumbnail(run: &mut Run<'_>, title: &str, image: &Image, out: Option<&ExecuteOutput>, expected: &[Rect]) {
    let mut marks: Vec<(Mark, &Rect)> = expected.iter().map(|r| (Mark::Expected, r)).collect();
    if let Some(out) = out {
        marks.extend(out.position_rects.iter().map(|r| (Mark::Position, r)));
        marks.extend(out.defect_rects.iter().map(|r| (Mark::Defect, r)));
    }
    let Ok(small) = annotate_thumbnail(image, &marks, THUMBNAIL_WIDTH) else { return };
    let legend = marks
        .iter()
        .map(|(mark, r)| {
            let label = r.label.as_deref().map(|label| format!("{label} ")).unwrap_or_default();
            (*mark, format!("{label}({}, {}, {}x{})", r.x, r.y, r.width, r.height))
        })
        .collect();
    let mut png = Vec::new();
    if small.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).is_ok() {
        run.thumbnails.push(Thumbnail { title: title.to_owned(), png, legend });
    }
}
