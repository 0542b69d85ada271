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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Semaphore;

mod config;
mod metrics;
mod one_call;
mod reservation;

pub use self::config::{DEFAULT_QUEUE, Isolation, RunnerConfig};
pub use self::metrics::{LATENCY_BUCKETS_MS, Metrics};
pub use self::one_call::OneCallSession;
use self::reservation::{CallOp, Place, QueueTicket, SlotHeld};
pub use self::reservation::{Prepared, Reservation, StepKey};
use crate::bindings::procvision::algorithm::types::{ExecuteOutput, PreExecuteOutput, StepInput, StepOutcome};
use crate::error::{Error, ErrorCode, InputCode, Result};
use crate::ingress::InPlace;
use crate::instance::{CallReport, Instance};
use crate::locks::lock;
use crate::package::Package;
use crate::phase::Phase;
use crate::session::Session;
use crate::step::{StepCalls, StepDriver, StepReport};

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
    /// Numbers the sessions of [`Runner::session_for_one_call`].
    next_one_call: AtomicU64,
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
                next_one_call: AtomicU64::new(0),
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
            return Err(Error::input(InputCode::InvalidParams, format!("session {id:?} is open already")));
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
        self.call(session_id, Phase::PreExecute, Some(step), op).await
    }

    /// Run `execute` for a step of the session, between the step hooks
    /// (unless [`RunnerConfig::with_step_hooks`] turned them off).
    pub async fn execute(&self, session_id: &str, input: StepInput) -> CallReport<ExecuteOutput> {
        let (step, op) = self.execute_op(input);
        self.call(session_id, Phase::Execute, Some(step), op).await
    }

    /// Run `on-step-start` on its own.
    pub async fn on_step_start(&self, session_id: &str, step_index: u32, pid: String) -> CallReport<()> {
        self.call(
            session_id,
            Phase::OnStepStart,
            Some(StepKey { index: step_index, pid: pid.clone() }),
            move |instance, session| instance.on_step_start(session, step_index, &pid),
        )
        .await
    }

    /// Run `on-step-finish` on its own.
    pub async fn on_step_finish(&self, session_id: &str, step_index: u32, pid: String, outcome: StepOutcome) -> CallReport<()> {
        self.call(
            session_id,
            Phase::OnStepFinish,
            Some(StepKey { index: step_index, pid: pid.clone() }),
            move |instance, session| instance.on_step_finish(session, step_index, &pid, outcome),
        )
        .await
    }

    /// Make sure an instance is set up and ready (the platform's `setup`):
    /// a call that takes one from the pool, or creates one, and gives it back.
    pub async fn warm_up(&self, session_id: &str) -> CallReport<()> {
        self.call(session_id, Phase::Setup, None, |_, _| CallReport::ok(())).await
    }

    /// Run `reset` for the session.
    pub async fn reset(&self, session_id: &str) -> CallReport<()> {
        self.call(session_id, Phase::Reset, None, |instance, session| instance.reset(session)).await
    }

    /// The blocking form of [`pre_execute`](Self::pre_execute), for embedders
    /// without an async runtime. Must not be called from inside one. The guest
    /// runs on the calling thread.
    pub fn pre_execute_blocking(&self, session_id: &str, input: StepInput) -> CallReport<PreExecuteOutput> {
        let (step, op) = self.pre_execute_op(input);
        self.call_blocking(session_id, Phase::PreExecute, Some(step), op)
    }

    /// The blocking form of [`execute`](Self::execute).
    pub fn execute_blocking(&self, session_id: &str, input: StepInput) -> CallReport<ExecuteOutput> {
        let (step, op) = self.execute_op(input);
        self.call_blocking(session_id, Phase::Execute, Some(step), op)
    }

    /// The blocking form of [`warm_up`](Self::warm_up).
    pub fn warm_up_blocking(&self, session_id: &str) -> CallReport<()> {
        self.call_blocking(session_id, Phase::Setup, None, |_, _| CallReport::ok(()))
    }

    /// The blocking form of [`reset`](Self::reset).
    pub fn reset_blocking(&self, session_id: &str) -> CallReport<()> {
        self.call_blocking(session_id, Phase::Reset, None, |instance, session| instance.reset(session))
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
    fn pre_execute_op(&self, input: StepInput) -> (StepKey, impl CallOp<PreExecuteOutput>) {
        self.step_op(input, StepCalls::PreExecute, |step| step.pre_execute)
    }

    /// The step and the work of an `execute` call.
    fn execute_op(&self, input: StepInput) -> (StepKey, impl CallOp<ExecuteOutput>) {
        self.step_op(input, StepCalls::Execute, |step| step.execute)
    }

    /// The step and the work of a phase call on `input`: the library's one
    /// [`StepDriver`], with the step hooks unless they are off.
    fn step_op<T>(
        &self,
        input: StepInput,
        calls: StepCalls,
        report_of: impl FnOnce(StepReport) -> Option<CallReport<T>> + Send + 'static,
    ) -> (StepKey, impl CallOp<T>) {
        let step = StepKey::of(&input);
        (step, self.in_place_op(calls, move || Ok(Prepared { input, in_place: InPlace::none(), held: () }), report_of))
    }

    /// [`step_op`](Self::step_op) for an input that `prepare` makes on the
    /// call's thread, with images it fills in place (see
    /// [`Instance::execute_in_place`]). What `prepare` returns beside the input
    /// is held until the call ends.
    fn in_place_op<T, G: Send + 'static>(
        &self,
        calls: StepCalls,
        prepare: impl FnOnce() -> Result<Prepared<G>> + Send + 'static,
        report_of: impl FnOnce(StepReport) -> Option<CallReport<T>> + Send + 'static,
    ) -> impl CallOp<T> {
        let driver = StepDriver::new(calls).with_hooks(self.inner.config.step_hooks);
        move |instance: &mut Instance, session: &mut Session| {
            let Prepared { input, in_place, held: _held } = match prepare() {
                Ok(prepared) => prepared,
                Err(err) => return CallReport::refused(err),
            };
            report_of(driver.run_in_place(instance, session, &input, in_place))
                .unwrap_or_else(|| CallReport::refused(Error::host("the step driver ran no such phase")))
        }
    }

    /// Run `op` on a blocking thread once it holds a running slot. If the caller drops this
    /// future the call still finishes, commits or not, and gives its instance
    /// and its permit back.
    async fn call<T: Send + 'static>(
        &self,
        session_id: &str,
        phase: Phase,
        step: Option<StepKey>,
        op: impl CallOp<T>,
    ) -> CallReport<T> {
        match self.take_slot(session_id, phase, step).await {
            Ok(held) => held.run_async(&self.inner, op).await,
            Err(err) => CallReport::refused(err),
        }
    }

    /// Run `op` on the calling thread once it holds a running slot: nothing can drop the call
    /// half-way, and the instance stays on the thread (and core) that waits. A
    /// panic in the host is reported as the async form reports it, not
    /// unwound into the embedder.
    fn call_blocking<T: Send + 'static>(
        &self,
        session_id: &str,
        phase: Phase,
        step: Option<StepKey>,
        op: impl CallOp<T>,
    ) -> CallReport<T> {
        let held = match block_on(self.take_slot(session_id, phase, step)) {
            Ok(held) => held,
            Err(err) => return CallReport::refused(err),
        };
        let inner = &self.inner;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| held.run(inner, op))) {
            Ok(report) => report,
            Err(_) => CallReport::refused(Error::host("the call's thread failed: the host panicked")),
        }
    }

    /// Find the session and take a concurrency permit, waiting in the queue
    /// for one if there is room (else error 3001, counted).
    async fn take_slot(&self, session_id: &str, phase: Phase, step: Option<StepKey>) -> Result<SlotHeld> {
        self.reserve(session_id)?.hold_slot(phase, step).await
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
            return Err(Error::input(InputCode::InvalidParams, format!("no session {session_id:?}: begin it first")));
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
        Ok(Reservation {
            runner: self.clone(),
            session_id: session_id.to_owned(),
            slot,
            place,
            reserved_at: std::time::Instant::now(),
        })
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

/// What the metrics say of a call beside its report: its phase, product id
/// and time in the queue.
pub(crate) struct CallLabels {
    pub(crate) phase: Phase,
    pub(crate) pid: Option<String>,
    pub(crate) queue_wait: std::time::Duration,
}

impl Inner {
    /// Count one call in the host's metrics (labels from closed sets: a
    /// product id the package does not list is [`OTHER_PID`](crate::telemetry::OTHER_PID)).
    fn record<T: 'static>(&self, call: &CallLabels, report: &CallReport<T>, duration: std::time::Duration) {
        let telemetry = self.package.telemetry();
        let (name, version) = self
            .package
            .manifest()
            .map_or((self.package.origin().to_owned(), String::new()), |m| (m.name.clone(), m.version.to_string()));
        let listed = |pid: &String| self.package.manifest().is_none_or(|m| m.pids.contains(pid));
        let pid = match &call.pid {
            Some(pid) if listed(pid) => pid.as_str(),
            Some(_) => crate::telemetry::OTHER_PID,
            None => "",
        };
        let outcome = crate::telemetry::outcome_of(&report.result, |value| {
            (value as &dyn std::any::Any).downcast_ref::<ExecuteOutput>().map(|out| out.verdict == crate::types::Verdict::Ok)
        });
        telemetry.record_call(&crate::telemetry::CallRecord {
            package: &name,
            version: &version,
            pid,
            phase: call.phase,
            outcome: &outcome,
            duration,
            queue_wait: Some(call.queue_wait),
            fuel: report.usage.fuel_consumed.unwrap_or(0),
            peak_memory_bytes: report.usage.peak_memory_bytes,
            error: report.result.as_ref().err(),
        });
        let busy = self.config.instances - self.running.available_permits();
        telemetry.set_instances(&name, lock(&self.idle).len(), busy);
    }

    fn run<T: 'static>(
        &self,
        slot: &Mutex<SessionSlot>,
        call: &CallLabels,
        op: impl FnOnce(&mut Instance, &mut Session) -> CallReport<T>,
    ) -> CallReport<T> {
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
                self.record(call, &report, started.elapsed());
                return report;
            }
        };
        let report = op(&mut instance, &mut slot.session);
        let elapsed = started.elapsed();
        let mut metrics = lock(&self.metrics);
        metrics.record_timed(&report, elapsed);
        if instance.is_poisoned() {
            // Replaced, not repaired: the next call gets a fresh instance.
            metrics.instance_recycles += 1;
            drop(metrics);
            tracing::info!("dropped an instance after a trap; a fresh one takes its place");
            self.record(call, &report, elapsed);
            return report;
        }
        drop(metrics);
        match self.config.isolation {
            Isolation::Reuse => lock(&self.idle).push(instance),
            Isolation::PerSession => slot.instance = Some(instance),
        }
        self.record(call, &report, elapsed);
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
