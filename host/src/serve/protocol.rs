//! The platform's messages: what arrives, and the frames sent back.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::types::{AlgorithmInfo, ExecuteOutput, ParamKind, ParamValue, PreExecuteOutput, Rect, Verdict};

/// Error code of a frame the server cannot understand (bad JSON, unknown type).
pub const PROTOCOL_ERROR_CODE: &str = "1000";

/// A message from the platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The platform's answer to our hello.
    Hello {
        /// How often the platform pings, if it says.
        heartbeat_interval_ms: Option<u64>,
        /// How late a pong may be.
        heartbeat_grace_ms: Option<u64>,
    },
    /// A heartbeat.
    Ping {
        /// Echoed in the pong.
        request_id: Value,
    },
    /// A lifecycle call.
    Call {
        /// Echoed in the result.
        request_id: Value,
        /// What to do.
        call: Box<Call>,
    },
    /// Tear down and exit.
    Shutdown,
}

/// An image named by shared-memory id, with the meta the platform sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageRef {
    /// The shared-memory id: a file name in the shm directory, without extension.
    pub shm_id: String,
    /// The platform's meta.
    pub meta: ImageMetaJson,
}

/// `image_meta` as the platform writes it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImageMetaJson {
    /// Width in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default)]
    pub height: Option<u32>,
    /// Capture time.
    #[serde(default)]
    pub timestamp_ms: Option<u64>,
    /// Camera.
    #[serde(default)]
    pub camera_id: Option<String>,
    /// `RGB` or `BGR` for colour arrays.
    #[serde(default)]
    pub color_space: Option<String>,
}

/// The `data` of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `info`, `setup`, `teardown`, `reset`, `on_step_start`, `on_step_finish`,
    /// `pre` or `execute`.
    pub phase: String,
    /// Step index (default 1).
    pub step_index: u32,
    /// Product id.
    pub pid: String,
    /// Step description.
    pub step_desc: String,
    /// Session id and context.
    pub session_id: String,
    /// Session context (an object).
    pub session_context: Value,
    /// User params, by name.
    pub user_params: Map<String, Value>,
    /// The current image, if the phase needs one.
    pub image: Option<ImageRef>,
    /// The guide image.
    pub guide_image: Option<ImageRef>,
    /// Guide rects.
    pub guide_info: Vec<Rect>,
    /// For `on_step_finish`: how the step ended (`OK`, `NG`, `ERROR`).
    pub outcome: Option<String>,
}

fn string(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn image_ref(data: &Map<String, Value>, id_keys: &[&str], meta_keys: &[&str]) -> Result<Option<ImageRef>, String> {
    let Some(shm_id) = id_keys.iter().find_map(|k| data.get(*k)).filter(|v| !v.is_null()) else { return Ok(None) };
    let shm_id = shm_id.as_str().ok_or("a shared-memory id must be a string")?.to_owned();
    let meta = match meta_keys.iter().find_map(|k| data.get(*k)) {
        Some(meta) => ImageMetaJson::deserialize(meta).map_err(|err| format!("bad image meta: {err}"))?,
        None => ImageMetaJson::default(),
    };
    Ok(Some(ImageRef { shm_id, meta }))
}

/// Parse one frame's JSON (the error is the message of a 1000 error frame).
pub fn parse_request(payload: &[u8]) -> Result<Request, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|err| format!("the frame is not JSON: {err}"))?;
    let Value::Object(message) = value else { return Err("a frame must be a JSON object".into()) };
    let request_id = message.get("request_id").cloned().unwrap_or(Value::Null);
    match message.get("type").and_then(Value::as_str) {
        Some("hello") => Ok(Request::Hello {
            heartbeat_interval_ms: message.get("heartbeat_interval_ms").and_then(Value::as_u64),
            heartbeat_grace_ms: message.get("heartbeat_grace_ms").and_then(Value::as_u64),
        }),
        Some("ping") => Ok(Request::Ping { request_id }),
        Some("shutdown") => Ok(Request::Shutdown),
        Some("call") => {
            let Some(Value::Object(data)) = message.get("data") else { return Err("a call needs a `data` object".into()) };
            let phase = data.get("phase").and_then(Value::as_str).ok_or("a call needs a `phase`")?.to_owned();
            let step_index = match data.get("step_index") {
                None | Some(Value::Null) => 1,
                Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("`step_index` must be a whole number")?,
            };
            let (session_id, session_context) = match data.get("session") {
                Some(Value::Object(session)) => (
                    session.get("id").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default(),
                    session.get("context").cloned().unwrap_or_else(|| json!({})),
                ),
                _ => (String::new(), json!({})),
            };
            let user_params = match data.get("user_params") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(params)) => params.clone(),
                Some(_) => return Err("`user_params` must be an object".into()),
            };
            let guide_info = match data.get("guide_info") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| crate::params::rect_from_json(item).ok_or("`guide_info` holds rects"))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("`guide_info` must be a list of rects".into()),
            };
            let call = Box::new(Call {
                phase,
                step_index,
                pid: string(data.get("pid")),
                step_desc: string(data.get("step_desc")),
                session_id: if session_id.is_empty() { "default".into() } else { session_id },
                session_context,
                user_params,
                image: image_ref(data, &["cur_image_shm_id", "shared_mem_id"], &["cur_image_meta", "image_meta"])?,
                guide_image: image_ref(data, &["guide_image_shm_id"], &["guide_image_meta"])?,
                guide_info,
                outcome: data.get("outcome").and_then(Value::as_str).map(str::to_owned),
            });
            Ok(Request::Call { request_id, call })
        }
        Some(other) => Err(format!("unknown message type `{other}`")),
        None => Err("a frame needs a `type`".into()),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The hello the server opens with.
pub fn hello() -> Value {
    json!({
        "type": "hello",
        "sdk_version": format!("pv-host {}", env!("CARGO_PKG_VERSION")),
        "timestamp_ms": now_ms(),
        "capabilities": ["ping", "info", "setup", "teardown", "reset", "on_step_start", "on_step_finish", "pre", "execute", "shm:bin", "shm:npy"],
    })
}

/// A pong.
pub fn pong(request_id: &Value) -> Value {
    json!({ "type": "pong", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK" })
}

/// A successful result.
pub fn result(request_id: &Value, phase: &str, step_index: u32, message: &str, mut data: Map<String, Value>) -> Value {
    data.insert("phase".into(), json!(phase));
    data.insert("step_index".into(), json!(step_index));
    json!({ "type": "result", "request_id": request_id, "timestamp_ms": now_ms(), "status": "OK", "message": message, "data": data })
}

/// An error frame.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_of_both_shapes_parse() {
        let old = br#"{"type":"call","request_id":7,"data":{"phase":"execute","step_index":2,"pid":"A01",
            "session":{"id":"s1","context":{"op":"ana"}},"user_params":{"n":3},"shared_mem_id":"img-1",
            "image_meta":{"width":4,"height":2,"timestamp_ms":1,"camera_id":"c","color_space":"BGR"}}}"#;
        let Ok(Request::Call { request_id, call }) = parse_request(old) else { panic!("parses") };
        assert_eq!(request_id, json!(7));
        assert_eq!((call.phase.as_str(), call.step_index, call.session_id.as_str()), ("execute", 2, "s1"));
        let image = call.image.expect("an image");
        assert_eq!((image.shm_id.as_str(), image.meta.color_space.as_deref()), ("img-1", Some("BGR")));

        let new = br#"{"type":"call","request_id":"r","data":{"phase":"pre","pid":"A01","cur_image_shm_id":"a",
            "cur_image_meta":{"width":1,"height":1},"guide_image_shm_id":"g","guide_info":[[0,0,1,1]],"step_desc":"d"}}"#;
        let Ok(Request::Call { call, .. }) = parse_request(new) else { panic!("parses") };
        assert_eq!(call.image.expect("current").shm_id, "a");
        assert_eq!(call.guide_image.expect("guide").shm_id, "g");
        assert_eq!((call.guide_info.len(), call.step_index, call.step_desc.as_str()), (1, 1, "d"));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"type":"dance"}"#,
            br#"{"type":"call"}"#,
            br#"{"type":"call","data":{}}"#,
            br#"{"type":"call","data":{"phase":"pre","step_index":-1}}"#,
            br#"{"type":"call","data":{"phase":"pre","user_params":3}}"#,
        ] {
            assert!(parse_request(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
