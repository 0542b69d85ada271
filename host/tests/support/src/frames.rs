//! Step inputs for the tests: a flat gray frame, and a step that carries it.

use pv_host::Instance;
use pv_host::image::from_dynamic;
use pv_host::params::params_from_json;
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

/// Step 1 of `instance`'s algorithm for product id `pid` on `image`, with
/// `params` (a JSON object) checked against the step's schema.
pub fn step_with_params(instance: &Instance, pid: &str, image: image::DynamicImage, params: serde_json::Value) -> StepInput {
    let step = instance.step(1).expect("step 1");
    StepInput {
        step_index: 1,
        pid: pid.into(),
        step_desc: String::new(),
        params: params_from_json(step, params.as_object().expect("object")).expect("valid params"),
        image: from_dynamic(image, None),
        guide_image: None,
        guide_info: Vec::new(),
    }
}
