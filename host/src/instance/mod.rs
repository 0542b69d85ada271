//! One sandboxed instance of an algorithm and the calls into it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use wasmtime::Store;

use crate::bindings::exports::procvision::algorithm::algorithm::Guest;
use crate::compiled::Compiled;
use crate::error::{Error, InputCode, LimitCode, Result};
use crate::ingress::{Filled, InPlace, check_images};
use crate::params::{Patterns, check_guide_info, check_params, params_from_json_with};
use crate::phase::Phase;
use crate::sandbox::{HostState, Limits};
use crate::session::Session;
use crate::types::{AlgorithmError, AlgorithmInfo, ExecuteOutput, Param, PreExecuteOutput, StepInput, StepOutcome, StepSpec};

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

/// A call into the guest: the generated export and the store to run it in.
/// The host's check of a call's output, run before its session writes are
/// committed: an output that breaks a rule commits nothing.
type OutputCheck<'a, T> = dyn Fn(&T) -> Result<()> + 'a;

/// The check of calls whose output needs none.
fn accept<T>(_: &T) -> Result<()> {
    Ok(())
}

/// A step input checked by [`Instance::checked`] for the images it says are
/// filled in place: the only input a step call takes, so no call runs on an
/// unchecked one and none is checked twice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedInput<'a> {
    input: &'a StepInput,
    filled: Filled,
}

type GuestCall<'a, T> = dyn FnOnce(&Guest, &mut Store<HostState>) -> wasmtime::Result<Result<T, AlgorithmError>> + 'a;

mod failure;
mod in_place;
mod report;
mod store;

use self::failure::classify_failure;
pub use self::report::{CallReport, ResourceUsage};
use self::store::{Live, arm, start};

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
        self.pre_execute_with(session, input, InPlace::none())
    }

    /// Run `execute` for one step of the session's part. The output is checked
    /// against the host's [`OutputRules`](crate::sandbox::OutputRules).
    pub fn execute(&mut self, session: &mut Session, input: &StepInput) -> CallReport<ExecuteOutput> {
        self.execute_with(session, input, InPlace::none())
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
        self.checked(input, Filled::default()).map(|_| ())
    }

    /// Check `input` for a call whose images `filled` says are filled in
    /// place: the product id, the step, the images, the guide info and the
    /// params. What passes is a [`CheckedInput`], which the calls take.
    pub(crate) fn checked<'a>(&self, input: &'a StepInput, filled: Filled) -> Result<CheckedInput<'a>> {
        self.check_pid(&input.pid)?;
        let step = self.step(input.step_index)?;
        check_images(input, filled)?;
        check_frames_fit(input, self.limits.memory_bytes())?;
        check_guide_info(&input.guide_info)?;
        check_params(step, &input.params, &self.patterns)?;
        Ok(CheckedInput { input, filled })
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
                if err.kind() != crate::error::ErrorKind::InvalidInput {
                    crate::audit::guest_failure(self.compiled.origin(), phase.name(), &err);
                }
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

/// Refuse, before the guest runs, frames that cannot fit its memory cap: their
/// pixels are copied into the guest's memory, so frames over the cap could only
/// end in a trap mid-call (and a restart, with setup again). 1004, as a guest
/// out of memory is; the instance stays as it was.
fn check_frames_fit(input: &StepInput, memory_cap: u64) -> Result<()> {
    let len = |image: &crate::types::Image| crate::image::expected_len(&image.meta) as u64;
    let frames = len(&input.image) + input.guide_image.as_ref().map_or(0, len);
    if frames > memory_cap {
        return Err(Error::Limit {
            code: LimitCode::OutOfMemory,
            message: format!(
                "the frame{} take{} {} MiB, over the package's memory cap of {} MiB: raise `limits.memory_mb` in its manifest, \
                 or send smaller frames",
                if input.guide_image.is_some() { " and guide image" } else { "" },
                if input.guide_image.is_some() { "" } else { "s" },
                frames.div_ceil(1 << 20),
                memory_cap >> 20
            ),
        });
    }
    Ok(())
}
