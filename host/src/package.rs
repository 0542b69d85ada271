//! A compiled algorithm with the limits its instances run under, and who
//! vouches for it.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::Component;

use crate::compiled::Compiled;
use crate::error::{Error, PackageCode, Result};
use crate::instance::Instance;
use crate::package_file::Manifest;
use crate::params::params_from_json_with;
use crate::sandbox::engine::Runtime;
use crate::sandbox::{Assets, ComponentNeeds, Limits, Raise};
use crate::trust::Signer;
use crate::types::{AlgorithmInfo, Param, StepSpec};

/// A compiled, linked algorithm with the limits its instances run under.
/// Instantiating it is cheap (the imports are resolved once, here); each
/// [`Instance`] is an isolated sandbox of its own. Cheap to clone.
#[derive(Clone)]
pub struct Package {
    compiled: Arc<Compiled>,
    provenance: Arc<Provenance>,
    limits: Limits,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("origin", &self.compiled.origin())
            .field("manifest", &self.provenance.manifest)
            .field("signers", &self.provenance.signers)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Who vouches for a package: its manifest and trusted signers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    pub(crate) manifest: Option<Manifest>,
    pub(crate) signers: Vec<Signer>,
    /// Whether the compiled code came from the compile cache.
    pub(crate) from_cache: bool,
}

impl Package {
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        component: Component,
        origin: &str,
        assets: Assets,
        provenance: Provenance,
        needs: ComponentNeeds,
    ) -> Result<Package> {
        let limits = runtime.limits.clone();
        let compiled = Compiled::link(runtime, &component, origin, assets, needs)?;
        Ok(Package { compiled: Arc::new(compiled), provenance: Arc::new(provenance), limits })
    }

    /// The metrics of the host that loaded it.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        self.compiled.telemetry()
    }

    /// Where the package came from (its path), for messages.
    pub fn origin(&self) -> &str {
        self.compiled.origin()
    }

    /// The manifest of a package admitted with
    /// [`Host::load_package_file`](crate::Host::load_package_file); `None` for a
    /// bare component.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.provenance.manifest.as_ref()
    }

    /// The trusted keys whose signatures were verified on admission; empty for
    /// a package admitted unsigned.
    pub fn signers(&self) -> &[Signer] {
        &self.provenance.signers
    }

    /// Whether the compiled code came from the compile cache rather than the
    /// compiler.
    pub fn compiled_from_cache(&self) -> bool {
        self.provenance.from_cache
    }

    /// Names of the assets shipped in the package.
    pub fn asset_names(&self) -> impl Iterator<Item = &str> {
        self.compiled.asset_names()
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
        Package {
            compiled: Arc::clone(&self.compiled),
            provenance: Arc::clone(&self.provenance),
            limits: requested.capped_by(self.compiled.host_limits()),
        }
    }

    /// Create a fresh instance in a store of its own and ask it for its
    /// [`info`](Instance::info). `setup` is not called yet. Error 2116 when the
    /// component needs more than the package's [`limits`](Self::limits) grant
    /// (its manifest can ask for more, up to the host's caps).
    pub fn instantiate(&self) -> Result<Instance> {
        let host_max = self.compiled.host_limits();
        self.compiled.needs().check(&self.limits, self.origin(), Raise::Manifest { host_max })?;
        Instance::new(Arc::clone(&self.compiled), self.limits.clone())
    }

    /// `json` as the typed params of `step`, a step of `info` (this package's
    /// `get-info`), checked with the patterns compiled once for the package:
    /// what [`Instance::params_from_json`] does, for a caller that holds no
    /// instance (a runner's caller, `serve`). Errors are 1006.
    pub fn params_from_json(
        &self,
        info: &AlgorithmInfo,
        step: &StepSpec,
        json: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<Param>> {
        let patterns = self.compiled.patterns_for(info)?;
        params_from_json_with(step, json, Some(&patterns))
    }

    /// What the component needs before it runs: core instances, memories,
    /// tables and their initial sizes, read from its bytes.
    pub fn needs(&self) -> ComponentNeeds {
        self.compiled.needs()
    }

    /// The manifest must describe the component it ships with (2111).
    pub(crate) fn check_info(&self, manifest: &Manifest) -> Result<()> {
        let origin = self.origin();
        let instance = self.instantiate()?;
        let info = instance.info();
        let disagree = |what: &str, manifest_says: String, component_says: String| {
            Error::package(
                PackageCode::ManifestMismatch,
                format!(
                    "{origin}: the manifest and the component disagree on the {what}: the manifest says {manifest_says}, get-info says {component_says}; fix the manifest and pack again"
                ),
            )
        };
        if info.name != manifest.name {
            return Err(disagree("name", format!("`{}`", manifest.name), format!("`{}`", info.name)));
        }
        if semver::Version::parse(&info.version).ok().as_ref() != Some(&manifest.version) {
            return Err(disagree("version", format!("`{}`", manifest.version), format!("`{}`", info.version)));
        }
        let listed: BTreeSet<&String> = manifest.pids.iter().collect();
        let supported: BTreeSet<&String> = info.supported_pids.iter().collect();
        if listed != supported {
            return Err(disagree("product ids", format!("{listed:?}"), format!("{supported:?}")));
        }
        Ok(())
    }
}
