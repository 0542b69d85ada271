//! The `golden` group: each case of a cases file, its verdict and its defects
//! matched by IoU.

use std::time::Instant;

use super::{Run, describe, ready, step_once, thumbnail, verdict_name};
use crate::error::{Error, InputCode};
use crate::harness::Status;
use crate::harness::cases::{GoldenCase, best_matches};
use crate::image::load_image;
use crate::package::Package;
use crate::params::params_from_json;
use crate::session::Session;
use crate::types::{AlgorithmInfo, Rect, StepInput};

pub(super) fn golden_check(package: &Package, info: &AlgorithmInfo, case: &GoldenCase, tolerance: f64, run: &mut Run<'_>) {
    let started = Instant::now();
    let name = format!("case[{}]", case.name);
    let outcome = (|| {
        let image = load_image(&case.image, None)?;
        let step = info
            .steps
            .iter()
            .find(|s| s.index == case.step)
            .cloned()
            .ok_or_else(|| Error::input(InputCode::InvalidParams, format!("the algorithm has no step {}", case.step)))?;
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
        .map(|e| Rect { x: e.x, y: e.y, width: e.width, height: e.height, label: None, score: None })
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
