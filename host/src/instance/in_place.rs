//! Calls whose images are filled in place: the caller's bytes written straight
//! into the guest's memory ([`InPlace`]), and inputs lowered from where they
//! are (`crate::ingress`).

use wasmtime::Store;
use wasmtime::component::{Func, Lift};

use super::store::Live;
use super::{Instance, OutputCheck};
use crate::bindings::exports::procvision::algorithm::algorithm::Guest;
use crate::error::{Error, InputCode, Result};
use crate::ingress::{InPlace, LoweredInput, check_images};
use crate::instance::CallReport;
use crate::params::{check_guide_info, check_params, with_defaults};
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
        self.execute_in_place_input(session, input, in_place, false)
    }

    /// [`pre_execute`](Self::pre_execute) with the images `in_place` names
    /// filled in place (see [`execute_in_place`](Self::execute_in_place)).
    pub fn pre_execute_with(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        in_place: InPlace<'_>,
    ) -> CallReport<PreExecuteOutput> {
        self.pre_execute_in_place_input(session, input, in_place, false)
    }

    /// Host-side validation of a step input whose images `in_place` names are
    /// filled in place (their pixels empty).
    pub fn check_input_in_place(&self, input: &StepInput, in_place: &InPlace<'_>) -> Result<()> {
        self.check_input_filled(input, in_place.filled())
    }

    pub(crate) fn check_input_filled(&self, input: &StepInput, filled: (bool, bool)) -> Result<()> {
        self.check_pid(&input.pid)?;
        let step = self.step(input.step_index)?;
        check_images(input, filled)?;
        check_guide_info(&input.guide_info)?;
        check_params(step, &input.params, &self.patterns)
    }

    pub(crate) fn execute_in_place_input(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        in_place: InPlace<'_>,
        input_checked: bool,
    ) -> CallReport<ExecuteOutput> {
        let rules = self.compiled.output_rules().clone();
        let check = |out: &ExecuteOutput| rules.check_execute(out, &input.image.meta);
        self.call_in_place(session, input, in_place, input_checked, Phase::Execute, &check, |live| live.execute)
    }

    pub(crate) fn pre_execute_in_place_input(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        in_place: InPlace<'_>,
        input_checked: bool,
    ) -> CallReport<PreExecuteOutput> {
        let rules = self.compiled.output_rules().clone();
        let check = |out: &PreExecuteOutput| rules.check_pre_execute(out, &input.image.meta);
        self.call_in_place(session, input, in_place, input_checked, Phase::PreExecute, &check, |live| live.pre_execute)
    }

    /// A step call whose images may be filled in place: the input is lowered
    /// by [`LoweredInput`] through the export as a plain function.
    #[allow(clippy::too_many_arguments)]
    fn call_in_place<T: Lift + Send + Sync + 'static>(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        in_place: InPlace<'_>,
        input_checked: bool,
        phase: Phase,
        check: &OutputCheck<'_, T>,
        export: fn(&Live) -> Func,
    ) -> CallReport<T> {
        if !input_checked && let Err(err) = self.check_input_filled(input, in_place.filled()) {
            return CallReport::refused(err);
        }
        if self.live.is_none()
            && let Err(err) = self.restart()
        {
            return CallReport::refused(err);
        }
        let Some(func) = self.live.as_ref().map(export) else {
            return CallReport::refused(Error::host("the instance has no store"));
        };
        // Defaults are added to the params only; the images are never copied.
        let defaults = self.step(input.step_index).ok().and_then(|step| with_defaults(step, &input.params));
        let params = defaults.as_deref().unwrap_or(&input.params);
        let lowered = LoweredInput::new(input, params, in_place);
        let mut fill_failed = None;
        let call = |_: &Guest, store: &mut Store<HostState>| {
            let typed = func.typed::<(&LoweredInput<'_>,), (std::result::Result<T, AlgorithmError>,)>(&*store)?;
            match typed.call(&mut *store, (&lowered,)) {
                Ok((out,)) => Ok(out),
                Err(err) => match lowered.fill_error() {
                    // The guest never ran: not its failure.
                    Some(fill_err) => {
                        fill_failed = Some(fill_err);
                        Ok(Err(AlgorithmError { code: crate::types::ErrorCode::ImageLoadFailed, message: String::new() }))
                    }
                    None => Err(err),
                },
            }
        };
        let mut report = self.run(Some(session), phase, check, Box::new(call));
        if let Some(err) = fill_failed {
            // The guest allocated the frame and was never called: its store
            // is replaced rather than trusted with the block it lost.
            self.live = None;
            report.result = Err(Error::input(InputCode::ImageLoadFailed, format!("the frame could not be filled: {err}")));
        }
        report
    }
}
