//! `pv-host run`: run one step of an algorithm on an image and print the verdict.
//!
//! The flags and the command are here; `execute` turns the flags into steps and
//! runs them, `json` prints the platform-shaped result of `--json`, `human` the
//! summary otherwise.

mod execute;
mod human;
mod json;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use pv_host::annotate::{Mark, annotate};
use pv_host::runner::Metrics;
use pv_host::types::{ExecuteOutput, PixelFormat, PreExecuteOutput, Rect, StepInput, Verdict};
use pv_host::{CallReport, ResourceUsage};

use self::execute::execute;
pub(super) use self::execute::parse_params;
use self::human::print_summary;
use self::json::{error_json, print_json, result_json};
use super::{AdmissionArgs, LimitArgs};
use crate::exit;

/// Run pre-execute then execute for one step on an image, and print the verdict.
///
/// The package must be signed by a key of the trust store (see `pv-host pack`,
/// `pv-host trust`); it is verified before anything is compiled.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The algorithm: a signed package (.wasm).
    package: PathBuf,

    #[command(flatten)]
    admission: AdmissionArgs,

    #[command(flatten)]
    limits: LimitArgs,

    /// Product id of the part (must be one the algorithm supports).
    #[arg(long)]
    pid: String,

    /// The frame to inspect (PNG or JPEG); `--cur-image` as the platform's
    /// development CLI spells it.
    #[arg(long, visible_alias = "cur-image")]
    image: PathBuf,

    /// A reference frame of a good part (PNG or JPEG).
    #[arg(long)]
    guide_image: Option<PathBuf>,

    /// The station's description of the step [default: the step's own].
    #[arg(long, value_name = "TEXT")]
    step_desc: Option<String>,

    /// Labelled regions that go with the guide image, as JSON or @FILE.json:
    /// the platform's groups `[{"label": "1", "posList": [{"x", "y", "width",
    /// "height"}, ...]}, ...]` (each rect takes its group's label) or a list of rects.
    #[arg(long, value_name = "JSON|@FILE")]
    guide_info: Option<String>,

    /// Step parameters as a JSON object, or @FILE to read them from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    params: Option<String>,

    /// Step index (steps start at 1).
    #[arg(long, default_value_t = 1, conflicts_with_all = ["steps", "flow"])]
    step: u32,

    /// Several steps of one part, in order, sharing one session, e.g. `1,2,3`;
    /// each uses --pid, --image and --params. The run stops at the first error.
    #[arg(long, value_name = "LIST", value_delimiter = ',', conflicts_with = "flow")]
    steps: Vec<u32>,

    /// A flow file: a JSON array of steps sharing one session, each
    /// `{"step": N}` with optional `"pid"`, `"image"` and `"params"` that
    /// override --pid, --image and --params for that step.
    #[arg(long, value_name = "FLOW.json")]
    flow: Option<PathBuf>,

    /// Pixel format handed to the algorithm; `auto` follows the file (gray or colour).
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pixel_format: FormatArg,

    /// Print one JSON object shaped like the platform's result instead of a summary.
    #[arg(long)]
    json: bool,

    /// Also print the run's metrics: calls, errors by code, latency histogram,
    /// fuel, traps, instance restarts.
    #[arg(long)]
    metrics: bool,

    /// Write a PNG of the image with the result's rectangles drawn and labelled.
    #[arg(long, value_name = "OUT.png")]
    annotate: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Auto,
    Gray8,
    Rgb8,
    Bgr8,
    Rgba8,
}

impl FormatArg {
    fn format(self) -> Option<PixelFormat> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Gray8 => Some(PixelFormat::Gray8),
            FormatArg::Rgb8 => Some(PixelFormat::Rgb8),
            FormatArg::Bgr8 => Some(PixelFormat::Bgr8),
            FormatArg::Rgba8 => Some(PixelFormat::Rgba8),
        }
    }
}

/// One step of a run, as planned from the flags or the flow file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StepPlan {
    step: u32,
    pid: Option<String>,
    image: Option<PathBuf>,
    params: Option<Value>,
}

/// What one step of a run produced, for printing.
struct RunOutcome {
    name: String,
    version: String,
    image_path: PathBuf,
    input: StepInput,
    /// `setup`, for the first step only.
    setup: Option<ResourceUsage>,
    /// Restarts of the instance so far.
    restarts: u32,
    pre: CallReport<PreExecuteOutput>,
    exec: Option<CallReport<ExecuteOutput>>,
}

/// Run the command; the exit code says OK, NG or which kind of failure.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let outcomes = match execute(&args) {
        Ok(outcomes) => outcomes,
        Err(err) if args.json => {
            print_json(&error_json(&err, None));
            return Ok(exit::code_for(&err));
        }
        Err(err) => return Err(err),
    };
    if let (Some(path), Some(last)) = (&args.annotate, outcomes.last()) {
        write_annotation(path, last)?;
    }
    let metrics = args.metrics.then(|| metrics_of(&outcomes));
    if args.json {
        let mut value = match outcomes.as_slice() {
            [one] => result_json(one),
            several => json!({ "steps": several.iter().map(result_json).collect::<Vec<_>>() }),
        };
        if let (Some(metrics), Value::Object(object)) = (&metrics, &mut value) {
            object.insert("metrics".into(), serde_json::to_value(metrics)?);
        }
        print_json(&value);
    } else {
        for (i, outcome) in outcomes.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_summary(outcome);
        }
        if let (Some(path), Some(last)) = (&args.annotate, outcomes.last()) {
            println!("\nannotated image (step {}) written to {}", last.input.step_index, path.display());
        }
        if let Some(metrics) = &metrics {
            println!("\nmetrics {}", serde_json::to_string(metrics)?);
        }
    }
    let failure =
        outcomes.iter().find_map(|o| o.pre.result.as_ref().err().or(o.exec.as_ref().and_then(|e| e.result.as_ref().err())));
    let any_ng = outcomes
        .iter()
        .any(|o| o.exec.as_ref().and_then(|e| e.result.as_ref().ok()).is_some_and(|out| out.verdict == Verdict::Ng));
    Ok(match failure {
        Some(err) => exit::code_for(&anyhow::Error::new(err.clone())),
        None if any_ng => ExitCode::from(exit::NG),
        None => ExitCode::from(exit::OK),
    })
}

/// The guest calls of the run, counted as a runner counts them.
fn metrics_of(outcomes: &[RunOutcome]) -> Metrics {
    let mut metrics = Metrics::default();
    for outcome in outcomes {
        metrics.record(&outcome.pre);
        if let Some(exec) = &outcome.exec {
            metrics.record(exec);
        }
    }
    metrics.instance_recycles = outcomes.last().map_or(0, |o| u64::from(o.restarts));
    metrics
}
fn write_annotation(path: &Path, outcome: &RunOutcome) -> Result<()> {
    let mut marks: Vec<(Mark, &Rect)> = Vec::new();
    if let Ok(pre) = &outcome.pre.result {
        marks.extend(pre.calibration_rects.iter().map(|r| (Mark::Calibration, r)));
    }
    if let Some(Ok(exec)) = outcome.exec.as_ref().map(|e| &e.result) {
        marks.extend(exec.position_rects.iter().map(|r| (Mark::Position, r)));
        marks.extend(exec.defect_rects.iter().map(|r| (Mark::Defect, r)));
    }
    let canvas = annotate(&outcome.input.image, &marks)?;
    canvas.save(path).with_context(|| format!("cannot write the annotated image {}", path.display()))?;
    Ok(())
}
