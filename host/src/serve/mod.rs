//! `pv-host serve`: a drop-in for the platform's algorithm subprocess, speaking
//! its frame protocol on stdin and stdout.
//!
//! Frames are a 4-byte big-endian length and UTF-8 JSON ([`frame`]). The server
//! opens with a `hello`, answers `ping` with `pong` at once (also while a call
//! runs: calls run on the [`Runner`], the reader never waits for them), runs
//! `call` frames (`info`, `setup`, `teardown`, `reset`, `on_step_start`,
//! `on_step_finish`, `pre`, `execute`) and answers each with a `result` or an
//! `error` frame, and on `shutdown` tears down and acknowledges. Images arrive
//! by shared-memory id ([`shm`]). Sessions map onto the runner's by id.
//!
//! Hostile input: a frame over the cap gets an error frame and ends the
//! connection, without allocating the claimed size; a frame that is not JSON or
//! has an unknown type gets an error frame with code 1000 and the server goes
//! on; the end of input inside a frame tears down and ends.

pub mod frame;
pub mod protocol;
pub mod shm;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::frame::{FrameError, read_frame, write_frame};
use self::protocol::{Call, PROTOCOL_ERROR_CODE, Request};
use crate::error::{Error, ErrorCode};
use crate::params::params_from_json;
use crate::runner::Runner;
use crate::types::{AlgorithmInfo, StepInput, StepOutcome};

/// Default number of sessions kept; the least recently begun is ended past it.
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// How the server behaves; every setting documents its default.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest incoming frame. Default: [`frame::DEFAULT_MAX_FRAME_BYTES`] (16 MiB).
    pub max_frame_bytes: usize,
    /// Where shared-memory images are. Default: `$PROC_SHM_DIR`, else
    /// [`shm::DEFAULT_SHM_DIR`].
    pub shm_dir: PathBuf,
    /// Sessions kept at once. Default: [`DEFAULT_MAX_SESSIONS`].
    pub max_sessions: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_frame_bytes: frame::DEFAULT_MAX_FRAME_BYTES,
            shm_dir: std::env::var_os(shm::SHM_DIR_ENV).map_or_else(|| PathBuf::from(shm::DEFAULT_SHM_DIR), PathBuf::from),
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// A `shutdown` frame: torn down and acknowledged.
    Shutdown,
    /// The input ended between frames.
    EndOfInput,
    /// The input ended inside a frame.
    Truncated,
    /// A frame's length was over the cap.
    FrameTooLarge,
}

/// Sessions begun on the runner, oldest first.
struct Sessions {
    order: VecDeque<String>,
    max: usize,
}

impl Sessions {
    fn ensure(&mut self, runner: &Runner, id: &str, context: &Value) {
        if self.order.iter().any(|known| known == id) {
            return;
        }
        if runner.begin_session(id, context.clone()).is_ok() {
            self.order.push_back(id.to_owned());
        }
        while self.order.len() > self.max {
            if let Some(oldest) = self.order.pop_front() {
                runner.end_session(&oldest);
            }
        }
    }
}

/// Serve the protocol on `reader` and `writer` until shutdown or the end of
/// input. `info` is the algorithm's `get-info`.
pub async fn serve<R, W>(runner: Runner, info: AlgorithmInfo, config: ServeConfig, mut reader: R, mut writer: W) -> ServeEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // One writer: frames from the reader loop and from calls never interleave.
    let (frames, mut outgoing) = mpsc::channel::<Value>(64);
    let writing = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            let bytes = serde_json::to_vec(&frame).unwrap_or_default();
            if let Err(err) = write_frame(&mut writer, &bytes).await {
                tracing::warn!(%err, "cannot write a frame; the platform is gone");
                break;
            }
        }
    });
    let _ = frames.send(protocol::hello()).await;
    let info = Arc::new(info);
    let sessions = Arc::new(Mutex::new(Sessions { order: VecDeque::new(), max: config.max_sessions.max(1) }));
    let shm_dir = Arc::new(config.shm_dir.clone());
    let mut calls = JoinSet::new();

    let end = loop {
        let payload = match read_frame(&mut reader, config.max_frame_bytes).await {
            Ok(Some(payload)) => payload,
            Ok(None) => break ServeEnd::EndOfInput,
            Err(FrameError::Truncated) => {
                tracing::warn!("the input ended inside a frame");
                break ServeEnd::Truncated;
            }
            Err(FrameError::TooLarge(len)) => {
                let message = format!("a frame of {len} bytes is over the {}-byte cap; closing", config.max_frame_bytes);
                tracing::warn!("{message}");
                let _ = frames.send(protocol::error(&Value::Null, PROTOCOL_ERROR_CODE, &message)).await;
                break ServeEnd::FrameTooLarge;
            }
            Err(FrameError::Io(err)) => {
                tracing::warn!(%err, "cannot read from the platform");
                break ServeEnd::Truncated;
            }
        };
        match protocol::parse_request(&payload) {
            Err(message) => {
                let _ = frames.send(protocol::error(&Value::Null, PROTOCOL_ERROR_CODE, &message)).await;
            }
            Ok(Request::Hello { heartbeat_interval_ms, heartbeat_grace_ms }) => {
                tracing::info!(?heartbeat_interval_ms, ?heartbeat_grace_ms, "the platform said hello");
            }
            Ok(Request::Ping { request_id }) => {
                let _ = frames.send(protocol::pong(&request_id)).await;
            }
            Ok(Request::Shutdown) => break ServeEnd::Shutdown,
            Ok(Request::Call { request_id, call }) => {
                let (runner, info, sessions, shm_dir, frames) =
                    (runner.clone(), Arc::clone(&info), Arc::clone(&sessions), Arc::clone(&shm_dir), frames.clone());
                calls.spawn(async move {
                    let reply = handle_call(&runner, &info, &sessions, &shm_dir, &request_id, call).await;
                    let _ = frames.send(reply).await;
                });
            }
        }
    };

    // Let calls in flight answer, then tear down.
    while calls.join_next().await.is_some() {}
    let teardown = runner.clone();
    let _ = tokio::task::spawn_blocking(move || teardown.shutdown()).await;
    if end == ServeEnd::Shutdown {
        let _ = frames.send(protocol::shutdown_ack()).await;
    }
    drop(frames);
    let _ = writing.await;
    end
}

fn error_reply(request_id: &Value, err: &Error) -> Value {
    protocol::error(request_id, &err.code().number().to_string(), &err.to_string())
}

async fn handle_call(
    runner: &Runner,
    info: &AlgorithmInfo,
    sessions: &Mutex<Sessions>,
    shm_dir: &std::path::Path,
    request_id: &Value,
    call: Box<Call>,
) -> Value {
    let session = call.session_id.clone();
    if let Ok(mut book) = sessions.lock() {
        book.ensure(runner, &session, &call.session_context);
    }
    let done =
        |message: &str, data: Map<String, Value>| protocol::result(request_id, &call.phase, call.step_index, message, data);
    let unit = |report: crate::CallReport<()>, message: &str| match report.result {
        Ok(()) => done(message, Map::new()),
        Err(err) => error_reply(request_id, &err),
    };
    match call.phase.as_str() {
        "info" => done("ok", protocol::info_data(info)),
        "setup" => unit(runner.warm_up(&session).await, "set up"),
        "teardown" => {
            let teardown = runner.clone();
            let _ = tokio::task::spawn_blocking(move || teardown.shutdown()).await;
            done("torn down", Map::new())
        }
        "reset" => unit(runner.reset(&session).await, "reset"),
        "on_step_start" => unit(runner.on_step_start(&session, call.step_index, call.pid.clone()).await, "ok"),
        "on_step_finish" => {
            let outcome = match call.outcome.as_deref().map(str::to_ascii_uppercase).as_deref() {
                Some("NG") => StepOutcome::Ng,
                Some("ERROR") => StepOutcome::Error,
                _ => StepOutcome::Ok,
            };
            unit(runner.on_step_finish(&session, call.step_index, call.pid.clone(), outcome).await, "ok")
        }
        "pre" | "execute" => {
            let input = match step_input(info, shm_dir, &call).await {
                Ok(input) => input,
                Err(err) => return error_reply(request_id, &err),
            };
            if call.phase == "pre" {
                match runner.pre_execute(&session, input).await.result {
                    Ok(out) => done(&out.message, protocol::pre_data(&out)),
                    Err(err) => error_reply(request_id, &err),
                }
            } else {
                match runner.execute(&session, input).await.result {
                    Ok(out) => done(out.ng_reason.as_deref().unwrap_or("OK"), protocol::execute_data(&out)),
                    Err(err) => error_reply(request_id, &err),
                }
            }
        }
        other => protocol::error(request_id, PROTOCOL_ERROR_CODE, &format!("unknown phase `{other}`")),
    }
}

async fn step_input(info: &AlgorithmInfo, shm_dir: &std::path::Path, call: &Call) -> crate::Result<StepInput> {
    let step = info
        .steps
        .iter()
        .find(|s| s.index == call.step_index)
        .ok_or_else(|| Error::input(ErrorCode::InvalidParams, format!("the algorithm has no step {}", call.step_index)))?;
    let params = params_from_json(step, &call.user_params)?;
    let Some(image) = call.image.clone() else {
        return Err(Error::input(ErrorCode::ImageLoadFailed, "the call names no image (shared_mem_id)"));
    };
    let (dir, guide) = (shm_dir.to_owned(), call.guide_image.clone());
    let (image, guide_image) = tokio::task::spawn_blocking(move || {
        let image = shm::load(&dir, &image)?;
        let guide = guide.map(|g| shm::load(&dir, &g)).transpose()?;
        Ok::<_, Error>((image, guide))
    })
    .await
    .map_err(|err| Error::host(format!("the image loader failed: {err}")))??;
    Ok(StepInput {
        step_index: call.step_index,
        pid: call.pid.clone(),
        step_desc: if call.step_desc.is_empty() { step.description.clone() } else { call.step_desc.clone() },
        params,
        image,
        guide_image,
        guide_info: call.guide_info.clone(),
    })
}
