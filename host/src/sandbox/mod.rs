//! Where the sandbox is enforced. A guest runs in a wasmtime store of its own;
//! everything that bounds it is here, one concern per file:
//!
//! | bound | file |
//! |-------|------|
//! | the engine: fuel metering, epoch deadlines, wasm stack, the instance pool, the epoch ticker | `engine.rs` |
//! | what one call may consume, with every default ([`Limits`]) | `limits.rs` |
//! | total linear memory and table elements of a store, as it grows | `store_guard.rs` |
//! | what a component needs before it runs (instances, memories, tables), checked on its bytes | `needs.rs` |
//! | which interfaces a component may import, checked before compiling ([`ImportPolicy`]) | `imports.rs` |
//! | the host side of the imports: WASI with nothing preopened and sockets denied, the session, diagnostics and asset quotas | `host_state.rs` |
//! | the guest's log records and stdio, with their quotas | `guest_log.rs` |
//! | what a guest may return ([`OutputRules`]) | `output_rules.rs` |
//!
//! Phases and their deadlines are [`Phase`](crate::Phase); an instance arms
//! fuel and the deadline before each call (`instance/store.rs`).

pub(crate) mod engine;
mod guest_log;
mod host_state;
mod imports;
mod limits;
mod needs;
mod output_rules;
mod store_guard;

pub use self::engine::{DEFAULT_EPOCH_TICK, DEFAULT_POOLED_INSTANCES, DEFAULT_RESIDENT_MEMORY_BYTES, default_pooled_instances};
pub use self::guest_log::{
    DEFAULT_LOG_BYTES_PER_CALL, DEFAULT_LOG_RECORDS_PER_CALL, LOG_FIELD_OVERHEAD, LOG_RECORD_OVERHEAD, LogRecord, LogSource,
};
pub(crate) use self::host_state::{Assets, HostState};
pub use self::host_state::{DIAGNOSTICS_DROPPED_KEY, DIAGNOSTICS_ENTRY_OVERHEAD};
pub use self::imports::ImportPolicy;
pub(crate) use self::imports::component_interfaces;
pub use self::limits::{
    DEFAULT_CORE_INSTANCES, DEFAULT_DIAGNOSTICS_BYTES_PER_CALL, DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL, DEFAULT_FUEL_PER_CALL,
    DEFAULT_MEMORIES, DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES_PER_CALL, DEFAULT_SESSION_BYTES, DEFAULT_TABLE_ELEMENTS,
    DEFAULT_TABLES, DEFAULT_WASM_STACK_BYTES, Limits,
};
pub use self::needs::ComponentNeeds;
pub(crate) use self::needs::Raise;
pub use self::output_rules::{
    DEFAULT_MAX_DEBUG_BYTES, DEFAULT_MAX_DEFECTS, DEFAULT_MAX_RECTS, DEFAULT_MAX_TEXT_BYTES, OutputRules,
};
pub(crate) use self::store_guard::Refusal;
