//! The platform's framing, blocking and minimal: a 4-byte big-endian length,
//! then that many bytes of UTF-8 JSON. Used by the tests' [`Server`](crate::Server),
//! the subprocess adapter of the benchmarks and the benchmarks that drive it
//! (`pv_host::serve::frame` is the async form `serve` uses).

use std::io::{self, Read, Write};

use serde_json::Value;

/// `message` as one frame: the length prefix, then the JSON.
pub fn encode_frame(message: &Value) -> io::Result<Vec<u8>> {
    let payload = serde_json::to_vec(message)?;
    let length = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too long"))?;
    Ok([&length.to_be_bytes()[..], &payload].concat())
}

/// Write one frame and flush it.
pub fn write_frame(out: &mut impl Write, message: &Value) -> io::Result<()> {
    out.write_all(&encode_frame(message)?)?;
    out.flush()
}

/// Read one frame; `None` at a clean end of input.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Value>> {
    read_frame_within(input, usize::MAX)
}

/// [`read_frame`], refusing a frame over `max_bytes` before reading it.
pub fn read_frame_within(input: &mut impl Read, max_bytes: usize) -> io::Result<Option<Value>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > max_bytes {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a {length}-byte frame is over the cap")));
    }
    let mut payload = vec![0; length];
    input.read_exact(&mut payload)?;
    serde_json::from_slice(&payload).map(Some).map_err(io::Error::from)
}
