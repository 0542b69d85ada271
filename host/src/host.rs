//! The [`Host`] and its [`HostBuilder`]: the front door of the library. A host
//! owns the engine every package shares ([`sandbox::engine`](crate::sandbox)),
//! compiles components (through the compile cache when it has one) and admits
//! signed packages ([`Admission`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Component;

use crate::admission::Admission;
use crate::compile_cache::CompileCache;
use crate::error::{Error, PackageCode, Result};
use crate::package::{Package, Provenance};
use crate::package_file::{Manifest, PackageFile, read_package_file};
use crate::sandbox::engine::{DEFAULT_EPOCH_TICK, EngineSettings, Runtime, default_pooled_instances};
use crate::sandbox::{Assets, ComponentNeeds, ImportPolicy, Limits, OutputRules, Raise};
use crate::trust::Signer;

/// Builder for a [`Host`]; every setting has a documented default.
///
/// ```
/// use std::time::Duration;
/// use pv_host::{Host, Limits, Phase};
///
/// # fn demo() -> pv_host::Result<()> {
/// let host = Host::builder()
///     .limits(Limits::default().with_deadline(Phase::Execute, Duration::from_secs(5)))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HostBuilder {
    limits: Limits,
    import_policy: ImportPolicy,
    epoch_tick: Duration,
    output_rules: OutputRules,
    pooled_instances: Option<u32>,
    pooled_by_default: bool,
    compile_cache: Option<CompileCache>,
    telemetry: Option<crate::telemetry::Telemetry>,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            limits: Limits::default(),
            import_policy: ImportPolicy::default(),
            epoch_tick: DEFAULT_EPOCH_TICK,
            output_rules: OutputRules::default(),
            pooled_instances: Some(default_pooled_instances()),
            pooled_by_default: true,
            compile_cache: None,
            telemetry: None,
        }
    }
}

impl HostBuilder {
    /// The host's limits policy: what every instance gets unless its package asks
    /// for less. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The rules every `pre-execute` and `execute` output is checked against.
    /// Default: [`OutputRules::default`].
    pub fn output_rules(mut self, rules: OutputRules) -> Self {
        self.output_rules = rules;
        self
    }

    /// Which interfaces a component may import; checked on load, before
    /// compilation. Default: [`ImportPolicy::default`].
    pub fn import_policy(mut self, policy: ImportPolicy) -> Self {
        self.import_policy = policy;
        self
    }

    /// Period of the epoch ticker thread that enforces deadlines. Shorter is more
    /// precise and costs more wake-ups. Default: [`DEFAULT_EPOCH_TICK`] (10 ms).
    pub fn epoch_tick(mut self, period: Duration) -> Self {
        self.epoch_tick = period.max(Duration::from_millis(1));
        self
    }

    /// Use wasmtime's pooling allocator, with room for `instances` live
    /// instances at once across every package of the host (`None`: allocate
    /// each instance's memories and tables on demand). Pool slots are reserved
    /// up front and recycled, which makes a fresh instance cost microseconds;
    /// the first [`DEFAULT_RESIDENT_MEMORY_BYTES`](crate::sandbox::DEFAULT_RESIDENT_MEMORY_BYTES) of a slot's memory stay
    /// resident between instances. Each slot is sized by the
    /// [`limits`](Self::limits) (memory cap, counts, table elements), so set
    /// those first. Instantiating past `instances` is refused as busy (error
    /// 3001) until an instance is dropped.
    ///
    /// Default: pooled, [`default_pooled_instances`]. The slots reserve address
    /// space (several GiB each, never touched unless used); where the system
    /// refuses the reservation (a low `ulimit -v`), the default falls back to
    /// on-demand allocation with a warning, while a pool asked for here is an
    /// error.
    pub fn pooled_instances(mut self, instances: Option<u32>) -> Self {
        self.pooled_instances = instances;
        self.pooled_by_default = false;
        self
    }

    /// Keep compiled components in an authenticated on-disk cache (see
    /// [`CompileCache`]), so a package compiles once per machine. Default: none
    /// (the CLI uses [`CompileCache::default_dir`] unless `--no-cache`).
    pub fn compile_cache(mut self, cache: Option<CompileCache>) -> Self {
        self.compile_cache = cache;
        self
    }

    /// Count this host's calls and loads in `telemetry` (default: a registry
    /// of its own, [`Host::telemetry`]): hosts that share one report together.
    pub fn telemetry(mut self, telemetry: crate::telemetry::Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Create the engine, the linker with WASI and the host imports, and (when
    /// deadlines are on) the epoch ticker thread.
    pub fn build(self) -> Result<Host> {
        let engine = EngineSettings {
            limits: &self.limits,
            epoch_tick: self.epoch_tick,
            pooled_instances: self.pooled_instances,
            pooled_by_default: self.pooled_by_default,
        };
        let telemetry = self.telemetry.clone().unwrap_or_default();
        let runtime = Arc::new(Runtime::new(&engine, self.output_rules.clone(), telemetry)?);
        Ok(Host { inner: Arc::new(HostInner { runtime, settings: self }) })
    }
}

/// The host: compiles algorithm components and instantiates them in sandboxed
/// stores. Cheap to clone; clones share the engine.
///
/// ```no_run
/// # fn demo() -> pv_host::Result<()> {
/// let host = pv_host::Host::new()?;
/// let package = host.load_component_file("part_counter.wasm".as_ref())?;
/// let mut instance = package.instantiate()?;
/// println!("{} {}", instance.info().name, instance.info().version);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    runtime: Arc<Runtime>,
    settings: HostBuilder,
}

impl Host {
    /// A builder to configure the host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// A host with default settings.
    pub fn new() -> Result<Host> {
        HostBuilder::default().build()
    }

    /// The limits policy of this host.
    pub fn limits(&self) -> &Limits {
        &self.inner.settings.limits
    }

    /// The host's metrics: calls, loads, station switches (see
    /// [`telemetry`](crate::telemetry)).
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.inner.runtime.telemetry
    }

    /// The output rules of this host.
    pub fn output_rules(&self) -> &OutputRules {
        &self.inner.settings.output_rules
    }

    /// The import policy of this host.
    pub fn import_policy(&self) -> &ImportPolicy {
        &self.inner.settings.import_policy
    }

    /// The epoch ticker's period.
    pub fn epoch_tick(&self) -> Duration {
        self.inner.settings.epoch_tick
    }

    /// Read and compile a bare component file (an unpackaged `.wasm` built for
    /// `wasm32-wasip2`). Error 2101 when the file cannot be read, 2102 when it is
    /// not a valid component, 2104 when it imports what the policy refuses, 2116
    /// when it needs more core instances, memories, tables or table elements than
    /// the host's limits allow, 2103 when it does not fit the contract.
    ///
    /// No signature is checked: for trusted code and tests. Packages from
    /// vendors go through [`load_package_file`](Self::load_package_file).
    pub fn load_component_file(&self, path: &Path) -> Result<Package> {
        let bytes = read_package_file(path)?;
        self.load_component(&bytes, &path.display().to_string())
    }

    /// Compile a bare component from bytes; `origin` names it in messages.
    pub fn load_component(&self, bytes: &[u8], origin: &str) -> Result<Package> {
        self.compile(bytes, origin, Assets::default(), None, Vec::new())
    }

    pub(crate) fn compile(
        &self,
        bytes: &[u8],
        origin: &str,
        assets: Assets,
        manifest: Option<Manifest>,
        signers: Vec<Signer>,
    ) -> Result<Package> {
        let started = std::time::Instant::now();
        let cached = self.inner.settings.compile_cache.is_some();
        let loaded = self.compile_untimed(bytes, origin, assets, manifest, signers);
        let from_cache = loaded.as_ref().ok().map(Package::compiled_from_cache);
        self.telemetry().record_load(started.elapsed(), loaded.is_ok(), from_cache.filter(|_| cached));
        loaded
    }

    fn compile_untimed(
        &self,
        bytes: &[u8],
        origin: &str,
        assets: Assets,
        manifest: Option<Manifest>,
        signers: Vec<Signer>,
    ) -> Result<Package> {
        let malformed = |message: String| Error::package(PackageCode::Malformed, message);
        if !bytes.starts_with(b"\0asm") {
            return Err(malformed(format!("{origin} is not a WebAssembly file")));
        }
        if !wasmparser::Parser::is_component(bytes) {
            return Err(malformed(format!(
                "{origin} is a core WebAssembly module, not a component: build the algorithm for wasm32-wasip2"
            )));
        }
        // The policy reads the imports from the bytes: a refused component is never
        // handed to the compiler.
        self.import_policy().check(bytes, origin)?;
        // So are the counts: a component over the host's caps would fail only
        // after compiling (seconds for a CPython one), and with a message that
        // names neither the limit nor how to raise it.
        let needs =
            ComponentNeeds::of_component(bytes).map_err(|err| malformed(format!("{origin} is not a valid component: {err}")))?;
        needs.check(self.limits(), origin, Raise::Host)?;
        let engine = &self.inner.runtime.engine;
        let cache = self.inner.settings.compile_cache.as_ref().map(|cache| (cache, cache.entry_path(engine, bytes)));
        let cached = cache.as_ref().and_then(|(cache, entry)| cache.load(engine, entry));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component = Component::from_binary(engine, bytes).map_err(|err| {
                    Error::package_caused(PackageCode::Malformed, format!("{origin} is not a valid component"), err)
                })?;
                if let Some((cache, entry)) = &cache {
                    cache.store(entry, &component);
                }
                component
            }
        };
        let provenance = Provenance { manifest, signers, from_cache };
        Package::new(Arc::clone(&self.inner.runtime), component, origin, assets, provenance, needs)
    }
}

impl Host {
    /// Read a package file once and admit it (see [`Admission`] for
    /// the checks and their codes).
    pub fn load_package_file(&self, path: &Path, admission: &Admission<'_>) -> Result<Package> {
        let bytes = read_package_file(path)?;
        self.load_package(&bytes, &path.display().to_string(), admission)
    }

    /// Admit a package from bytes; `origin` names it in messages.
    pub fn load_package(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>) -> Result<Package> {
        self.admit(bytes, origin, admission, true)
    }

    /// Every check of [`load_package`](Self::load_package), compilation and
    /// the `get-info` comparison included, without recording the version as
    /// admitted: for `pv-host verify` and QA.
    pub fn check_package(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>) -> Result<Package> {
        self.admit(bytes, origin, admission, false)
    }

    /// Compile a parsed package's component with the assets it carries, whether
    /// or not they match its manifest (the harness judges an unadmitted package
    /// too: a model-reading algorithm cannot even set up without them).
    pub(crate) fn compile_with_assets(
        &self,
        file: &PackageFile<'_>,
        origin: &str,
        manifest: Option<Manifest>,
        signers: Vec<Signer>,
    ) -> Result<Package> {
        let assets: Assets =
            Arc::new(file.assets().iter().map(|(name, data)| (name.clone(), Arc::<[u8]>::from(*data))).collect());
        self.compile(file.component(), origin, assets, manifest, signers)
    }

    fn admit(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>, record: bool) -> Result<Package> {
        let admitted = self.admit_checked(bytes, origin, admission, record);
        match &admitted {
            Ok(package) => {
                let signers: Vec<String> = package.signers().iter().map(|s| format!("{} ({})", s.name, s.key_id)).collect();
                let (name, version) =
                    package.manifest().map_or((String::new(), String::new()), |m| (m.name.clone(), m.version.to_string()));
                let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
                crate::audit::package_admitted(origin, &name, &version, &signers, &sha256);
            }
            Err(err) => crate::audit::package_refused(origin, err),
        }
        admitted
    }

    fn admit_checked(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>, record: bool) -> Result<Package> {
        let file = PackageFile::parse(bytes)?;
        let verified = admission.check(&file, origin)?;
        let Some(manifest) = verified.manifest.clone() else {
            // A bare component: only ever admitted as unsigned.
            return self.compile(file.component(), origin, Assets::default(), None, Vec::new());
        };
        let package = self
            .compile_with_assets(&file, origin, Some(manifest.clone()), verified.signers.clone())?
            .request_limits(&manifest.limits.to_limits());
        package.check_info(&manifest)?;
        if record {
            admission.record_admitted(&verified, &manifest)?;
        }
        Ok(package)
    }
}
