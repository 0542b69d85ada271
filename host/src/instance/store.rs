//! A fresh store for a package: instantiated under the hook deadline, asked
//! for `get-info`, and armed (fuel, deadline) before each call.

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::Func;

use super::failure::classify_failure;
use crate::bindings::InspectionAlgorithm;
use crate::compiled::Compiled;
use crate::error::{Error, PackageCode, Result};
use crate::phase::Phase;
use crate::sandbox::{HostState, Limits};
use crate::types::AlgorithmInfo;

/// The parts of an instance that a trap destroys.
pub(super) struct Live {
    pub(super) store: Store<HostState>,
    pub(super) bindings: InspectionAlgorithm,
    /// `pre-execute` and `execute` as plain functions, called with an input
    /// whose images may be filled in place ([`crate::ingress`]).
    pub(super) pre_execute: Func,
    pub(super) execute: Func,
}

/// The contract's exported interface, as the component names it.
const ALGORITHM_EXPORT: &str = "procvision:algorithm/algorithm@1.0.0";

/// A fresh store for `package`: instantiate (start functions run under the hook
/// deadline) and ask for `get-info`.
pub(super) fn start(package: &Compiled, limits: &Limits) -> Result<(Live, AlgorithmInfo)> {
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
pub(super) fn arm(store: &mut Store<HostState>, limits: &Limits, phase: Phase, tick: Duration) -> Result<()> {
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
fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick_nanos = tick.as_nanos().max(1);
    let whole = deadline.as_nanos().div_ceil(tick_nanos);
    u64::try_from(whole).unwrap_or(u64::MAX - 1).saturating_add(1)
}
