//! The battery of checks.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Map;

use super::cases::{GoldenCase, best_matches};
use super::{Check, Harness, Status, TestReport, Thumbnail};
use crate::annotate::{Mark, annotate};
use crate::error::{Error, ErrorKind};
use crate::image::load_image;
use crate::instance::{CallReport, Instance};
use crate::limits::{Limits, Phase};
use crate::package::Package;
use crate::package_file::PackageFile;
use crate::params::params_from_json;
use crate::serve::protocol::verdict_name;
use crate::session::Session;
use crate::types::{
    AlgorithmInfo, ExecuteOutput, Image, ImageMeta, ParamKind, ParamValue, PixelFormat, Rect, StepInput, StepSpec,
};

/// Headroom under which a resource gets a warning.
const MIN_HEADROOM: f64 = 0.25;

/// Packages larger than this get a warning: they slow every station's start.
const LARGE_PACKAGE_BYTES: usize = 64 << 20;

/// The "very large" robustness image: 12 megapixels.
const LARGE_IMAGE: (u32, u32) = (4000, 3000);

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

// ---- package ----------------------------------------------------------------

/// The package checks; returns a loadable package when there is one, admitted
/// or not, so the other checks can still run.
fn package_checks(harness: &Harness<'_>, run: &mut Run<'_>) -> Option<Package> {
    let started = Instant::now();
    let file = match PackageFile::parse(&harness.bytes) {
        Ok(file) => file,
        Err(err) => {
            run.record("package", "format", started, Status::Fail, describe(&err));
            return None;
        }
    };
    match harness.admission.verify(&harness.bytes, &harness.origin) {
        Ok(verified) if verified.trusted => {
            let signers: Vec<String> = verified.signers.iter().map(|s| format!("{} ({})", s.name, s.key_id)).collect();
            run.record("package", "signature", started, Status::Pass, format!("signed by {}", signers.join(", ")));
        }
        Ok(_) => run.record(
            "package",
            "signature",
            started,
            Status::Fail,
            "not signed by enough trusted keys (admitted only because unsigned packages are allowed)",
        ),
        Err(err) => run.record("package", "signature", started, Status::Fail, describe(&err)),
    }

    let started = Instant::now();
    let manifest = match file.manifest() {
        Ok(Some(manifest)) => {
            let reason = format!("{} {} from {}", manifest.name, manifest.version, manifest.publisher);
            match file.check_assets(&manifest) {
                Ok(()) => run.record("package", "manifest", started, Status::Pass, reason),
                Err(err) => run.record("package", "manifest", started, Status::Fail, describe(&err)),
            }
            Some(manifest)
        }
        Ok(None) => {
            run.record("package", "manifest", started, Status::Fail, "no manifest: a bare component, not a package");
            None
        }
        Err(err) => {
            run.record("package", "manifest", started, Status::Fail, describe(&err));
            None
        }
    };

    let started = Instant::now();
    let imports = file.interfaces().map(|(imports, _)| imports).unwrap_or_default();
    match harness.host.import_policy().check(file.component(), &harness.origin) {
        Ok(()) => run.record("package", "imports", started, Status::Pass, format!("{} imports, all allowed", imports.len())),
        Err(err) => run.record("package", "imports", started, Status::Fail, describe(&err)),
    }

    // The component itself: compiled and linked whatever the verdict above, so
    // the behaviour of an untrusted package can be judged too.
    let started = Instant::now();
    let package = match harness.host.load_component(file.component(), &harness.origin) {
        Ok(package) => package,
        Err(err) => {
            run.record("package", "load", started, Status::Fail, describe(&err));
            return None;
        }
    };
    let package = match &manifest {
        Some(manifest) => package.request_limits(&manifest.limits.to_limits()),
        None => package,
    };
    if let Some(manifest) = &manifest {
        match crate::admission::check_info(&package, manifest, &harness.origin) {
            Ok(()) => run.record("package", "manifest_matches_info", started, Status::Pass, "name, version and PIDs agree"),
            Err(err) => run.record("package", "manifest_matches_info", started, Status::Fail, describe(&err)),
        }
    }

    let started = Instant::now();
    let limits = package.limits();
    let size = format!(
        "{} bytes; runs with memory {} MiB, execute deadline {}, fuel {}",
        harness.bytes.len(),
        limits.memory_bytes() >> 20,
        limits.deadline(Phase::Execute).map_or_else(|| "off".to_owned(), |d| format!("{} ms", d.as_millis())),
        limits.fuel_per_call().map_or_else(|| "off".to_owned(), |f| f.to_string())
    );
    let status = if harness.bytes.len() > LARGE_PACKAGE_BYTES { Status::Warn } else { Status::Pass };
    run.record("package", "size_and_limits", started, status, size);
    Some(package)
}

// ---- contract ---------------------------------------------------------------

fn contract_check(info: &AlgorithmInfo, run: &mut Run<'_>) {
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

// ---- behaviour --------------------------------------------------------------

fn gray(width: u32, height: u32, value: u8) -> Image {
    Image {
        meta: ImageMeta { width, height, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: "pv-host-test".into() },
        pixels: vec![value; width as usize * height as usize],
    }
}

/// A colour test card: a gradient in each channel.
fn colour(width: u32, height: u32) -> Image {
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            pixels.extend([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 128]);
        }
    }
    Image { meta: ImageMeta { format: PixelFormat::Rgb8, ..gray(width, height, 0).meta }, pixels }
}

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

/// pre-execute then execute in `session`; the execute output, or the first error.
fn step_once(
    run: &mut Run<'_>,
    instance: &mut Instance,
    session: &mut Session,
    input: &StepInput,
) -> crate::Result<ExecuteOutput> {
    let pre = instance.pre_execute(session, input);
    run.keep(Phase::PreExecute, &pre);
    pre.result?;
    let exec = instance.execute(session, input);
    run.keep(Phase::Execute, &exec);
    exec.result
}

/// One behaviour run judged: a result or an algorithm's own error passes; a
/// sandbox stop or an invalid output fails.
fn judge(result: &crate::Result<ExecuteOutput>) -> (Status, String) {
    match result {
        Ok(out) => (
            Status::Pass,
            format!("{}{}", verdict_name(out.verdict), out.ng_reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()),
        ),
        Err(err) if crashed(err) => (Status::Fail, describe(err)),
        Err(err) => (Status::Pass, format!("a proper error: {}", describe(err))),
    }
}

fn behaviour_checks(harness: &Harness<'_>, package: &Package, info: &AlgorithmInfo, pid: &str, run: &mut Run<'_>) {
    let Some(first_step) = info.steps.first() else { return };

    // An unsupported PID is the host's to refuse, before the guest is called.
    let started = Instant::now();
    let unsupported = ready(package).and_then(|mut instance| {
        let input = input(first_step, "__pv_host_unsupported_pid__", gray(8, 8, 0))?;
        Ok(instance.execute(&mut Session::new("pid"), &input).result)
    });
    match unsupported {
        Ok(Err(err)) if err.code().number() == 1001 && err.kind() == ErrorKind::InvalidInput => {
            run.record("behaviour", "unsupported_pid_refused", started, Status::Pass, "1001 before the guest is called");
        }
        Ok(other) => run.record("behaviour", "unsupported_pid_refused", started, Status::Fail, format!("got {other:?}")),
        Err(err) => run.record("behaviour", "unsupported_pid_refused", started, Status::Fail, describe(&err)),
    }

    // Every step on every image, with default params.
    let mut images: Vec<(String, crate::Result<Image>)> = Vec::new();
    for path in &harness.images {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        images.push((name, load_image(path, None)));
    }
    if images.is_empty() {
        run.record("behaviour", "images", Instant::now(), Status::Warn, "no --images given: only synthetic images were used");
    }
    match ready(package) {
        Ok(mut instance) => {
            for (name, image) in &images {
                for step in &info.steps {
                    let started = Instant::now();
                    let check = format!("step{}[{name}]", step.index);
                    let result = match image {
                        Ok(image) => input(step, pid, image.clone())
                            .and_then(|input| step_once(run, &mut instance, &mut Session::new("images"), &input)),
                        Err(err) => Err(err.clone()),
                    };
                    let (status, reason) = judge(&result);
                    if let Ok(image) = image {
                        let title = format!("{name}, step {}: {}", step.index, reason);
                        thumbnail(run, &title, image, result.as_ref().ok(), &[]);
                    }
                    run.record("behaviour", &check, started, status, reason);
                }
            }
        }
        Err(err) => run.record("behaviour", "setup", Instant::now(), Status::Fail, describe(&err)),
    }

    out_of_range_check(package, info, pid, run);

    // Determinism: the same input twice, in fresh sessions, on one instance.
    let started = Instant::now();
    let base = images.iter().find_map(|(_, image)| image.as_ref().ok().cloned()).unwrap_or_else(|| colour(640, 480));
    let determinism = ready(package).and_then(|mut instance| {
        let input = input(first_step, pid, base.clone())?;
        let first = step_once(run, &mut instance, &mut Session::new("d1"), &input);
        let second = step_once(run, &mut instance, &mut Session::new("d2"), &input);
        Ok((first, second))
    });
    match determinism {
        Ok((Err(err), _)) if crashed(&err) => {
            run.record("behaviour", "determinism", started, Status::Fail, format!("cannot judge: {}", describe(&err)))
        }
        Ok((a, b)) if format!("{a:?}") == format!("{b:?}") => {
            run.record("behaviour", "determinism", started, Status::Pass, "the same input gave the same output twice")
        }
        Ok((a, b)) => run.record(
            "behaviour",
            "determinism",
            started,
            Status::Fail,
            format!("the same input gave different outputs: {} then {}", summary(&a), summary(&b)),
        ),
        Err(err) => run.record("behaviour", "determinism", started, Status::Fail, describe(&err)),
    }

    // No state leaks between sessions: the result on an image must not depend
    // on what the instance saw in an earlier session.
    let started = Instant::now();
    let isolation = (|| {
        let other = gray(base.meta.width, base.meta.height, 0);
        let mut used = ready(package)?;
        let _ = step_once(run, &mut used, &mut Session::new("earlier"), &input(first_step, pid, other)?);
        let after = step_once(run, &mut used, &mut Session::new("later"), &input(first_step, pid, base.clone())?);
        let fresh = step_once(run, &mut ready(package)?, &mut Session::new("fresh"), &input(first_step, pid, base.clone())?);
        Ok::<_, Error>((after, fresh))
    })();
    match isolation {
        Ok((Err(err), _)) if crashed(&err) => {
            run.record("behaviour", "session_isolation", started, Status::Fail, format!("cannot judge: {}", describe(&err)))
        }
        Ok((a, b)) if format!("{a:?}") == format!("{b:?}") => {
            run.record("behaviour", "session_isolation", started, Status::Pass, "an earlier session changed nothing")
        }
        Ok((a, b)) => run.record(
            "behaviour",
            "session_isolation",
            started,
            Status::Fail,
            format!("state leaks between sessions: {} after another session, {} on a fresh instance", summary(&a), summary(&b)),
        ),
        Err(err) => run.record("behaviour", "session_isolation", started, Status::Fail, describe(&err)),
    }

    // reset
    let started = Instant::now();
    let reset = ready(package).and_then(|mut instance| instance.reset(&mut Session::new("reset")).into_result());
    match reset {
        Ok(()) => run.record("behaviour", "reset", started, Status::Pass, "reset succeeded"),
        Err(err) => run.record("behaviour", "reset", started, Status::Fail, describe(&err)),
    }

    // Robustness: odd but valid frames get a result or a proper error.
    let cases = [
        ("black", gray(640, 480, 0)),
        ("1x1", gray(1, 1, 128)),
        ("large", gray(LARGE_IMAGE.0, LARGE_IMAGE.1, 100)),
        ("gray", gray(640, 480, 128)),
        ("colour", colour(640, 480)),
    ];
    for (name, image) in cases {
        let started = Instant::now();
        let result = ready(package)
            .and_then(|mut instance| step_once(run, &mut instance, &mut Session::new("robust"), &input(first_step, pid, image)?));
        let (status, reason) = judge(&result);
        run.record("behaviour", &format!("robustness.{name}"), started, status, reason);
    }
}

fn value_text(value: &ParamValue) -> String {
    match value {
        ParamValue::Int(v) => v.to_string(),
        ParamValue::Float(v) => v.to_string(),
        other => format!("{other:?}"),
    }
}

fn summary(result: &crate::Result<ExecuteOutput>) -> String {
    match result {
        Ok(out) => format!(
            "{} with {} defect(s), debug {}",
            verdict_name(out.verdict),
            out.defect_rects.len(),
            out.debug.as_deref().unwrap_or("-")
        ),
        Err(err) => describe(err),
    }
}

/// A ranged int or float param set past its maximum must be refused by the host.
fn out_of_range_check(package: &Package, info: &AlgorithmInfo, pid: &str, run: &mut Run<'_>) {
    let started = Instant::now();
    let ranged = info.steps.iter().find_map(|step| {
        step.params.iter().find_map(|spec| match &spec.kind {
            ParamKind::Int(r) => r.max.and_then(|m| m.checked_add(1)).map(|v| (step, spec, ParamValue::Int(v))),
            ParamKind::Float(r) => r.max.map(|m| (step, spec, ParamValue::Float(m + m.abs().max(1.0)))),
            _ => None,
        })
    });
    let Some((step, spec, value)) = ranged else {
        run.record("behaviour", "out_of_range_param_refused", started, Status::Pass, "no ranged parameter to push");
        return;
    };
    let result = ready(package).and_then(|mut instance| {
        let mut input = input(step, pid, gray(64, 64, 128))?;
        input.params.retain(|p| p.name != spec.name);
        input.params.push(crate::types::Param { name: spec.name.clone(), value: value.clone() });
        Ok(instance.execute(&mut Session::new("range"), &input).result)
    });
    match result {
        Ok(Err(err)) if err.kind() == ErrorKind::InvalidInput && err.code().number() == 1006 => run.record(
            "behaviour",
            "out_of_range_param_refused",
            started,
            Status::Pass,
            format!("`{}` = {} refused by the host (1006)", spec.name, value_text(&value)),
        ),
        Ok(other) => run.record("behaviour", "out_of_range_param_refused", started, Status::Fail, format!("got {other:?}")),
        Err(err) => run.record("behaviour", "out_of_range_param_refused", started, Status::Fail, describe(&err)),
    }
}

// ---- resources --------------------------------------------------------------

fn resource_check(limits: &Limits, run: &mut Run<'_>) {
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

// ---- golden -----------------------------------------------------------------

fn golden_check(package: &Package, info: &AlgorithmInfo, case: &GoldenCase, tolerance: f64, run: &mut Run<'_>) {
    let started = Instant::now();
    let name = format!("case[{}]", case.name);
    let outcome = (|| {
        let image = load_image(&case.image, None)?;
        let step =
            info.steps.iter().find(|s| s.index == case.step).cloned().ok_or_else(|| {
                Error::input(crate::ErrorCode::InvalidParams, format!("the algorithm has no step {}", case.step))
            })?;
        let input = StepInput {
            step_index: case.step,
            pid: case.pid.clone(),
            step_desc: step.description.clone(),
            params: params_from_json(&step, &case.params)?,
            image: image.clone(),
            guide_image: None,
            guide_info: Vec::new(),
        };
        let out = step_once(run, &mut ready(package)?, &mut Session::new("golden"), &input)?;
        Ok::<_, Error>((image, out))
    })();
    let (image, out) = match outcome {
        Ok(found) => found,
        Err(err) => {
            run.record("golden", &name, started, Status::Fail, describe(&err));
            return;
        }
    };
    let expected_rects: Vec<Rect> = case
        .defects
        .iter()
        .map(|e| Rect { x: e.x, y: e.y, width: e.width, height: e.height, label: Some("expected".into()), score: None })
        .collect();
    thumbnail(run, &format!("golden case {}", case.name), &image, Some(&out), &expected_rects);
    let verdict = verdict_name(out.verdict);
    let mut problems = Vec::new();
    if verdict != case.verdict {
        problems.push(format!("verdict {verdict}, expected {}", case.verdict));
    }
    for (expected, iou) in case.defects.iter().zip(best_matches(&case.defects, &out.defect_rects)) {
        if iou < tolerance {
            problems.push(format!(
                "expected defect ({}, {}, {}x{}) best IoU {iou:.2} < {tolerance}",
                expected.x, expected.y, expected.width, expected.height
            ));
        }
    }
    if problems.is_empty() {
        let matched = if case.defects.is_empty() { String::new() } else { format!(", {} defect(s) matched", case.defects.len()) };
        run.record("golden", &name, started, Status::Pass, format!("{verdict}{matched}"));
    } else {
        run.record("golden", &name, started, Status::Fail, problems.join("; "));
    }
}

/// An annotated, downscaled copy of `image` for the HTML report.
fn thumbnail(run: &mut Run<'_>, title: &str, image: &Image, out: Option<&ExecuteOutput>, expected: &[Rect]) {
    let mut marks: Vec<(Mark, &Rect)> = expected.iter().map(|r| (Mark::Expected, r)).collect();
    if let Some(out) = out {
        marks.extend(out.position_rects.iter().map(|r| (Mark::Position, r)));
        marks.extend(out.defect_rects.iter().map(|r| (Mark::Defect, r)));
    }
    let Ok(canvas) = annotate(image, &marks) else { return };
    let width = canvas.width().min(320);
    let height = (u64::from(canvas.height()) * u64::from(width) / u64::from(canvas.width().max(1))).max(1) as u32;
    let small = image::imageops::thumbnail(&canvas, width, height);
    let mut png = Vec::new();
    if small.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).is_ok() {
        run.thumbnails.push(Thumbnail { title: title.to_owned(), png });
    }
}
