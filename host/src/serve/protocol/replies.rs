//! The frames the server sends: hello, pong, results, errors, and the
//! algorithm's outputs as the platform writes them.

use serde_json::{Map, Value, json};

use crate::phase::Phase;

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
