//! Calls whose images are filled in place: the caller's bytes written straight
//! into the guest's memory ([`InPlace`]), and inputs lowered from where they
//! are (`crate::ingress`).

use wasmtime::Store;
use wasmtime::component::{Func, Lift};

use super::store::Live;
use super::{CheckedInput, Instance, OutputCheck};
use crate::bindings::exports::procvision::algorithm::algorithm::Guest;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::ingress::FillFailed;
use crate::ingress::{InPlace, LoweredInput};
use crate::instance::CallReport;
use crate::params::with_defaults;
use crate::phase::Phase;
use crate::sandbox::HostState;
use crate::session::Session;
use crate::types::{AlgorithmError, ExecuteOutput, PreExecuteOutput, StepInput};

impl Instance {
    /// [`execute`](Self::execute) with the current image written by `fill`
    /// straight into the guest's memory: one copy, from wherever the frame is
    /// (a camera buffer, a file) into the block the guest allocates for it.
    ///
    /// `input.image` carries the frame's meta and empty pixels; `fill` is
    /// called once, during the call, with a slice of exactly
    /// `width * height * channels` bytes, and must write all of them (the
    /// slice holds whatever the guest's memory held there). Refused with 1006,
    /// before `fill` runs: pixels that are not empty, an empty size, more than
    /// [`MAX_IMAGE_DIMENSION`](crate::image::MAX_IMAGE_DIMENSION) a side or
    /// [`MAX_IMAGE_BYTES`](crate::image::MAX_IMAGE_BYTES) in all. A frame the
    /// guest's memory cap cannot hold fails as any allocation over the cap
    /// does (1004), before `fill` runs. When `fill` fails the call fails with
    /// 1002 and the guest does not run; its store is replaced, as after a trap.
    pub fn execute_in_place(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        fill: impl FnOnce(&mut [u8]) -> std::io::Result<()> + Send,
    ) -> CallReport<ExecuteOutput> {
        self.execute_with(session, input, InPlace::image(fill))
    }

    /// [`execute`](Self::execute) with the images `in_place` names filled in
    /// place (see [`execute_in_place`](Self::execute_in_place)), the others
    /// carried in their pixels.
    pub fn execute_with(&mut self, session: &mut Session, input: &StepInput, in_place: InPlace<'_>) -> CallReport<ExecuteOutput> {
        match self.checked(input, in_place.filled()) {
            Ok(checked) => self.execute_checked(session, checked, in_place),
            Err(err) => CallReport::refused(err),
        }
    }

    /// [`pre_execute`](Self::pre_execute) with the images `in_place` names
    /// filled in place (see [`execute_in_place`](Self::execute_in_place)).
    pub fn pre_execute_with(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        in_place: InPlace<'_>,
    ) -> CallReport<PreExecuteOutput> {
        match self.checked(input, in_place.filled()) {
            Ok(checked) => self.pre_execute_checked(session, checked, in_place),
            Err(err) => CallReport::refused(err),
        }
    }

    /// Host-side validation of a step input whose images `in_place` names are
    /// filled in place (their pixels empty).
    pub fn check_input_in_place(&self, input: &StepInput, in_place: &InPlace<'_>) -> Result<()> {
        self.checked(input, in_place.filled()).map(|_| ())
    }

    pub(crate) fn execute_checked(
        &mut self,
        session: &mut Session,
        checked: CheckedInput<'_>,
        in_place: InPlace<'_>,
    ) -> CallReport<ExecuteOutput> {
        let rules = self.compiled.output_rules().clone();
        let meta = &checked.input.image.meta;
        let check = |out: &ExecuteOutput| rules.check_execute(out, meta);
        self.call_step(session, checked, in_place, Phase::Execute, &check, |live| live.execute)
    }

    pub(crate) fn pre_execute_checked(
        &mut self,
        session: &mut Session,
        checked: CheckedInput<'_>,
        in_place: InPlace<'_>,
    ) -> CallReport<PreExecuteOutput> {
        let rules = self.compiled.output_rules().clone();
        let meta = &checked.input.image.meta;
        let check = |out: &PreExecuteOutput| rules.check_pre_execute(out, meta);
        self.call_step(session, checked, in_place, Phase::PreExecute, &check, |live| live.pre_execute)
    }

    /// The one way a step runs: the checked input lowered by [`LoweredInput`]
    /// through the export as a plain function, its images carried or filled
    /// in place, the step's defaults added beside the caller's params (the
    /// frame is never copied to add them). A fill that fails stops the call
    /// before the guest runs ([`FillFailed`], reported as 1002).
    fn call_step<T: Lift + Send + Sync + 'static>(
        &mut self,
        session: &mut Session,
        checked: CheckedInput<'_>,
        in_place: InPlace<'_>,
        phase: Phase,
        check: &OutputCheck<'_, T>,
        export: fn(&Live) -> Func,
    ) -> CallReport<T> {
        if in_place.filled() != checked.filled {
            return CallReport::refused(Error::host("the images filled in place are not the ones the input was checked for"));
        }
        if self.live.is_none()
            && let Err(err) = self.restart()
        {
            return CallReport::refused(err);
        }
        let Some(func) = self.live.as_ref().map(export) else {
            return CallReport::refused(Error::host("the instance has no store"));
        };
        let input = checked.input;
        let defaults = self.step(input.step_index).ok().and_then(|step| with_defaults(step, &input.params));
        let params = defaults.as_deref().unwrap_or(&input.params);
        let lowered = LoweredInput::new(input, params, in_place);
        let call = |_: &Guest, store: &mut Store<HostState>| {
            let typed = func.typed::<(&LoweredInput<'_>,), (std::result::Result<T, AlgorithmError>,)>(&*store)?;
            typed.call(&mut *store, (&lowered,)).map(|(out,)| out)
        };
        self.run(Some(session), phase, check, Box::new(call))
    }
}
