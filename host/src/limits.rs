//! Resource limits: what one guest call may consume, and the store limiter that
//! enforces the memory and table caps. The defaults are documented on [`Limits`].

use std::fmt;
use std::time::Duration;

use crate::guest_log::{DEFAULT_LOG_BYTES_PER_CALL, DEFAULT_LOG_RECORDS_PER_CALL};

/// Default fuel per call: about 50 billion wasm instructions, more than any
/// inspection needs within the 30 s execute deadline on current hardware, so the
/// wall-clock deadline is normally the one that bites; fuel makes the bound
/// independent of the machine's speed.
pub const DEFAULT_FUEL_PER_CALL: u64 = 50_000_000_000;

/// Default cap on the guest's linear memory, summed over all its memories: 256 MiB,
/// room for a dozen copies of a 1920x1200 RGB frame.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// Default cap on table elements, summed over all tables. A Rust algorithm needs a
/// few hundred (one per function called through a pointer); a CPython component
/// built by componentize-py 0.25 about 5 800 (5 680 for the interpreter and its
/// libraries, the rest for the component's glue), so the cap leaves it more
/// than three times that.
pub const DEFAULT_TABLE_ELEMENTS: u64 = 20_000;

/// Default cap on the core instances a component creates. A Rust algorithm
/// makes a handful; a componentize-py 0.25 component 14, or 38 when built with
/// `--stub-wasi` (one small module per stubbed interface). A core instance costs
/// nothing up front, even pooled.
pub const DEFAULT_CORE_INSTANCES: usize = 128;

/// Default cap on the linear memories a component defines (CPython: one).
pub const DEFAULT_MEMORIES: usize = 4;

/// Default cap on the tables a component defines (CPython: two).
pub const DEFAULT_TABLES: usize = 16;

/// Default cap on the native stack used by wasm frames: wasmtime's own default.
/// It must stay below the stack of the thread that calls into the guest.
pub const DEFAULT_WASM_STACK_BYTES: usize = 512 * 1024;

/// Default cap on the bytes the host lifts from the guest in one call (the output
/// of an export, or the arguments of one import call): 16 MiB.
pub const DEFAULT_OUTPUT_BYTES_PER_CALL: usize = 16 * 1024 * 1024;

/// Default cap on what the guest publishes through `diagnostics` in one call
/// (keys and JSON text): 1 MiB. Entries past it are dropped and one marker entry
/// says how many.
pub const DEFAULT_DIAGNOSTICS_BYTES_PER_CALL: usize = 1024 * 1024;

/// Default cap on the entries the guest publishes through `diagnostics` in one
/// call (every accepted publish counts, a replaced key too): 1024.
pub const DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL: usize = 1024;

/// Default cap on a session's key-value store (keys and values together, see
/// [`Session::stored_bytes`](crate::Session::stored_bytes)): 100 KiB, plenty for
/// counters and small measurements carried between steps.
pub const DEFAULT_SESSION_BYTES: usize = 100 * 1024;

/// A lifecycle phase with a deadline of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `setup`. Default deadline 60 s.
    Setup,
    /// `pre-execute`. Default deadline 10 s.
    PreExecute,
    /// `execute`. Default deadline 30 s.
    Execute,
    /// Everything else: instantiation (start functions), `get-info`, `reset`,
    /// `on-step-start`, `on-step-finish`, `teardown`. Default deadline 5 s.
    Hook,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 4] = [Phase::Setup, Phase::PreExecute, Phase::Execute, Phase::Hook];

    fn index(self) -> usize {
        match self {
            Phase::Setup => 0,
            Phase::PreExecute => 1,
            Phase::Execute => 2,
            Phase::Hook => 3,
        }
    }

    /// The platform's default deadline for the phase.
    pub fn default_deadline(self) -> Duration {
        match self {
            Phase::Setup => Duration::from_secs(60),
            Phase::PreExecute => Duration::from_secs(10),
            Phase::Execute => Duration::from_secs(30),
            Phase::Hook => Duration::from_secs(5),
        }
    }
}

impl Phase {
    /// The phase's name, as messages and logs write it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::PreExecute => "pre-execute",
            Phase::Execute => "execute",
            Phase::Hook => "hook",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a guest may consume. Build with [`Limits::default`] and the `with_*`
/// methods; each method documents its default (see also the table below).
///
/// ```
/// use std::time::Duration;
/// use pv_host::{Limits, Phase};
///
/// let limits = Limits::default()
///     .with_memory_bytes(64 << 20)
///     .with_deadline(Phase::Execute, Duration::from_secs(2));
/// assert_eq!(limits.deadline(Phase::Execute), Some(Duration::from_secs(2)));
/// assert_eq!(limits.deadline(Phase::Setup), Some(Duration::from_secs(60)));
/// ```
///
///
/// A [`Limits`] value is the host's policy ([`HostBuilder::limits`]); a package may
/// ask for its own ([`Package::request_limits`]) and is granted at most the policy
/// ([`Limits::capped_by`]). Every default below is also listed in the README.
///
/// | limit | default | enforced by |
/// |-------|---------|-------------|
/// | fuel per call | [`DEFAULT_FUEL_PER_CALL`] (50 × 10⁹ units ≈ instructions) | wasmtime fuel, reset before each call |
/// | setup deadline | 60 s | epoch interruption |
/// | pre-execute deadline | 10 s | epoch interruption |
/// | execute deadline | 30 s | epoch interruption |
/// | hook deadline (instantiation, `get-info`, `reset`, step hooks, `teardown`) | 5 s | epoch interruption |
/// | linear memory, all memories of the store together | [`DEFAULT_MEMORY_BYTES`] (256 MiB) | the store limiter |
/// | table elements, all tables together | [`DEFAULT_TABLE_ELEMENTS`] (20 000) | the store limiter |
/// | core instances / memories / tables | [`DEFAULT_CORE_INSTANCES`] / [`DEFAULT_MEMORIES`] / [`DEFAULT_TABLES`] (128 / 4 / 16) | checked on the component's bytes at load (error 2116), then the store limiter |
/// | wasm stack | [`DEFAULT_WASM_STACK_BYTES`] (512 KiB) | wasmtime |
/// | guest log bytes per call (text plus 64 bytes a record, 48 a field) | [`DEFAULT_LOG_BYTES_PER_CALL`] (64 KiB) | the log sink, with a marker record |
/// | guest log records per call | [`DEFAULT_LOG_RECORDS_PER_CALL`] (1024) | the log sink, with a marker record |
/// | output bytes per call | [`DEFAULT_OUTPUT_BYTES_PER_CALL`] (16 MiB) | wasmtime's hostcall fuel |
/// | diagnostics bytes per call (keys, values, 64 bytes an entry) | [`DEFAULT_DIAGNOSTICS_BYTES_PER_CALL`] (1 MiB) | the `diagnostics` import, with a marker entry |
/// | diagnostics entries per call | [`DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL`] (1024) | the `diagnostics` import, with a marker entry |
/// | session store bytes | [`DEFAULT_SESSION_BYTES`] (100 KiB) | the `session` import: `set` fails past it |
///
/// [`HostBuilder::limits`]: crate::HostBuilder::limits
/// [`Package::request_limits`]: crate::Package::request_limits
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    fuel_per_call: Option<u64>,
    deadlines: Option<[Duration; 4]>,
    memory_bytes: u64,
    table_elements: u64,
    instances: usize,
    memories: usize,
    tables: usize,
    wasm_stack_bytes: usize,
    log_bytes_per_call: usize,
    log_records_per_call: usize,
    output_bytes_per_call: usize,
    diagnostics_bytes_per_call: usize,
    diagnostics_entries_per_call: usize,
    session_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_call: Some(DEFAULT_FUEL_PER_CALL),
            deadlines: Some(Phase::ALL.map(Phase::default_deadline)),
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            instances: DEFAULT_CORE_INSTANCES,
            memories: DEFAULT_MEMORIES,
            tables: DEFAULT_TABLES,
            wasm_stack_bytes: DEFAULT_WASM_STACK_BYTES,
            log_bytes_per_call: DEFAULT_LOG_BYTES_PER_CALL,
            log_records_per_call: DEFAULT_LOG_RECORDS_PER_CALL,
            output_bytes_per_call: DEFAULT_OUTPUT_BYTES_PER_CALL,
            diagnostics_bytes_per_call: DEFAULT_DIAGNOSTICS_BYTES_PER_CALL,
            diagnostics_entries_per_call: DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL,
            session_bytes: DEFAULT_SESSION_BYTES,
        }
    }
}

impl Limits {
    /// Fuel per call (about one unit per wasm instruction); `None` turns fuel
    /// metering off for the whole host (a little faster, but a guest is then bounded
    /// by its deadline only). Exhaustion is error 1005. Default:
    /// [`DEFAULT_FUEL_PER_CALL`].
    pub fn with_fuel_per_call(mut self, fuel: Option<u64>) -> Self {
        self.fuel_per_call = fuel;
        self
    }

    /// Wall-clock deadline of `phase`, enforced with epoch interruption; going past
    /// it is error 1005. Default: [`Phase::default_deadline`]. Has no effect after
    /// [`without_deadlines`](Self::without_deadlines).
    pub fn with_deadline(mut self, phase: Phase, deadline: Duration) -> Self {
        if let Some(deadlines) = &mut self.deadlines {
            deadlines[phase.index()] = deadline;
        }
        self
    }

    /// The same deadline for every phase.
    pub fn with_all_deadlines(mut self, deadline: Duration) -> Self {
        if let Some(deadlines) = &mut self.deadlines {
            *deadlines = [deadline; 4];
        }
        self
    }

    /// Turn wall-clock deadlines off for the whole host: no epoch ticker thread and
    /// no epoch checks in compiled code. For benchmarks and trusted code only: a
    /// guest that loops then runs until its fuel is gone, or forever without fuel.
    pub fn without_deadlines(mut self) -> Self {
        self.deadlines = None;
        self
    }

    /// Cap on the guest's linear memory, summed over all memories of its store
    /// (wasmtime's own limits apply per memory; this one is the total). A
    /// `memory.grow` past it fails, as on a machine out of memory; a guest that
    /// then traps gets error 1004. Default: [`DEFAULT_MEMORY_BYTES`] (256 MiB).
    pub fn with_memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Cap on table elements, summed over all tables. Default:
    /// [`DEFAULT_TABLE_ELEMENTS`] (20 000).
    pub fn with_table_elements(mut self, elements: u64) -> Self {
        self.table_elements = elements;
        self
    }

    /// Caps on the number of core instances, memories and tables a component may
    /// create. Defaults: [`DEFAULT_CORE_INSTANCES`], [`DEFAULT_MEMORIES`] and
    /// [`DEFAULT_TABLES`] (128, 4 and 16: a Rust algorithm uses a handful of
    /// each, a CPython one 14 or 38, 1 and 2). A component that needs more is
    /// refused at load with 2116.
    pub fn with_counts(mut self, instances: usize, memories: usize, tables: usize) -> Self {
        self.instances = instances;
        self.memories = memories;
        self.tables = tables;
        self
    }

    /// Native stack available to wasm frames; deeper recursion traps (error 9999).
    /// Must stay below the stack of the threads that call guests. Engine-wide: a
    /// package cannot change it. Default: [`DEFAULT_WASM_STACK_BYTES`] (512 KiB).
    pub fn with_wasm_stack_bytes(mut self, bytes: usize) -> Self {
        self.wasm_stack_bytes = bytes;
        self
    }

    /// Cap on the guest's log bytes per call (messages, fields and printed lines,
    /// each record charged [`LOG_RECORD_OVERHEAD`](crate::LOG_RECORD_OVERHEAD)
    /// more and each field [`LOG_FIELD_OVERHEAD`](crate::LOG_FIELD_OVERHEAD)
    /// more, so that what the host keeps is bounded whatever the content); the
    /// rest is dropped and a marker record says how much. Default:
    /// [`DEFAULT_LOG_BYTES_PER_CALL`] (64 KiB).
    pub fn with_log_bytes_per_call(mut self, bytes: usize) -> Self {
        self.log_bytes_per_call = bytes;
        self
    }

    /// Cap on the guest's log records per call (`log` calls and printed lines);
    /// later ones are dropped and counted by the marker record. Default:
    /// [`DEFAULT_LOG_RECORDS_PER_CALL`] (1024).
    pub fn with_log_records_per_call(mut self, records: usize) -> Self {
        self.log_records_per_call = records;
        self
    }

    /// Cap on the bytes the host lifts out of the guest in one transfer: the output
    /// of a call, or the arguments of one import call (a log message, a session
    /// value). Going past it fails the call with error 9999 and poisons the
    /// instance. Default: [`DEFAULT_OUTPUT_BYTES_PER_CALL`] (16 MiB).
    pub fn with_output_bytes_per_call(mut self, bytes: usize) -> Self {
        self.output_bytes_per_call = bytes;
        self
    }

    /// Cap on the diagnostics one call may publish: keys and values, each value
    /// counted as its JSON text or its size in host memory, whichever is larger,
    /// plus [`DIAGNOSTICS_ENTRY_OVERHEAD`](crate::DIAGNOSTICS_ENTRY_OVERHEAD) an
    /// entry. A value whose text alone does not fit is dropped before it is
    /// parsed. Later entries are dropped and a `pv-host.dropped` entry counts
    /// them. Default: [`DEFAULT_DIAGNOSTICS_BYTES_PER_CALL`] (1 MiB).
    pub fn with_diagnostics_bytes_per_call(mut self, bytes: usize) -> Self {
        self.diagnostics_bytes_per_call = bytes;
        self
    }

    /// Cap on the diagnostics entries one call may publish (every accepted
    /// publish counts); later ones are dropped and counted by the
    /// `pv-host.dropped` entry. Default: [`DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL`]
    /// (1024).
    pub fn with_diagnostics_entries_per_call(mut self, entries: usize) -> Self {
        self.diagnostics_entries_per_call = entries;
        self
    }

    /// Cap on the size of a session's key-value store (keys and values, as
    /// [`Session::stored_bytes`](crate::Session::stored_bytes) counts them); a
    /// guest `set` that would go past it fails with an error the guest sees, and
    /// the session keeps its old value. A value whose text alone does not fit is
    /// refused before it is parsed. Default: [`DEFAULT_SESSION_BYTES`] (100 KiB).
    pub fn with_session_bytes(mut self, bytes: usize) -> Self {
        self.session_bytes = bytes;
        self
    }

    /// Fuel per call, `None` when metering is off.
    pub fn fuel_per_call(&self) -> Option<u64> {
        self.fuel_per_call
    }

    /// Deadline of `phase`, `None` when deadlines are off.
    pub fn deadline(&self, phase: Phase) -> Option<Duration> {
        self.deadlines.map(|d| d[phase.index()])
    }

    /// Whether wall-clock deadlines are on.
    pub fn has_deadlines(&self) -> bool {
        self.deadlines.is_some()
    }

    /// Linear memory cap in bytes, all memories together.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// Table element cap, all tables together.
    pub fn table_elements(&self) -> u64 {
        self.table_elements
    }

    /// Caps on core instances, memories and tables, in that order.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.instances, self.memories, self.tables)
    }

    /// Wasm stack cap in bytes.
    pub fn wasm_stack_bytes(&self) -> usize {
        self.wasm_stack_bytes
    }

    /// Log byte quota per call.
    pub fn log_bytes_per_call(&self) -> usize {
        self.log_bytes_per_call
    }

    /// Log record quota per call.
    pub fn log_records_per_call(&self) -> usize {
        self.log_records_per_call
    }

    /// Output byte cap per transfer.
    pub fn output_bytes_per_call(&self) -> usize {
        self.output_bytes_per_call
    }

    /// Diagnostics byte cap per call.
    pub fn diagnostics_bytes_per_call(&self) -> usize {
        self.diagnostics_bytes_per_call
    }

    /// Diagnostics entry cap per call.
    pub fn diagnostics_entries_per_call(&self) -> usize {
        self.diagnostics_entries_per_call
    }

    /// Session store byte cap.
    pub fn session_bytes(&self) -> usize {
        self.session_bytes
    }

    /// What a package asking for `self` is granted under the host's `policy`: the
    /// smaller of the two for every limit. Switches that are engine-wide (fuel
    /// metering and deadlines on or off, the wasm stack) follow the policy.
    ///
    /// ```
    /// use pv_host::Limits;
    ///
    /// let policy = Limits::default();
    /// let greedy = Limits::default().with_memory_bytes(u64::MAX).with_fuel_per_call(None);
    /// let granted = greedy.capped_by(&policy);
    /// assert_eq!(granted.memory_bytes(), policy.memory_bytes());
    /// assert_eq!(granted.fuel_per_call(), policy.fuel_per_call());
    /// ```
    pub fn capped_by(&self, policy: &Limits) -> Limits {
        let fuel_per_call = policy.fuel_per_call.map(|cap| self.fuel_per_call.map_or(cap, |asked| asked.min(cap)));
        let deadlines = policy.deadlines.map(|caps| match self.deadlines {
            Some(asked) => std::array::from_fn(|i| asked[i].min(caps[i])),
            None => caps,
        });
        Limits {
            fuel_per_call,
            deadlines,
            memory_bytes: self.memory_bytes.min(policy.memory_bytes),
            table_elements: self.table_elements.min(policy.table_elements),
            instances: self.instances.min(policy.instances),
            memories: self.memories.min(policy.memories),
            tables: self.tables.min(policy.tables),
            wasm_stack_bytes: policy.wasm_stack_bytes,
            log_bytes_per_call: self.log_bytes_per_call.min(policy.log_bytes_per_call),
            log_records_per_call: self.log_records_per_call.min(policy.log_records_per_call),
            output_bytes_per_call: self.output_bytes_per_call.min(policy.output_bytes_per_call),
            diagnostics_bytes_per_call: self.diagnostics_bytes_per_call.min(policy.diagnostics_bytes_per_call),
            diagnostics_entries_per_call: self.diagnostics_entries_per_call.min(policy.diagnostics_entries_per_call),
            session_bytes: self.session_bytes.min(policy.session_bytes),
        }
    }
}

/// The store's resource limiter: caps the total linear memory and table elements
/// of the store (not each memory separately, as wasmtime's `StoreLimits` does) and
/// remembers what it refused and the peak it saw, for the call report.
#[derive(Debug)]
pub(crate) struct StoreGuard {
    memory_cap: u64,
    table_cap: u64,
    instances: usize,
    memories: usize,
    tables: usize,
    memory_total: u64,
    table_total: u64,
    /// Highest `memory_total` since the last [`start_call`](Self::start_call).
    pub(crate) memory_peak: u64,
    /// A request refused since the last `start_call`: what was asked for.
    pub(crate) refused: Option<Refusal>,
}

/// A growth the limiter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Linear memory: the total the guest would have reached.
    Memory { wanted_total: u64 },
    /// Table elements: the total the guest would have reached.
    Table { wanted_total: u64 },
}

impl StoreGuard {
    pub(crate) fn new(limits: &Limits) -> Self {
        StoreGuard {
            memory_cap: limits.memory_bytes,
            table_cap: limits.table_elements,
            instances: limits.instances,
            memories: limits.memories,
            tables: limits.tables,
            memory_total: 0,
            table_total: 0,
            memory_peak: 0,
            refused: None,
        }
    }

    /// Forget the previous call's peak and refusal.
    pub(crate) fn start_call(&mut self) {
        self.memory_peak = self.memory_total;
        self.refused = None;
    }
}

impl wasmtime::ResourceLimiter for StoreGuard {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Called for every memory at creation (current = 0) and on every grow, so
        // the running sum of the deltas is the store's total.
        let delta = desired.saturating_sub(current) as u64;
        let wanted_total = self.memory_total.saturating_add(delta);
        if wanted_total > self.memory_cap {
            self.refused = Some(Refusal::Memory { wanted_total });
            return Ok(false);
        }
        self.memory_total = wanted_total;
        self.memory_peak = self.memory_peak.max(wanted_total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The growth was counted but did not happen (the memory's own maximum):
        // nothing to undo that matters for a cap, the total only over-counts.
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current) as u64;
        let wanted_total = self.table_total.saturating_add(delta);
        if wanted_total > self.table_cap {
            self.refused = Some(Refusal::Table { wanted_total });
            return Ok(false);
        }
        self.table_total = wanted_total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.memories
    }

    fn tables(&self) -> usize {
        self.tables
    }
}

/// What a component needs before it runs a single instruction, read from its
/// bytes: the core instances it creates, and the memories and tables (with
/// their initial sizes) those instances define. Nested components count once
/// per instantiation. Checked against the limits before compilation (a
/// component over the host's caps is not compiled at all) and against the
/// package's granted limits before instantiation; either way a shortfall is
/// error 2116 naming the limit, what is needed and how to raise it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComponentNeeds {
    /// Core module instances created.
    pub core_instances: u64,
    /// Linear memories defined by those instances.
    pub memories: u64,
    /// Tables defined by those instances.
    pub tables: u64,
    /// Initial elements of those tables, summed.
    pub table_elements: u64,
    /// Initial bytes of those memories, summed.
    pub memory_bytes: u64,
}

impl ComponentNeeds {
    fn add(&mut self, other: &ComponentNeeds) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
        self.table_elements = self.table_elements.saturating_add(other.table_elements);
        self.memory_bytes = self.memory_bytes.saturating_add(other.memory_bytes);
    }

    /// Read the needs of a component's bytes. One pass of `wasmparser`, no
    /// validation (the compiler validates); the index spaces it keeps grow with
    /// the file, which the package size cap bounds.
    pub fn of_component(bytes: &[u8]) -> Result<ComponentNeeds, wasmparser::BinaryReaderError> {
        use wasmparser::{
            ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind, ComponentTypeRef, Encoding,
            Instance, Payload,
        };

        /// A component or module being read: what it needs so far and, for a
        /// component, the needs of each entry of its module and component index
        /// spaces (imported ones need nothing the host provides).
        #[derive(Default)]
        struct Frame {
            needs: ComponentNeeds,
            modules: Vec<ComponentNeeds>,
            components: Vec<ComponentNeeds>,
        }
        let mut stack: Vec<(Encoding, Frame)> = Vec::new();
        let mut result = ComponentNeeds::default();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let payload = payload?;
            let Some((encoding, frame)) = stack.last_mut() else {
                if let Payload::Version { encoding, .. } = payload {
                    stack.push((encoding, Frame::default()));
                }
                continue;
            };
            match payload {
                Payload::Version { encoding, .. } => stack.push((encoding, Frame::default())),
                Payload::End(_) => {
                    let Some((encoding, done)) = stack.pop() else { break };
                    match stack.last_mut() {
                        Some((_, parent)) if encoding == Encoding::Module => parent.modules.push(done.needs),
                        Some((_, parent)) => parent.components.push(done.needs),
                        None => result = done.needs,
                    }
                }
                // A module's own memories and tables: needed once per instantiation.
                Payload::MemorySection(section) if *encoding == Encoding::Module => {
                    for memory in section {
                        let memory = memory?;
                        let page = memory.page_size_log2.map_or(65536u64, |log2| 1u64.checked_shl(log2).unwrap_or(u64::MAX));
                        frame.needs.memories += 1;
                        frame.needs.memory_bytes = frame.needs.memory_bytes.saturating_add(memory.initial.saturating_mul(page));
                    }
                }
                Payload::TableSection(section) if *encoding == Encoding::Module => {
                    for table in section {
                        frame.needs.tables += 1;
                        frame.needs.table_elements = frame.needs.table_elements.saturating_add(table?.ty.initial);
                    }
                }
                Payload::InstanceSection(section) => {
                    for instance in section {
                        if let Instance::Instantiate { module_index, .. } = instance? {
                            let mut module = frame.modules.get(module_index as usize).copied().unwrap_or_default();
                            module.core_instances = 1;
                            frame.needs.add(&module);
                        }
                    }
                }
                Payload::ComponentInstanceSection(section) => {
                    for instance in section {
                        if let ComponentInstance::Instantiate { component_index, .. } = instance? {
                            let nested = frame.components.get(component_index as usize).copied().unwrap_or_default();
                            frame.needs.add(&nested);
                        }
                    }
                }
                Payload::ComponentImportSection(section) => {
                    for import in section {
                        match import?.ty {
                            ComponentTypeRef::Module(_) => frame.modules.push(ComponentNeeds::default()),
                            ComponentTypeRef::Component(_) => frame.components.push(ComponentNeeds::default()),
                            _ => {}
                        }
                    }
                }
                Payload::ComponentAliasSection(section) => {
                    for alias in section {
                        // (into the module index space?, the entry's needs)
                        let entry = match alias? {
                            ComponentAlias::Outer { kind, count, index } => {
                                let outer = stack.len().checked_sub(1 + count as usize).and_then(|i| stack.get(i));
                                let of = |space: fn(&Frame) -> &Vec<ComponentNeeds>| {
                                    outer.and_then(|(_, f)| space(f).get(index as usize)).copied().unwrap_or_default()
                                };
                                match kind {
                                    ComponentOuterAliasKind::CoreModule => Some((true, of(|f| &f.modules))),
                                    ComponentOuterAliasKind::Component => Some((false, of(|f| &f.components))),
                                    _ => None,
                                }
                            }
                            ComponentAlias::InstanceExport { kind: ComponentExternalKind::Module, .. } => {
                                Some((true, ComponentNeeds::default()))
                            }
                            ComponentAlias::InstanceExport { kind: ComponentExternalKind::Component, .. } => {
                                Some((false, ComponentNeeds::default()))
                            }
                            _ => None,
                        };
                        if let (Some((is_module, needs)), Some((_, frame))) = (entry, stack.last_mut()) {
                            if is_module { frame.modules.push(needs) } else { frame.components.push(needs) }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(result)
    }

    /// Check the needs against `limits`; `raise` says how the limit is raised
    /// where it is enforced (the host's caps, or the package's manifest).
    pub(crate) fn check(&self, limits: &Limits, origin: &str, raise: Raise) -> crate::Result<()> {
        let checks: [(&'static str, u64, u64, &str, &str); 5] = [
            ("core instances", self.core_instances, limits.instances as u64, "core_instances", "Limits::with_counts"),
            ("memories", self.memories, limits.memories as u64, "memories", "Limits::with_counts"),
            ("tables", self.tables, limits.tables as u64, "tables", "Limits::with_counts"),
            ("table elements", self.table_elements, limits.table_elements, "table_elements", "Limits::with_table_elements"),
            (
                "bytes of initial memory",
                self.memory_bytes,
                limits.memory_bytes,
                "memory_mb",
                "--memory-mb or Limits::with_memory_bytes",
            ),
        ];
        let Some(&(limit, needed, allowed, field, host_knob)) = checks.iter().find(|(_, needed, allowed, ..)| needed > allowed)
        else {
            return Ok(());
        };
        let ask = if field == "memory_mb" { needed.div_ceil(1 << 20) } else { needed };
        let how = match raise {
            Raise::Manifest { host_max } => {
                let max = match field {
                    "core_instances" => host_max.instances as u64,
                    "memories" => host_max.memories as u64,
                    "tables" => host_max.tables as u64,
                    "table_elements" => host_max.table_elements,
                    _ => host_max.memory_bytes >> 20,
                };
                format!(
                    "ask for it in the package's manifest.json, `\"limits\": {{ \"{field}\": {ask} }}`, and pack again (this host grants up to {max})"
                )
            }
            Raise::Host => format!(
                "that is over this host's cap; the operator raises it with {host_knob} (a package's manifest cannot ask for more than the host's cap; its field is `limits.{field}`)"
            ),
        };
        Err(crate::Error::LimitTooLow {
            limit,
            needed,
            allowed,
            message: format!("{origin} needs {needed} {limit}, more than the {allowed} it is granted: {how}"),
        })
    }
}

/// Where a limit checked by [`ComponentNeeds::check`] is raised.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raise<'a> {
    /// By the host's operator: the cap is the host's own.
    Host,
    /// By the package's manifest, up to the host's caps.
    Manifest { host_max: &'a Limits },
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    #[test]
    fn the_memory_cap_is_on_the_sum_of_all_memories() {
        let mut guard = StoreGuard::new(&Limits::default().with_memory_bytes(4 << 16));
        assert!(guard.memory_growing(0, 2 << 16, None).expect("no error"));
        assert!(guard.memory_growing(0, 2 << 16, None).expect("no error"), "a second memory fits exactly");
        assert!(!guard.memory_growing(2 << 16, 3 << 16, None).expect("no error"), "one page more is refused");
        assert_eq!(guard.refused, Some(Refusal::Memory { wanted_total: 5 << 16 }));
        assert_eq!(guard.memory_peak, 4 << 16);
        guard.start_call();
        assert_eq!(guard.refused, None);
        assert_eq!(guard.memory_peak, 4 << 16, "the peak of a call starts at the current total");
    }

    #[test]
    fn the_table_cap_is_on_the_sum_of_all_tables() {
        let mut guard = StoreGuard::new(&Limits::default().with_table_elements(100));
        assert!(guard.table_growing(0, 60, None).expect("no error"));
        assert!(!guard.table_growing(0, 41, None).expect("no error"));
        assert_eq!(guard.refused, Some(Refusal::Table { wanted_total: 101 }));
    }

    #[test]
    fn a_request_is_granted_at_most_the_policy() {
        let policy = Limits::default().with_deadline(Phase::Execute, Duration::from_secs(5));
        let asked = Limits::default()
            .with_deadline(Phase::Execute, Duration::from_secs(50))
            .with_deadline(Phase::Setup, Duration::from_secs(1))
            .with_memory_bytes(1 << 20);
        let granted = asked.capped_by(&policy);
        assert_eq!(granted.deadline(Phase::Execute), Some(Duration::from_secs(5)));
        assert_eq!(granted.deadline(Phase::Setup), Some(Duration::from_secs(1)));
        assert_eq!(granted.memory_bytes(), 1 << 20);
        let no_deadlines = Limits::default().without_deadlines().capped_by(&policy);
        assert_eq!(no_deadlines.deadline(Phase::Execute), Some(Duration::from_secs(5)), "cannot opt out");
        let unmetered_policy = Limits::default().with_fuel_per_call(None);
        assert_eq!(Limits::default().capped_by(&unmetered_policy).fuel_per_call(), None);
    }

    /// A component with two modules, one instantiated twice, and a nested
    /// component instantiated twice that instantiates a module of its own.
    const NESTED: &str = r#"(component
        (core module $m (memory 2) (table 10 funcref) (table 5 funcref))
        (core module $plain)
        (core instance (instantiate $m))
        (core instance (instantiate $m))
        (core instance (instantiate $plain))
        (component $inner
            (core module $n (memory 1 3))
            (core instance (instantiate $n))
        )
        (instance (instantiate $inner))
        (instance (instantiate $inner))
    )"#;

    #[test]
    fn needs_count_every_instantiation_nested_ones_included() {
        let bytes = wat::parse_str(NESTED).expect("valid WAT");
        let needs = ComponentNeeds::of_component(&bytes).expect("parses");
        assert_eq!(
            needs,
            ComponentNeeds {
                core_instances: 5,
                memories: 4,
                tables: 4,
                table_elements: 30,
                memory_bytes: (2 + 2 + 1 + 1) * 65536,
            }
        );
    }

    #[test]
    fn needs_over_a_cap_are_refused_with_2116_naming_the_limit() {
        let bytes = wat::parse_str(NESTED).expect("valid WAT");
        let needs = ComponentNeeds::of_component(&bytes).expect("parses");
        needs.check(&Limits::default(), "nested.wasm", Raise::Host).expect("fits the defaults");
        let tight = Limits::default().with_counts(4, 4, 4);
        let err = needs.check(&tight, "nested.wasm", Raise::Host).expect_err("5 core instances over 4");
        assert_eq!((err.kind(), err.code().number()), (crate::ErrorKind::Policy, 2116));
        let crate::Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
        assert_eq!((limit, needed, allowed), ("core instances", 5, 4));
        let host = Limits::default();
        let few_elements = Limits::default().with_table_elements(29);
        let err = needs.check(&few_elements, "nested.wasm", Raise::Manifest { host_max: &host }).expect_err("30 over 29");
        let crate::Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
        assert_eq!((limit, needed, allowed), ("table elements", 30, 29));
    }

    #[test]
    fn needs_of_garbage_are_an_error_not_a_panic() {
        assert!(ComponentNeeds::of_component(b"\0asm\x0d\0\x01\0\x01\xff\xff").is_err());
        let bytes = wat::parse_str(NESTED).expect("valid WAT");
        for cut in [9, bytes.len() / 3, bytes.len() - 1] {
            assert!(ComponentNeeds::of_component(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
    }
}
