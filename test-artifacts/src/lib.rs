//! Test support: the example algorithms built as components, and the sample photos.
//!
//! The build script compiles every example in `examples/` for `wasm32-wasip2` and
//! this crate exposes the resulting paths as constants ([`PART_COUNTER`],
//! [`SCRATCH_DETECTOR`], [`ALL`] for the real algorithms; [`HOSTILE`] and
//! [`HOSTILE_NETWORK`] for the sandbox tests). [`fixtures`] loads the sample photographs and
//! makes deterministic variants of them (a coin painted over, a scratch drawn).
//!
//! A test suite that must cover every example asks the compiler to check it:
//!
//! ```ignore
//! macro_rules! assert_test_exists {
//!     ($name:ident) => {
//!         #[allow(unused_imports, reason = "the import only proves the test exists")]
//!         use self::$name as _;
//!     };
//! }
//! pv_test_artifacts::foreach_example!(assert_test_exists);
//! ```
//!
//! so adding an example without a test function of the same name fails to compile.

pub mod fixtures;

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
