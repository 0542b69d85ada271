//! The frames the server sends: hello, pong, results, errors, and the
//! algorithm's outputs as the platform writes them.

use serde_json::{Map, Value, json};

use crate::phase::Phase;
use crate::types::{AlgorithmInfo, ExecuteOutput, ParamKind, ParamValue, PreExecuteOutput, Rect, Verdict};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What the server can do, as the hello lists it: the platform's names
/// (`ping`, `call`, `shutdown`, `shared_memory:v1`, `execute`) and pv-host's own.
pub const CAPABILITIES: [&str; 15] = [
    "ping",
    "call",
    "shutdown",
    "shared_memory:v1",
    "execute",
    "info",
    "setup",
    "teardown",
    "reset",
    "on_step_start",
    "on_step_finish",
    "pre",
    "shm:bin",
    "shm:npy",
    "pong_while_busy",
];

/// The hello the server opens with.
pub fn hello() -> Value {
    json!({
        "type": "hello",
        "sdk_version": format!("pv-host {}", env!("CARGO_PKG_VERSION")),
        "timestamp_ms": now_ms(),
        "capabilities": CAPABILITIES,
    })
}

/// A pong.
pub fn pong(request_id: &Value) -> Value {
    json!({ "type": "pong", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK" })
}

/// How a call's reply is shaped: generation 1 names the phase beside the step,
/// generation 2 only the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `data` carries `phase` and `step_index`.
    Phase(Phase, u32),
    /// `data` carries `step_index`.
    Step(u32),
}

impl Shape {
    fn stamp(self, data: &mut Map<String, Value>) {
        match self {
            Shape::Phase(phase, step) => {
                data.insert("phase".into(), json!(phase));
                data.insert("step_index".into(), json!(step));
            }
            Shape::Step(step) => {
                data.insert("step_index".into(), json!(step));
            }
        }
    }
}

/// A successful result.
pub fn result(request_id: &Value, shape: Shape, message: &str, mut data: Map<String, Value>) -> Value {
    shape.stamp(&mut data);
    json!({ "type": "result", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK", "message": message, "data": data })
}

/// A result with status ERROR: how the platform reads an algorithm's error or
/// an input the host refused.
pub fn result_error(request_id: &Value, shape: Shape, code: &str, message: &str) -> Value {
    let mut data = Map::new();
    shape.stamp(&mut data);
    json!({ "type": "result", "request_id": request_id, "timestamp_ms": now_ms(), "status": "ERROR",
            "error_code": code, "message": message, "data": data })
}

/// An error frame: the protocol's (1000) or an exception's (1009).
pub fn error(request_id: &Value, code: &str, message: &str) -> Value {
    json!({ "type": "error", "request_id": request_id, "timestamp_ms": now_ms(), "status": "ERROR", "message": message, "error_code": code })
}

/// The shutdown acknowledgement.
pub fn shutdown_ack() -> Value {
    json!({ "type": "shutdown", "timestamp_ms": now_ms(), "status": "OK" })
}

/// A verdict as the platform writes it.
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "OK",
        Verdict::Ng => "NG",
    }
}

/// A rect as the platform writes it.
pub fn rect_json(rect: &Rect) -> Value {
    json!({ "x": rect.x, "y": rect.y, "width": rect.width, "height": rect.height, "label": rect.label, "score": rect.score })
}

fn debug_json(debug: &Option<String>) -> Value {
    debug.as_deref().map(|text| serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()))).unwrap_or(Value::Null)
}

/// `pre` data.
pub fn pre_data(out: &PreExecuteOutput) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("calibration_rects".into(), out.calibration_rects.iter().map(rect_json).collect());
    data.insert("debug".into(), debug_json(&out.debug));
    data
}

/// `execute` data.
pub fn execute_data(out: &ExecuteOutput) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("result_status".into(), json!(verdict_name(out.verdict)));
    data.insert("ng_reason".into(), json!(out.ng_reason));
    data.insert("defect_rects".into(), out.defect_rects.iter().map(rect_json).collect());
    data.insert("position_rects".into(), out.position_rects.iter().map(rect_json).collect());
    data.insert("debug".into(), debug_json(&out.debug));
    data
}

fn value_json(value: &ParamValue) -> Value {
    match value {
        ParamValue::Int(v) => json!(v),
        ParamValue::Float(v) => json!(v),
        ParamValue::Boolean(v) => json!(v),
        ParamValue::Text(v) | ParamValue::Choice(v) => json!(v),
        ParamValue::Rect(r) => rect_json(r),
    }
}

/// `info` data: the algorithm's self-description, params with their rules.
pub fn info_data(info: &AlgorithmInfo) -> Map<String, Value> {
    let steps: Vec<Value> = info
        .steps
        .iter()
        .map(|step| {
            let params: Vec<Value> = step
                .params
                .iter()
                .map(|p| {
                    let (kind, rules) = match &p.kind {
                        ParamKind::Int(r) => ("int", json!({ "min": r.min, "max": r.max })),
                        ParamKind::Float(r) => ("float", json!({ "min": r.min, "max": r.max })),
                        ParamKind::Boolean => ("bool", json!({})),
                        ParamKind::Text(t) => {
                            ("string", json!({ "min_length": t.min_length, "max_length": t.max_length, "pattern": t.pattern }))
                        }
                        ParamKind::Rect => ("rect", json!({})),
                        ParamKind::Enumeration(choices) => ("enum", json!({ "choices": choices })),
                    };
                    json!({
                        "name": p.name, "description": p.description, "type": kind, "rules": rules,
                        "required": p.required, "default": p.default.as_ref().map(value_json),
                    })
                })
                .collect();
            json!({ "index": step.index, "name": step.name, "description": step.description, "params": params })
        })
        .collect();
    let mut data = Map::new();
    data.insert("name".into(), json!(info.name));
    data.insert("version".into(), json!(info.version));
    data.insert("description".into(), json!(info.description));
    data.insert("supported_pids".into(), json!(info.supported_pids));
    data.insert("steps".into(), json!(steps));
    data
}
