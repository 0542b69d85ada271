//! One sandboxed instance of an algorithm and the calls into it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::Store;
use wasmtime::component::{Func, Lift};

use crate::bindings::InspectionAlgorithm;
use crate::bindings::exports::procvision::algorithm::algorithm::Guest;
use crate::compiled::Compiled;
use crate::error::{Error, InputCode, LimitCode, PackageCode, Result};
use crate::image::check_image;
use crate::ingress::{InPlace, LoweredInput, check_images};
use crate::params::{Patterns, check_params, params_from_json_with, with_defaults};
use crate::phase::Phase;
use crate::sandbox::{HostState, Limits, LogRecord, Refusal};
use crate::session::Session;
use crate::types::{AlgorithmError, AlgorithmInfo, ExecuteOutput, Param, PreExecuteOutput, StepInput, StepOutcome, StepSpec};

/// What one call consumed. Kept on failure too: a call stopped by a limit shows
/// how far it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// Wall-clock time of the call, input copy and output lift included.
    pub wall_time: Duration,
    /// Fuel the call burnt (about one unit per wasm instruction); `None` when the
    /// host meters no fuel.
    pub fuel_consumed: Option<u64>,
    /// Highest total linear memory of the instance during the call, in bytes.
    pub peak_memory_bytes: u64,
}

/// The result of one call into the guest, with what the guest logged and published
/// and what it consumed. Logs and diagnostics are kept on failure too: they often
/// say why.
#[derive(Debug)]
#[must_use]
pub struct CallReport<T> {
    /// The output, or why there is none.
    pub result: Result<T>,
    /// What the guest logged or printed, under the per-call quota.
    pub logs: Vec<LogRecord>,
    /// What the guest published through `diagnostics`.
    pub diagnostics: BTreeMap<String, Value>,
    /// Time, fuel and memory of the call.
    pub usage: ResourceUsage,
}

impl<T> CallReport<T> {
    /// The output, dropping logs and diagnostics.
    pub fn into_result(self) -> Result<T> {
        self.result
    }

    pub(crate) fn ok(value: T) -> Self {
        CallReport { result: Ok(value), logs: Vec::new(), diagnostics: BTreeMap::new(), usage: ResourceUsage::default() }
    }

    /// The report of a call refused before it reached the guest.
    pub fn refused(err: Error) -> Self {
        CallReport { result: Err(err), logs: Vec::new(), diagnostics: BTreeMap::new(), usage: ResourceUsage::default() }
    }
}

/// An algorithm instance in a store of its own: its own linear memory, tables and
/// WASI context, under the package's [`Limits`]. Created by
/// [`Package::instantiate`](crate::Package::instantiate).
///
/// Calls validate their input on the host side first (PID, step, image, params) and
/// refuse bad input without calling the guest. When the guest traps or hits a
/// limit, its store is dropped (wasmtime poisons it) and the call returns the
/// classified error; the next call starts a fresh store and re-runs `setup` first
/// if it had been run, so one bad frame does not take the station down.
pub struct Instance {
    compiled: Arc<Compiled>,
    limits: Limits,
    live: Option<Live>,
    info: AlgorithmInfo,
    /// The patterns `info` declares, compiled once per package.
    patterns: Arc<Patterns>,
    setup_requested: bool,
    restarts: u32,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("package", &self.compiled.origin())
            .field("algorithm", &format_args!("{} {}", self.info.name, self.info.version))
            .field("poisoned", &self.live.is_none())
            .field("restarts", &self.restarts)
            .finish_non_exhaustive()
    }
}

/// The parts of an instance that a trap destroys.
struct Live {
    store: Store<HostState>,
    bindings: InspectionAlgorithm,
    /// `pre-execute` and `execute` as plain functions, called with an input
    /// whose images may be filled in place ([`crate::ingress`]).
    pre_execute: Func,
    execute: Func,
}

/// The contract's exported interface, as the component names it.
const ALGORITHM_EXPORT: &str = "procvision:algorithm/algorithm@1.0.0";

/// A call into the guest: the generated export and the store to run it in.
/// The host's check of a call's output, run before its session writes are
/// committed: an output that breaks a rule commits nothing.
type OutputCheck<'a, T> = dyn Fn(&T) -> Result<()> + 'a;

/// The check of calls whose output needs none.
fn accept<T>(_: &T) -> Result<()> {
    Ok(())
}

type GuestCall<'a, T> = dyn FnOnce(&Guest, &mut Store<HostState>) -> wasmtime::Result<Result<T, AlgorithmError>> + 'a;

impl Instance {
    pub(crate) fn new(compiled: Arc<Compiled>, limits: Limits) -> Result<Instance> {
        let (live, info) = start(&compiled, &limits)?;
        let patterns = compiled.patterns_for(&info)?;
        Ok(Instance { compiled, limits, live: Some(live), info, patterns, setup_requested: false, restarts: 0 })
    }

    /// What the algorithm says about itself (from `get-info`, asked once at instantiation).
    pub fn info(&self) -> &AlgorithmInfo {
        &self.info
    }

    /// The limits the instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the last call trapped or hit a limit, so that the next call will
    /// start from a fresh store.
    pub fn is_poisoned(&self) -> bool {
        self.live.is_none()
    }

    /// How many times a fresh store replaced a poisoned one.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The schema of step `index`; error 1006 when the algorithm has no such step.
    pub fn step(&self, index: u32) -> Result<&StepSpec> {
        self.info.steps.iter().find(|s| s.index == index).ok_or_else(|| {
            let known: Vec<String> = self.info.steps.iter().map(|s| s.index.to_string()).collect();
            Error::input(InputCode::InvalidParams, format!("the algorithm has no step {index} (its steps: {})", known.join(", ")))
        })
    }

    /// [`params_from_json`](crate::params::params_from_json) for step `index`, with
    /// the patterns compiled when the package was loaded (no compiling per call).
    pub fn params_from_json(&self, index: u32, json: &serde_json::Map<String, Value>) -> Result<Vec<Param>> {
        params_from_json_with(self.step(index)?, json, Some(&self.patterns))
    }

    /// Check a product id; 1001 when it is empty or not supported.
    pub fn check_pid(&self, pid: &str) -> Result<()> {
        if pid.trim().is_empty() {
            return Err(Error::input(InputCode::InvalidPid, "the product id is empty"));
        }
        if !self.info.supported_pids.iter().any(|p| p == pid) {
            return Err(Error::input(
                InputCode::InvalidPid,
                format!("product id {pid:?} is not supported (supported: {})", self.info.supported_pids.join(", ")),
            ));
        }
        Ok(())
    }

    /// Run `setup`. A fresh store that replaces a poisoned one runs it again.
    pub fn setup(&mut self) -> CallReport<()> {
        self.setup_requested = true;
        self.call(None, Phase::Setup, &accept, Box::new(|alg, store| alg.call_setup(store)))
    }

    /// Run `pre-execute` for one step of the session's part. The output is
    /// checked against the host's [`OutputRules`](crate::sandbox::OutputRules).
    pub fn pre_execute(&mut self, session: &mut Session, input: &StepInput) -> CallReport<PreExecuteOutput> {
        self.pre_execute_input(session, input, false)
    }

    /// [`pre_execute`](Self::pre_execute) of an input the caller has put
    /// through [`check_input`](Self::check_input) already.
    pub(crate) fn pre_execute_input(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        input_checked: bool,
    ) -> CallReport<PreExecuteOutput> {
        if self.misses_defaults(input) {
            // Defaults go to the guest beside the caller's params; the frame
            // is lowered from where it is, never copied to add them.
            return self.pre_execute_in_place_input(session, input, InPlace::none(), input_checked);
        }
        let rules = self.compiled.output_rules().clone();
        let check = |out: &PreExecuteOutput| rules.check_pre_execute(out, &input.image.meta);
        self.call_step(session, input, input_checked, Phase::PreExecute, &check, |alg, store, input| {
            alg.call_pre_execute(store, input)
        })
    }

    /// Run `execute` for one step of the session's part. The output is checked
    /// against the host's [`OutputRules`](crate::sandbox::OutputRules).
    pub fn execute(&mut self, session: &mut Session, input: &StepInput) -> CallReport<ExecuteOutput> {
        self.execute_input(session, input, false)
    }

    /// [`execute`](Self::execute) of an input the caller has put through
    /// [`check_input`](Self::check_input) already.
    pub(crate) fn execute_input(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        input_checked: bool,
    ) -> CallReport<ExecuteOutput> {
        if self.misses_defaults(input) {
            return self.execute_in_place_input(session, input, InPlace::none(), input_checked);
        }
        let rules = self.compiled.output_rules().clone();
        let check = |out: &ExecuteOutput| rules.check_execute(out, &input.image.meta);
        self.call_step(session, input, input_checked, Phase::Execute, &check, |alg, store, input| alg.call_execute(store, input))
    }

    /// Whether the step declares defaults the input's params leave out.
    fn misses_defaults(&self, input: &StepInput) -> bool {
        self.step(input.step_index).is_ok_and(|step| {
            step.params.iter().any(|spec| spec.default.is_some() && !input.params.iter().any(|p| p.name == spec.name))
        })
    }

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

    /// Run `reset` for the session.
    pub fn reset(&mut self, session: &mut Session) -> CallReport<()> {
        self.call(Some(session), Phase::Reset, &accept, Box::new(|alg, store| alg.call_reset(store)))
    }

    /// Run `on-step-start`.
    pub fn on_step_start(&mut self, session: &mut Session, step_index: u32, pid: &str) -> CallReport<()> {
        self.call(
            Some(session),
            Phase::OnStepStart,
            &accept,
            Box::new(move |alg, store| alg.call_on_step_start(store, step_index, pid)),
        )
    }

    /// Run `on-step-finish`.
    pub fn on_step_finish(&mut self, session: &mut Session, step_index: u32, pid: &str, outcome: StepOutcome) -> CallReport<()> {
        self.call(
            Some(session),
            Phase::OnStepFinish,
            &accept,
            Box::new(move |alg, store| alg.call_on_step_finish(store, step_index, pid, outcome)),
        )
    }

    /// Run `teardown` and drop the instance. A poisoned instance has nothing to
    /// tear down.
    pub fn teardown(mut self) -> CallReport<()> {
        if self.live.is_none() {
            return CallReport {
                result: Ok(()),
                logs: Vec::new(),
                diagnostics: BTreeMap::new(),
                usage: ResourceUsage::default(),
            };
        }
        self.call(None, Phase::Teardown, &accept, Box::new(|alg, store| alg.call_teardown(store).map(Ok)))
    }

    /// Host-side validation of a step input; see [`Instance`].
    pub fn check_input(&self, input: &StepInput) -> Result<()> {
        self.check_pid(&input.pid)?;
        let step = self.step(input.step_index)?;
        check_image(&input.image)?;
        if let Some(guide) = &input.guide_image {
            check_image(guide)?;
        }
        check_params(step, &input.params, &self.patterns)
    }

    fn call_step<T>(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        input_checked: bool,
        phase: Phase,
        check: &OutputCheck<'_, T>,
        f: impl FnOnce(&Guest, &mut Store<HostState>, &StepInput) -> wasmtime::Result<Result<T, AlgorithmError>>,
    ) -> CallReport<T> {
        if !input_checked && let Err(err) = self.check_input(input) {
            return CallReport::refused(err);
        }
        self.call(Some(session), phase, check, Box::new(|alg, store| f(alg, store, input)))
    }

    /// Replace a poisoned store with a fresh one, set up again if it had been.
    fn restart(&mut self) -> Result<()> {
        let (live, info) = start(&self.compiled, &self.limits)?;
        if info != self.info {
            tracing::warn!(package = self.compiled.origin(), "the restarted instance describes itself differently");
        }
        self.live = Some(live);
        self.restarts += 1;
        tracing::info!(package = self.compiled.origin(), restarts = self.restarts, "restarted a poisoned instance");
        if self.setup_requested {
            let report = self.run(None, Phase::Setup, &accept, Box::new(|alg, store| alg.call_setup(store)));
            if report.result.is_err() {
                // A store whose setup failed is not an instance: the next call must
                // start again (and run setup again), never call in without setup.
                self.live = None;
            }
            report.result.map_err(|err| match err {
                Error::Algorithm { code, message } => {
                    Error::Algorithm { code, message: format!("setup of the restarted instance failed: {message}") }
                }
                other => other,
            })?;
        }
        Ok(())
    }

    fn call<T>(
        &mut self,
        session: Option<&mut Session>,
        phase: Phase,
        check: &OutputCheck<'_, T>,
        f: Box<GuestCall<'_, T>>,
    ) -> CallReport<T> {
        if self.live.is_none()
            && let Err(err) = self.restart()
        {
            return CallReport::refused(err);
        }
        self.run(session, phase, check, f)
    }

    fn run<T>(
        &mut self,
        session: Option<&mut Session>,
        phase: Phase,
        check: &OutputCheck<'_, T>,
        f: Box<GuestCall<'_, T>>,
    ) -> CallReport<T> {
        let limits = self.limits.clone();
        let tick = self.compiled.epoch_tick();
        let Some(live) = self.live.as_mut() else {
            return CallReport::refused(Error::host("the instance has no store"));
        };
        let state = live.store.data_mut();
        state.session = session.as_deref().cloned().unwrap_or_default();
        state.diagnostics.take();
        state.guard.start_call();
        if let Err(err) = arm(&mut live.store, &limits, phase, tick) {
            return CallReport::refused(err);
        }
        let started = Instant::now();
        let outcome = f(live.bindings.procvision_algorithm_algorithm(), &mut live.store);
        let wall_time = started.elapsed();
        let fuel_consumed = limits.fuel_per_call().map(|fuel| fuel.saturating_sub(live.store.get_fuel().unwrap_or(0)));
        let state = live.store.data_mut();
        let usage = ResourceUsage { wall_time, fuel_consumed, peak_memory_bytes: state.guard.memory_peak };
        let refused = state.guard.refused;
        let logs = state.logs.take();
        let diagnostics = state.diagnostics.take();
        let result = match outcome {
            // Writes of a successful call with a valid output are committed; any
            // other outcome leaves the caller's session untouched.
            Ok(Ok(output)) => check(&output).map(|()| {
                if let Some(session) = session {
                    *session = std::mem::take(&mut state.session);
                }
                output
            }),
            Ok(Err(algorithm_error)) => Err(Error::from(algorithm_error)),
            Err(err) => {
                // wasmtime poisons a store after a trap: drop it now, the next call
                // starts a fresh one.
                self.live = None;
                let err = classify_failure(err, phase.name(), phase, refused, &limits, self.compiled.origin());
                crate::audit::guest_failure(self.compiled.origin(), phase.name(), &err);
                Err(err)
            }
        };
        tracing::debug!(
            phase = phase.name(),
            wall_ms = wall_time.as_secs_f64() * 1e3,
            fuel = fuel_consumed,
            peak_memory = usage.peak_memory_bytes,
            ok = result.is_ok(),
            "guest call"
        );
        CallReport { result, logs, diagnostics, usage }
    }
}

/// A fresh store for `package`: instantiate (start functions run under the hook
/// deadline) and ask for `get-info`.
fn start(package: &Compiled, limits: &Limits) -> Result<(Live, AlgorithmInfo)> {
    let mut store = Store::new(package.engine(), HostState::new(package.assets(), limits));
    store.limiter(|state| &mut state.guard);
    store.set_hostcall_fuel(limits.output_bytes_per_call());
    arm(&mut store, limits, Phase::Info, package.epoch_tick())?;
    let instantiated = package
        .pre()
        .instance_pre()
        .instantiate(&mut store)
        .and_then(|instance| Ok((InspectionAlgorithm::new(&mut store, &instance)?, instance)));
    let (bindings, instance) = match instantiated {
        Ok(instantiated) => instantiated,
        Err(err) if err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
            // Every slot of the host's instance pool is taken: a capacity
            // refusal, worth retrying once an instance is dropped.
            return Err(Error::Busy {
                message: format!(
                    "cannot instantiate {}: {err}; drop an instance or size the pool with HostBuilder::pooled_instances",
                    package.origin()
                ),
            });
        }
        Err(err) => {
            let refused = store.data().guard.refused;
            let classified = classify_failure(err, "instantiation", Phase::Info, refused, limits, package.origin());
            return Err(match classified {
                Error::Trap { message, source } => Error::Package {
                    code: PackageCode::ContractMismatch,
                    message: format!("cannot instantiate: {message}"),
                    source,
                },
                other => other,
            });
        }
    };
    let export = |store: &mut Store<HostState>, name: &str| {
        let interface = instance.get_export_index(&mut *store, None, ALGORITHM_EXPORT);
        let index = instance.get_export_index(&mut *store, interface.as_ref(), name);
        index.and_then(|index| instance.get_func(&mut *store, index)).ok_or_else(|| {
            Error::package(PackageCode::ContractMismatch, format!("the component exports no `{name}` in {ALGORITHM_EXPORT}"))
        })
    };
    let (pre_execute, execute) = (export(&mut store, "pre-execute")?, export(&mut store, "execute")?);
    arm(&mut store, limits, Phase::Info, package.epoch_tick())?;
    let info = bindings.procvision_algorithm_algorithm().call_get_info(&mut store).map_err(|err| {
        let refused = store.data().guard.refused;
        classify_failure(err, "get-info", Phase::Info, refused, limits, package.origin())
    })?;
    // get-info may log; those records belong to no call.
    let _ = store.data().logs.take();
    Ok((Live { store, bindings, pre_execute, execute }, info))
}

/// Refill the fuel and set the deadline for one call in `phase`. The epoch
/// deadline counts ticks from now; one tick more than the deadline's length makes
/// sure the guest gets at least the whole deadline, and at most one tick more.
fn arm(store: &mut Store<HostState>, limits: &Limits, phase: Phase, tick: Duration) -> Result<()> {
    if let Some(fuel) = limits.fuel_per_call() {
        store.set_fuel(fuel).map_err(|err| Error::host(format!("cannot set fuel: {err}")))?;
    }
    if let Some(deadline) = limits.deadline(phase) {
        store.set_epoch_deadline(deadline_ticks(deadline, tick));
        store.epoch_deadline_trap();
    }
    Ok(())
}

/// Ticks of `tick` that cover `deadline`, plus one for the partial tick in progress.
pub(crate) fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick_nanos = tick.as_nanos().max(1);
    let whole = deadline.as_nanos().div_ceil(tick_nanos);
    u64::try_from(whole).unwrap_or(u64::MAX - 1).saturating_add(1)
}

/// The text of wasmtime's (private) error for a transfer over the hostcall fuel,
/// that is over [`Limits::output_bytes_per_call`]. Pinned by the hostile-guest
/// tests, which fail if an upgrade rewords it.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Turn a wasmtime error from a guest call into a library error: a limit the guest
/// hit (fuel, deadline, memory, output size) or a crash. The full chain goes to the
/// host log; the message returned names the failure and the limit only, nothing of
/// the host's internals.
fn classify_failure(
    err: wasmtime::Error,
    name: &str,
    phase: Phase,
    refused: Option<Refusal>,
    limits: &Limits,
    origin: &str,
) -> Error {
    tracing::warn!(package = origin, phase = name, error = format!("{err:?}"), "guest call failed");
    let limit = |code, message: String| Error::Limit { code, message: format!("{message} during {name}") };
    let trap = err.downcast_ref::<wasmtime::Trap>().copied();
    match trap {
        Some(wasmtime::Trap::OutOfFuel) => {
            let fuel = limits.fuel_per_call().unwrap_or_default();
            return limit(LimitCode::Timeout, format!("fuel exhausted ({fuel} units)"));
        }
        Some(wasmtime::Trap::Interrupt) => {
            let deadline = limits.deadline(phase).unwrap_or_default();
            return limit(LimitCode::Timeout, format!("deadline of {} exceeded", human_duration(deadline)));
        }
        _ => {}
    }
    // A refused growth followed by a failure is the guest running out of the
    // memory it was granted, whatever way it then died (most abort).
    match refused {
        Some(Refusal::Memory { wanted_total }) => {
            return limit(
                LimitCode::OutOfMemory,
                format!(
                    "memory cap of {} reached (it asked for {})",
                    human_bytes(limits.memory_bytes()),
                    human_bytes(wanted_total)
                ),
            );
        }
        Some(Refusal::Table { wanted_total }) => {
            return limit(
                LimitCode::OutOfMemory,
                format!("table cap of {} elements reached (it asked for {wanted_total})", limits.table_elements()),
            );
        }
        None => {}
    }
    if err.chain().any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED)) {
        return limit(
            LimitCode::OutputTooLarge,
            format!("output over the cap of {} per transfer", human_bytes(limits.output_bytes_per_call() as u64)),
        );
    }
    let message = match (trap, err.downcast_ref::<wasmtime_wasi::I32Exit>()) {
        (Some(trap), _) => describe_trap(trap).to_owned(),
        (None, Some(exit)) => format!("the algorithm called exit({})", exit.0),
        // Lifting and lowering failures: pointers or lengths outside the guest's
        // memory, strings that are not UTF-8, bad discriminants.
        (None, None) => "the algorithm broke the component calling convention (bad pointer, length, string or value)".to_owned(),
    };
    Error::Trap { message: format!("{message} during {name}"), source: Some(Arc::from(err.into_boxed_dyn_error())) }
}

/// `1.5 s`, `250 ms`.
fn human_duration(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{} s", duration.as_secs_f64())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// `256 MiB`, `1.5 KiB`, `17 bytes`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 { format!("{value:.0} {unit}") } else { format!("{value:.1} {unit}") };
        }
    }
    format!("{bytes} bytes")
}

fn describe_trap(trap: wasmtime::Trap) -> &'static str {
    use wasmtime::Trap;
    match trap {
        Trap::UnreachableCodeReached => "unreachable code reached (a panic in the algorithm)",
        Trap::StackOverflow => "stack overflow",
        Trap::MemoryOutOfBounds => "out-of-bounds memory access",
        Trap::HeapMisaligned => "misaligned memory access",
        Trap::TableOutOfBounds => "out-of-bounds table access",
        Trap::IndirectCallToNull => "call through a null function reference",
        Trap::BadSignature => "call through a function reference of the wrong type",
        Trap::IntegerOverflow => "integer overflow",
        Trap::IntegerDivisionByZero => "integer division by zero",
        Trap::BadConversionToInteger => "invalid float to integer conversion",
        Trap::OutOfFuel => "fuel exhausted",
        Trap::Interrupt => "deadline exceeded",
        Trap::CannotEnterComponent => "re-entered the component",
        _ => "trap",
    }
}
