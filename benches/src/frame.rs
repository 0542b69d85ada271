//! The platform's framing, blocking and minimal: a 4-byte big-endian length,
//! then that many bytes of UTF-8 JSON. Shared by the subprocess adapter and the
//! benchmarks that drive it (`pv_host::serve::frame` is the async form `serve`
//! uses).

use std::io::{self, Read, Write};

/// Largest frame either side accepts: the same cap as `pv-host serve`.
pub use pv_host::serve::frame::DEFAULT_MAX_FRAME_BYTES as MAX_FRAME_BYTES;

/// Write one frame and flush it.
pub fn write_frame(out: &mut impl Write, message: &serde_json::Value) -> io::Result<()> {
    let payload = serde_json::to_vec(message)?;
    let length = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too long"))?;
    out.write_all(&length.to_be_bytes())?;
    out.write_all(&payload)?;
    out.flush()
}

/// Read one frame; `None` at a clean end of input.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<serde_json::Value>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a {length}-byte frame is over the cap")));
    }
    let mut payload = vec![0; length];
    input.read_exact(&mut payload)?;
    serde_json::from_slice(&payload).map(Some).map_err(io::Error::from)
}
