//! pv-host runs vision-inspection algorithms as sandboxed WebAssembly components.
//!
//! An algorithm is a component built against the `procvision:algorithm` WIT world
//! (see `wit/` and the `pv-guest` SDK). The host compiles it once into a
//! [`Package`], creates isolated [`Instance`]s from it, and drives them through
//! the inspection lifecycle: `setup`, `pre-execute`, `execute`, `reset`, step
//! hooks, `teardown`. The main types:
//!
//! - [`Host`] / [`HostBuilder`]: the engine and linker, shared by all packages;
//! - [`Package`]: a compiled algorithm, cheap to instantiate;
//! - [`Instance`]: one sandbox; every call returns a [`CallReport`] with the
//!   output, the guest's logs and diagnostics, and the time taken;
//! - [`Session`]: the host-owned state of one part across its steps;
//! - [`Error`] with [`ErrorKind`] and the platform's [`ErrorCode`]s.
//!
//! The guest sees no files, no environment, no network: WASI is linked with
//! nothing preopened and sockets refused; stdout and stderr become log records.
//!
//! Cargo features, all on by default; an embedder that needs only the runner
//! turns them off with `default-features = false`:
//!
//! - `serve`: [`serve`], the platform's frame protocol on stdio;
//! - `harness`: [`testing`], the conformance harness behind
//!   `pv-host test`, and its reports (needs `annotate`);
//! - `annotate`: [`annotate`], rectangles drawn on an image.
//!
//! The `pv-host` command itself is the crate `pv-host-cli` (`host/cli/`).
//!
//! ```no_run
//! use pv_host::{Host, Session, image::load_image, params_from_json, types::StepInput};
//!
//! # fn demo() -> pv_host::Result<()> {
//! let host = Host::new()?;
//! let package = host.load_component_file("part_counter.wasm".as_ref())?;
//! let mut instance = package.instantiate()?;
//! instance.setup().into_result()?;
//!
//! let step = instance.step(1)?.clone();
//! let params = serde_json::json!({ "expected_count": 24 });
//! let input = StepInput {
//!     step_index: 1,
//!     pid: "A01".into(),
//!     step_desc: String::new(),
//!     params: params_from_json(&step, params.as_object().unwrap())?,
//!     image: load_image("coins.png".as_ref(), None)?,
//!     guide_image: None,
//!     guide_info: Vec::new(),
//! };
//! let mut session = Session::new("part-0001");
//! let report = instance.execute(&mut session, &input);
//! println!("{:?}", report.result?.verdict);
//! # Ok(()) }
//! ```

mod admission;
#[cfg(feature = "annotate")]
pub mod annotate;
pub mod audit;
mod bindings;
mod compile_cache;
mod durable;
mod engine;
mod error;
mod guest_log;
pub mod image;
mod ingress;
mod instance;
mod limits;
mod package;
mod package_file;
mod params;
mod policy;
mod runner;
#[cfg(feature = "serve")]
pub mod serve;
mod session;
mod state;
pub mod station;
#[cfg(feature = "harness")]
pub mod testing;
mod trust;
mod validate;

pub use crate::admission::{Admission, MAX_PACKAGE_BYTES, Verified, read_package_file};
pub use crate::bindings::types;
pub use crate::compile_cache::{CACHE_DIR_ENV, CompileCache, DEFAULT_CACHE_BYTES};
pub use crate::engine::{
    DEFAULT_EPOCH_TICK, DEFAULT_POOLED_INSTANCES, DEFAULT_RESIDENT_MEMORY_BYTES, Host, HostBuilder, default_pooled_instances,
};
pub use crate::error::{Error, ErrorCode, ErrorKind, Result};
pub use crate::guest_log::{
    DEFAULT_LOG_BYTES_PER_CALL, DEFAULT_LOG_RECORDS_PER_CALL, LOG_FIELD_OVERHEAD, LOG_RECORD_OVERHEAD, LogRecord, LogSource,
};
pub use crate::ingress::{FillPixels, InPlace};
pub use crate::instance::{CallReport, Instance, ResourceUsage};
pub use crate::limits::{
    ComponentNeeds, DEFAULT_CORE_INSTANCES, DEFAULT_DIAGNOSTICS_BYTES_PER_CALL, DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL,
    DEFAULT_FUEL_PER_CALL, DEFAULT_MEMORIES, DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES_PER_CALL, DEFAULT_SESSION_BYTES,
    DEFAULT_TABLE_ELEMENTS, DEFAULT_TABLES, DEFAULT_WASM_STACK_BYTES, Limits, Phase,
};
pub use crate::package::Package;
pub use crate::package_file::{
    ASSET_SECTION_PREFIX, AssetEntry, KeyId, MANIFEST_SECTION, Manifest, PackageFile, PublicKey, RequestedLimits,
    SIGNATURE_SECTION, SUPPORTED_WIT, SecretKey, SectionInfo, SignatureSection, add_signature, pack,
};
pub use crate::params::{check_value, params_from_json};
pub use crate::policy::ImportPolicy;
pub use crate::runner::{DEFAULT_QUEUE, Isolation, LATENCY_BUCKETS_MS, Metrics, Reservation, Runner, RunnerConfig};
pub use crate::session::Session;
pub use crate::state::{DIAGNOSTICS_DROPPED_KEY, DIAGNOSTICS_ENTRY_OVERHEAD};
pub use crate::station::{Station, StationDir};
pub use crate::trust::{SignatureStatus, Signer, TRUST_DIR_ENV, TrustStore, Verification};
pub use crate::validate::{DEFAULT_MAX_DEBUG_BYTES, DEFAULT_MAX_DEFECTS, DEFAULT_MAX_RECTS, DEFAULT_MAX_TEXT_BYTES, OutputRules};
