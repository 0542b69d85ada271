//! The subprocess model the sandbox replaces, reduced to its floor: a minimal
//! Rust algorithm process that speaks the platform's frame protocol on stdin and
//! stdout, reads each image back from the shared-memory file the platform wrote,
//! and answers OK. Whatever this costs, a real (Python) algorithm process costs
//! more, so the benchmarks' ratios against it are the conservative ones.
//!
//! Protocol: it opens with a `hello` frame; a `call` frame whose `data` names
//! `image_path`, `width`, `height` and `channels` has the image read and its
//! size checked; every call is answered with a `result` frame; `shutdown` is
//! acknowledged and ends the process, as does the end of input.

use std::io::{BufReader, BufWriter};

use pv_benches::frame::{read_frame, write_frame};
use serde_json::{Value, json};

fn main() -> std::io::Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    write_frame(&mut output, &json!({ "type": "hello", "sdk_version": "subprocess-adapter" }))?;
    while let Some(message) = read_frame(&mut input)? {
        let request_id = message.get("request_id").cloned().unwrap_or(Value::Null);
        match message.get("type").and_then(Value::as_str) {
            Some("shutdown") => {
                write_frame(&mut output, &json!({ "type": "shutdown_ack" }))?;
                break;
            }
            Some("call") => {
                let data = &message["data"];
                let reply = match read_image(data) {
                    Ok(_pixels) => json!({ "type": "result", "request_id": request_id, "status": "OK",
                        "data": { "phase": data["phase"], "result_status": "OK", "defect_rects": [] } }),
                    Err(message) => json!({ "type": "error", "request_id": request_id, "status": "ERROR",
                        "message": message, "error_code": "1002" }),
                };
                write_frame(&mut output, &reply)?;
            }
            _ => write_frame(&mut output, &json!({ "type": "error", "request_id": request_id, "error_code": "1000" }))?,
        }
    }
    Ok(())
}

/// The image the call names, read from its shared-memory file, as an algorithm
/// would before looking at it.
fn read_image(data: &Value) -> Result<Option<Vec<u8>>, String> {
    let Some(path) = data.get("image_path").and_then(Value::as_str) else { return Ok(None) };
    let pixels = std::fs::read(path).map_err(|err| format!("cannot read {path}: {err}"))?;
    let dimension = |key: &str| data.get(key).and_then(Value::as_u64).unwrap_or(0);
    let expected = dimension("width") * dimension("height") * dimension("channels");
    if pixels.len() as u64 != expected {
        return Err(format!("{path} holds {} bytes, the meta says {expected}", pixels.len()));
    }
    Ok(Some(pixels))
}
