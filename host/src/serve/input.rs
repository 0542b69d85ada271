//! A pre or execute call's input: params checked on the reader, images opened
//! and read on the thread that runs the call, `.npy` pixels written straight
//! into the guest's memory, the host memory encoded images need reserved from
//! the [`ImageBudget`] before they are read.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::backend::Target;
use super::protocol::{ImageRef, StepData};
use super::shm::{self, Pixels};
use super::{Context, ServeStats};
use crate::error::{Error, InputCode};
use crate::ingress::InPlace;
use crate::runner::{Prepared, StepKey};
use crate::types::{Image, StepInput};

/// The host memory the images of calls in flight may take together
/// ([`ServeConfig::max_image_bytes_in_flight`](super::ServeConfig::max_image_bytes_in_flight)):
/// a call reserves what its images need before reading them and gives it back
/// when it ends.
#[derive(Clone)]
pub(super) struct ImageBudget {
    units: Arc<Semaphore>,
    total_units: u32,
}

/// Bytes per unit of the budget (a semaphore counts in `u32`).
const BUDGET_UNIT: u64 = 1024;

impl ImageBudget {
    pub(super) fn new(bytes: u64) -> Self {
        let total_units = (bytes / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 1)) as u32;
        ImageBudget { units: Arc::new(Semaphore::new(total_units as usize)), total_units }
    }

    /// Reserve `bytes`, waiting until they fit; a call that needs more than
    /// the whole budget takes all of it (it runs alone). Nothing for zero
    /// bytes. Blocks: for the thread that runs the call, which runs no tasks.
    fn reserve_blocking(&self, runtime: &tokio::runtime::Handle, bytes: u64) -> crate::Result<Option<OwnedSemaphorePermit>> {
        if bytes == 0 {
            return Ok(None);
        }
        let units = bytes.div_ceil(BUDGET_UNIT).clamp(1, u64::from(self.total_units)) as u32;
        let permit = runtime.block_on(Arc::clone(&self.units).acquire_many_owned(units));
        permit.map(Some).map_err(|_| Error::host("the image budget is closed"))
    }
}

/// A call's input as far as the reader makes it: the step it runs, and the
/// work that makes the rest on the thread that runs the call.
pub(super) struct PreparedCall<F> {
    pub(super) step: StepKey,
    pub(super) prepare: F,
}

/// The input of a pre or execute call: params checked here, then, on the
/// thread that runs the call once it holds its running slot (a queued call
/// holds no image), the images opened, the memory the host needs for them
/// reserved from the budget, and the encoded ones decoded. A `.npy` image is
/// not read there either: its fill reads it into the guest's memory during the
/// call. The budget is held until the call ends.
pub(super) fn prepare_call<W>(
    context: &Context<W>,
    target: &Target,
    call: &StepData,
    pid: &str,
    params: Map<String, Value>,
) -> crate::Result<PreparedCall<impl FnOnce() -> crate::Result<Prepared<Option<OwnedSemaphorePermit>>> + Send + 'static>> {
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
    let (dir, budget, stats) = (context.shm_dir.clone(), context.budget.clone(), Arc::clone(&context.stats));
    let runtime = tokio::runtime::Handle::current();
    let (step_index, pid) = (call.step_index, pid.to_owned());
    let step_desc = if call.step_desc.is_empty() { step.description.clone() } else { call.step_desc.clone() };
    let guide_info = call.guide_info.clone();
    let key = StepKey { index: step_index, pid: pid.clone() };
    let prepare = move || {
        let opened = refs.iter().map(|r| shm::open(&dir, r)).collect::<crate::Result<Vec<_>>>()?;
        // Only encoded images take the host's memory: a `.npy` goes to the
        // guest, under its own cap.
        let held = budget.reserve_blocking(&runtime, opened.iter().map(shm::Opened::memory_bound).sum())?;
        let mut in_place = InPlace::none();
        let mut images: Vec<Image> = Vec::with_capacity(opened.len());
        for (index, opened) in opened.into_iter().enumerate() {
            let image = match opened.pixels(count_into(&stats))? {
                Pixels::InPlace { image, fill } => {
                    if index == 0 {
                        in_place.image = Some(fill);
                    } else {
                        in_place.guide_image = Some(fill);
                    }
                    image
                }
                Pixels::Decoded(image) => image,
            };
            images.push(image);
        }
        let mut images = images.into_iter();
        let image = images.next().ok_or_else(|| Error::host("no image was loaded"))?;
        let input = StepInput { step_index, pid, step_desc, params, image, guide_image: images.next(), guide_info };
        Ok(Prepared { input, in_place, held })
    };
    Ok(PreparedCall { step: key, prepare })
}

/// Counts an image as loaded when its pixels are read.
fn count_into(stats: &Arc<ServeStats>) -> impl FnOnce() + Send + 'static {
    let stats = Arc::clone(stats);
    move || {
        stats.images_loaded.fetch_add(1, Ordering::SeqCst);
    }
}
