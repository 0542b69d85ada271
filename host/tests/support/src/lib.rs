//! What the test suites and the benchmarks share.
//!
//! - [`frame`]: the platform's length-prefixed JSON frames, blocking;
//! - [`Server`]: a spawned server speaking them (`pv-host serve`, an adapter);
//! - [`pv_host`] and its kin: the `pv-host` binary, run by the tests;
//! - [`is_result_error`]: a reply frame refusing a call with a code;
//! - [`frames`]: gray frames and the steps that carry them;
//! - [`station`]: the example algorithms packed and signed, with a trust store;
//! - [`composed`]: Python guests composed with the vision component;
//! - [`Setup`]: a station of a test's own;
//! - [`wat`], [`wat_guest`], [`versioned_guest`]: guests written in WAT.

pub mod command;
pub mod composed;
pub mod frame;
pub mod frames;
pub mod registry;
pub mod reply;
pub mod server;
pub mod setup;
pub mod station;
pub mod versioned_guest;
pub mod wat;
pub mod wat_guest;

pub use command::{peak_rss_kib, pv_host, pv_host_binary, pv_host_process, pv_host_trusting, run, run_json};
pub use reply::is_result_error;
pub use server::Server;
pub use setup::Setup;
