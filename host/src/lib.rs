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
//! The root holds what an embedder reaches for first; each concern has a
//! public module of its own with the rest:
//!
//! | module | what |
//! |--------|------|
//! | [`sandbox`] | where the sandbox is enforced: [`Limits`] and every default, the import policy, output rules, guest logs |
//! | [`package_file`] | the signed package format: manifest, keys, sections, packing and signing |
//! | [`trust`] | the trust store, signatures, the rollback record |
//! | [`runner`] | the [`Runner`]: sessions, a pool of instances, a bounded queue, metrics |
//! | [`station`] | several packages on one station, routed by product id |
//! | [`params`] | parameters from JSON, checked against a step's schema |
//! | [`error`] | [`Error`], its kinds and the platform's codes |
//! | [`compile_cache`] | compiled components kept on disk |
//! | [`image`] | loading and checking frames |
//! | [`audit`] | the audit log's events |
//! | [`types`] | the contract's types, generated from `wit/` |
//! | [`wire`] | the platform's JSON for verdicts, rects, outputs and `info` |
//!
//! Cargo features, all on by default; an embedder that needs only the runner
//! turns them off with `default-features = false`:
//!
//! - `serve`: [`serve`], the platform's frame protocol on stdio;
//! - `harness`: [`harness`], the conformance harness behind
//!   `pv-host test`, and its reports (needs `annotate`);
//! - `annotate`: [`annotate`], rectangles drawn on an image.
//!
//! The `pv-host` command itself is the crate `pv-host-cli` (`host/cli/`).
//!
//! ```no_run
//! use pv_host::{Host, Session, image::load_image, params::params_from_json, types::StepInput};
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
mod bounded_json;
pub mod compile_cache;
mod compiled;
mod durable;
pub mod error;
#[cfg(feature = "harness")]
pub mod harness;
mod host;
pub mod image;
mod ingress;
mod instance;
mod locks;
mod package;
pub mod package_file;
pub mod params;
mod phase;
pub mod runner;
pub mod sandbox;
#[cfg(feature = "serve")]
pub mod serve;
mod session;
pub mod station;
mod step;
pub mod telemetry;
pub mod trust;
pub mod wire;

pub use crate::admission::{Admission, Verified};
pub use crate::bindings::types;
pub use crate::durable::{DEFAULT_LOCK_TIMEOUT, LOCK_TIMEOUT_ENV, lock_timeout, set_lock_timeout};
pub use crate::host::{Host, HostBuilder};
pub use crate::ingress::{FillPixels, InPlace};
pub use crate::instance::{CallReport, Instance, ResourceUsage};
pub use crate::package::Package;
pub use crate::phase::Phase;
pub use crate::session::Session;
pub use crate::step::{StepCalls, StepDriver, StepReport};
pub use crate::telemetry::Telemetry;

// Shortcuts to the items of the public modules an embedder uses most; each is
// documented in its module.
#[doc(no_inline)]
pub use crate::compile_cache::CompileCache;
#[doc(no_inline)]
pub use crate::error::{Error, ErrorCode, ErrorKind, Result};
#[doc(no_inline)]
pub use crate::runner::{Runner, RunnerConfig};
#[doc(no_inline)]
pub use crate::sandbox::Limits;
#[doc(no_inline)]
pub use crate::station::Station;
#[doc(no_inline)]
pub use crate::trust::TrustStore;
