//! One step of a part, driven the same way everywhere: the [`Runner`](crate::Runner),
//! `pv-host run`, the conformance harness and (through the runner) `serve`.
//!
//! The order is the platform's: the input is checked on the host (a refused
//! input never reaches the guest), then `on-step-start`, `pre-execute` and/or
//! `execute`, then `on-step-finish` with the step's outcome. A failing hook is
//! logged and the phase's result stands. A step commits as a whole: when a
//! phase fails, the session goes back to what it was before the step, hooks
//! included.

use crate::error::{Error, InputCode};
use crate::ingress::InPlace;
use crate::instance::{CallReport, Instance};
use crate::session::Session;
use crate::types::{ExecuteOutput, PreExecuteOutput, StepInput, StepOutcome, Verdict};

/// Which phases a step runs between its hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepCalls {
    /// `pre-execute` only (the platform's `pre` call).
    PreExecute,
    /// `execute` only (the platform's `execute` call).
    Execute,
    /// `pre-execute`, then `execute` if it succeeded: a whole step, as
    /// `pv-host run` and the harness make it.
    PreExecuteThenExecute,
}

/// What a step did: the report of each phase it ran and the outcome handed to
/// `on-step-finish`.
#[derive(Debug)]
pub struct StepReport {
    /// The `pre-execute` call, when the step ran one (or its input was refused
    /// before it).
    pub pre_execute: Option<CallReport<PreExecuteOutput>>,
    /// The `execute` call, when the step ran one (or its input was refused
    /// before it).
    pub execute: Option<CallReport<ExecuteOutput>>,
    /// OK, NG (an `execute` that judged NG) or ERROR (a phase failed or the
    /// input was refused).
    pub outcome: StepOutcome,
}

/// Drives one step on an instance. Default: both phases, with the step hooks.
///
/// ```no_run
/// use pv_host::{Session, StepCalls, StepDriver};
/// # fn demo(instance: &mut pv_host::Instance, input: &pv_host::types::StepInput) {
/// let mut session = Session::new("part-0001");
/// let step = StepDriver::new(StepCalls::PreExecuteThenExecute).run(instance, &mut session, input);
/// println!("{:?}", step.outcome);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StepDriver {
    calls: StepCalls,
    hooks: bool,
}

impl StepDriver {
    /// A driver of `calls`, with the step hooks.
    pub fn new(calls: StepCalls) -> Self {
        StepDriver { calls, hooks: true }
    }

    /// Whether `on-step-start` and `on-step-finish` run around the phases.
    /// Default: yes. Off for a caller that calls the hooks itself (the
    /// platform's first protocol generation sends them as calls of their own).
    pub fn with_hooks(mut self, hooks: bool) -> Self {
        self.hooks = hooks;
        self
    }

    /// Run the step on `instance`, for the part whose state is `session`.
    pub fn run(&self, instance: &mut Instance, session: &mut Session, input: &StepInput) -> StepReport {
        self.run_in_place(instance, session, input, InPlace::none())
    }

    /// [`run`](Self::run) with the images `in_place` names written straight
    /// into the guest's memory by their fills (see
    /// [`Instance::execute_in_place`]). A fill runs once, so a step that fills
    /// an image runs one phase: with [`StepCalls::PreExecuteThenExecute`] it is
    /// refused (1006).
    pub fn run_in_place(
        &self,
        instance: &mut Instance,
        session: &mut Session,
        input: &StepInput,
        in_place: InPlace<'_>,
    ) -> StepReport {
        let wants_pre = self.calls != StepCalls::Execute;
        let wants_execute = self.calls != StepCalls::PreExecute;
        let filled = in_place.filled();
        // Checked once here: the phases take the checked input, never check again.
        let checked = match (filled.any(), self.calls) {
            (true, StepCalls::PreExecuteThenExecute) => Err(Error::input(
                InputCode::InvalidParams,
                "an image filled in place feeds one phase: run pre-execute and execute as steps of their own",
            )),
            _ => instance.checked(input, filled),
        };
        let checked = match checked {
            Ok(checked) => checked,
            Err(err) => {
                return StepReport {
                    pre_execute: wants_pre.then(|| CallReport::refused(err.clone())),
                    execute: (wants_execute && !wants_pre).then(|| CallReport::refused(err)),
                    outcome: StepOutcome::Error,
                };
            }
        };
        let (step, pid) = (input.step_index, input.pid.as_str());
        let before = self.hooks.then(|| session.clone());
        if self.hooks
            && let Err(err) = instance.on_step_start(session, step, pid).result
        {
            tracing::warn!(%err, "on-step-start failed");
        }
        // The fills go to the one phase that runs; without fills each phase
        // takes the input's pixels as they are.
        let mut in_place = Some(in_place);
        let mut fills = || in_place.take().unwrap_or_else(InPlace::none);
        let pre_execute = wants_pre.then(|| instance.pre_execute_checked(session, checked, fills()));
        let pre_ok = pre_execute.as_ref().is_none_or(|report| report.result.is_ok());
        let execute = (wants_execute && pre_ok).then(|| instance.execute_checked(session, checked, fills()));
        let outcome = outcome_of(pre_execute.as_ref(), execute.as_ref());
        if self.hooks
            && !instance.is_poisoned()
            && let Err(err) = instance.on_step_finish(session, step, pid, outcome).result
        {
            tracing::warn!(%err, "on-step-finish failed");
        }
        if outcome == StepOutcome::Error
            && let Some(before) = before
        {
            *session = before;
        }
        StepReport { pre_execute, execute, outcome }
    }
}

/// ERROR when a phase failed, NG when `execute` judged NG, OK otherwise.
fn outcome_of(pre: Option<&CallReport<PreExecuteOutput>>, execute: Option<&CallReport<ExecuteOutput>>) -> StepOutcome {
    if pre.is_some_and(|report| report.result.is_err()) {
        return StepOutcome::Error;
    }
    match execute.map(|report| report.result.as_ref()) {
        Some(Err(_)) => StepOutcome::Error,
        Some(Ok(out)) if out.verdict == Verdict::Ng => StepOutcome::Ng,
        _ => StepOutcome::Ok,
    }
}
