//! `pv-host run --json`: one object shaped like the platform's result, with the
//! run's timings, resources, logs and diagnostics.

use std::time::Duration;

use serde_json::{Map, Value, json};

use pv_host::types::LogLevel;
use pv_host::wire;
use pv_host::{CallReport, ResourceUsage};

use super::RunOutcome;
use crate::exit;

pub(super) fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

fn logs_json<T>(report: &CallReport<T>, phase: &str) -> Vec<Value> {
    report
        .logs
        .iter()
        .map(|r| json!({ "phase": phase, "level": level_name(r.level), "message": r.message, "fields": r.fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<String, Value>>() }))
        .collect()
}

pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn usage_json(usage: &ResourceUsage) -> Value {
    json!({
        "wall_ms": ms(usage.wall_time),
        "fuel_consumed": usage.fuel_consumed,
        "peak_memory_bytes": usage.peak_memory_bytes,
    })
}

pub(super) fn error_json(err: &anyhow::Error, data: Option<Value>) -> Value {
    let mut value = exit::error_json(err);
    value["data"] = data.unwrap_or(Value::Null);
    value
}

pub(super) fn result_json(outcome: &RunOutcome) -> Value {
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
        data.insert("calibration_rects".into(), pre.calibration_rects.iter().map(wire::rect_json).collect());
    }
    let mut diagnostics = outcome.pre.diagnostics.clone();
    if let Some(exec) = &outcome.exec {
        logs.extend(logs_json(exec, "execute"));
        timings.insert("execute".into(), json!(ms(exec.usage.wall_time)));
        resources.insert("execute".into(), usage_json(&exec.usage));
        diagnostics.extend(exec.diagnostics.clone());
        if let Ok(out) = &exec.result {
            data.extend(wire::execute_data(out));
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

pub(super) fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
