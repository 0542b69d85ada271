//! The [`Runner`]: how a platform runs one package. It owns the sessions, a pool
//! of set-up instances and the package's metrics, and offers an async API (on
//! tokio) with bounded concurrency and a bounded queue, plus a blocking API.
//!
//! ```no_run
//! use pv_host::{Admission, Host, Runner, RunnerConfig, TrustStore};
//! # async fn demo(input: pv_host::types::StepInput) -> pv_host::Result<()> {
//! let trust = TrustStore::open("/etc/pv-host/trust".as_ref())?;
//! let package = Host::new()?.load_package_file("part-counter.pkg.wasm".as_ref(), &Admission::new(&trust))?;
//! let runner = Runner::new(package, RunnerConfig::default().with_instances(4));
//! runner.begin_session("part-0001", serde_json::json!({ "operator": "ana" }))?;
//! let pre = runner.pre_execute("part-0001", input.clone()).await.into_result()?;
//! let verdict = runner.execute("part-0001", input).await.into_result()?.verdict;
//! runner.end_session("part-0001");
//! # Ok(()) }
//! ```
//!
//! Every call: the input is checked first (a refused input never reaches the
//! guest), then `on-step-start`, the phase, `on-step-finish`, on one instance
//! taken from the pool. Instances are interchangeable because sessions live in
//! the host; one that trapped is dropped and a fresh one set up in its place.
//! Calls on one session run one after the other.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bindings::procvision::algorithm::types::{ExecuteOutput, PreExecuteOutput, StepInput, StepOutcome, Verdict};
use crate::error::{Error, ErrorCode, ErrorKind, Result};
use crate::ingress::InPlace;
use crate::instance::{CallReport, Instance};
use crate::package::Package;
use crate::session::Session;

/// Default length of the queue of calls waiting for an instance.
pub const DEFAULT_QUEUE: usize = 64;

/// Upper bounds of the latency histogram buckets, in milliseconds; the last
/// bucket counts everything slower.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000];

/// Whether instances serve many sessions or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Instances go back to the pool after each call and serve any session
    /// (the default: sessions live in the host, so nothing leaks through them
    /// unless the algorithm keeps state of its own).
    #[default]
    Reuse,
    /// Each session gets a fresh instance of its own, torn down when the session
    /// ends: nothing an algorithm keeps in memory can reach another part.
    PerSession,
}

/// How a [`Runner`] is sized; every setting documents its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    instances: usize,
    queue: usize,
    isolation: Isolation,
    step_hooks: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            instances: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: DEFAULT_QUEUE,
            isolation: Isolation::default(),
            step_hooks: true,
        }
    }
}

impl RunnerConfig {
    /// Calls running at once, each on its own instance. Default: the number of
    /// CPUs.
    pub fn with_instances(mut self, instances: usize) -> Self {
        self.instances = instances.max(1);
        self
    }

    /// Calls that may wait for an instance; one more gets error 3001 (busy) at
    /// once. Default: [`DEFAULT_QUEUE`] (64).
    pub fn with_queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// Whether `pre_execute` and `execute` run `on-step-start` and
    /// `on-step-finish` around the phase. Off for a caller that calls the hooks
    /// itself ([`Runner::on_step_start`], [`Runner::on_step_finish`]), as the
    /// platform's protocol does. Default: on.
    pub fn with_step_hooks(mut self, on: bool) -> Self {
        self.step_hooks = on;
        self
    }

    /// Instance reuse. Default: [`Isolation::Reuse`].
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }
}

/// What a runner has done, for dashboards and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Calls made (refused ones included).
    pub calls: u64,
    /// Failed calls by error code.
    pub errors_by_code: BTreeMap<u32, u64>,
    /// Calls per latency bucket: `latency_ms_buckets[i]` counts calls that took
    /// at most [`LATENCY_BUCKETS_MS`]`[i]` ms; the extra last entry counts the rest.
    pub latency_ms_buckets: Vec<u64>,
    /// Fuel consumed by all phases.
    pub fuel_consumed: u64,
    /// Calls that trapped or hit a limit.
    pub traps: u64,
    /// Instances dropped after a trap and replaced.
    pub instance_recycles: u64,
    /// Calls refused with 3001 because the queue was full.
    pub busy: u64,
}

impl Metrics {
    /// Count one call, timed by its report (for embedders that drive
    /// [`Instance`]s themselves; a [`Runner`] counts its own calls).
    pub fn record<T>(&mut self, report: &CallReport<T>) {
        self.record_timed(report, report.usage.wall_time);
    }

    fn record_timed<T>(&mut self, report: &CallReport<T>, wall_time: Duration) {
        self.calls += 1;
        if self.latency_ms_buckets.is_empty() {
            self.latency_ms_buckets = vec![0; LATENCY_BUCKETS_MS.len() + 1];
        }
        let ms = wall_time.as_millis();
        let bucket = LATENCY_BUCKETS_MS.iter().position(|&bound| ms <= u128::from(bound)).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency_ms_buckets[bucket] += 1;
        self.fuel_consumed += report.usage.fuel_consumed.unwrap_or(0);
        if let Err(err) = &report.result {
            *self.errors_by_code.entry(err.code().number()).or_default() += 1;
            if matches!(err.kind(), ErrorKind::Trap | ErrorKind::Limit) {
                self.traps += 1;
            }
        }
    }
}

/// A session and, under [`Isolation::PerSession`], its instance.
struct SessionSlot {
    session: Session,
    instance: Option<Instance>,
}

struct Inner {
    package: Package,
    config: RunnerConfig,
    idle: Mutex<Vec<Instance>>,
    running: Arc<Semaphore>,
    queued: AtomicUsize,
    sessions: Mutex<HashMap<String, Arc<Mutex<SessionSlot>>>>,
    metrics: Mutex<Metrics>,
}

/// Runs one package for a platform: sessions, an instance pool, bounded
/// concurrency and queue, metrics. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("package", &self.inner.package).field("config", &self.inner.config).finish()
    }
}

/// Lock a mutex; a panic elsewhere never makes the runner unusable (the data
/// behind these locks is always left consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Runner {
    /// A runner for `package`. Instances are created and set up on first use.
    pub fn new(package: Package, config: RunnerConfig) -> Runner {
        let running = Arc::new(Semaphore::new(config.instances));
        Runner {
            inner: Arc::new(Inner {
                package,
                config,
                idle: Mutex::new(Vec::new()),
                running,
                queued: AtomicUsize::new(0),
                sessions: Mutex::new(HashMap::new()),
                metrics: Mutex::new(Metrics::default()),
            }),
        }
    }

    /// The package it runs.
    pub fn package(&self) -> &Package {
        &self.inner.package
    }

    /// Start a session with a read-only `context` (a JSON object: product code,
    /// operator, trace id...). Error 1006 when a session with this id is open.
    pub fn begin_session(&self, id: &str, context: Value) -> Result<()> {
        let mut sessions = lock(&self.inner.sessions);
        if sessions.contains_key(id) {
            return Err(Error::input(ErrorCode::InvalidParams, format!("session {id:?} is open already")));
        }
        let slot = SessionSlot { session: Session::new(id).with_context(context), instance: None };
        sessions.insert(id.to_owned(), Arc::new(Mutex::new(slot)));
        Ok(())
    }

    /// End a session: its state is dropped (and, under
    /// [`Isolation::PerSession`], its instance torn down). Whether it was open.
    pub fn end_session(&self, id: &str) -> bool {
        let Some(slot) = lock(&self.inner.sessions).remove(id) else { return false };
        if let Some(instance) = lock(&slot).instance.take()
            && let Err(err) = instance.teardown().result
        {
            tracing::warn!(session = id, %err, "teardown failed");
        }
        true
    }

    /// A copy of a session's current state.
    pub fn session(&self, id: &str) -> Option<Session> {
        let slot = lock(&self.inner.sessions).get(id).cloned()?;
        let session = lock(&slot).session.clone();
        Some(session)
    }

    /// Calls running now and calls waiting for an instance.
    pub fn in_flight(&self) -> (usize, usize) {
        let running = self.inner.config.instances - self.inner.running.available_permits();
        (running, self.inner.queued.load(Ordering::SeqCst))
    }

    /// The metrics so far.
    pub fn metrics(&self) -> Metrics {
        lock(&self.inner.metrics).clone()
    }

    /// Run `pre-execute` for a step of the session, between the step hooks
    /// (unless [`RunnerConfig::with_step_hooks`] turned them off).
    pub async fn pre_execute(&self, session_id: &str, input: StepInput) -> CallReport<PreExecuteOutput> {
        let (step, op) = self.pre_execute_op(input);
        self.call(session_id, "pre-execute", Some(step), op).await
    }

    /// Run `execute` for a step of the session, between the step hooks
    /// (unless [`RunnerConfig::with_step_hooks`] turned them off).
    pub async fn execute(&self, session_id: &str, input: StepInput) -> CallReport<ExecuteOutput> {
        let (step, op) = self.execute_op(input);
        self.call(session_id, "execute", Some(step), op).await
    }

    /// Run `on-step-start` on its own.
    pub async fn on_step_start(&self, session_id: &str, step_index: u32, pid: String) -> CallReport<()> {
        self.call(session_id, "on-step-start", Some((step_index, pid.clone())), move |instance, session| {
            instance.on_step_start(session, step_index, &pid)
        })
        .await
    }

    /// Run `on-step-finish` on its own.
    pub async fn on_step_finish(&self, session_id: &str, step_index: u32, pid: String, outcome: StepOutcome) -> CallReport<()> {
        self.call(session_id, "on-step-finish", Some((step_index, pid.clone())), move |instance, session| {
            instance.on_step_finish(session, step_index, &pid, outcome)
        })
        .await
    }

    /// Make sure an instance is set up and ready (the platform's `setup`):
    /// a call that takes one from the pool, or creates one, and gives it back.
    pub async fn warm_up(&self, session_id: &str) -> CallReport<()> {
        self.call(session_id, "setup", None, |_, _| CallReport::ok(())).await
    }

    /// Run `reset` for the session.
    pub async fn reset(&self, session_id: &str) -> CallReport<()> {
        self.call(session_id, "reset", None, |instance, session| instance.reset(session)).await
    }

    /// The blocking form of [`pre_execute`](Self::pre_execute), for embedders
    /// without an async runtime. Must not be called from inside one. The guest
    /// runs on the calling thread.
    pub fn pre_execute_blocking(&self, session_id: &str, input: StepInput) -> CallReport<PreExecuteOutput> {
        let (step, op) = self.pre_execute_op(input);
        self.call_blocking(session_id, "pre-execute", Some(step), op)
    }

    /// The blocking form of [`execute`](Self::execute).
    pub fn execute_blocking(&self, session_id: &str, input: StepInput) -> CallReport<ExecuteOutput> {
        let (step, op) = self.execute_op(input);
        self.call_blocking(session_id, "execute", Some(step), op)
    }

    /// The blocking form of [`warm_up`](Self::warm_up).
    pub fn warm_up_blocking(&self, session_id: &str) -> CallReport<()> {
        self.call_blocking(session_id, "setup", None, |_, _| CallReport::ok(()))
    }

    /// The blocking form of [`reset`](Self::reset).
    pub fn reset_blocking(&self, session_id: &str) -> CallReport<()> {
        self.call_blocking(session_id, "reset", None, |instance, session| instance.reset(session))
    }

    /// Tear down the idle instances (sessions still open keep theirs until they
    /// end). Calls after this set up new instances. Dropping the last clone of
    /// the runner does the same.
    pub fn shutdown(&self) {
        let idle = std::mem::take(&mut *lock(&self.inner.idle));
        for instance in idle {
            if let Err(err) = instance.teardown().result {
                tracing::warn!(%err, "teardown failed");
            }
        }
    }

    /// The step and the work of a `pre-execute` call.
    fn pre_execute_op(&self, input: StepInput) -> ((u32, String), impl CallOp<PreExecuteOutput>) {
        self.step_op(input, |instance, session, input| instance.pre_execute_input(session, input, true), |_| StepOutcome::Ok)
    }

    /// The step and the work of an `execute` call.
    fn execute_op(&self, input: StepInput) -> ((u32, String), impl CallOp<ExecuteOutput>) {
        self.step_op(
            input,
            |instance, session, input| instance.execute_input(session, input, true),
            |out| {
                if out.verdict == Verdict::Ng { StepOutcome::Ng } else { StepOutcome::Ok }
            },
        )
    }

    /// The step and the work of a phase call on `input`: the phase between the
    /// step hooks, unless they are off.
    fn step_op<T>(
        &self,
        input: StepInput,
        phase: impl FnOnce(&mut Instance, &mut Session, &StepInput) -> CallReport<T> + Send + 'static,
        outcome_of: impl FnOnce(&T) -> StepOutcome + Send + 'static,
    ) -> ((u32, String), impl CallOp<T>) {
        let step = (input.step_index, input.pid.clone());
        let hooks = self.inner.config.step_hooks;
        let op = move |instance: &mut Instance, session: &mut Session| {
            let checked = instance.check_input(&input);
            with_hooks(
                hooks,
                instance,
                session,
                &input,
                checked,
                |instance, session| phase(instance, session, &input),
                outcome_of,
            )
        };
        (step, op)
    }

    /// [`step_op`](Self::step_op) for an input that `prepare` makes on the
    /// call's thread, with images it fills in place (see
    /// [`Instance::execute_in_place`]). What `prepare` returns beside the input
    /// is held until the call ends.
    fn in_place_op<T, G: Send + 'static>(
        &self,
        prepare: impl FnOnce() -> Result<(StepInput, InPlace<'static>, G)> + Send + 'static,
        phase: impl FnOnce(&mut Instance, &mut Session, &StepInput, InPlace<'static>) -> CallReport<T> + Send + 'static,
        outcome_of: impl FnOnce(&T) -> StepOutcome + Send + 'static,
    ) -> impl CallOp<T> {
        let hooks = self.inner.config.step_hooks;
        move |instance: &mut Instance, session: &mut Session| {
            let (input, in_place, _held) = match prepare() {
                Ok(prepared) => prepared,
                Err(err) => return CallReport::refused(err),
            };
            let checked = instance.check_input_in_place(&input, &in_place);
            let phase = |instance: &mut Instance, session: &mut Session| phase(instance, session, &input, in_place);
            with_hooks(hooks, instance, session, &input, checked, phase, outcome_of)
        }
    }

    /// Run `op` on a blocking thread once admitted. If the caller drops this
    /// future the call still finishes, commits or not, and gives its instance
    /// and its permit back.
    async fn call<T: Send + 'static>(
        &self,
        session_id: &str,
        phase: &'static str,
        step: Option<(u32, String)>,
        op: impl CallOp<T>,
    ) -> CallReport<T> {
        match self.admit(session_id, phase, step).await {
            Ok(admitted) => admitted.run_async(&self.inner, op).await,
            Err(err) => CallReport::refused(err),
        }
    }

    /// Run `op` on the calling thread once admitted: nothing can drop the call
    /// half-way, and the instance stays on the thread (and core) that waits. A
    /// panic in the host is reported as the async form reports it, not
    /// unwound into the embedder.
    fn call_blocking<T: Send + 'static>(
        &self,
        session_id: &str,
        phase: &'static str,
        step: Option<(u32, String)>,
        op: impl CallOp<T>,
    ) -> CallReport<T> {
        let admitted = match block_on(self.admit(session_id, phase, step)) {
            Ok(admitted) => admitted,
            Err(err) => return CallReport::refused(err),
        };
        let inner = &self.inner;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| admitted.run(inner, op))) {
            Ok(report) => report,
            Err(_) => CallReport::refused(Error::host("the call's thread failed: the host panicked")),
        }
    }

    /// Find the session and take a concurrency permit, waiting in the queue
    /// for one if there is room (else error 3001, counted).
    async fn admit(&self, session_id: &str, phase: &'static str, step: Option<(u32, String)>) -> Result<Admitted> {
        self.reserve(session_id)?.admitted(phase, step).await
    }

    /// Reserve a place for one call on `session_id` without waiting: a running
    /// slot when one is free, else a place in the queue, else error 3001 (busy,
    /// counted); 1006 when the session is not open. A caller that must prepare
    /// costly input (decode images) reserves first, so that a call that would
    /// be refused costs nothing, then runs the call on the [`Reservation`].
    /// Dropping the reservation gives its place back.
    pub fn reserve(&self, session_id: &str) -> Result<Reservation> {
        let inner = &self.inner;
        let Some(slot) = lock(&inner.sessions).get(session_id).cloned() else {
            return Err(Error::input(ErrorCode::InvalidParams, format!("no session {session_id:?}: begin it first")));
        };
        let place = match Arc::clone(&inner.running).try_acquire_owned() {
            Ok(permit) => Place::Running(permit),
            Err(_) => {
                if inner.queued.fetch_add(1, Ordering::SeqCst) >= inner.config.queue {
                    inner.queued.fetch_sub(1, Ordering::SeqCst);
                    let mut metrics = lock(&inner.metrics);
                    metrics.calls += 1;
                    metrics.busy += 1;
                    *metrics.errors_by_code.entry(ErrorCode::Busy.number()).or_default() += 1;
                    return Err(Error::Busy {
                        message: format!(
                            "{} calls running and {} waiting, the most this runner takes",
                            inner.config.instances, inner.config.queue
                        ),
                    });
                }
                Place::Queued(QueueTicket(Arc::clone(inner)))
            }
        };
        Ok(Reservation { runner: self.clone(), session_id: session_id.to_owned(), slot, place })
    }
}

/// A call's place on a [`Runner`], taken by [`Runner::reserve`] before its input
/// is prepared: a running slot, or a place in the queue that [`ready`](Self::ready)
/// turns into one.
pub struct Reservation {
    runner: Runner,
    session_id: String,
    slot: Arc<Mutex<SessionSlot>>,
    place: Place,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = matches!(self.place, Place::Running(_));
        f.debug_struct("Reservation").field("session", &self.session_id).field("running", &running).finish()
    }
}

/// Where a reserved call stands.
enum Place {
    Running(OwnedSemaphorePermit),
    Queued(QueueTicket),
}

/// A place in the queue, given back when dropped.
struct QueueTicket(Arc<Inner>);

impl Drop for QueueTicket {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Reservation {
    /// Wait until the call may run: at once when it holds a running slot, else
    /// until one is free (its queue place is then given back).
    pub async fn ready(&mut self) -> Result<()> {
        if let Place::Queued(ticket) = &self.place {
            let permit = Arc::clone(&ticket.0.running).acquire_owned().await.map_err(|_| Error::host("the runner is closed"))?;
            self.place = Place::Running(permit);
        }
        Ok(())
    }

    /// Run `pre-execute` in the reserved place (see [`Runner::pre_execute`]).
    pub async fn pre_execute(self, input: StepInput) -> CallReport<PreExecuteOutput> {
        let (step, op) = self.runner.pre_execute_op(input);
        self.run("pre-execute", Some(step), op).await
    }

    /// Run `execute` in the reserved place (see [`Runner::execute`]).
    pub async fn execute(self, input: StepInput) -> CallReport<ExecuteOutput> {
        let (step, op) = self.runner.execute_op(input);
        self.run("execute", Some(step), op).await
    }

    /// [`execute`](Self::execute) with the images `in_place` names written
    /// straight into the guest's memory, on the thread that runs the call
    /// (see [`Instance::execute_in_place`]).
    pub async fn execute_in_place(self, input: StepInput, in_place: InPlace<'static>) -> CallReport<ExecuteOutput> {
        let step = (input.step_index, input.pid.clone());
        self.execute_prepared(step, move || Ok((input, in_place, ()))).await
    }

    /// [`execute_in_place`](Self::execute_in_place) of an input that
    /// `prepare` makes on the thread that runs the call, once the call holds
    /// its running slot: a caller whose input needs blocking work (opening
    /// files) does it there rather than on a thread of its own. `step` (index
    /// and product id) names the call in traces; what `prepare` returns beside
    /// the input is held until the call ends. An error of `prepare` is the
    /// call's.
    pub async fn execute_prepared<G: Send + 'static>(
        self,
        step: (u32, String),
        prepare: impl FnOnce() -> Result<(StepInput, InPlace<'static>, G)> + Send + 'static,
    ) -> CallReport<ExecuteOutput> {
        let phase = |instance: &mut Instance, session: &mut Session, input: &StepInput, in_place| {
            instance.execute_in_place_input(session, input, in_place, true)
        };
        let op =
            self.runner.in_place_op(
                prepare,
                phase,
                |out: &ExecuteOutput| {
                    if out.verdict == Verdict::Ng { StepOutcome::Ng } else { StepOutcome::Ok }
                },
            );
        self.run("execute", Some(step), op).await
    }

    /// [`pre_execute`](Self::pre_execute) with the images `in_place` names
    /// written straight into the guest's memory (see [`Self::execute_in_place`]).
    pub async fn pre_execute_in_place(self, input: StepInput, in_place: InPlace<'static>) -> CallReport<PreExecuteOutput> {
        let step = (input.step_index, input.pid.clone());
        self.pre_execute_prepared(step, move || Ok((input, in_place, ()))).await
    }

    /// [`pre_execute_in_place`](Self::pre_execute_in_place) of an input that
    /// `prepare` makes on the call's thread (see [`Self::execute_prepared`]).
    pub async fn pre_execute_prepared<G: Send + 'static>(
        self,
        step: (u32, String),
        prepare: impl FnOnce() -> Result<(StepInput, InPlace<'static>, G)> + Send + 'static,
    ) -> CallReport<PreExecuteOutput> {
        let phase = |instance: &mut Instance, session: &mut Session, input: &StepInput, in_place| {
            instance.pre_execute_in_place_input(session, input, in_place, true)
        };
        let op = self.runner.in_place_op(prepare, phase, |_| StepOutcome::Ok);
        self.run("pre-execute", Some(step), op).await
    }

    async fn run<T: Send + 'static>(self, phase: &'static str, step: Option<(u32, String)>, op: impl CallOp<T>) -> CallReport<T> {
        let inner = Arc::clone(&self.runner.inner);
        match self.admitted(phase, step).await {
            Ok(admitted) => admitted.run_async(&inner, op).await,
            Err(err) => CallReport::refused(err),
        }
    }

    /// Wait for a running slot, then hold it as an admitted call.
    async fn admitted(mut self, phase: &'static str, step: Option<(u32, String)>) -> Result<Admitted> {
        self.ready().await?;
        let Place::Running(permit) = self.place else {
            return Err(Error::host("the reservation holds no slot"));
        };
        let inner = &self.runner.inner;
        let span = tracing::info_span!(
            "call",
            package = inner.package.manifest().map_or(inner.package.origin(), |m| m.name.as_str()),
            version = inner.package.manifest().map(|m| m.version.to_string()),
            session = self.session_id.as_str(),
            phase,
            step = step.as_ref().map(|(index, _)| *index),
            pid = step.as_ref().map(|(_, pid)| pid.as_str()),
        );
        Ok(Admitted { slot: self.slot, permit, span })
    }
}

/// The work of one call, on an instance and the session's state.
trait CallOp<T>: FnOnce(&mut Instance, &mut Session) -> CallReport<T> + Send + 'static {}

impl<T, F: FnOnce(&mut Instance, &mut Session) -> CallReport<T> + Send + 'static> CallOp<T> for F {}

/// A call let in: its session, the permit it runs under, its tracing span.
struct Admitted {
    slot: Arc<Mutex<SessionSlot>>,
    permit: OwnedSemaphorePermit,
    span: tracing::Span,
}

impl Admitted {
    fn run<T>(self, inner: &Inner, op: impl CallOp<T>) -> CallReport<T> {
        let _permit = self.permit;
        let _span = self.span.enter();
        inner.run(&self.slot, op)
    }

    /// Run `op` on a blocking thread. If the caller drops this future the call
    /// still finishes, commits or not, and gives its instance and permit back.
    async fn run_async<T: Send + 'static>(self, inner: &Arc<Inner>, op: impl CallOp<T>) -> CallReport<T> {
        let runner = Arc::clone(inner);
        match tokio::task::spawn_blocking(move || self.run(&runner, op)).await {
            Ok(report) => report,
            Err(err) => CallReport::refused(Error::host(format!("the call's thread failed: {err}"))),
        }
    }
}

impl Drop for Inner {
    /// The last clone of the runner is gone: tear down every instance, idle or
    /// held by a session still open.
    fn drop(&mut self) {
        let mut instances = std::mem::take(&mut *lock(&self.idle));
        for slot in lock(&self.sessions).values() {
            instances.extend(lock(slot).instance.take());
        }
        for instance in instances {
            if let Err(err) = instance.teardown().result {
                tracing::warn!(%err, "teardown failed");
            }
        }
    }
}

impl Inner {
    fn run<T>(&self, slot: &Mutex<SessionSlot>, op: impl FnOnce(&mut Instance, &mut Session) -> CallReport<T>) -> CallReport<T> {
        let started = Instant::now();
        let mut slot = lock(slot);
        let slot = &mut *slot;
        let instance = match self.config.isolation {
            Isolation::Reuse => self.take_instance(),
            Isolation::PerSession => match slot.instance.take() {
                Some(instance) => Ok(instance),
                None => self.new_instance(),
            },
        };
        let mut instance = match instance {
            Ok(instance) => instance,
            Err(err) => {
                let report = CallReport::refused(err);
                lock(&self.metrics).record_timed(&report, started.elapsed());
                return report;
            }
        };
        let report = op(&mut instance, &mut slot.session);
        let mut metrics = lock(&self.metrics);
        metrics.record_timed(&report, started.elapsed());
        if instance.is_poisoned() {
            // Replaced, not repaired: the next call gets a fresh instance.
            metrics.instance_recycles += 1;
            drop(metrics);
            tracing::info!("dropped an instance after a trap; a fresh one takes its place");
            return report;
        }
        drop(metrics);
        match self.config.isolation {
            Isolation::Reuse => lock(&self.idle).push(instance),
            Isolation::PerSession => slot.instance = Some(instance),
        }
        report
    }

    fn take_instance(&self) -> Result<Instance> {
        let idle = lock(&self.idle).pop();
        match idle {
            Some(instance) => Ok(instance),
            None => self.new_instance(),
        }
    }

    fn new_instance(&self) -> Result<Instance> {
        let mut instance = self.package.instantiate()?;
        instance.setup().into_result()?;
        Ok(instance)
    }
}

/// Check the input (a refused input never reaches the guest), then
/// `on-step-start`, the phase and `on-step-finish`. A failing hook is logged;
/// the phase's result stands. When the phase fails, the session goes back to
/// what it was before the hooks: the whole call commits or nothing does.
fn with_hooks<T>(
    hooks: bool,
    instance: &mut Instance,
    session: &mut Session,
    input: &StepInput,
    checked: Result<()>,
    phase: impl FnOnce(&mut Instance, &mut Session) -> CallReport<T>,
    outcome_of: impl FnOnce(&T) -> StepOutcome,
) -> CallReport<T> {
    // Checked once, by the caller: the phase is told so and does not check again.
    if let Err(err) = checked {
        return CallReport::refused(err);
    }
    if !hooks {
        return phase(instance, session);
    }
    let (step, pid) = (input.step_index, input.pid.as_str());
    let before = session.clone();
    if let Err(err) = instance.on_step_start(session, step, pid).result {
        tracing::warn!(%err, "on-step-start failed");
    }
    let report = phase(instance, session);
    let outcome = report.result.as_ref().map_or(StepOutcome::Error, outcome_of);
    if !instance.is_poisoned()
        && let Err(err) = instance.on_step_finish(session, step, pid, outcome).result
    {
        tracing::warn!(%err, "on-step-finish failed");
    }
    if report.result.is_err() {
        *session = before;
    }
    report
}

/// Wait for a blocking call's admission (a place in the queue, then a permit)
/// on the calling thread.
fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    // One runtime without threads of its own for the whole process, made on
    // first use, rather than one built and torn down for every call. Waiting on
    // the semaphore needs no driver, so threads may block on it at once.
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().map_err(|err| err.to_string()));
    match runtime {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => Err(Error::host(format!("cannot start a runtime: {err}"))),
    }
}
