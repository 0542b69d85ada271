//! The wasmtime engine under every sandbox: its configuration (fuel, epoch
//! interruption, the wasm stack, an instance pool sized by the limits), the
//! linker of WASI and the host imports, and the epoch ticker thread that
//! enforces deadlines. A [`Runtime`] is what every package and instance of one
//! [`Host`](crate::Host) shares.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::host_state::HostState;
use super::limits::Limits;
use super::output_rules::OutputRules;
use crate::bindings::InspectionAlgorithm;
use crate::error::{Error, Result};

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

/// How a host's engine is made; [`HostBuilder`](crate::HostBuilder) documents
/// each setting and its default.
pub(crate) struct EngineSettings<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) epoch_tick: Duration,
    /// Live instances the pool has room for; `None` allocates on demand.
    pub(crate) pooled_instances: Option<u32>,
    /// Whether the pool is the default one, which falls back to on-demand
    /// allocation where it cannot be reserved (a pool asked for is an error).
    pub(crate) pooled_by_default: bool,
}

/// What every package and instance of a host shares: the engine, the linker,
/// the host's policy (limits, output rules) and the epoch ticker.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) limits: Limits,
    pub(crate) output_rules: OutputRules,
    pub(crate) epoch_tick: Duration,
    /// Where calls and loads are counted.
    pub(crate) telemetry: crate::telemetry::Telemetry,
    _ticker: Option<EpochTicker>,
}

impl Runtime {
    /// Create the engine, the linker with WASI and the host imports, and (when
    /// deadlines are on) the epoch ticker thread.
    pub(crate) fn new(
        settings: &EngineSettings<'_>,
        output_rules: OutputRules,
        telemetry: crate::telemetry::Telemetry,
    ) -> Result<Runtime> {
        let engine = settings.engine()?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|err| Error::host_caused("cannot link WASI", err))?;
        InspectionAlgorithm::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|err| Error::host_caused("cannot link the host imports", err))?;
        let ticker = match settings.limits.has_deadlines() {
            true => Some(EpochTicker::start(engine.clone(), settings.epoch_tick)?),
            false => None,
        };
        Ok(Runtime {
            engine,
            linker,
            limits: settings.limits.clone(),
            output_rules,
            epoch_tick: settings.epoch_tick,
            telemetry,
            _ticker: ticker,
        })
    }
}

impl EngineSettings<'_> {
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
        let on_demand = |config: &Config| Engine::new(config).map_err(|err| Error::host_caused("cannot create the engine", err));
        let Some(instances) = self.pooled_instances else { return on_demand(&config) };
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(self.pooling_config(instances)));
        match Engine::new(&config) {
            Ok(engine) => Ok(engine),
            Err(err) if self.pooled_by_default => {
                tracing::warn!("cannot reserve the instance pool ({err:#}); allocating instances on demand instead");
                on_demand(config.allocation_strategy(InstanceAllocationStrategy::OnDemand))
            }
            Err(err) => Err(Error::host_caused(format!("cannot reserve a pool of {instances} instances"), err)),
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
