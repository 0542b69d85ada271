//! The library's integration tests, one binary: each module is a suite.
//!
//! Apart, in binaries of their own: `host_memory.rs` and `packages.rs` (each
//! installs a global allocator that measures), and `fuzz_smoke.rs` (the fuzz
//! targets' oracles, built from `fuzz/`).

mod architecture;
mod compile_cache;
mod composition;
mod examples;
#[cfg(feature = "harness")]
mod harness;
mod in_place;
mod restart;
mod runner;
mod sandbox;
mod step_driver;
mod trust_store;
mod validation;
