//! The SDK for writing inspection algorithms that run inside pv-host.
//!
//! An algorithm is a type that implements [`Algorithm`], exported with
//! [`export_algorithm!`]. The crate is compiled for `wasm32-wasip2` as a `cdylib`;
//! the result is a WebAssembly component that pv-host loads, sandboxes and drives.
//! The SDK hides the generated bindings: authors work with
//!
//! - [`StepInput`]: the step index, product id, validated [`Params`] and the
//!   [`Image`] (with `ndarray` views: 2-D for gray, 3-D for colour);
//! - [`ExecuteOutput`] and [`PreExecuteOutput`]: the verdict, defect and position
//!   [`Rect`]s, debug JSON;
//! - [`Error`]: a platform error code plus a readable message;
//! - [`session`], [`diagnostics`], [`assets`] and the log macros ([`info!`],
//!   [`warn!`]...) for the host services.
//!
//! ```no_run
//! use pv_guest::{Algorithm, AlgorithmInfo, ExecuteOutput, ParamSpec, Rect, Result, Step, StepInput};
//!
//! struct Brightness;
//!
//! impl Algorithm for Brightness {
//!     fn info() -> AlgorithmInfo {
//!         AlgorithmInfo::new("brightness", "1.0.0")
//!             .description("NG when the frame is too dark")
//!             .pids(["P-1"])
//!             .step(Step::new(1, "check").param(ParamSpec::int_in("min_mean", 0, 255).default(40)))
//!     }
//!
//!     fn setup() -> Result<Self> {
//!         Ok(Brightness)
//!     }
//!
//!     fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
//!         let luma = input.image.luma()?;
//!         let mean = luma.iter().map(|&p| f64::from(p)).sum::<f64>() / luma.len() as f64;
//!         if mean < input.params.int("min_mean")? as f64 {
//!             let whole = Rect::new(0, 0, input.image.width(), input.image.height()).labelled("dark");
//!             return Ok(ExecuteOutput::ng(format!("frame too dark: mean {mean:.0}")).defect(whole));
//!         }
//!         Ok(ExecuteOutput::ok())
//!     }
//! }
//!
//! pv_guest::export_algorithm!(Brightness);
//! ```

// The generated bindings name this crate by its external path (so that the export
// macro works from the author's crate); this makes that path resolve here too.
extern crate self as pv_guest;

mod algorithm;
pub mod assets;
// Public only so the export macro can reach it from the author's crate.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings;
pub mod diagnostics;
mod error;
mod image;
mod info;
pub mod log;
pub mod morphology;
mod output;
mod params;
pub mod session;

pub use crate::algorithm::{Algorithm, StepInput};
pub use crate::error::{Error, ErrorCode, Result};
pub use crate::image::{Image, ImageMeta, PixelFormat};
pub use crate::info::{AlgorithmInfo, ParamKind, ParamSpec, Step};
pub use crate::output::{ExecuteOutput, PreExecuteOutput, Rect, StepOutcome, Verdict};
pub use crate::params::{ParamValue, Params};

/// Re-exports for the generated code and macros; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::algorithm::Export;
    pub use crate::bindings;
    pub use crate::bindings::__export_inspection_algorithm;
    pub use wit_bindgen;
}

/// Export a type implementing [`Algorithm`] as the component's `algorithm` interface.
///
/// Use it once, at the root of the algorithm's crate:
///
/// ```ignore
/// pv_guest::export_algorithm!(MyAlgorithm);
/// ```
///
/// The exports exist on WebAssembly targets only: built natively (for unit tests
/// of the image processing, or benchmarks) the crate has no component exports,
/// whose names a native linker would refuse anyway.
#[macro_export]
macro_rules! export_algorithm {
    ($algorithm:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            type __PvGuestExport = $crate::__private::Export<$algorithm>;
            $crate::__private::__export_inspection_algorithm!(
                __PvGuestExport with_types_in $crate::__private::bindings
            );
        };
    };
}
