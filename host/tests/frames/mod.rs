//! Step inputs for the tests: a flat gray frame, and a step that carries it.

#![allow(dead_code, reason = "each test binary uses a part of this module")]

use pv_host::types::{Image, ImageMeta, PixelFormat, StepInput};

/// A `width` x `height` gray frame, every pixel `level`.
pub fn gray(width: u32, height: u32, level: u8) -> Image {
    Image {
        meta: ImageMeta { width, height, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: "test".into() },
        pixels: vec![level; (width * height) as usize],
    }
}

/// Step `step_index` of the part with product id `pid` on `image`: no params
/// (the step's defaults apply), no description, no guide.
pub fn step_input(pid: &str, step_index: u32, image: Image) -> StepInput {
    StepInput {
        step_index,
        pid: pid.into(),
        step_desc: String::new(),
        params: Vec::new(),
        image,
        guide_image: None,
        guide_info: Vec::new(),
    }
}
