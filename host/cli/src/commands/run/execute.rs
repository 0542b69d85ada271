//! From the flags to the guest calls: the plan of steps, each step's input, and
//! the calls of each step in one session.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use pv_host::error::InputCode;
use pv_host::image::{load_image, probe_image};
use pv_host::params::{
    MAX_JSON_FILE_BYTES, MAX_JSON_VALUES, guide_info_from_json, params_from_json, parse_bounded, read_json_file,
};
use pv_host::types::{ExecuteOutput, PreExecuteOutput, Rect, StepInput};
use pv_host::{CallReport, Error, Instance, Session, StepCalls, StepDriver};

use super::{RunArgs, RunOutcome, StepPlan};
use crate::commands::Record;

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

/// Run the planned steps in one session: what each step produced, up to the
/// first that failed.
pub(super) fn execute(args: &RunArgs) -> Result<Vec<RunOutcome>> {
    let plan = plan(args)?;
    let default_params = parse_params(args.params.as_deref())?;
    let guide_info = parse_guide_info(args.guide_info.as_deref())?;
    let host = crate::commands::host_builder().limits(args.limits.limits()).build()?;
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

/// One step as the library drives every step ([`StepDriver`]): on-step-start,
/// pre-execute, execute (when pre-execute succeeded), on-step-finish.
fn run_step(
    instance: &mut Instance,
    session: &mut Session,
    input: &StepInput,
) -> (CallReport<PreExecuteOutput>, Option<CallReport<ExecuteOutput>>) {
    let step = StepDriver::new(StepCalls::PreExecuteThenExecute).run(instance, session, input);
    let pre = step.pre_execute.unwrap_or_else(|| {
        CallReport::refused(Error::Host { message: "the step driver ran no pre-execute".into(), source: None })
    });
    (pre, step.execute)
}

/// `--guide-info`: the platform's groups or a list of rects, as JSON or @FILE.
fn parse_guide_info(arg: Option<&str>) -> Result<Vec<Rect>> {
    let Some(arg) = arg else { return Ok(Vec::new()) };
    let value = json_arg("guide info", arg)?;
    Ok(guide_info_from_json(&value).map_err(Error::from)?)
}

/// `--params`: a JSON object, or @FILE holding one.
pub(in crate::commands) fn parse_params(arg: Option<&str>) -> Result<Map<String, Value>> {
    let Some(arg) = arg else { return Ok(Map::new()) };
    match json_arg("params", arg)? {
        Value::Object(map) => Ok(map),
        other => Err(invalid(format!("params must be a JSON object, got {}", brief(&other))).into()),
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput { code: InputCode::InvalidParams, message }
}

/// A JSON argument given inline or as @FILE: a file is read up to
/// [`MAX_JSON_FILE_BYTES`] and refused past it, and either is parsed with its
/// values counted first ([`parse_bounded`]); 1006 for anything refused.
fn json_arg(what: &str, arg: &str) -> Result<Value> {
    let file;
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            file = read_json_file(path.as_ref(), MAX_JSON_FILE_BYTES)
                .map_err(|err| invalid(format!("cannot read {what} file {path}: {err}")))?;
            &file[..]
        }
        None => arg.as_bytes(),
    };
    Ok(parse_bounded(text, MAX_JSON_VALUES).map_err(|refusal| invalid(format!("{what}: {refusal}")))?)
}

/// A value named in a message, cut short.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}
