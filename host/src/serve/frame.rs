//! Frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Default cap on one incoming frame: 16 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Why no frame could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The input ended inside a frame.
    Truncated,
    /// The length prefix claims more than the cap; nothing was allocated.
    TooLarge(u64),
    /// Reading failed.
    Io(String),
}

/// What [`split_frame`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// A whole frame: its payload, and how many bytes it took.
    Frame(&'a [u8], usize),
    /// More bytes are needed.
    Incomplete,
    /// The length prefix is over the cap.
    TooLarge(u64),
}

/// The first frame of `buffer`, without copying (for the fuzz target and
/// tests; the server reads with a [`FrameReader`]).
pub fn split_frame(buffer: &[u8], max_frame_bytes: usize) -> Split<'_> {
    let Some(prefix) = buffer.get(..4) else {
        return Split::Incomplete;
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len as usize > max_frame_bytes {
        return Split::TooLarge(u64::from(len));
    }
    match buffer.get(4..4 + len as usize) {
        Some(payload) => Split::Frame(payload, 4 + len as usize),
        None => Split::Incomplete,
    }
}

/// Read one frame; `Ok(None)` at a clean end of input (between frames). For
/// a reader that reads one frame at a time; the server keeps a
/// [`FrameReader`].
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max_frame_bytes: usize) -> Result<Option<Vec<u8>>, FrameError> {
    FrameReader::new(reader, max_frame_bytes).next().await
}

/// Reads frames one at a time, keeping what it has read of a frame in itself,
/// so that [`next`](Self::next) may be abandoned (in a `select!`) and called
/// again without losing a byte: the server waits for a frame and for its
/// package to load at once.
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    max_frame_bytes: usize,
    prefix: [u8; 4],
    prefix_filled: usize,
    payload: Option<(Vec<u8>, usize)>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `reader`, each at most `max_frame_bytes`.
    pub fn new(reader: R, max_frame_bytes: usize) -> Self {
        FrameReader { reader, max_frame_bytes, prefix: [0; 4], prefix_filled: 0, payload: None }
    }

    /// The next frame; `Ok(None)` at a clean end of input (between frames).
    /// Cancel-safe: a call dropped before it returns keeps what was read.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        while self.prefix_filled < 4 {
            match self.reader.read(&mut self.prefix[self.prefix_filled..]).await {
                Ok(0) if self.prefix_filled == 0 => return Ok(None),
                Ok(0) => return Err(FrameError::Truncated),
                Ok(n) => self.prefix_filled += n,
                Err(err) => return Err(FrameError::Io(err.to_string())),
            }
        }
        let (payload, filled) = match &mut self.payload {
            Some(partial) => partial,
            None => {
                let len = u32::from_be_bytes(self.prefix);
                if len as usize > self.max_frame_bytes {
                    return Err(FrameError::TooLarge(u64::from(len)));
                }
                self.payload.insert((vec![0u8; len as usize], 0))
            }
        };
        while *filled < payload.len() {
            match self.reader.read(&mut payload[*filled..]).await {
                Ok(0) => return Err(FrameError::Truncated),
                Ok(n) => *filled += n,
                Err(err) => return Err(FrameError::Io(err.to_string())),
            }
        }
        self.prefix_filled = 0;
        Ok(self.payload.take().map(|(payload, _)| payload))
    }
}

/// Encode `message` as one frame: the length prefix and the JSON in one buffer.
pub fn encode_frame(message: &serde_json::Value) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; 4];
    serde_json::to_writer(&mut bytes, message).map_err(std::io::Error::other)?;
    let len = u32::try_from(bytes.len() - 4).map_err(|_| std::io::Error::other("frame over 4 GiB"))?;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    Ok(bytes)
}

/// Write one frame with one write and one flush, so that a frame is never
/// split across writes the platform might read apart.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, message: &serde_json::Value) -> std::io::Result<()> {
    let bytes = encode_frame(message)?;
    writer.write_all(&bytes).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_whole_frames_only() {
        assert_eq!(split_frame(&[0, 0, 0], 16), Split::Incomplete);
        assert_eq!(split_frame(&[0, 0, 0, 2, b'{'], 16), Split::Incomplete);
        assert_eq!(split_frame(&[0, 0, 0, 2, b'{', b'}', 9], 16), Split::Frame(b"{}", 6));
        assert_eq!(split_frame(&[0xFF, 0xFF, 0xFF, 0xFF], 16), Split::TooLarge(u64::from(u32::MAX)));
    }

    #[test]
    fn the_frame_reader_reads_frames_split_anywhere() {
        let mut bytes = encode_frame(&serde_json::json!({"type": "ping", "request_id": 1})).expect("encodes");
        bytes.extend(encode_frame(&serde_json::json!({"type": "shutdown"})).expect("encodes"));
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        for chunk in [1, 3, 5, bytes.len()] {
            let (client, server) = tokio::io::duplex(chunk);
            let written = bytes.clone();
            runtime.block_on(async move {
                let writer = tokio::spawn(async move {
                    let mut client = client;
                    for piece in written.chunks(chunk) {
                        client.write_all(piece).await.expect("write");
                    }
                });
                let mut frames = FrameReader::new(server, 1024);
                let first = frames.next().await.expect("a frame").expect("not the end");
                assert_eq!(first, br#"{"request_id":1,"type":"ping"}"#);
                let second = frames.next().await.expect("a frame").expect("not the end");
                assert_eq!(second, br#"{"type":"shutdown"}"#);
                writer.await.expect("written");
                assert_eq!(frames.next().await, Ok(None), "a clean end");
            });
        }
    }

    #[test]
    fn an_encoded_frame_splits_back() {
        let bytes = encode_frame(&serde_json::json!({"type": "pong"})).expect("encodes");
        assert_eq!(split_frame(&bytes, 64), Split::Frame(br#"{"type":"pong"}"#, bytes.len()));
    }
}
