//! A compiled algorithm, ready to be instantiated.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::admission::Provenance;
use crate::bindings::InspectionAlgorithmPre;
use crate::engine::Host;
use crate::error::{Error, ErrorCode, Result};
use crate::instance::Instance;
use crate::limits::{ComponentNeeds, Limits, Raise};
use crate::package_file::Manifest;
use crate::params::Patterns;
use crate::state::{Assets, HostState};
use crate::trust::Signer;

/// A compiled, linked algorithm with the limits its instances run under.
/// Instantiating it is cheap (the imports are resolved once, here); each
/// [`Instance`] is an isolated sandbox of its own. Cheap to clone.
#[derive(Clone)]
pub struct Package {
    compiled: Arc<Compiled>,
    limits: Limits,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("origin", &self.compiled.origin)
            .field("manifest", &self.compiled.provenance.manifest)
            .field("signers", &self.compiled.provenance.signers)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

struct Compiled {
    host: Host,
    pre: InspectionAlgorithmPre<HostState>,
    origin: String,
    assets: Assets,
    provenance: Provenance,
    /// The parameter patterns of the algorithm, compiled when its first
    /// instance read `get-info`.
    patterns: Mutex<Option<Arc<Patterns>>>,
    needs: ComponentNeeds,
}

impl Package {
    pub(crate) fn new(
        host: Host,
        component: Component,
        origin: &str,
        assets: Assets,
        provenance: Provenance,
        needs: ComponentNeeds,
    ) -> Result<Package> {
        let contract = |err: wasmtime::Error| {
            Error::package(
                ErrorCode::ContractMismatch,
                format!("{origin} does not implement procvision:algorithm@1.0.0: {err:#}"),
            )
        };
        let instance_pre = host.linker().instantiate_pre(&component).map_err(contract)?;
        let pre = InspectionAlgorithmPre::new(instance_pre).map_err(contract)?;
        let limits = host.limits().clone();
        let patterns = Mutex::new(None);
        let compiled = Compiled { host, pre, origin: origin.to_owned(), assets, provenance, patterns, needs };
        Ok(Package { compiled: Arc::new(compiled), limits })
    }

    /// Where the package came from (its path), for messages.
    pub fn origin(&self) -> &str {
        &self.compiled.origin
    }

    /// The manifest of a package admitted with
    /// [`Host::load_package_file`](crate::Host::load_package_file); `None` for a
    /// bare component.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.compiled.provenance.manifest.as_ref()
    }

    /// The trusted keys whose signatures were verified on admission; empty for
    /// a package admitted unsigned.
    pub fn signers(&self) -> &[Signer] {
        &self.compiled.provenance.signers
    }

    /// Whether the compiled code came from the compile cache rather than the
    /// compiler.
    pub fn compiled_from_cache(&self) -> bool {
        self.compiled.provenance.from_cache
    }

    /// Names of the assets shipped in the package.
    pub fn asset_names(&self) -> impl Iterator<Item = &str> {
        self.compiled.assets.keys().map(String::as_str)
    }

    /// The limits its instances run under: the host's policy unless
    /// [`request_limits`](Self::request_limits) asked for less.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The same package with the limits `requested` (for example by its
    /// manifest), capped by the host's policy: a package can ask for less than
    /// the policy, never for more. See [`Limits::capped_by`].
    pub fn request_limits(&self, requested: &Limits) -> Package {
        Package { compiled: Arc::clone(&self.compiled), limits: requested.capped_by(self.compiled.host.limits()) }
    }

    /// Create a fresh instance in a store of its own and ask it for its
    /// [`info`](Instance::info). `setup` is not called yet. Error 2116 when the
    /// component needs more than the package's [`limits`](Self::limits) grant
    /// (its manifest can ask for more, up to the host's caps).
    pub fn instantiate(&self) -> Result<Instance> {
        self.compiled.needs.check(&self.limits, self.origin(), Raise::Manifest { host_max: self.compiled.host.limits() })?;
        Instance::new(self.clone())
    }

    /// The compiled patterns of `info`: compiled once per package, again only
    /// for an instance that declares patterns the first did not. Error 2115 when
    /// one is invalid or over the caps.
    pub(crate) fn patterns_for(&self, info: &crate::types::AlgorithmInfo) -> Result<Arc<Patterns>> {
        let mut cached = self.compiled.patterns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(patterns) = cached.as_ref().filter(|patterns| patterns.covers(info)) {
            return Ok(Arc::clone(patterns));
        }
        let patterns = Arc::new(Patterns::compile(info).map_err(|err| match err {
            Error::Package { code, message } => Error::Package { code, message: format!("{}: {message}", self.origin()) },
            other => other,
        })?);
        *cached = Some(Arc::clone(&patterns));
        Ok(patterns)
    }

    /// What the component needs before it runs: core instances, memories,
    /// tables and their initial sizes, read from its bytes.
    pub fn needs(&self) -> ComponentNeeds {
        self.compiled.needs
    }

    pub(crate) fn engine(&self) -> &Engine {
        self.compiled.host.engine()
    }

    pub(crate) fn pre(&self) -> &InspectionAlgorithmPre<HostState> {
        &self.compiled.pre
    }

    pub(crate) fn assets(&self) -> Assets {
        Arc::clone(&self.compiled.assets)
    }

    pub(crate) fn output_rules(&self) -> &crate::validate::OutputRules {
        self.compiled.host.output_rules()
    }

    pub(crate) fn epoch_tick(&self) -> Duration {
        self.compiled.host.epoch_tick()
    }
}
