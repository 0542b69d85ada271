//! `pv-host run`: run one step of an algorithm on an image and print the verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

use pv_host::annotate::{Mark, annotate};
use pv_host::image::{format_name, load_image, probe_image};
use pv_host::serve::protocol::{self, verdict_name};
use pv_host::types::{ExecuteOutput, LogLevel, PixelFormat, PreExecuteOutput, Rect, StepInput, StepOutcome, Verdict};
use pv_host::{CallReport, Error, InputCode, Instance, LogRecord, Metrics, ResourceUsage, Session, params_from_json};

use super::{AdmissionArgs, LimitArgs, Record};
use crate::exit;
use crate::terminal_safe as safe;

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

/// The steps to run: the flow file, else --steps, else --step.
fn plan(args: &RunArgs) -> Result<Vec<StepPlan>> {
    let single = |step| StepPlan { step, pid: None, image: None, params: None };
    if let Some(path) = &args.flow {
        let text = std::fs::read(path).with_context(|| format!("cannot read the flow file {}", path.display()))?;
        let steps: Vec<StepPlan> = serde_json::from_slice(&text).map_err(|err| Error::InvalidInput {
            code: InputCode::InvalidParams,
            message: format!("the flow file {} is not a JSON array of steps: {err}", path.display()),
        })?;
        if steps.is_empty() {
            return Err(Error::InvalidInput { code: InputCode::InvalidParams, message: "the flow has no steps".into() }.into());
        }
        return Ok(steps);
    }
    if !args.steps.is_empty() {
        return Ok(args.steps.iter().copied().map(single).collect());
    }
    Ok(vec![single(args.step)])
}

fn execute(args: &RunArgs) -> Result<Vec<RunOutcome>> {
    let plan = plan(args)?;
    let default_params = parse_params(args.params.as_deref())?;
    let guide_info = parse_guide_info(args.guide_info.as_deref())?;
    let host = super::host_builder().limits(args.limits.limits()).build()?;
    let package = args.admission.load(&host, &args.package, Record::Admitted)?;
    let mut instance = package.instantiate()?;
    let mut inputs = Vec::new();
    for step_plan in &plan {
        let pid = step_plan.pid.clone().unwrap_or_else(|| args.pid.clone());
        instance.check_pid(&pid)?;
        let step = instance.step(step_plan.step)?.clone();
        let params = match &step_plan.params {
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                return Err(Error::InvalidInput {
                    code: InputCode::InvalidParams,
                    message: format!("the params of step {} must be a JSON object, got {other}", step_plan.step),
                }
                .into());
            }
            None => default_params.clone(),
        };
        let params = params_from_json(&step, &params)?;
        let image_path = step_plan.image.clone().unwrap_or_else(|| args.image.clone());
        // Headers only here: each step's image is decoded when its step runs, so
        // a run holds one step's frames at a time.
        probe_image(&image_path, args.pixel_format.format())?;
        let step_desc = args.step_desc.clone().unwrap_or_else(|| step.description.clone());
        inputs.push((image_path, pid, step_plan.step, step_desc, params));
    }
    if let Some(guide) = &args.guide_image {
        probe_image(guide, args.pixel_format.format())?;
    }

    let setup = instance.setup();
    setup.result.context("setup failed")?;
    let mut setup = Some(setup.usage);
    let mut session = Session::new("pv-host-run");
    let (name, version) = (instance.info().name.clone(), instance.info().version.clone());
    let mut outcomes: Vec<RunOutcome> = Vec::new();
    for (image_path, pid, step_index, step_desc, params) in inputs {
        // Only the last step's pixels are drawn (--annotate): the previous step's
        // go before this one's are decoded.
        if let Some(previous) = outcomes.last_mut() {
            previous.input.image.pixels = Vec::new();
            previous.input.guide_image = None;
        }
        let image = load_image(&image_path, args.pixel_format.format())?;
        let guide_image = args.guide_image.as_deref().map(|p| load_image(p, args.pixel_format.format())).transpose()?;
        let input = StepInput { step_index, pid, step_desc, params, image, guide_image, guide_info: guide_info.clone() };
        let (pre, exec) = run_step(&mut instance, &mut session, &input);
        let failed = pre.result.is_err() || exec.as_ref().is_some_and(|e| e.result.is_err());
        outcomes.push(RunOutcome {
            name: name.clone(),
            version: version.clone(),
            image_path,
            input,
            setup: setup.take(),
            restarts: instance.restarts(),
            pre,
            exec,
        });
        if failed {
            break;
        }
    }
    if !instance.is_poisoned()
        && let Err(err) = instance.teardown().result
    {
        tracing::warn!(%err, "teardown failed");
    }
    Ok(outcomes)
}

/// on-step-start, pre-execute, execute (when pre-execute succeeded), on-step-finish.
fn run_step(
    instance: &mut Instance,
    session: &mut Session,
    input: &StepInput,
) -> (CallReport<PreExecuteOutput>, Option<CallReport<ExecuteOutput>>) {
    let (step, pid) = (input.step_index, input.pid.as_str());
    if let Err(err) = instance.on_step_start(session, step, pid).result {
        tracing::warn!(%err, "on-step-start failed");
    }
    let pre = instance.pre_execute(session, input);
    let exec = pre.result.is_ok().then(|| instance.execute(session, input));
    let outcome = match exec.as_ref().map(|e| e.result.as_ref()) {
        Some(Ok(out)) if out.verdict == Verdict::Ng => StepOutcome::Ng,
        Some(Ok(_)) => StepOutcome::Ok,
        _ => StepOutcome::Error,
    };
    if !instance.is_poisoned()
        && let Err(err) = instance.on_step_finish(session, step, pid, outcome).result
    {
        tracing::warn!(%err, "on-step-finish failed");
    }
    (pre, exec)
}

/// `--guide-info`: the platform's groups or a list of rects, as JSON or @FILE.
fn parse_guide_info(arg: Option<&str>) -> Result<Vec<Rect>> {
    let Some(arg) = arg else { return Ok(Vec::new()) };
    let invalid = |message: String| Error::InvalidInput { code: InputCode::InvalidParams, message };
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|err| invalid(format!("cannot read guide info file {path}: {err}")))?
        }
        None => arg.to_owned(),
    };
    let value: Value = serde_json::from_str(&text).map_err(|err| invalid(format!("guide info is not JSON: {err}")))?;
    Ok(protocol::guide_info_from_json(&value).map_err(invalid)?)
}

/// `--params`: a JSON object, or @FILE holding one.
pub(super) fn parse_params(arg: Option<&str>) -> Result<Map<String, Value>> {
    let Some(arg) = arg else { return Ok(Map::new()) };
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|err| Error::InvalidInput {
            code: InputCode::InvalidParams,
            message: format!("cannot read params file {path}: {err}"),
        })?,
        None => arg.to_owned(),
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::InvalidInput {
            code: InputCode::InvalidParams,
            message: format!("params must be a JSON object, got {other}"),
        }
        .into()),
        Err(err) => {
            Err(Error::InvalidInput { code: InputCode::InvalidParams, message: format!("params are not JSON: {err}") }.into())
        }
    }
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

// ---- JSON output -------------------------------------------------------------

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

fn logs_json<T>(report: &CallReport<T>, phase: &str) -> Vec<Value> {
    report
        .logs
        .iter()
        .map(|r| json!({ "phase": phase, "level": level_name(r.level), "message": r.message, "fields": r.fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<String, Value>>() }))
        .collect()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn usage_json(usage: &ResourceUsage) -> Value {
    json!({
        "wall_ms": ms(usage.wall_time),
        "fuel_consumed": usage.fuel_consumed,
        "peak_memory_bytes": usage.peak_memory_bytes,
    })
}

fn error_json(err: &anyhow::Error, data: Option<Value>) -> Value {
    let mut value = exit::error_json(err);
    value["data"] = data.unwrap_or(Value::Null);
    value
}

fn result_json(outcome: &RunOutcome) -> Value {
    let mut logs = logs_json(&outcome.pre, "pre-execute");
    let mut timings = Map::new();
    let mut resources = Map::new();
    if let Some(setup) = &outcome.setup {
        timings.insert("setup".into(), json!(ms(setup.wall_time)));
        resources.insert("setup".into(), usage_json(setup));
    }
    timings.insert("pre_execute".into(), json!(ms(outcome.pre.usage.wall_time)));
    resources.insert("pre_execute".into(), usage_json(&outcome.pre.usage));
    let mut data = Map::new();
    data.insert("step_index".into(), json!(outcome.input.step_index));
    if let Ok(pre) = &outcome.pre.result {
        data.insert("pre_message".into(), json!(pre.message));
        data.insert("calibration_rects".into(), pre.calibration_rects.iter().map(protocol::rect_json).collect());
    }
    let mut diagnostics = outcome.pre.diagnostics.clone();
    if let Some(exec) = &outcome.exec {
        logs.extend(logs_json(exec, "execute"));
        timings.insert("execute".into(), json!(ms(exec.usage.wall_time)));
        resources.insert("execute".into(), usage_json(&exec.usage));
        diagnostics.extend(exec.diagnostics.clone());
        if let Ok(out) = &exec.result {
            data.extend(protocol::execute_data(out));
        }
    }
    let failure = outcome.pre.result.as_ref().err().or(outcome.exec.as_ref().and_then(|e| e.result.as_ref().err()));
    let mut value = match failure {
        Some(err) => error_json(&anyhow::Error::new(err.clone()), Some(Value::Object(data))),
        None => {
            let message = outcome.exec.as_ref().and_then(|e| e.result.as_ref().ok()).and_then(|o| o.ng_reason.clone());
            json!({ "status": "OK", "message": message.unwrap_or_default(), "error_code": null, "data": data })
        }
    };
    if let Value::Object(map) = &mut value {
        map.insert("algorithm".into(), json!({ "name": outcome.name, "version": outcome.version }));
        map.insert("timings_ms".into(), Value::Object(timings));
        map.insert("resources".into(), Value::Object(resources));
        map.insert("logs".into(), Value::Array(logs));
        map.insert("diagnostics".into(), json!(diagnostics));
    }
    value
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

// ---- human summary -----------------------------------------------------------

/// `   5.3 ms    41.2 Mfuel   2.1 MiB`: wall time, fuel and peak memory of a call.
fn usage_line(usage: &ResourceUsage) -> String {
    let fuel = match usage.fuel_consumed {
        Some(fuel) => format!("{:>7.1} Mfuel", fuel as f64 / 1e6),
        None => format!("{:>13}", "fuel off"),
    };
    format!("{:>8.1} ms {fuel} {:>7.1} MiB", ms(usage.wall_time), usage.peak_memory_bytes as f64 / (1024.0 * 1024.0))
}

fn print_summary(outcome: &RunOutcome) {
    let meta = &outcome.input.image.meta;
    println!(
        "{} {} | pid {} | step {} | {} ({}x{} {})",
        safe(&outcome.name),
        safe(&outcome.version),
        safe(&outcome.input.pid),
        outcome.input.step_index,
        outcome.image_path.display(),
        meta.width,
        meta.height,
        format_name(meta.format)
    );
    if let Some(setup) = &outcome.setup {
        println!("setup        ok     {}", usage_line(setup));
    }
    match &outcome.pre.result {
        Ok(pre) => println!("pre-execute  ok     {}  {}", usage_line(&outcome.pre.usage), safe(&pre.message)),
        Err(err) => {
            println!("pre-execute  ERROR  {}  [{}] {}", usage_line(&outcome.pre.usage), err.code(), safe(&err.to_string()))
        }
    }
    if let Some(exec) = &outcome.exec {
        match &exec.result {
            Ok(out) => println!(
                "execute      {:<6} {}  {}",
                verdict_name(out.verdict),
                usage_line(&exec.usage),
                safe(out.ng_reason.as_deref().unwrap_or(""))
            ),
            Err(err) => {
                println!("execute      ERROR  {}  [{}] {}", usage_line(&exec.usage), err.code(), safe(&err.to_string()))
            }
        }
    }
    let mut rows: Vec<(&str, &Rect)> = Vec::new();
    if let Ok(pre) = &outcome.pre.result {
        rows.extend(pre.calibration_rects.iter().map(|r| ("calibration", r)));
    }
    if let Some(Ok(out)) = outcome.exec.as_ref().map(|e| &e.result) {
        rows.extend(out.defect_rects.iter().map(|r| ("defect", r)));
        rows.extend(out.position_rects.iter().map(|r| ("position", r)));
    }
    if !rows.is_empty() {
        println!("\n  #  kind         {:>5} {:>5} {:>5} {:>5}  score  label", "x", "y", "w", "h");
        for (i, (kind, r)) in rows.iter().enumerate() {
            let score = r.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "-".into());
            println!(
                "{:>3}  {kind:<12} {:>5} {:>5} {:>5} {:>5}  {score:>5}  {}",
                i + 1,
                r.x,
                r.y,
                r.width,
                r.height,
                safe(r.label.as_deref().unwrap_or(""))
            );
        }
    }
    let logs: Vec<(&str, &LogRecord)> = outcome
        .pre
        .logs
        .iter()
        .map(|r| ("pre-execute", r))
        .chain(outcome.exec.iter().flat_map(|e| e.logs.iter().map(|r| ("execute", r))))
        .collect();
    if !logs.is_empty() {
        println!("\nguest log");
        for (phase, r) in logs {
            let fields: Vec<String> = r.fields.iter().map(|(k, v)| format!("{}={}", safe(k), safe(v))).collect();
            println!("  {phase:<11} {:<5} {} {}", level_name(r.level), safe(&r.message), fields.join(" "));
        }
    }
    let verdict = match (&outcome.pre.result, outcome.exec.as_ref().map(|e| &e.result)) {
        (Err(err), _) | (_, Some(Err(err))) => format!("ERROR {}", err.code()),
        (_, Some(Ok(out))) => match &out.ng_reason {
            Some(reason) if out.verdict == Verdict::Ng => format!("NG ({})", safe(reason)),
            _ => verdict_name(out.verdict).to_owned(),
        },
        _ => "ERROR".to_owned(),
    };
    println!("\nverdict: {verdict}");
}
