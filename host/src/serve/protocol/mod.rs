//! The platform's messages: what arrives (parsed here, once) and the frames
//! sent back (`replies.rs`: [`hello`], [`result`], [`error`]...; the outputs
//! they carry are shaped by [`crate::wire`]).

use serde::Deserialize;
use serde_json::{Map, Value, json};

mod replies;

pub use self::replies::{CAPABILITIES, Shape, error, hello, now_ms, pong, result, result_error, shutdown_ack};
use crate::error::{ErrorCode, InputCode};
use crate::params::{GuideInfoError, JsonRefusal, MAX_JSON_VALUES, guide_info_from_json, parse_bounded};
use crate::phase::Phase;
use crate::types::{Rect, StepOutcome};

/// Error code of a frame the server cannot understand (bad JSON, unknown type,
/// a generation-2 call without both images): an `error` frame.
pub const PROTOCOL_ERROR_CODE: &str = "1000";

/// Error code the platform uses when the algorithm raised an exception; serve
/// sends it in an `error` frame when the guest crashed (trapped).
pub const EXCEPTION_ERROR_CODE: &str = "1009";

/// A frame that cannot be understood: answered with an `error` frame 1000.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    /// The frame's `request_id` when it could be read, else null.
    pub request_id: Value,
    /// What is wrong.
    pub message: String,
}

impl ProtocolError {
    fn new(request_id: &Value, message: impl Into<String>) -> Self {
        ProtocolError { request_id: request_id.clone(), message: message.into() }
    }
}

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
    /// A call understood but refused as it was read, before anything it
    /// names is opened: answered with a result ERROR (guide info over its
    /// caps: 1006).
    Refused {
        /// Echoed in the result.
        request_id: Value,
        /// How the result is shaped.
        shape: Shape,
        /// The platform's code.
        code: ErrorCode,
        /// Why.
        message: String,
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

/// The `data` of a call, in either of the platform's shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Generation 1 (SDK 0.2.x): a lifecycle phase, with `pid`, `session`
    /// and `user_params`.
    Phase(PhaseCall),
    /// Generation 2 (SDK 0.3.x): no `phase`; one execute on a current and a
    /// guide image, with `guide_info` groups and `step_desc`.
    Execute(ExecuteCall),
}

/// What a step call carries in either shape: the step, its images and its
/// guide info.
#[derive(Debug, Clone, PartialEq)]
pub struct StepData {
    /// Step index (default 1).
    pub step_index: u32,
    /// Step description (empty: the step's own).
    pub step_desc: String,
    /// The current image (always there in a generation-2 call).
    pub image: Option<ImageRef>,
    /// The guide image (always there in a generation-2 call).
    pub guide_image: Option<ImageRef>,
    /// Guide rects; from `guide_info` groups, each rect labelled with its
    /// group's label.
    pub guide_info: Vec<Rect>,
}

/// A generation-1 call.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseCall {
    /// The lifecycle phase, read from the platform's name (`info`, `setup`,
    /// `teardown`, `reset`, `on_step_start`, `on_step_finish`, `pre`,
    /// `execute`).
    pub phase: Phase,
    /// Product id.
    pub pid: String,
    /// Session id (`default` when the call names none).
    pub session_id: String,
    /// Session context (an object).
    pub session_context: Value,
    /// Whether the call named its session (`session.id`).
    pub session_named: bool,
    /// User params, by name.
    pub user_params: Map<String, Value>,
    /// For `on_step_finish`: how the step ended (`NG` and `ERROR` in any case;
    /// anything else, or nothing, is OK, as the platform's adapter reads it).
    pub outcome: StepOutcome,
    /// The step, its images and guide info.
    pub step: StepData,
}

/// A generation-2 call: an execute; its product id comes from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteCall {
    /// The step, its images (both there) and guide info.
    pub step: StepData,
}

impl Call {
    /// How a reply to this call is shaped: generation 1 names the phase.
    pub fn shape(&self) -> Shape {
        match self {
            Call::Phase(call) => Shape::Phase(call.phase, call.step.step_index),
            Call::Execute(call) => Shape::Step(call.step.step_index),
        }
    }

    /// The step, its images and guide info.
    pub fn step(&self) -> &StepData {
        match self {
            Call::Phase(call) => &call.step,
            Call::Execute(call) => &call.step,
        }
    }
}

fn string(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn image_ref(data: &Map<String, Value>, id_keys: &[&str], meta_keys: &[&str]) -> Result<Option<ImageRef>, String> {
    let Some(shm_id) = id_keys.iter().find_map(|k| data.get(*k)).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let shm_id = shm_id.as_str().ok_or("a shared-memory id must be a string")?.to_owned();
    let meta = match meta_keys.iter().find_map(|k| data.get(*k)).filter(|v| !v.is_null()) {
        Some(meta) => ImageMetaJson::deserialize(meta).map_err(|err| format!("bad image meta: {err}"))?,
        None => ImageMetaJson::default(),
    };
    Ok(Some(ImageRef { shm_id, meta }))
}

/// Why a call was not taken.
enum CallRefusal {
    /// It cannot be understood: an `error` frame 1000.
    Protocol(String),
    /// It is understood but its input is refused: a result ERROR.
    Input { shape: Shape, code: ErrorCode, message: String },
}

impl From<String> for CallRefusal {
    fn from(message: String) -> Self {
        CallRefusal::Protocol(message)
    }
}

impl From<&str> for CallRefusal {
    fn from(message: &str) -> Self {
        CallRefusal::Protocol(message.to_owned())
    }
}

/// `guide_info` read with its caps: malformed is a protocol error, over the
/// caps a refused input (1006).
fn guide_info(data: &Map<String, Value>, shape: Shape) -> Result<Vec<Rect>, CallRefusal> {
    guide_info_from_json(data.get("guide_info").unwrap_or(&Value::Null)).map_err(|err| match err {
        GuideInfoError::Malformed(message) => CallRefusal::Protocol(message),
        GuideInfoError::OverCap(message) => CallRefusal::Input { shape, code: InputCode::InvalidParams.into(), message },
    })
}

/// Parse one frame's JSON; what cannot be understood is a [`ProtocolError`],
/// answered with an `error` frame 1000. The frame's values are counted before
/// it is parsed ([`parse_bounded`], at most [`MAX_JSON_VALUES`]): a frame
/// within the byte cap that would take hundreds of megabytes once parsed is a
/// [`ProtocolError`] too, answering its `request_id` when that came first.
pub fn parse_request(payload: &[u8]) -> Result<Request, ProtocolError> {
    let null = Value::Null;
    let value = parse_bounded(payload, MAX_JSON_VALUES).map_err(|refusal| match refusal {
        JsonRefusal::Syntax(err) => ProtocolError::new(&null, format!("the frame is not JSON: {err}")),
        JsonRefusal::TooManyValues { ref request_id, .. } => {
            ProtocolError::new(request_id.as_ref().unwrap_or(&null), format!("the frame is refused: {refusal}"))
        }
    })?;
    let Value::Object(message) = value else {
        return Err(ProtocolError::new(&null, "a frame must be a JSON object"));
    };
    let request_id = message.get("request_id").cloned().unwrap_or(Value::Null);
    let fail = |message: String| ProtocolError::new(&request_id, message);
    match message.get("type").and_then(Value::as_str) {
        Some("hello") => Ok(Request::Hello {
            heartbeat_interval_ms: message.get("heartbeat_interval_ms").and_then(Value::as_u64),
            heartbeat_grace_ms: message.get("heartbeat_grace_ms").and_then(Value::as_u64),
        }),
        Some("ping") => Ok(Request::Ping { request_id }),
        Some("shutdown") => Ok(Request::Shutdown),
        Some("call") => {
            let Some(Value::Object(data)) = message.get("data") else {
                return Err(fail("a call needs a `data` object".into()));
            };
            match parse_call(data) {
                Ok(call) => Ok(Request::Call { request_id, call: Box::new(call) }),
                Err(CallRefusal::Protocol(message)) => Err(fail(message)),
                Err(CallRefusal::Input { shape, code, message }) => Ok(Request::Refused { request_id, shape, code, message }),
            }
        }
        Some(other) => Err(fail(format!("unknown message type `{other}`"))),
        None => Err(fail("a frame needs a `type`".into())),
    }
}

fn parse_call(data: &Map<String, Value>) -> Result<Call, CallRefusal> {
    let phase = match data.get("phase") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            Some(Phase::deserialize(Value::String(name.clone())).map_err(|_| format!("unknown phase `{name}`"))?)
        }
        Some(_) => return Err("`phase` must be a string".into()),
    };
    let step_index = match data.get("step_index") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("`step_index` must be a whole number")?,
    };
    let step_desc = string(data.get("step_desc"));
    let guide_image = image_ref(data, &["guide_image_shm_id"], &["guide_image_meta"])?;
    let Some(phase) = phase else {
        // The platform's adapter answers 1000 when either image is missing.
        let image = image_ref(data, &["cur_image_shm_id"], &["cur_image_meta"])?;
        let (Some(image), Some(guide)) = (image.filter(|i| !i.shm_id.is_empty()), guide_image.filter(|i| !i.shm_id.is_empty()))
        else {
            return Err("an execute call needs `cur_image_shm_id` and `guide_image_shm_id`".into());
        };
        let guide_info = guide_info(data, Shape::Step(step_index))?;
        let step = StepData { step_index, step_desc, image: Some(image), guide_image: Some(guide), guide_info };
        return Ok(Call::Execute(ExecuteCall { step }));
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
    let guide_info = guide_info(data, Shape::Phase(phase, step_index))?;
    let image = image_ref(data, &["cur_image_shm_id", "shared_mem_id"], &["cur_image_meta", "image_meta"])?;
    Ok(Call::Phase(PhaseCall {
        phase,
        pid: string(data.get("pid")),
        session_named: !session_id.is_empty(),
        session_id: if session_id.is_empty() { "default".into() } else { session_id },
        session_context,
        user_params,
        step: StepData { step_index, step_desc, image, guide_image, guide_info },
        outcome: match data.get("outcome").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
            Some("NG") => StepOutcome::Ng,
            Some("ERROR") => StepOutcome::Error,
            _ => StepOutcome::Ok,
        },
    }))
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
        let Call::Phase(call) = *call else { panic!("generation 1") };
        assert_eq!((call.phase.wire_name(), call.step.step_index, call.session_id.as_str()), ("execute", 2, "s1"));
        let image = call.step.image.expect("an image");
        assert_eq!((image.shm_id.as_str(), image.meta.color_space.as_deref()), ("img-1", Some("BGR")));

        let new = br#"{"type":"call","request_id":"r","data":{"step_index":3,"step_desc":"\u62e7\u7d27",
            "cur_image_shm_id":"dev-shm:session-1:cur","cur_image_meta":{"width":1,"height":1},
            "guide_image_shm_id":"dev-shm:session-1:guide","guide_image_meta":{"width":1,"height":1},
            "guide_info":[{"label":"1","posList":[{"x":94,"y":269,"width":319,"height":398},{"x":1,"y":2,"width":3,"height":4}]},
                          {"label":2,"posList":[]},{"label":"3","posList":[[5,6,7,8]]}]}}"#;
        let Ok(Request::Call { call, .. }) = parse_request(new) else { panic!("parses") };
        let Call::Execute(ExecuteCall { step: call }) = *call else { panic!("generation 2") };
        assert_eq!(call.step_index, 3);
        assert_eq!(call.image.expect("current").shm_id, "dev-shm:session-1:cur");
        assert_eq!(call.guide_image.expect("guide").shm_id, "dev-shm:session-1:guide");
        let labels: Vec<_> = call.guide_info.iter().map(|r| (r.x, r.label.as_deref())).collect();
        assert_eq!(labels, [(94, Some("1")), (1, Some("1")), (5, Some("3"))]);
    }

    #[test]
    fn a_generation_2_call_without_both_images_is_a_protocol_error() {
        let cur_only = br#"{"type":"call","request_id":5,"data":{"cur_image_shm_id":"a"}}"#;
        let err = parse_request(cur_only).expect_err("no guide image");
        assert_eq!(err.request_id, json!(5), "the error answers the call");
        let empty_guide = br#"{"type":"call","request_id":6,"data":{"cur_image_shm_id":"a","guide_image_shm_id":""}}"#;
        assert!(parse_request(empty_guide).is_err());
    }

    #[test]
    fn phases_are_read_by_the_platforms_names_only() {
        for (name, phase) in [("pre", Phase::PreExecute), ("on_step_finish", Phase::OnStepFinish), ("info", Phase::Info)] {
            let frame = json!({"type": "call", "request_id": 3, "data": {"phase": name}}).to_string();
            let Ok(Request::Call { call, .. }) = parse_request(frame.as_bytes()) else { panic!("{name} parses") };
            assert_eq!(call.shape(), Shape::Phase(phase, 1));
        }
        for unknown in ["pre-execute", "Execute", "bogus", ""] {
            let frame = json!({"type": "call", "request_id": 4, "data": {"phase": unknown}}).to_string();
            let err = parse_request(frame.as_bytes()).expect_err("an unknown phase is a protocol error");
            assert_eq!(err.request_id, json!(4), "the error frame answers the call");
        }
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
            br#"{"type":"call","data":{"phase":7}}"#,
            br#"{"type":"call","data":{"phase":"pre","guide_info":[{"posList":3}]}}"#,
            br#"{"type":"call","data":{"phase":"pre","guide_info":[{"label":[],"posList":[[0,0,1,1]]}]}}"#,
            br#"{"type":"call","data":{"phase":"pre","guide_info":[[0,0,-1,1]]}}"#,
        ] {
            assert!(parse_request(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn frame_codes_are_the_library_codes() {
        use crate::error::ErrorCode;
        assert_eq!(PROTOCOL_ERROR_CODE, ErrorCode::Protocol.number().to_string());
        assert_eq!(EXCEPTION_ERROR_CODE, ErrorCode::Exception.number().to_string());
    }

    #[test]
    fn replies_are_shaped_per_generation() {
        let gen2 = result(&json!(1), Shape::Step(2), "OK", Map::new());
        assert_eq!(gen2["data"], json!({"step_index": 2}));
        let gen1 = result_error(&json!(1), Shape::Phase(Phase::PreExecute, 1), "1002", "no image");
        assert_eq!((gen1["type"].as_str(), gen1["status"].as_str()), (Some("result"), Some("ERROR")));
        assert_eq!(gen1["data"], json!({"phase": "pre", "step_index": 1}));
    }
}
