//! The `behaviour` group: unsupported PID refused (1001), each step on each
//! image, out-of-range param refused (1006), determinism, no state leaking
//! between sessions, reset, robustness (black, 1x1, very large, gray and colour).

use std::time::Instant;

use super::{Run, crashed, describe, input, ready, step_once, thumbnail, verdict_name};
use crate::error::{Error, ErrorKind};
use crate::harness::{Harness, Status};
use crate::image::load_image;
use crate::package::Package;
use crate::session::Session;
use crate::types::{AlgorithmInfo, ExecuteOutput, Image, ImageMeta, ParamKind, ParamValue, PixelFormat};

/// The "very large" robustness image: 12 megapixels.
const LARGE_IMAGE: (u32, u32) = (4000, 3000);
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

pub(super) fn behaviour_checks(harness: &Harness<'_>, package: &Package, info: &AlgorithmInfo, pid: &str, run: &mut Run<'_>) {
    let Some(first_step) = info.steps.first() else { return };

    // Setup first: every check below starts from a set-up instance, and an
    // algorithm that cannot set up (a missing model: 1003) must not pass them
    // on "a proper error".
    let started = Instant::now();
    match ready(package) {
        Ok(_) => run.record("behaviour", "setup", started, Status::Pass, "setup succeeded"),
        Err(err) => {
            let reason = format!("setup failed, so no step can run (the other behaviour checks are skipped): {}", describe(&err));
            run.record("behaviour", "setup", started, Status::Fail, reason);
            return;
        }
    }

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
