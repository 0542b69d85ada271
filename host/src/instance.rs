//! One sandboxed instance of an algorithm and the calls into it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::{Engine, Store};

use crate::bindings::{InspectionAlgorithm, InspectionAlgorithmPre};
use crate::error::{Error, ErrorCode, Result};
use crate::guest_log::LogRecord;
use crate::image::check_image;
use crate::params::check_value;
use crate::session::Session;
use crate::state::{Assets, HostState};
use crate::types::{AlgorithmInfo, ExecuteOutput, Param, PreExecuteOutput, StepInput, StepOutcome, StepSpec};

/// The result of one call into the guest, with what the guest logged and published
/// during it. Logs and diagnostics are kept on failure too: they often say why.
#[derive(Debug)]
#[must_use]
pub struct CallReport<T> {
    /// The output, or why there is none.
    pub result: Result<T>,
    /// What the guest logged or printed, under the per-call quota.
    pub logs: Vec<LogRecord>,
    /// What the guest published through `diagnostics`.
    pub diagnostics: BTreeMap<String, Value>,
    /// Wall-clock time of the call.
    pub elapsed: Duration,
}

impl<T> CallReport<T> {
    /// The output, dropping logs and diagnostics.
    pub fn into_result(self) -> Result<T> {
        self.result
    }

    fn refused(err: Error) -> Self {
        CallReport { result: Err(err), logs: Vec::new(), diagnostics: BTreeMap::new(), elapsed: Duration::ZERO }
    }
}

/// An algorithm instance in a store of its own: its own linear memory, tables and
/// WASI context. Created by [`Package::instantiate`](crate::Package::instantiate).
///
/// Calls validate their input on the host side first (PID, step, image, params) and
/// refuse bad input without calling the guest. When the guest traps, the instance
/// is poisoned: every later call fails, and the caller should make a new one.
pub struct Instance {
    store: Store<HostState>,
    bindings: InspectionAlgorithm,
    info: AlgorithmInfo,
    poisoned: bool,
}

impl Instance {
    pub(crate) fn new(
        engine: &Engine,
        pre: &InspectionAlgorithmPre<HostState>,
        assets: Assets,
        log_cap: usize,
    ) -> Result<Instance> {
        let mut store = Store::new(engine, HostState::new(assets, log_cap));
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|err| classify_trap(err, "instantiation"))
            .map_err(|err| Error::package(ErrorCode::ContractMismatch, format!("cannot instantiate: {err}")))?;
        let info = bindings
            .procvision_algorithm_algorithm()
            .call_get_info(&mut store)
            .map_err(|err| classify_trap(err, "get-info"))?;
        // get-info may log; those records belong to no call.
        let _ = store.data().logs.take();
        Ok(Instance { store, bindings, info, poisoned: false })
    }

    /// What the algorithm says about itself (from `get-info`, asked once at instantiation).
    pub fn info(&self) -> &AlgorithmInfo {
        &self.info
    }

    /// Whether a trap has made this instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The schema of step `index`; error 1006 when the algorithm has no such step.
    pub fn step(&self, index: u32) -> Result<&StepSpec> {
        self.info.steps.iter().find(|s| s.index == index).ok_or_else(|| {
            let known: Vec<String> = self.info.steps.iter().map(|s| s.index.to_string()).collect();
            Error::input(
                ErrorCode::InvalidParams,
                format!("the algorithm has no step {index} (its steps: {})", known.join(", ")),
            )
        })
    }

    /// Check a product id; 1001 when it is empty or not supported.
    pub fn check_pid(&self, pid: &str) -> Result<()> {
        if pid.trim().is_empty() {
            return Err(Error::input(ErrorCode::InvalidPid, "the product id is empty"));
        }
        if !self.info.supported_pids.iter().any(|p| p == pid) {
            return Err(Error::input(
                ErrorCode::InvalidPid,
                format!("product id {pid:?} is not supported (supported: {})", self.info.supported_pids.join(", ")),
            ));
        }
        Ok(())
    }

    /// Run `setup`.
    pub fn setup(&mut self) -> CallReport<()> {
        self.call(None, "setup", |alg, store| alg.call_setup(store))
    }

    /// Run `pre-execute` for one step of the session's part.
    pub fn pre_execute(&mut self, session: &mut Session, input: &StepInput) -> CallReport<PreExecuteOutput> {
        self.call_step(session, input, "pre-execute", |alg, store, input| alg.call_pre_execute(store, input))
    }

    /// Run `execute` for one step of the session's part.
    pub fn execute(&mut self, session: &mut Session, input: &StepInput) -> CallReport<ExecuteOutput> {
        self.call_step(session, input, "execute", |alg, store, input| alg.call_execute(store, input))
    }

    /// Run `reset` for the session.
    pub fn reset(&mut self, session: &mut Session) -> CallReport<()> {
        self.call(Some(session), "reset", |alg, store| alg.call_reset(store))
    }

    /// Run `on-step-start`.
    pub fn on_step_start(&mut self, session: &mut Session, step_index: u32, pid: &str) -> CallReport<()> {
        self.call(Some(session), "on-step-start", |alg, store| alg.call_on_step_start(store, step_index, pid))
    }

    /// Run `on-step-finish`.
    pub fn on_step_finish(
        &mut self,
        session: &mut Session,
        step_index: u32,
        pid: &str,
        outcome: StepOutcome,
    ) -> CallReport<()> {
        self.call(Some(session), "on-step-finish", |alg, store| {
            alg.call_on_step_finish(store, step_index, pid, outcome)
        })
    }

    /// Run `teardown` and drop the instance.
    pub fn teardown(mut self) -> CallReport<()> {
        self.call(None, "teardown", |alg, store| alg.call_teardown(store).map(Ok))
    }

    /// Host-side validation of a step input; see [`Instance`].
    pub fn check_input(&self, input: &StepInput) -> Result<()> {
        self.check_pid(&input.pid)?;
        let step = self.step(input.step_index)?;
        check_image(&input.image)?;
        if let Some(guide) = &input.guide_image {
            check_image(guide)?;
        }
        check_params(step, &input.params)
    }

    fn call_step<T>(
        &mut self,
        session: &mut Session,
        input: &StepInput,
        phase: &'static str,
        f: impl FnOnce(
            &crate::bindings::exports::procvision::algorithm::algorithm::Guest,
            &mut Store<HostState>,
            &StepInput,
        ) -> wasmtime::Result<Result<T, crate::types::AlgorithmError>>,
    ) -> CallReport<T> {
        if let Err(err) = self.check_input(input) {
            return CallReport::refused(err);
        }
        let missing_defaults = self.step(input.step_index).map(|step| with_defaults(step, &input.params));
        match missing_defaults {
            Ok(Some(params)) => {
                let input = StepInput { params, ..input.clone() };
                self.call(Some(session), phase, |alg, store| f(alg, store, &input))
            }
            _ => self.call(Some(session), phase, |alg, store| f(alg, store, input)),
        }
    }

    fn call<T>(
        &mut self,
        session: Option<&mut Session>,
        phase: &'static str,
        f: impl FnOnce(
            &crate::bindings::exports::procvision::algorithm::algorithm::Guest,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<T, crate::types::AlgorithmError>>,
    ) -> CallReport<T> {
        if self.poisoned {
            return CallReport::refused(Error::host(
                "this instance trapped in an earlier call and cannot be used; create a new one",
            ));
        }
        let state = self.store.data_mut();
        state.session = session.as_deref().cloned().unwrap_or_default();
        state.diagnostics.clear();
        let started = Instant::now();
        let outcome = f(self.bindings.procvision_algorithm_algorithm(), &mut self.store);
        let elapsed = started.elapsed();
        let state = self.store.data_mut();
        let logs = state.logs.take();
        let diagnostics = std::mem::take(&mut state.diagnostics);
        let result = match outcome {
            Ok(Ok(output)) => {
                // Writes of a successful call are committed; any other outcome
                // leaves the caller's session untouched.
                if let Some(session) = session {
                    *session = std::mem::take(&mut state.session);
                }
                Ok(output)
            }
            Ok(Err(algorithm_error)) => Err(Error::from(algorithm_error)),
            Err(err) => {
                self.poisoned = true;
                Err(classify_trap(err, phase))
            }
        };
        tracing::debug!(phase, elapsed_ms = elapsed.as_secs_f64() * 1e3, ok = result.is_ok(), "guest call");
        CallReport { result, logs, diagnostics, elapsed }
    }
}

/// Check typed params against the step's schema: declared names, kinds and rules,
/// required ones present.
fn check_params(step: &StepSpec, params: &[Param]) -> Result<()> {
    for param in params {
        let spec = step.params.iter().find(|s| s.name == param.name).ok_or_else(|| {
            Error::input(ErrorCode::InvalidParams, format!("step {} has no param `{}`", step.index, param.name))
        })?;
        check_value(spec, &param.value)?;
    }
    if let Some(missing) =
        step.params.iter().find(|s| s.required && s.default.is_none() && !params.iter().any(|p| p.name == s.name))
    {
        return Err(Error::input(ErrorCode::InvalidParams, format!("param `{}` is required", missing.name)));
    }
    Ok(())
}

/// The params with defaults added for absent ones, or `None` when nothing is missing.
fn with_defaults(step: &StepSpec, params: &[Param]) -> Option<Vec<Param>> {
    let missing: Vec<Param> = step
        .params
        .iter()
        .filter(|spec| !params.iter().any(|p| p.name == spec.name))
        .filter_map(|spec| spec.default.clone().map(|value| Param { name: spec.name.clone(), value }))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(params.iter().cloned().chain(missing).collect())
}

/// Turn a wasmtime error from a guest call into a library error. The full chain
/// goes to the host log; the message returned names the kind of failure only.
fn classify_trap(err: wasmtime::Error, phase: &str) -> Error {
    tracing::warn!(phase, error = format!("{err:?}"), "guest call failed");
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => Error::Trap { message: format!("{} during {phase}", describe_trap(*trap)) },
        None => Error::Trap { message: format!("the guest failed during {phase}") },
    }
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
