//! `pv-host serve`: a drop-in for the platform's algorithm subprocess, speaking
//! its frame protocol on stdin and stdout, in both of the platform's call
//! shapes on one connection.
//!
//! Frames are a 4-byte big-endian length and UTF-8 JSON ([`frame`]). The server
//! opens with a `hello`, answers `ping` with `pong` from the reader itself (the
//! reader never waits for a guest: calls run on the [`Runner`], session
//! evictions on blocking threads), and on `shutdown`, or a frame of length 0,
//! tears down (acknowledging the `shutdown`).
//!
//! Calls ([`protocol`]): one with `phase` is generation 1 (`info`, `setup`,
//! `teardown`, `reset`, `on_step_start`, `on_step_finish`, `pre`, `execute`;
//! sessions map onto the runner's by id, the least recently begun ended past
//! [`ServeConfig::max_sessions`]). One without `phase` is a generation-2 execute
//! on a current and a guide image; its product id is [`ServeConfig::pid`], else
//! the algorithm's only one; it runs in a session of its own unless
//! [`ServeConfig::execute_session`] names one they share.
//!
//! Replies as the platform reads them: the algorithm's output, or its error or
//! a refused input, is a `result` frame (status OK, or ERROR with `error_code`
//! and `message`); an `error` frame is only for the protocol (1000: a frame that
//! cannot be understood, a generation-2 call without both images, an unknown
//! phase) and for a guest that crashed (1009, as the platform reports an
//! exception).
//!
//! Images arrive by shared-memory id ([`shm`]). A call reserves its place on the
//! runner before any image is opened (a busy call, 3001, decodes nothing), waits
//! for a running slot, then reserves the memory its images will take from
//! [`ServeConfig::max_image_bytes_in_flight`] before decoding them.
//!
//! Hostile input: a frame over the cap gets an error frame and ends the
//! connection, without allocating the claimed size; a frame that is not JSON or
//! has an unknown type gets an error frame with code 1000 and the server goes
//! on; the end of input inside a frame tears down and ends.
//!
//! [`serve_station`] serves a [`Station`] instead of one package: each call
//! runs on the version active for its product id (a generation-1 call's `pid`;
//! a generation-2 call's [`ServeConfig::pid`], else the station's only active
//! one), each version on its own runner. A generation-1 session stays on the
//! version it was begun on; a new one takes the version active then. A product
//! id with nothing active gets a result ERROR 1001.
//!
//! Public beside the server, for whoever speaks to it or stands in for the
//! platform (a platform-side client, a test, a benchmark): [`frame`] (the
//! length-prefixed frames), [`protocol`] (the messages, parsed as the server
//! parses them, and the replies) and [`shm`] (where the platform's images are
//! and how they are opened). The `.npy` header reader is public for the fuzz
//! target only (hidden from the docs).

mod backend;
mod calls;
pub mod frame;
mod input;
#[doc(hidden)]
pub mod npy;
pub mod protocol;
pub mod shm;
mod station_params;

use self::calls::{execute_call, phase_call};
pub use self::station_params::check_station_params;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

use self::backend::{Backend, Sessions};
use self::frame::{FrameError, FrameReader, write_frame};
use self::input::ImageBudget;
use self::protocol::{Call, PROTOCOL_ERROR_CODE, ProtocolError, Request};
use crate::error::Error;
use crate::runner::Runner;
use crate::station::Station;
use crate::types::AlgorithmInfo;

/// Default number of sessions kept; the least recently begun is ended past it.
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// Default time a generation-1 session may go without a call before it is
/// ended: 10 minutes.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(10 * 60);

/// Default bound on the memory the images of calls in flight may take: 1 GiB,
/// room for two calls with the largest image each ([`crate::image::MAX_IMAGE_BYTES`]).
pub const DEFAULT_MAX_IMAGE_BYTES_IN_FLIGHT: u64 = 1 << 30;

/// How the server behaves; every setting documents its default.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest incoming frame. Default: [`frame::DEFAULT_MAX_FRAME_BYTES`] (16 MiB).
    pub max_frame_bytes: usize,
    /// Where shared-memory images are. Default: [`shm::default_shm_dir`]
    /// (`$PROC_SHM_DIR`, else `procvision_dev_shm` in the temp directory).
    pub shm_dir: PathBuf,
    /// Sessions kept at once. Default: [`DEFAULT_MAX_SESSIONS`].
    pub max_sessions: usize,
    /// A generation-1 session no call used for this long is ended (checked as
    /// frames arrive), so on a station it does not keep the version it was
    /// begun on loaded for good. Default: [`DEFAULT_SESSION_IDLE`] (10 minutes).
    pub session_idle: Duration,
    /// Product id of generation-2 calls, which carry none. Default: none, and
    /// then the algorithm's only PID when it declares exactly one (on a
    /// station, the only product id active when the call arrives); otherwise
    /// such a call gets a result ERROR 1001.
    pub pid: Option<String>,
    /// The station's parameter values: a JSON object of name to value applied
    /// to every step that declares the name, or an object of step index (`"1"`)
    /// to such an object. Generation-2 calls run with these over the step's
    /// defaults; generation-1 calls with their `user_params` over these.
    /// Default: empty (the step's defaults).
    pub params: Map<String, Value>,
    /// Session shared by generation-2 calls. Default: none, each call runs in
    /// a session of its own, begun before it and ended after it (the platform
    /// has no sessions in that generation).
    pub execute_session: Option<String>,
    /// Bound on the memory images of calls in flight may take (the decoded
    /// pixels and the encoded bytes); a call waits until its images fit. A
    /// call whose images alone take more than the bound runs alone. Default:
    /// [`DEFAULT_MAX_IMAGE_BYTES_IN_FLIGHT`].
    pub max_image_bytes_in_flight: u64,
    /// Counters the server keeps, shared with whoever holds a clone.
    pub stats: Arc<ServeStats>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_frame_bytes: frame::DEFAULT_MAX_FRAME_BYTES,
            shm_dir: shm::default_shm_dir(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle: DEFAULT_SESSION_IDLE,
            pid: None,
            params: Map::new(),
            execute_session: None,
            max_image_bytes_in_flight: DEFAULT_MAX_IMAGE_BYTES_IN_FLIGHT,
            stats: Arc::default(),
        }
    }
}

/// What the server has done, for tests and dashboards.
#[derive(Debug, Default)]
pub struct ServeStats {
    images_loaded: AtomicU64,
    calls_held_peak: AtomicUsize,
}

impl ServeStats {
    /// Images read or decoded so far.
    pub fn images_loaded(&self) -> u64 {
        self.images_loaded.load(Ordering::SeqCst)
    }

    /// The most call tasks the server held at once (running, or finished and
    /// not yet reaped).
    pub fn calls_held_peak(&self) -> usize {
        self.calls_held_peak.load(Ordering::SeqCst)
    }
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// A `shutdown` frame: torn down and acknowledged.
    Shutdown,
    /// The input ended between frames, or a frame of length 0 ended the
    /// conversation (as the platform's adapter takes it).
    EndOfInput,
    /// The input ended inside a frame.
    Truncated,
    /// A frame's length was over the cap.
    FrameTooLarge,
}

/// The writing half: one frame at a time, each one buffered write and one
/// flush. Only writes wait on it, never a guest.
struct Out<W> {
    writer: tokio::sync::Mutex<W>,
}

impl<W: AsyncWrite + Unpin> Out<W> {
    pub(super) async fn send(&self, frame: &Value) {
        let mut writer = self.writer.lock().await;
        if let Err(err) = write_frame(&mut *writer, frame).await {
            tracing::warn!(%err, "cannot write a frame; the platform is gone");
        }
    }
}

/// What every call task shares.
struct Context<W> {
    backend: Backend,
    shm_dir: PathBuf,
    params: Map<String, Value>,
    budget: ImageBudget,
    stats: Arc<ServeStats>,
    out: Arc<Out<W>>,
}

/// What a server serves, made while the server already answers (see
/// [`serve_loading`]).
pub enum Served {
    /// One package: its runner and its `get-info`.
    Package {
        /// Runs the calls.
        runner: Runner,
        /// The algorithm's `get-info`.
        info: AlgorithmInfo,
    },
    /// Every product id active on a station (see [`serve_station`]).
    Station {
        /// The station.
        station: Arc<Station>,
        /// How often it is looked at for a change.
        watch_interval: Duration,
    },
}

/// Calls read while the server loads what it serves: kept in order and run
/// once it is loaded. Past this many, a call is answered busy (3001).
pub const MAX_CALLS_WHILE_LOADING: usize = 64;

/// Serve the protocol on `reader` and `writer` until shutdown or the end of
/// input. `info` is the algorithm's `get-info`.
pub async fn serve<R, W>(runner: Runner, info: AlgorithmInfo, config: ServeConfig, reader: R, writer: W) -> ServeEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let served = Served::Package { runner, info };
    // What is served is already made: there is nothing left to fail.
    serve_loading(move || Ok(served), config, reader, writer).await.unwrap_or(ServeEnd::EndOfInput)
}

/// Serve every product id active on `station`, as [`serve`] does one package,
/// until shutdown or the end of input. The station is watched every
/// `watch_interval` for the whole time ([`Station::watch`]): an activation or a
/// rollback made by another process takes effect for the next call, without a
/// restart.
///
/// Each call runs on the version active for its product id when its frame is
/// read, and finishes there. A generation-1 call's product id is its `pid`; a
/// session keeps the version it was begun on for all its later calls (one that
/// names no session follows the active version); `info` with a `pid` describes
/// that product id's version, without one the station (see the README). A
/// generation-2 call runs for [`ServeConfig::pid`], else the station's only
/// active product id, else it gets a result ERROR 1001, as does a call for a
/// product id with nothing active. [`ServeConfig::params`] apply to every
/// version as they do to one package (in the by-name form, names a step does
/// not declare are skipped) but are not checked before serving:
/// [`check_station_params`] checks them against one algorithm.
pub async fn serve_station<R, W>(
    station: Arc<Station>,
    watch_interval: Duration,
    config: ServeConfig,
    reader: R,
    writer: W,
) -> ServeEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let served = Served::Station { station, watch_interval };
    serve_loading(move || Ok(served), config, reader, writer).await.unwrap_or(ServeEnd::EndOfInput)
}

/// Serve what `load` makes, as [`serve`] or [`serve_station`] do, answering
/// from the start: the hello is sent at once and pings are answered while
/// `load` runs (on a blocking thread: it may wait for a lock, compile a
/// package, set up instances). Calls read meanwhile wait, in order, and run
/// once it is done (past [`MAX_CALLS_WHILE_LOADING`], busy: 3001); a
/// `shutdown` ends the server without waiting for it. When `load` fails, the
/// calls that waited get a result ERROR with its code, and its error is
/// returned.
pub async fn serve_loading<R, W>(
    load: impl FnOnce() -> crate::Result<Served> + Send + 'static,
    config: ServeConfig,
    reader: R,
    writer: W,
) -> crate::Result<ServeEnd>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let out = Arc::new(Out { writer: tokio::sync::Mutex::new(writer) });
    out.send(&protocol::hello()).await;
    let mut frames = FrameReader::new(reader, config.max_frame_bytes);
    let mut loading = tokio::task::spawn_blocking(load);
    let mut waiting: VecDeque<(Value, Box<Call>)> = VecDeque::new();
    let mut input_ended = false;
    let loaded = loop {
        let payload = tokio::select! {
            loaded = &mut loading => break loaded,
            frame = frames.next() => frame,
        };
        let request = match payload {
            Ok(Some(payload)) if !payload.is_empty() => protocol::parse_request(&payload),
            // The end of input: the load still finishes, so that a failure
            // is reported, and the calls that waited are answered.
            Ok(_) => {
                input_ended = true;
                break (&mut loading).await;
            }
            Err(err) => return Ok(frame_failed(&out, err, config.max_frame_bytes).await),
        };
        match answer_or_take(&out, request).await {
            Taken::Answered => {}
            Taken::Shutdown => {
                out.send(&protocol::shutdown_ack()).await;
                return Ok(ServeEnd::Shutdown);
            }
            Taken::Call(request_id, call) if waiting.len() >= MAX_CALLS_WHILE_LOADING => {
                let busy = Error::Busy { message: "the server is still loading and holds as many calls as it keeps".into() };
                out.send(&calls::error_reply(&request_id, call.shape(), &busy)).await;
            }
            Taken::Call(request_id, call) => waiting.push_back((request_id, call)),
        }
    };
    let served = match loaded {
        Ok(Ok(served)) => served,
        Ok(Err(err)) => {
            for (request_id, call) in waiting {
                out.send(&calls::error_reply(&request_id, call.shape(), &err)).await;
            }
            return Err(err);
        }
        Err(panicked) => return Err(Error::host(format!("loading what to serve failed: {panicked}"))),
    };
    let (backend, watcher) = match served {
        Served::Package { runner, info } => (Backend::package(runner, info), None),
        Served::Station { station, watch_interval } => {
            let watcher = station.watch(watch_interval);
            (Backend::Station(station), Some(watcher))
        }
    };
    let frames = (!input_ended).then_some(frames);
    let end = serve_on(backend, config, frames, out, waiting).await;
    if let Some(watcher) = watcher {
        // Stopping the watcher may wait for a refresh under way: off the
        // runtime, and the server's end never waits for it.
        drop(tokio::task::spawn_blocking(move || drop(watcher)));
    }
    Ok(end)
}

/// What a frame asked of the server beside the answers sent at once.
enum Taken {
    /// Answered here (an error frame, a pong, a refusal) or nothing to do.
    Answered,
    /// A call, to run.
    Call(Value, Box<Call>),
    /// The platform said `shutdown`.
    Shutdown,
}

/// Answer what needs no algorithm at once, from the reader (a ping is never
/// behind a call; a frame that cannot be understood gets its error frame; a
/// call refused as it was read its result ERROR), and hand on the rest.
async fn answer_or_take<W: AsyncWrite + Unpin>(out: &Out<W>, request: Result<Request, ProtocolError>) -> Taken {
    match request {
        Err(err) => out.send(&protocol::error(&err.request_id, PROTOCOL_ERROR_CODE, &err.message)).await,
        Ok(Request::Hello { heartbeat_interval_ms, heartbeat_grace_ms }) => {
            tracing::debug!(?heartbeat_interval_ms, ?heartbeat_grace_ms, "the platform said hello");
        }
        Ok(Request::Ping { request_id }) => out.send(&protocol::pong(&request_id)).await,
        Ok(Request::Refused { request_id, shape, code, message }) => {
            out.send(&protocol::result_error(&request_id, shape, &code.number().to_string(), &message)).await;
        }
        Ok(Request::Shutdown) => return Taken::Shutdown,
        Ok(Request::Call { request_id, call }) => return Taken::Call(request_id, call),
    }
    Taken::Answered
}

/// The reply to a frame that could not be read, and how the server ends.
async fn frame_failed<W: AsyncWrite + Unpin>(out: &Out<W>, err: FrameError, max_frame_bytes: usize) -> ServeEnd {
    match err {
        FrameError::Truncated => {
            tracing::warn!("the input ended inside a frame");
            ServeEnd::Truncated
        }
        FrameError::TooLarge(len) => {
            let message = format!("a frame of {len} bytes is over the {max_frame_bytes}-byte cap; closing");
            tracing::warn!("{message}");
            out.send(&protocol::error(&Value::Null, PROTOCOL_ERROR_CODE, &message)).await;
            ServeEnd::FrameTooLarge
        }
        FrameError::Io(err) => {
            tracing::warn!(%err, "cannot read from the platform");
            ServeEnd::Truncated
        }
    }
}

async fn serve_on<R, W>(
    backend: Backend,
    config: ServeConfig,
    mut frames: Option<FrameReader<R>>,
    out: Arc<Out<W>>,
    mut waiting: VecDeque<(Value, Box<Call>)>,
) -> ServeEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let context = Arc::new(Context {
        backend,
        shm_dir: config.shm_dir.clone(),
        params: config.params.clone(),
        budget: ImageBudget::new(config.max_image_bytes_in_flight),
        stats: Arc::clone(&config.stats),
        out,
    });
    let mut sessions = Sessions::new(config.max_sessions, config.session_idle);
    let mut calls = JoinSet::new();

    let end = loop {
        // Finished calls are reaped as frames come: the set holds the calls in
        // flight, not every call ever made.
        while calls.try_join_next().is_some() {}
        // Calls read while loading run first, in the order they came.
        let (request_id, call) = match waiting.pop_front() {
            Some(waited) => waited,
            None => {
                // The input ended while loading: the waiting calls were the last.
                let Some(frames) = frames.as_mut() else { break ServeEnd::EndOfInput };
                let payload = match frames.next().await {
                    Ok(Some(payload)) if payload.is_empty() => break ServeEnd::EndOfInput,
                    Ok(Some(payload)) => payload,
                    Ok(None) => break ServeEnd::EndOfInput,
                    Err(err) => break frame_failed(&context.out, err, config.max_frame_bytes).await,
                };
                match answer_or_take(&context.out, protocol::parse_request(&payload)).await {
                    Taken::Answered => continue,
                    Taken::Shutdown => break ServeEnd::Shutdown,
                    Taken::Call(request_id, call) => (request_id, call),
                }
            }
        };
        let task = match *call {
            Call::Phase(call) => phase_call(&context, &config, &mut sessions, request_id, call),
            Call::Execute(call) => execute_call(&context, &config, request_id, call),
        };
        match task {
            Task::Reply(reply) => context.out.send(&reply).await,
            Task::Run(work) => {
                calls.spawn(work);
                context.stats.calls_held_peak.fetch_max(calls.len(), Ordering::SeqCst);
            }
        }
    };

    // Let calls in flight answer, then tear down.
    while calls.join_next().await.is_some() {}
    let teardown = Arc::clone(&context);
    let _ = tokio::task::spawn_blocking(move || teardown.backend.shutdown()).await;
    if end == ServeEnd::Shutdown {
        context.out.send(&protocol::shutdown_ack()).await;
    }
    end
}

/// What the reader does with a call: answer at once, or run it as a task that
/// answers when done.
enum Task {
    Reply(Value),
    Run(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
}
