//! The subprocess model the sandbox replaces, as small as it gets: a minimal
//! Rust algorithm process that speaks the platform's frames on stdin and
//! stdout, reads each image back from the shared-memory file the platform
//! wrote, and answers OK. A Python algorithm process costs more (its start
//! above all); one that mapped the file instead of reading it would skip one
//! copy of the image.
//!
//! Messages: it opens with a `hello`; a `call` whose `data` has a
//! `cur_image_shm_id` and a `cur_image_meta` (`width`, `height`, `channels`)
//! has `$PROC_SHM_DIR/<id>.raw` read and its size checked; every call is
//! answered with a `result`; `shutdown` is acknowledged and ends the process,
//! as does the end of input.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use pv_host::serve::frame::DEFAULT_MAX_FRAME_BYTES;
use pv_host::serve::shm::SHM_DIR_ENV;
use pv_test_support::frame::{read_frame_within, write_frame};
use serde_json::{Value, json};

fn main() -> std::io::Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    let shm_dir = PathBuf::from(std::env::var_os(SHM_DIR_ENV).unwrap_or_default());
    write_frame(&mut output, &json!({ "type": "hello", "sdk_version": "subprocess-adapter" }))?;
    while let Some(message) = read_frame_within(&mut input, DEFAULT_MAX_FRAME_BYTES)? {
        let request_id = message.get("request_id").cloned().unwrap_or(Value::Null);
        match message.get("type").and_then(Value::as_str) {
            Some("shutdown") => {
                write_frame(&mut output, &json!({ "type": "shutdown", "status": "OK" }))?;
                break;
            }
            Some("call") => {
                let data = &message["data"];
                let reply = match read_image(&shm_dir, data) {
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
fn read_image(shm_dir: &Path, data: &Value) -> Result<Option<Vec<u8>>, String> {
    let Some(id) = data.get("cur_image_shm_id").and_then(Value::as_str) else { return Ok(None) };
    let path = shm_dir.join(format!("{id}.raw"));
    let pixels = std::fs::read(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let dimension = |key: &str| data["cur_image_meta"].get(key).and_then(Value::as_u64).unwrap_or(0);
    let expected = dimension("width") * dimension("height") * dimension("channels");
    if pixels.len() as u64 != expected {
        return Err(format!("{} holds {} bytes, the meta says {expected}", path.display(), pixels.len()));
    }
    Ok(Some(pixels))
}
