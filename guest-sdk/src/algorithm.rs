//! The [`Algorithm`] trait and the glue that exports it as the component's interface.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::exports::procvision::algorithm::algorithm::Guest;
use crate::bindings::procvision::algorithm::types as wit;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::info::AlgorithmInfo;
use crate::output::{ExecuteOutput, PreExecuteOutput, Rect, StepOutcome};
use crate::params::Params;

/// Everything one step of one part needs, as the algorithm receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInput {
    /// Step index, starting at 1.
    pub step_index: u32,
    /// Product id of the part (already checked against the supported PIDs by the host).
    pub pid: String,
    /// The station's description of the step (may be empty).
    pub step_desc: String,
    /// Parameters, validated against the step's schema, defaults filled in.
    pub params: Params,
    /// The frame to inspect.
    pub image: Image,
    /// A reference frame of a good part, when the station has one.
    pub guide_image: Option<Image>,
    /// Labelled regions that go with the guide image.
    pub guide_info: Vec<Rect>,
}

impl From<wit::StepInput> for StepInput {
    fn from(input: wit::StepInput) -> Self {
        StepInput {
            step_index: input.step_index,
            pid: input.pid,
            step_desc: input.step_desc,
            params: input.params.into(),
            image: input.image.into(),
            guide_image: input.guide_image.map(Image::from),
            guide_info: input.guide_info,
        }
    }
}

/// An inspection algorithm.
///
/// The host creates the value once per instance with [`setup`](Algorithm::setup) and
/// then calls the phase methods; only [`info`](Algorithm::info),
/// [`setup`](Algorithm::setup) and [`execute`](Algorithm::execute) must be written,
/// the hooks default to doing nothing. State that belongs to one part (a count
/// carried from step 1 to step 2) goes in the [`session`](crate::session), not in
/// `self`: the host may run a part's steps on different instances.
pub trait Algorithm: Sized + 'static {
    /// Name, version, supported PIDs, steps and parameter schemas. Must not depend on state.
    fn info() -> AlgorithmInfo;

    /// Build the instance: load models and assets, precompute tables.
    fn setup() -> Result<Self>;

    /// Release resources before the instance is dropped.
    fn teardown(&mut self) {}

    /// Prepare a step (lighting or position checks, calibration); no verdict.
    fn pre_execute(&mut self, input: &StepInput) -> Result<PreExecuteOutput> {
        let _ = input;
        Ok(PreExecuteOutput::default())
    }

    /// Inspect a step and decide OK or NG.
    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput>;

    /// Forget per-part state kept in `self` (the session is reset by the host).
    fn reset(&mut self) -> Result<()> {
        Ok(())
    }

    /// A step is about to run.
    fn on_step_start(&mut self, step_index: u32, pid: &str) -> Result<()> {
        let _ = (step_index, pid);
        Ok(())
    }

    /// A step has finished with `outcome`.
    fn on_step_finish(&mut self, step_index: u32, pid: &str, outcome: StepOutcome) -> Result<()> {
        let _ = (step_index, pid, outcome);
        Ok(())
    }
}

thread_local! {
    // The instance built by `setup`. A component instance is single-threaded and
    // its exports are free functions, so the state lives here, type-erased because
    // a static cannot be generic over the author's type.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Adapter from [`Algorithm`] to the generated `Guest` trait; used by
/// [`export_algorithm!`](crate::export_algorithm).
#[doc(hidden)]
pub struct Export<A>(PhantomData<A>);

impl<A: Algorithm> Export<A> {
    fn with_instance<T>(f: impl FnOnce(&mut A) -> Result<T>) -> Result<T> {
        INSTANCE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let algorithm = slot
                .as_mut()
                .and_then(|any| any.downcast_mut::<A>())
                .ok_or_else(|| Error::unknown("the algorithm was called before setup"))?;
            f(algorithm)
        })
    }
}

impl<A: Algorithm> Guest for Export<A> {
    fn get_info() -> wit::AlgorithmInfo {
        A::info()
    }

    fn setup() -> Result<(), wit::AlgorithmError> {
        let algorithm = A::setup()?;
        INSTANCE.with(|cell| *cell.borrow_mut() = Some(Box::new(algorithm)));
        Ok(())
    }

    fn teardown() {
        if let Some(mut any) = INSTANCE.with(|cell| cell.borrow_mut().take())
            && let Some(algorithm) = any.downcast_mut::<A>()
        {
            algorithm.teardown();
        }
    }

    fn pre_execute(input: wit::StepInput) -> Result<wit::PreExecuteOutput, wit::AlgorithmError> {
        let input = StepInput::from(input);
        Ok(Self::with_instance(|a| a.pre_execute(&input))?.into())
    }

    fn execute(input: wit::StepInput) -> Result<wit::ExecuteOutput, wit::AlgorithmError> {
        let input = StepInput::from(input);
        Ok(Self::with_instance(|a| a.execute(&input))?.into())
    }

    fn reset() -> Result<(), wit::AlgorithmError> {
        Ok(Self::with_instance(|a| a.reset())?)
    }

    fn on_step_start(step_index: u32, pid: String) -> Result<(), wit::AlgorithmError> {
        Ok(Self::with_instance(|a| a.on_step_start(step_index, &pid))?)
    }

    fn on_step_finish(step_index: u32, pid: String, outcome: StepOutcome) -> Result<(), wit::AlgorithmError> {
        Ok(Self::with_instance(|a| a.on_step_finish(step_index, &pid, outcome))?)
    }
}
