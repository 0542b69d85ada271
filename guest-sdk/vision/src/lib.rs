//! Inference and image operations for pv-host algorithms, run inside the guest.
//!
//! pv-host parses no model file and walks no pixel for an algorithm: everything an
//! algorithm does runs inside its sandbox. This crate is what a guest needs to run a
//! learned model there, compiled into the algorithm's own component:
//!
//! - [`Model`]: an ONNX model read from a signed package asset, parsed and
//!   optimised once (in [`setup`](pv_guest::Algorithm::setup)), run on every call.
//!   The engine is [rten](https://docs.rs/rten), pure Rust, built for
//!   `wasm32-wasip2` with `simd128`; its time and memory count against the call's
//!   fuel, deadline and memory cap like any other guest code.
//! - [`ImageTensor`]: an image view turned into the `[1, 3, H, W]` input a vision
//!   model takes (resize, channel order, mean/scale normalisation, padding) in one
//!   pass, with no copy but the tensor itself.
//! - [`ops`]: the image operations around a model and the classical ones an
//!   inspection needs, each named after its OpenCV counterpart: bilinear resize,
//!   crop, warping a rotated region upright, box and Gaussian blur, fixed, Otsu
//!   and adaptive thresholds, erosion, dilation, opening and closing, connected
//!   components with their statistics, outlines, convex hulls and minimum-area
//!   rectangles, template matching, histograms and absolute differences.
//!
//! A guest depends on this crate only when it needs it; the plain SDK
//! ([`pv_guest`]) stays small.
//!
//! ```no_run
//! use pv_guest::{Image, Result};
//! use pv_vision::{ImageTensor, Model, Normalize};
//!
//! # fn demo(image: &Image) -> Result<()> {
//! // In setup: read and optimise the model once.
//! let model = Model::from_asset("classifier.onnx")?;
//! // Per call: the frame as a 224x224 ImageNet-normalised tensor, then inference.
//! let input = ImageTensor::new(224, 224).normalize(Normalize::IMAGENET).from_image(image)?;
//! let scores = model.run(input)?;
//! # let _ = scores; Ok(()) }
//! ```

mod model;
pub mod ops;
mod tensor;

pub use crate::model::Model;
pub use crate::tensor::{ChannelOrder, ImageTensor, Normalize};

/// The tensor types models take and return (from `rten-tensor`), re-exported so a
/// guest needs no dependency of its own on the engine's crates.
pub mod tensors {
    pub use rten_tensor::prelude::*;
    pub use rten_tensor::{NdTensor, NdTensorView, Tensor, TensorView};
}
