//! The platform's wire format for what an algorithm says: verdict names,
//! rects, the `execute` and `pre` data and the `info` description, shaped as
//! the platform's runner reads them (see PLATFORM-PROTOCOL.md). Always built:
//! `serve` sends these, `pv-host run --json` prints them, the harness names
//! verdicts with them and a station describes itself with them.

use serde_json::{Map, Value, json};

use crate::types::{AlgorithmInfo, ExecuteOutput, ParamKind, ParamValue, PreExecuteOutput, Rect, Verdict};

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

/// `info` data for a station whose active product ids are served by several
/// packages: `name` `station`, `supported_pids` every active product id, no
/// `steps`, and `pids`, each product id's description.
pub fn station_info_data<'a>(versions: impl IntoIterator<Item = (&'a String, &'a AlgorithmInfo)>) -> Map<String, Value> {
    let each: Map<String, Value> =
        versions.into_iter().map(|(pid, info)| (pid.clone(), Value::Object(info_data(info)))).collect();
    let mut data = Map::new();
    data.insert("name".into(), json!("station"));
    data.insert("version".into(), json!(""));
    data.insert("description".into(), json!(format!("{} product ids served by several packages: see `pids`", each.len())));
    data.insert("supported_pids".into(), json!(each.keys().collect::<Vec<_>>()));
    data.insert("steps".into(), json!([]));
    data.insert("pids".into(), Value::Object(each));
    data
}
