//! A component compiled and linked against a host: what every instance of a
//! package shares (the pre-instantiated component, its assets, the patterns of
//! its parameters, what it needs), below both [`Package`](crate::Package) and
//! [`Instance`](crate::Instance).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::bindings::InspectionAlgorithmPre;
use crate::error::{Error, PackageCode, Result};
use crate::params::Patterns;
use crate::sandbox::engine::Runtime;
use crate::sandbox::{Assets, ComponentNeeds, HostState, Limits, OutputRules};
use crate::types::AlgorithmInfo;

pub(crate) struct Compiled {
    runtime: Arc<Runtime>,
    pre: InspectionAlgorithmPre<HostState>,
    origin: String,
    assets: Assets,
    /// The parameter patterns of the algorithm, compiled when its first
    /// instance read `get-info`.
    patterns: Mutex<Option<Arc<Patterns>>>,
    needs: ComponentNeeds,
}

impl Compiled {
    /// Resolve the component's imports against the host's linker, once: every
    /// instance then starts from the result. 2103 when it does not fit the
    /// contract.
    pub(crate) fn link(
        runtime: Arc<Runtime>,
        component: &Component,
        origin: &str,
        assets: Assets,
        needs: ComponentNeeds,
    ) -> Result<Compiled> {
        let contract = |err: wasmtime::Error| {
            Error::package_caused(
                PackageCode::ContractMismatch,
                format!("{origin} does not implement procvision:algorithm@1.0.0"),
                err,
            )
        };
        let instance_pre = runtime.linker.instantiate_pre(component).map_err(contract)?;
        let pre = InspectionAlgorithmPre::new(instance_pre).map_err(contract)?;
        Ok(Compiled { runtime, pre, origin: origin.to_owned(), assets, patterns: Mutex::new(None), needs })
    }

    /// Where the package came from (its path), for messages.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The host's limits: the most a package of it is granted.
    pub(crate) fn host_limits(&self) -> &Limits {
        &self.runtime.limits
    }

    pub(crate) fn needs(&self) -> ComponentNeeds {
        self.needs
    }

    pub(crate) fn asset_names(&self) -> impl Iterator<Item = &str> {
        self.assets.keys().map(String::as_str)
    }

    /// The compiled patterns of `info`: compiled once per package, again only
    /// for an instance that declares patterns the first did not. Error 2115 when
    /// one is invalid or over the caps.
    pub(crate) fn patterns_for(&self, info: &AlgorithmInfo) -> Result<Arc<Patterns>> {
        let mut cached = crate::locks::lock(&self.patterns);
        if let Some(patterns) = cached.as_ref().filter(|patterns| patterns.covers(info)) {
            return Ok(Arc::clone(patterns));
        }
        let patterns = Arc::new(Patterns::compile(info).map_err(|err| err.in_package(self.origin()))?);
        *cached = Some(Arc::clone(&patterns));
        Ok(patterns)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.runtime.engine
    }

    pub(crate) fn pre(&self) -> &InspectionAlgorithmPre<HostState> {
        &self.pre
    }

    pub(crate) fn assets(&self) -> Assets {
        Arc::clone(&self.assets)
    }

    pub(crate) fn output_rules(&self) -> &OutputRules {
        &self.runtime.output_rules
    }

    /// Where this package's calls are counted.
    pub(crate) fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.runtime.telemetry
    }

    pub(crate) fn epoch_tick(&self) -> Duration {
        self.runtime.epoch_tick
    }
}
