//! A pre or execute call's input: params checked on the reader, images opened
//! and read on the thread that runs the call, `.npy` pixels written straight
//! into the guest's memory.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::backend::Target;
use super::protocol::{Call, ImageRef};
use super::{BUDGET_UNIT, Context, shm};
use crate::error::{Error, InputCode};
use crate::ingress::InPlace;
use crate::types::StepInput;

/// The input of a pre or execute call: params checked here, then, on the
/// thread that runs the call once it holds its running slot (a queued call
/// holds no image), the images opened, the memory the host needs for them
/// reserved from the budget, and the encoded ones decoded. A `.npy` image is
/// not read there either: its fill reads it into the guest's memory during the
/// call. The budget permit is held until the call ends.
#[allow(clippy::type_complexity)]
pub(super) fn preparer<W>(
    context: &Context<W>,
    target: &Target,
    call: &Call,
    pid: &str,
    params: Map<String, Value>,
) -> crate::Result<(
    (u32, String),
    impl FnOnce() -> crate::Result<(StepInput, InPlace<'static>, Option<OwnedSemaphorePermit>)> + Send + 'static,
)> {
    let info = target.info();
    let step = info
        .steps
        .iter()
        .find(|s| s.index == call.step_index)
        .ok_or_else(|| Error::input(InputCode::InvalidParams, format!("the algorithm has no step {}", call.step_index)))?;
    // With the patterns compiled once for the package, not once per call.
    let params = target.runner().package().params_from_json(info, step, &params)?;
    let Some(image) = call.image.clone() else {
        return Err(Error::input(InputCode::ImageLoadFailed, "the call names no image (shared_mem_id)"));
    };
    let refs: Vec<ImageRef> = std::iter::once(image).chain(call.guide_image.clone()).collect();
    let (dir, budget, budget_units, stats) =
        (context.shm_dir.clone(), Arc::clone(&context.budget), context.budget_units, Arc::clone(&context.stats));
    let runtime = tokio::runtime::Handle::current();
    let input = StepInput {
        step_index: call.step_index,
        pid: pid.to_owned(),
        step_desc: if call.step_desc.is_empty() { step.description.clone() } else { call.step_desc.clone() },
        params,
        image: crate::types::Image {
            meta: crate::types::ImageMeta {
                width: 0,
                height: 0,
                format: crate::types::PixelFormat::Gray8,
                timestamp_ms: 0,
                camera_id: String::new(),
            },
            pixels: Vec::new(),
        },
        guide_image: None,
        guide_info: call.guide_info.clone(),
    };
    let prepare = move || {
        let opened = refs.iter().map(|r| shm::open(&dir, r)).collect::<crate::Result<Vec<_>>>()?;
        // A `.npy` read in place takes none of the host's memory (the guest's
        // allocation is under its own cap): only encoded images count.
        let bound: u64 = opened.iter().filter(|o| !o.is_npy()).map(shm::Opened::memory_bound).sum();
        let permit = if bound == 0 {
            None
        } else {
            let units = bound.div_ceil(BUDGET_UNIT).clamp(1, u64::from(budget_units)) as u32;
            // This thread runs no tasks: waiting here for the budget holds the
            // call's slot, as the call would while decoding.
            let permit = runtime.block_on(budget.acquire_many_owned(units));
            Some(permit.map_err(|_| Error::host("the image budget is closed"))?)
        };
        let mut in_place = InPlace::none();
        let mut images = Vec::with_capacity(opened.len());
        for (index, opened) in opened.into_iter().enumerate() {
            let counted = Arc::clone(&stats);
            let count = move || {
                counted.images_loaded.fetch_add(1, Ordering::SeqCst);
            };
            let image = match opened.in_place(count) {
                Ok((image, fill)) => {
                    if index == 0 {
                        in_place.image = Some(fill);
                    } else {
                        in_place.guide_image = Some(fill);
                    }
                    image
                }
                Err(opened) => {
                    stats.images_loaded.fetch_add(1, Ordering::SeqCst);
                    opened.load()?
                }
            };
            images.push(image);
        }
        let mut input = input;
        let mut images = images.into_iter();
        input.image = images.next().ok_or_else(|| Error::host("no image was loaded"))?;
        input.guide_image = images.next();
        Ok((input, in_place, permit))
    };
    Ok(((call.step_index, pid.to_owned()), prepare))
}
