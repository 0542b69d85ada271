//! How a call gets its place on a runner: a reservation (a running slot or a
//! place in the bounded queue), then a permit, then the call on a blocking
//! thread or the caller's.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedSemaphorePermit;

use super::{Inner, Runner, SessionSlot};
use crate::error::{Error, Result};
use crate::ingress::InPlace;
use crate::instance::{CallReport, Instance};
use crate::phase::Phase;
use crate::session::Session;
use crate::step::StepCalls;
use crate::types::{ExecuteOutput, PreExecuteOutput, StepInput};

/// The step a call runs, as traces name it: its index and product id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepKey {
    /// The step's index (from 1).
    pub index: u32,
    /// The product id.
    pub pid: String,
}

impl StepKey {
    /// The step `input` is for.
    pub fn of(input: &StepInput) -> Self {
        StepKey { index: input.step_index, pid: input.pid.clone() }
    }
}

/// A call's input made on the thread that runs the call (see
/// [`Reservation::execute_prepared`]): the input, the images it fills in
/// place, and whatever must be held until the call ends (a memory
/// reservation, say).
pub struct Prepared<G> {
    /// The step's input; the images `in_place` fills have empty pixels.
    pub input: StepInput,
    /// The images written straight into the guest's memory.
    pub in_place: InPlace<'static>,
    /// Held until the call ends, then dropped.
    pub held: G,
}

/// A call's place on a [`Runner`], taken by [`Runner::reserve`] before its input
/// is prepared: a running slot, or a place in the queue that [`ready`](Self::ready)
/// turns into one.
pub struct Reservation {
    pub(super) runner: Runner,
    pub(super) session_id: String,
    pub(super) slot: Arc<Mutex<SessionSlot>>,
    pub(super) place: Place,
    /// When the place was taken: the queue wait runs from here.
    pub(super) reserved_at: std::time::Instant,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = matches!(self.place, Place::Running(_));
        f.debug_struct("Reservation").field("session", &self.session_id).field("running", &running).finish()
    }
}

/// Where a reserved call stands.
pub(super) enum Place {
    Running(OwnedSemaphorePermit),
    Queued(QueueTicket),
}

/// A place in the queue, given back when dropped.
pub(super) struct QueueTicket(pub(super) Arc<Inner>);

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

    /// Run `pre-execute` in the reserved place (see [`Runner::pre_execute`]):
    /// for an embedder that takes its place when a request arrives, in
    /// arrival order, and runs it once the input is ready.
    pub async fn pre_execute(self, input: StepInput) -> CallReport<PreExecuteOutput> {
        let (step, op) = self.runner.pre_execute_op(input);
        self.run(Phase::PreExecute, Some(step), op).await
    }

    /// Run `execute` in the reserved place (see [`Runner::execute`]), as
    /// [`pre_execute`](Self::pre_execute) does.
    pub async fn execute(self, input: StepInput) -> CallReport<ExecuteOutput> {
        let (step, op) = self.runner.execute_op(input);
        self.run(Phase::Execute, Some(step), op).await
    }

    /// [`execute`](Self::execute) with the images `in_place` names written
    /// straight into the guest's memory, on the thread that runs the call
    /// (see [`Instance::execute_in_place`](crate::Instance::execute_in_place)).
    pub async fn execute_in_place(self, input: StepInput, in_place: InPlace<'static>) -> CallReport<ExecuteOutput> {
        let step = StepKey::of(&input);
        self.execute_prepared(step, move || Ok(Prepared { input, in_place, held: () })).await
    }

    /// [`execute_in_place`](Self::execute_in_place) of an input that
    /// `prepare` makes on the thread that runs the call, once the call holds
    /// its running slot: a caller whose input needs blocking work (opening
    /// files) does it there rather than on a thread of its own. `step` (index
    /// and product id) names the call in traces; what `prepare` holds beside
    /// the input ([`Prepared::held`]) is held until the call ends. An error of `prepare` is the
    /// call's.
    pub async fn execute_prepared<G: Send + 'static>(
        self,
        step: StepKey,
        prepare: impl FnOnce() -> Result<Prepared<G>> + Send + 'static,
    ) -> CallReport<ExecuteOutput> {
        let op = self.runner.in_place_op(StepCalls::Execute, prepare, |step| step.execute);
        self.run(Phase::Execute, Some(step), op).await
    }

    /// [`pre_execute`](Self::pre_execute) with the images `in_place` names
    /// written straight into the guest's memory (see [`Self::execute_in_place`]).
    pub async fn pre_execute_in_place(self, input: StepInput, in_place: InPlace<'static>) -> CallReport<PreExecuteOutput> {
        let step = StepKey::of(&input);
        self.pre_execute_prepared(step, move || Ok(Prepared { input, in_place, held: () })).await
    }

    /// [`pre_execute_in_place`](Self::pre_execute_in_place) of an input that
    /// `prepare` makes on the call's thread (see [`Self::execute_prepared`]).
    pub async fn pre_execute_prepared<G: Send + 'static>(
        self,
        step: StepKey,
        prepare: impl FnOnce() -> Result<Prepared<G>> + Send + 'static,
    ) -> CallReport<PreExecuteOutput> {
        let op = self.runner.in_place_op(StepCalls::PreExecute, prepare, |step| step.pre_execute);
        self.run(Phase::PreExecute, Some(step), op).await
    }

    async fn run<T: Send + 'static>(self, phase: Phase, step: Option<StepKey>, op: impl CallOp<T>) -> CallReport<T> {
        let inner = Arc::clone(&self.runner.inner);
        match self.hold_slot(phase, step).await {
            Ok(held) => held.run_async(&inner, op).await,
            Err(err) => CallReport::refused(err),
        }
    }

    /// Wait for a running slot, then hold it for the call.
    pub(super) async fn hold_slot(mut self, phase: Phase, step: Option<StepKey>) -> Result<SlotHeld> {
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
            phase = %phase,
            step = step.as_ref().map(|step| step.index),
            pid = step.as_ref().map(|step| step.pid.as_str()),
        );
        let pid = step.map(|step| step.pid);
        Ok(SlotHeld { slot: self.slot, permit, span, phase, pid, queue_wait: self.reserved_at.elapsed() })
    }
}

/// The work of one call, on an instance and the session's state.
pub(super) trait CallOp<T>: FnOnce(&mut Instance, &mut Session) -> CallReport<T> + Send + 'static {}

impl<T, F: FnOnce(&mut Instance, &mut Session) -> CallReport<T> + Send + 'static> CallOp<T> for F {}

/// A call holding a running slot: its session, the permit it runs under, its
/// tracing span.
pub(super) struct SlotHeld {
    slot: Arc<Mutex<SessionSlot>>,
    permit: OwnedSemaphorePermit,
    span: tracing::Span,
    phase: Phase,
    pid: Option<String>,
    queue_wait: std::time::Duration,
}

impl SlotHeld {
    pub(super) fn run<T: 'static>(self, inner: &Inner, op: impl CallOp<T>) -> CallReport<T> {
        let _permit = self.permit;
        let _span = self.span.enter();
        let call = super::CallLabels { phase: self.phase, pid: self.pid, queue_wait: self.queue_wait };
        inner.run(&self.slot, &call, op)
    }

    /// Run `op` on a blocking thread. If the caller drops this future the call
    /// still finishes, commits or not, and gives its instance and permit back.
    pub(super) async fn run_async<T: Send + 'static>(self, inner: &Arc<Inner>, op: impl CallOp<T>) -> CallReport<T> {
        let runner = Arc::clone(inner);
        match tokio::task::spawn_blocking(move || self.run(&runner, op)).await {
            Ok(report) => report,
            Err(err) => CallReport::refused(Error::host(format!("the call's thread failed: {err}"))),
        }
    }
}
