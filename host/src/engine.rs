//! The [`Host`]: one wasmtime engine, its linker and its epoch ticker, shared by
//! every package it loads.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::admission::{Provenance, read_package_file};
use crate::bindings::InspectionAlgorithm;
use crate::compile_cache::CompileCache;
use crate::error::{Error, ErrorCode, Result};
use crate::limits::{ComponentNeeds, Limits, Raise};
use crate::package::Package;
use crate::package_file::Manifest;
use crate::policy::ImportPolicy;
use crate::state::{Assets, HostState};
use crate::trust::Signer;
use crate::validate::OutputRules;

/// Default period of the epoch ticker: deadlines are enforced to within about two
/// ticks, and ticking costs nothing measurable at this rate.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Fewest live instances the default pool has room for, across every package
/// of a host: far more than a station runs at once (a runner keeps
/// [`RunnerConfig::with_instances`](crate::RunnerConfig::with_instances), by default one
/// per CPU, per package). See [`default_pooled_instances`].
pub const DEFAULT_POOLED_INSTANCES: u32 = 64;

/// Live instances the default pool has room for: [`DEFAULT_POOLED_INSTANCES`],
/// or twice the CPUs on a machine with more than 32 of them, so default
/// runners of two packages always fit. A slot reserves address space; memory
/// is committed only as its instance touches it, and a slot that has held an
/// instance keeps up to [`DEFAULT_RESIDENT_MEMORY_BYTES`] of it.
pub fn default_pooled_instances() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    DEFAULT_POOLED_INSTANCES.max(u32::try_from(cpus.saturating_mul(2)).unwrap_or(u32::MAX))
}

/// Bytes of each pooled linear memory kept resident when its instance is
/// dropped (reset with `memset` rather than handed back to the kernel): a Rust
/// guest's heap plus a 1920x1200 RGB frame, so a recycled slot takes its next
/// image without page faults.
pub const DEFAULT_RESIDENT_MEMORY_BYTES: usize = 16 << 20;

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
    /// the first [`DEFAULT_RESIDENT_MEMORY_BYTES`] of a slot's memory stay
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

    /// Create the engine, the linker with WASI and the host imports, and (when
    /// deadlines are on) the epoch ticker thread.
    pub fn build(self) -> Result<Host> {
        let engine = self.engine()?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|err| Error::host(format!("cannot link WASI: {err:#}")))?;
        InspectionAlgorithm::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|err| Error::host(format!("cannot link the host imports: {err:#}")))?;
        let ticker = match self.limits.has_deadlines() {
            true => Some(EpochTicker::start(engine.clone(), self.epoch_tick)?),
            false => None,
        };
        Ok(Host { inner: Arc::new(HostInner { engine, linker, settings: self, _ticker: ticker }) })
    }
}

impl HostBuilder {
    /// The engine for these settings: pooled when asked, falling back to
    /// on-demand allocation when the default pool cannot be reserved.
    fn engine(&self) -> Result<Engine> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // The contract is synchronous: the component model's concurrency
        // machinery would only add set-up work to every store.
        config.concurrency_support(false);
        config.consume_fuel(self.limits.fuel_per_call().is_some());
        config.epoch_interruption(self.limits.has_deadlines());
        config.max_wasm_stack(self.limits.wasm_stack_bytes());
        let on_demand =
            |config: &Config| Engine::new(config).map_err(|err| Error::host(format!("cannot create the engine: {err:#}")));
        let Some(instances) = self.pooled_instances else { return on_demand(&config) };
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(self.pooling_config(instances)));
        match Engine::new(&config) {
            Ok(engine) => Ok(engine),
            Err(err) if self.pooled_by_default => {
                tracing::warn!("cannot reserve the instance pool ({err:#}); allocating instances on demand instead");
                on_demand(config.allocation_strategy(InstanceAllocationStrategy::OnDemand))
            }
            Err(err) => Err(Error::host(format!("cannot reserve a pool of {instances} instances: {err:#}"))),
        }
    }

    /// Pool slots sized by the limits: every instance the limits allow fits.
    fn pooling_config(&self, instances: u32) -> PoolingAllocationConfig {
        let (core_instances, memories, tables) = self.limits.counts();
        let per = |count: usize| u32::try_from(count).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .max_core_instances_per_component(per(core_instances))
            .max_memories_per_component(per(memories))
            .max_tables_per_component(per(tables))
            .total_core_instances(instances.saturating_mul(per(core_instances)))
            .total_memories(instances.saturating_mul(per(memories)))
            .total_tables(instances.saturating_mul(per(tables)))
            .max_memory_size(usize::try_from(self.limits.memory_bytes()).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(self.limits.table_elements()).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(DEFAULT_RESIDENT_MEMORY_BYTES)
            // Where the kernel can tell which pages a guest dirtied (Linux 6.7+),
            // only those are reset.
            .pagemap_scan(Enabled::Auto);
        pool
    }
}

/// The thread that advances the engine's epoch once per tick. It stops when the
/// host is dropped (the channel's sender goes with it).
struct EpochTicker {
    _stop: Sender<()>,
}

impl EpochTicker {
    fn start(engine: Engine, period: Duration) -> Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("pv-host-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    engine.increment_epoch();
                }
            })
            .map_err(|err| Error::host(format!("cannot start the epoch ticker thread: {err}")))?;
        Ok(EpochTicker { _stop: stop })
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
    engine: Engine,
    linker: Linker<HostState>,
    settings: HostBuilder,
    _ticker: Option<EpochTicker>,
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
        let malformed = |message: String| Error::package(ErrorCode::PackageMalformed, message);
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
        let engine = &self.inner.engine;
        let cache = self.inner.settings.compile_cache.as_ref().map(|cache| (cache, cache.entry_path(engine, bytes)));
        let cached = cache.as_ref().and_then(|(cache, entry)| cache.load(engine, entry));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component = Component::from_binary(engine, bytes)
                    .map_err(|err| malformed(format!("{origin} is not a valid component: {err:#}")))?;
                if let Some((cache, entry)) = &cache {
                    cache.store(entry, &component);
                }
                component
            }
        };
        Package::new(self.clone(), component, origin, assets, Provenance { manifest, signers, from_cache }, needs)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }
}
