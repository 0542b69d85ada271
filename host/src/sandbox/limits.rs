//! Resource limits: what one guest call may consume. The defaults are
//! documented on [`Limits`].

use std::time::Duration;

use super::guest_log::{DEFAULT_LOG_BYTES_PER_CALL, DEFAULT_LOG_RECORDS_PER_CALL};
use crate::phase::{DeadlineSlot, Phase};

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
            deadlines: Some(DeadlineSlot::DEFAULTS),
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
    /// it is error 1005. Default: [`Phase::default_deadline`]. The hooks
    /// ([`Phase::is_hook`]: instantiation and `get-info`, the step hooks, `reset`,
    /// `teardown`) share one deadline, as on the platform: setting it for one sets
    /// it for all. Has no effect after [`without_deadlines`](Self::without_deadlines).
    pub fn with_deadline(mut self, phase: Phase, deadline: Duration) -> Self {
        if let Some(deadlines) = &mut self.deadlines {
            deadlines[phase.deadline_slot() as usize] = deadline;
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
    /// each record charged [`LOG_RECORD_OVERHEAD`](crate::sandbox::LOG_RECORD_OVERHEAD)
    /// more and each field [`LOG_FIELD_OVERHEAD`](crate::sandbox::LOG_FIELD_OVERHEAD)
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
    /// plus [`DIAGNOSTICS_ENTRY_OVERHEAD`](crate::sandbox::DIAGNOSTICS_ENTRY_OVERHEAD) an
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
        self.deadlines.map(|d| d[phase.deadline_slot() as usize])
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
}
