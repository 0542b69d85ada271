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

mod backend;
pub mod frame;
pub mod protocol;
pub mod shm;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use self::backend::{Backend, Sessions, Target};
use self::frame::{FrameError, read_frame, write_frame};
use self::protocol::{Call, EXCEPTION_ERROR_CODE, Generation, ImageRef, PROTOCOL_ERROR_CODE, Request, Shape};
use crate::error::{Error, ErrorKind, InputCode};
use crate::ingress::InPlace;
use crate::params::params_from_json;
use crate::phase::Phase;
use crate::runner::{Reservation, Runner};
use crate::station::Station;
use crate::types::{AlgorithmInfo, StepInput};

/// Default number of sessions kept; the least recently begun is ended past it.
pub const DEFAULT_MAX_SESSIONS: usize = 256;

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
    async fn send(&self, frame: &Value) {
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
    budget: Arc<Semaphore>,
    budget_units: u32,
    stats: Arc<ServeStats>,
    out: Out<W>,
}

/// Bytes per unit of the image memory budget (a semaphore counts in `u32`).
const BUDGET_UNIT: u64 = 1024;

/// Serve the protocol on `reader` and `writer` until shutdown or the end of
/// input. `info` is the algorithm's `get-info`.
pub async fn serve<R, W>(runner: Runner, info: AlgorithmInfo, config: ServeConfig, reader: R, writer: W) -> ServeEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    serve_on(Backend::package(runner, info), config, reader, writer).await
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
    let watcher = station.watch(watch_interval);
    let end = serve_on(Backend::Station(station), config, reader, writer).await;
    // Stopping the watcher waits for a refresh under way: off the runtime.
    let _ = tokio::task::spawn_blocking(move || drop(watcher)).await;
    end
}

async fn serve_on<R, W>(backend: Backend, config: ServeConfig, mut reader: R, writer: W) -> ServeEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let budget_units = (config.max_image_bytes_in_flight / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 1)) as u32;
    let context = Arc::new(Context {
        backend,
        shm_dir: config.shm_dir.clone(),
        params: config.params.clone(),
        budget: Arc::new(Semaphore::new(budget_units as usize)),
        budget_units,
        stats: Arc::clone(&config.stats),
        out: Out { writer: tokio::sync::Mutex::new(writer) },
    });
    context.out.send(&protocol::hello()).await;
    let mut sessions = Sessions::new(config.max_sessions);
    let mut calls = JoinSet::new();
    let mut executes: u64 = 0;

    let end = loop {
        // Finished calls are reaped as frames come: the set holds the calls in
        // flight, not every call ever made.
        while calls.try_join_next().is_some() {}
        let payload = match read_frame(&mut reader, config.max_frame_bytes).await {
            Ok(Some(payload)) if payload.is_empty() => break ServeEnd::EndOfInput,
            Ok(Some(payload)) => payload,
            Ok(None) => break ServeEnd::EndOfInput,
            Err(FrameError::Truncated) => {
                tracing::warn!("the input ended inside a frame");
                break ServeEnd::Truncated;
            }
            Err(FrameError::TooLarge(len)) => {
                let message = format!("a frame of {len} bytes is over the {}-byte cap; closing", config.max_frame_bytes);
                tracing::warn!("{message}");
                context.out.send(&protocol::error(&Value::Null, PROTOCOL_ERROR_CODE, &message)).await;
                break ServeEnd::FrameTooLarge;
            }
            Err(FrameError::Io(err)) => {
                tracing::warn!(%err, "cannot read from the platform");
                break ServeEnd::Truncated;
            }
        };
        let (request_id, call) = match protocol::parse_request(&payload) {
            Err(err) => {
                context.out.send(&protocol::error(&err.request_id, PROTOCOL_ERROR_CODE, &err.message)).await;
                continue;
            }
            Ok(Request::Hello { heartbeat_interval_ms, heartbeat_grace_ms }) => {
                tracing::debug!(?heartbeat_interval_ms, ?heartbeat_grace_ms, "the platform said hello");
                continue;
            }
            Ok(Request::Ping { request_id }) => {
                // Answered here, not behind any call.
                context.out.send(&protocol::pong(&request_id)).await;
                continue;
            }
            Ok(Request::Shutdown) => break ServeEnd::Shutdown,
            Ok(Request::Call { request_id, call }) => (request_id, call),
        };
        let task = match call.generation {
            Generation::Phases => phase_call(&context, &config, &mut sessions, request_id, call),
            Generation::ExecuteOnly => {
                executes += 1;
                execute_call(&context, &config, executes, request_id, call)
            }
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

/// The reply to a failed call, as the platform reads it: a crashed guest is an
/// `error` frame 1009 (the platform's exception), everything else a result with
/// status ERROR and the code.
fn error_reply(request_id: &Value, shape: Shape, err: &Error) -> Value {
    if err.kind() == ErrorKind::Trap {
        protocol::error(request_id, EXCEPTION_ERROR_CODE, &err.to_string())
    } else {
        protocol::result_error(request_id, shape, &err.code().number().to_string(), &err.to_string())
    }
}

fn unit_reply(request_id: &Value, shape: Shape, report: crate::CallReport<()>, message: &str) -> Value {
    match report.result {
        Ok(()) => protocol::result(request_id, shape, message, Map::new()),
        Err(err) => error_reply(request_id, shape, &err),
    }
}

/// A generation-1 call: sessions by id, one of the lifecycle phases, on the
/// call's [`Target`].
fn phase_call<W>(
    context: &Arc<Context<W>>,
    config: &ServeConfig,
    sessions: &mut Sessions,
    request_id: Value,
    call: Box<Call>,
) -> Task
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shape = Shape::Phase(call.phase, call.step_index);
    match call.phase {
        Phase::Info => {
            return Task::Reply(match context.backend.info_data(&call.pid) {
                Ok(data) => protocol::result(&request_id, shape, "ok", data),
                Err(err) => error_reply(&request_id, shape, &err),
            });
        }
        Phase::Teardown => {
            let resolved = context.backend.phase_target(sessions, &call, config.pid.as_deref());
            let runners = context.backend.teardown_runners(resolved);
            let context = Arc::clone(context);
            return Task::Run(Box::pin(async move {
                let _ = tokio::task::spawn_blocking(move || runners.iter().for_each(Runner::shutdown)).await;
                let shape = Shape::Phase(call.phase, call.step_index);
                context.out.send(&protocol::result(&request_id, shape, "torn down", Map::new())).await;
            }));
        }
        Phase::Setup | Phase::Reset | Phase::OnStepStart | Phase::OnStepFinish | Phase::PreExecute | Phase::Execute => {}
    }
    let target = match context.backend.phase_target(sessions, &call, config.pid.as_deref()) {
        Ok(target) => target,
        Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
    };
    if let Some(version) = target.describe() {
        tracing::debug!(request_id = %request_id, pid = %call.pid, session = %call.session_id, %version, "routed");
    }
    let session = call.session_id.clone();
    sessions.ensure(&target, &session, &call.session_context);
    // Reserved now, in frame order and before any image is opened: a call
    // refused as busy costs nothing.
    let reservation = match call.phase {
        Phase::PreExecute | Phase::Execute => match target.runner().reserve(&session) {
            Ok(reservation) => Some(reservation),
            Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
        },
        _ => None,
    };
    let context = Arc::clone(context);
    Task::Run(Box::pin(async move {
        let reply = run_phase(&context, &target, &request_id, &call, &session, reservation).await;
        context.out.send(&reply).await;
    }))
}

async fn run_phase<W>(
    context: &Context<W>,
    target: &Target,
    request_id: &Value,
    call: &Call,
    session: &str,
    reservation: Option<Reservation>,
) -> Value {
    let shape = Shape::Phase(call.phase, call.step_index);
    let runner = target.runner();
    match (call.phase, reservation) {
        (Phase::Setup, _) => unit_reply(request_id, shape, runner.warm_up(session).await, "set up"),
        (Phase::Reset, _) => unit_reply(request_id, shape, runner.reset(session).await, "reset"),
        (Phase::OnStepStart, _) => {
            unit_reply(request_id, shape, runner.on_step_start(session, call.step_index, call.pid.clone()).await, "ok")
        }
        (Phase::OnStepFinish, _) => {
            let report = runner.on_step_finish(session, call.step_index, call.pid.clone(), call.outcome).await;
            unit_reply(request_id, shape, report, "ok")
        }
        (phase @ (Phase::PreExecute | Phase::Execute), Some(reservation)) => {
            let mut params = context.station_params(target.info(), call.step_index);
            params.extend(call.user_params.clone());
            let (step, prepare) = match preparer(context, target.info(), call, &call.pid, params) {
                Ok(prepared) => prepared,
                Err(err) => return error_reply(request_id, shape, &err),
            };
            if phase == Phase::PreExecute {
                match reservation.pre_execute_prepared(step, prepare).await.result {
                    Ok(out) => protocol::result(request_id, shape, &out.message, protocol::pre_data(&out)),
                    Err(err) => error_reply(request_id, shape, &err),
                }
            } else {
                match reservation.execute_prepared(step, prepare).await.result {
                    Ok(out) => protocol::result(
                        request_id,
                        shape,
                        out.ng_reason.as_deref().unwrap_or("OK"),
                        protocol::execute_data(&out),
                    ),
                    Err(err) => error_reply(request_id, shape, &err),
                }
            }
        }
        // Info and teardown are answered before a call is run; a phase call
        // without a reservation has no other shape.
        (phase, _) => protocol::error(request_id, PROTOCOL_ERROR_CODE, &format!("phase `{}` is not run here", phase.wire_name())),
    }
}

/// A generation-2 call: an execute on the current and guide images, with the
/// server's product id and params, in a session of its own (or the shared one).
fn execute_call<W>(context: &Arc<Context<W>>, config: &ServeConfig, serial: u64, request_id: Value, call: Box<Call>) -> Task
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shape = Shape::Step(call.step_index);
    let routed = context.backend.default_pid(config.pid.as_deref()).and_then(|pid| Ok((context.backend.route(&pid)?, pid)));
    let (target, pid) = match routed {
        Ok(routed) => routed,
        Err(err) => return Task::Reply(error_reply(&request_id, shape, &err)),
    };
    if let Some(version) = target.describe() {
        tracing::debug!(request_id = %request_id, %pid, %version, "routed");
    }
    let (session, own_session) = match &config.execute_session {
        Some(shared) => (shared.clone(), false),
        None => (format!("pv-host:execute:{serial}"), true),
    };
    // A shared session is begun once on each runner and kept; "open already"
    // is expected.
    let runner = target.runner().clone();
    let begun = runner.begin_session(&session, Value::Object(Map::new()));
    if own_session && let Err(err) = begun {
        return Task::Reply(error_reply(&request_id, shape, &err));
    }
    let reservation = match runner.reserve(&session) {
        Ok(reservation) => reservation,
        Err(err) => {
            if own_session {
                runner.end_session(&session);
            }
            return Task::Reply(error_reply(&request_id, shape, &err));
        }
    };
    let context = Arc::clone(context);
    Task::Run(Box::pin(async move {
        let shape = Shape::Step(call.step_index);
        let params = context.station_params(target.info(), call.step_index);
        let reply = match preparer(&context, target.info(), &call, &pid, params) {
            Err(err) => {
                drop(reservation);
                error_reply(&request_id, shape, &err)
            }
            Ok((step, prepare)) => match reservation.execute_prepared(step, prepare).await.result {
                Ok(out) => {
                    protocol::result(&request_id, shape, out.ng_reason.as_deref().unwrap_or("OK"), protocol::execute_data(&out))
                }
                Err(err) => error_reply(&request_id, shape, &err),
            },
        };
        // The call is over, so ending its session waits on nothing.
        if own_session {
            runner.end_session(&session);
        }
        context.out.send(&reply).await;
    }))
}

impl<W> Context<W> {
    /// The station's params for `step` of `info` (see [`ServeConfig::params`]).
    fn station_params(&self, info: &AlgorithmInfo, step: u32) -> Map<String, Value> {
        station_params_for(info, &self.params, step)
    }
}

/// Whether `params` is keyed by step index (`{"1": {...}}`) rather than by name.
fn per_step(params: &Map<String, Value>) -> bool {
    !params.is_empty() && params.iter().all(|(key, value)| key.parse::<u32>().is_ok() && value.is_object())
}

fn station_params_for(info: &AlgorithmInfo, params: &Map<String, Value>, step: u32) -> Map<String, Value> {
    if per_step(params) {
        return params.get(&step.to_string()).and_then(Value::as_object).cloned().unwrap_or_default();
    }
    let Some(spec) = info.steps.iter().find(|s| s.index == step) else {
        return Map::new();
    };
    params.iter().filter(|(name, _)| spec.params.iter().any(|p| &p.name == *name)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Check the station's params against the algorithm's steps before serving:
/// every name must be declared by a step it applies to, every value must obey
/// the step's rules (1006 otherwise).
pub fn check_station_params(info: &AlgorithmInfo, params: &Map<String, Value>) -> crate::Result<()> {
    if per_step(params) {
        for (key, values) in params {
            let index: u32 = key.parse().unwrap_or_default();
            let step = info.steps.iter().find(|s| s.index == index).ok_or_else(|| {
                Error::input(InputCode::InvalidParams, format!("the params name step {index}, which the algorithm lacks"))
            })?;
            params_from_json(step, values.as_object().unwrap_or(&Map::new()))?;
        }
        return Ok(());
    }
    if let Some(unknown) = params.keys().find(|name| !info.steps.iter().any(|s| s.params.iter().any(|p| &p.name == *name))) {
        return Err(Error::input(InputCode::InvalidParams, format!("no step of the algorithm has a param `{unknown}`")));
    }
    for step in &info.steps {
        params_from_json(step, &station_params_for(info, params, step.index))?;
    }
    Ok(())
}

/// The input of a pre or execute call: params checked here, then, on the
/// thread that runs the call once it holds its running slot (a queued call
/// holds no image), the images opened, the memory the host needs for them
/// reserved from the budget, and the encoded ones decoded. A `.npy` image is
/// not read there either: its fill reads it into the guest's memory during the
/// call. The budget permit is held until the call ends.
#[allow(clippy::type_complexity)]
fn preparer<W>(
    context: &Context<W>,
    info: &AlgorithmInfo,
    call: &Call,
    pid: &str,
    params: Map<String, Value>,
) -> crate::Result<(
    (u32, String),
    impl FnOnce() -> crate::Result<(StepInput, InPlace<'static>, Option<OwnedSemaphorePermit>)> + Send + 'static,
)> {
    let step = info
        .steps
        .iter()
        .find(|s| s.index == call.step_index)
        .ok_or_else(|| Error::input(InputCode::InvalidParams, format!("the algorithm has no step {}", call.step_index)))?;
    let params = params_from_json(step, &params)?;
    let Some(image) = call.image.clone() else {
        return Err(Error::input(InputCode::ImageLoadFailed, "the call names no image (shared_mem_id)"));
    };
    let refs: Vec<ImageRef> = std::iter::once(image).chain(call.guide_image.clone()).collect();
    let (dir, budget, budget_units, stats) =
        (context.shm_dir.clone(), Arc::clone(&context.budget), context.budget_units, Arc::clone(&context.stats));
    let runtime = tokio::runtime::Handle::current();
    let input = StepInput {
        step_index: call.step_index,
        pid: pid.to_owned(),
        step_desc: if call.step_desc.is_empty() { step.description.clone() } else { call.step_desc.clone() },
        params,
        image: crate::types::Image {
            meta: crate::types::ImageMeta {
                width: 0,
                height: 0,
                format: crate::types::PixelFormat::Gray8,
                timestamp_ms: 0,
                camera_id: String::new(),
            },
            pixels: Vec::new(),
        },
        guide_image: None,
        guide_info: call.guide_info.clone(),
    };
    let prepare = move || {
        let opened = refs.iter().map(|r| shm::open(&dir, r)).collect::<crate::Result<Vec<_>>>()?;
        // A `.npy` read in place takes none of the host's memory (the guest's
        // allocation is under its own cap): only encoded images count.
        let bound: u64 = opened.iter().filter(|o| !o.is_npy()).map(shm::Opened::memory_bound).sum();
        let permit = if bound == 0 {
            None
        } else {
            let units = bound.div_ceil(BUDGET_UNIT).clamp(1, u64::from(budget_units)) as u32;
            // This thread runs no tasks: waiting here for the budget holds the
            // call's slot, as the call would while decoding.
            let permit = runtime.block_on(budget.acquire_many_owned(units));
            Some(permit.map_err(|_| Error::host("the image budget is closed"))?)
        };
        let mut in_place = InPlace::none();
        let mut images = Vec::with_capacity(opened.len());
        for (index, opened) in opened.into_iter().enumerate() {
            let counted = Arc::clone(&stats);
            let count = move || {
                counted.images_loaded.fetch_add(1, Ordering::SeqCst);
            };
            let image = match opened.in_place(count) {
                Ok((image, fill)) => {
                    if index == 0 {
                        in_place.image = Some(fill);
                    } else {
                        in_place.guide_image = Some(fill);
                    }
                    image
                }
                Err(opened) => {
                    stats.images_loaded.fetch_add(1, Ordering::SeqCst);
                    opened.load()?
                }
            };
            images.push(image);
        }
        let mut input = input;
        let mut images = images.into_iter();
        input.image = images.next().ok_or_else(|| Error::host("no image was loaded"))?;
        input.guide_image = images.next();
        Ok((input, in_place, permit))
    };
    Ok(((call.step_index, pid.to_owned()), prepare))
}
