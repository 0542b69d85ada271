//! Frames written in place: the caller's bytes go straight into the guest's
//! memory, one copy from wherever they are (a camera buffer, a shared-memory
//! file) into the block the guest's allocator handed out for the call.
//!
//! A `list<u8>` argument is normally lowered from a host `Vec`: the host holds
//! the frame, then the call copies it into the guest. Here the `image` record of
//! a `step-input` is lowered by hand instead: the guest's `cabi_realloc` is
//! asked for the frame's length, exactly as for a `Vec`, and the caller's fill
//! writes into that block. The rest of the input is lowered as usual; the
//! types below mirror the contract's `step-input` and `image` field for field,
//! and wasmtime type-checks them against the guest's export on every call.
//!
//! The hand-written lowering uses the items wasmtime exports for its derive
//! macros (`wasmtime::component::__internal`), outside its stability promise:
//! a wasmtime upgrade may need this file adjusted, and `host/tests/in_place.rs`
//! checks the bytes the guest receives.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext};
use wasmtime::component::{ComponentType, Lower};

use crate::error::{Error, InputCode, Result};
use crate::image::{MAX_IMAGE_BYTES, check_meta};
use crate::types::{ImageMeta, Param, Rect, StepInput};

/// Writes a frame's pixels: called once, during the call, with a slice of
/// exactly the frame's length (`width * height * channels`) in the guest's
/// memory. It must write every byte: the slice holds whatever the guest's
/// allocator left there. An error stops the call before the guest runs.
pub type FillPixels<'a> = Box<dyn FnOnce(&mut [u8]) -> std::io::Result<()> + Send + 'a>;

/// The images of one call that are filled in place rather than carried in
/// [`Image::pixels`](crate::types::Image): for each, the input's image has its
/// meta set and its pixels empty.
pub struct InPlace<'a> {
    pub(crate) image: Option<FillPixels<'a>>,
    pub(crate) guide_image: Option<FillPixels<'a>>,
}

impl std::fmt::Debug for InPlace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InPlace").field("image", &self.image.is_some()).field("guide_image", &self.guide_image.is_some()).finish()
    }
}

impl<'a> InPlace<'a> {
    /// The current image filled by `fill`; the guide image, if any, carried as usual.
    pub fn image(fill: impl FnOnce(&mut [u8]) -> std::io::Result<()> + Send + 'a) -> Self {
        InPlace { image: Some(Box::new(fill)), guide_image: None }
    }

    /// Nothing filled in place: every image is carried in its pixels.
    pub fn none() -> Self {
        InPlace { image: None, guide_image: None }
    }

    /// The guide image filled by `fill` too.
    pub fn with_guide_image(mut self, fill: impl FnOnce(&mut [u8]) -> std::io::Result<()> + Send + 'a) -> Self {
        self.guide_image = Some(Box::new(fill));
        self
    }

    /// Which images are filled in place.
    pub(crate) fn filled(&self) -> Filled {
        Filled { image: self.image.is_some(), guide_image: self.guide_image.is_some() }
    }
}

/// Which images of a call are filled in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Filled {
    /// The current image.
    pub(crate) image: bool,
    /// The guide image.
    pub(crate) guide_image: bool,
}

impl Filled {
    /// Whether any image is.
    pub(crate) fn any(self) -> bool {
        self.image || self.guide_image
    }
}

/// A fill that failed: the call stops before the guest runs, and the host
/// reports the frame as not loaded (1002).
#[derive(Debug, thiserror::Error)]
#[error("the frame could not be filled: {0}")]
pub(crate) struct FillFailed(pub(crate) std::io::Error);

/// Check an input whose images are filled in place where `filled` says: an
/// image filled in place must have empty pixels and a meta within the caps
/// (1006 otherwise); an image carried as usual must fit its meta.
pub(crate) fn check_images(input: &StepInput, filled: Filled) -> Result<()> {
    let check = |image: &crate::types::Image, in_place: bool, which: &str| -> Result<()> {
        if !in_place {
            return crate::image::check_image(image);
        }
        check_meta(&image.meta)?;
        let len = crate::image::expected_len(&image.meta) as u64;
        if len > MAX_IMAGE_BYTES {
            return Err(Error::input(
                InputCode::InvalidParams,
                format!("the {which} would take {len} bytes, over the {MAX_IMAGE_BYTES}-byte image limit"),
            ));
        }
        if !image.pixels.is_empty() {
            return Err(Error::input(
                InputCode::InvalidParams,
                format!("the {which} is filled in place, but its pixels hold {} bytes; leave them empty", image.pixels.len()),
            ));
        }
        Ok(())
    };
    check(&input.image, filled.image, "image")?;
    match (&input.guide_image, filled.guide_image) {
        (Some(guide), in_place) => check(guide, in_place, "guide image"),
        (None, true) => Err(Error::input(InputCode::InvalidParams, "a guide image is filled in place, but the input has none")),
        (None, false) => Ok(()),
    }
}

/// The `step-input` record, lowered with images that may be filled in place.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct LoweredInput<'a> {
    #[component(name = "step-index")]
    step_index: u32,
    pid: &'a str,
    #[component(name = "step-desc")]
    step_desc: &'a str,
    params: &'a [Param],
    image: LoweredImage<'a>,
    #[component(name = "guide-image")]
    guide_image: Option<LoweredImage<'a>>,
    #[component(name = "guide-info")]
    guide_info: &'a [Rect],
}

/// The `image` record: its meta as usual, its pixels carried or filled.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct LoweredImage<'a> {
    meta: &'a ImageMeta,
    pixels: Pixels<'a>,
}

/// An image's `list<u8>`: bytes the host holds, or a fill into the guest.
pub(crate) enum Pixels<'a> {
    Held(&'a [u8]),
    Filled(Fill<'a>),
}

/// A fill not yet run.
pub(crate) struct Fill<'a> {
    len: usize,
    fill: Mutex<Option<FillPixels<'a>>>,
}

impl<'a> LoweredInput<'a> {
    /// `input` with the fills of `in_place` for its images, whose lengths
    /// come from their metas (checked by [`check_images`] before).
    pub(crate) fn new(input: &'a StepInput, params: &'a [Param], in_place: InPlace<'a>) -> Self {
        let image = LoweredImage::new(&input.image, in_place.image);
        let guide_image = input.guide_image.as_ref().map(|guide| LoweredImage::new(guide, in_place.guide_image));
        LoweredInput {
            step_index: input.step_index,
            pid: &input.pid,
            step_desc: &input.step_desc,
            params,
            image,
            guide_image,
            guide_info: &input.guide_info,
        }
    }
}

impl<'a> LoweredImage<'a> {
    fn new(image: &'a crate::types::Image, fill: Option<FillPixels<'a>>) -> Self {
        let pixels = match fill {
            Some(fill) => Pixels::Filled(Fill { len: crate::image::expected_len(&image.meta), fill: Mutex::new(Some(fill)) }),
            None => Pixels::Held(&image.pixels),
        };
        LoweredImage { meta: &image.meta, pixels }
    }
}

impl Fill<'_> {
    /// Allocate the frame in the guest, as the lowering of a `list<u8>` does,
    /// and let the fill write it. Returns the guest address; a failed fill is
    /// a [`FillFailed`] error, which stops the call before the guest runs.
    fn store<T>(&self, cx: &mut LowerContext<'_, T>) -> wasmtime::Result<usize> {
        let fill = crate::locks::lock(&self.fill).take();
        let fill = fill.ok_or_else(|| wasmtime::format_err!("a frame filled in place was lowered twice"))?;
        // The guest's allocator, with its memory cap: a frame the guest cannot
        // hold fails here, before the fill runs.
        let ptr = cx.realloc(0, 0, 1, self.len)?;
        // `realloc` has checked that `ptr..ptr + len` is inside the memory.
        let target = cx
            .as_slice_mut()
            .get_mut(ptr..)
            .and_then(|rest| rest.get_mut(..self.len))
            .ok_or_else(|| wasmtime::format_err!("the guest's allocation is outside its memory"))?;
        fill(target).map_err(|err| wasmtime::Error::new(FillFailed(err)))?;
        Ok(ptr)
    }
}

// SAFETY: the representation is the canonical ABI's for `list<u8>` (a pointer
// and a length, `[ValRaw; 2]`, the pointer pair's size and alignment), and the
// type check is `[u8]`'s. `MAY_REQUIRE_REALLOC` stays at its default `true`:
// both arms allocate in the guest through `realloc`, and wasmtime 48 lowers a
// type that says `false` with `LowerContext::new_without_realloc` outside any
// fiber, which panics on a `realloc` (the workspace pins wasmtime `=48.0.8`
// for this).
#[allow(unsafe_code, reason = "a hand-written ComponentType for a frame filled in place")]
unsafe impl ComponentType for Pixels<'_> {
    type Lower = [ValRaw; 2];

    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[u8] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: held bytes are lowered by `[u8]`'s own code; filled ones write what
// that code writes, the address and length of a block the guest's `realloc`
// returned (checked to lie inside its memory).
#[allow(unsafe_code, reason = "a hand-written Lower for a frame filled in place")]
unsafe impl Lower for Pixels<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 2]>,
    ) -> wasmtime::Result<()> {
        match self {
            Pixels::Held(bytes) => <[u8] as Lower>::linear_lower_to_flat(bytes, cx, ty, dst),
            Pixels::Filled(filled) => {
                let ptr = filled.store(cx)?;
                // 64-bit values, as wasmtime stores a flat pointer pair.
                dst.write([ValRaw::i64(ptr as i64), ValRaw::i64(filled.len as i64)]);
                Ok(())
            }
        }
    }

    fn linear_lower_to_memory<T>(&self, cx: &mut LowerContext<'_, T>, ty: InterfaceType, offset: usize) -> wasmtime::Result<()> {
        match self {
            Pixels::Held(bytes) => <[u8] as Lower>::linear_lower_to_memory(bytes, cx, ty, offset),
            Pixels::Filled(filled) => {
                let ptr = u32::try_from(filled.store(cx)?)?;
                let len = u32::try_from(filled.len)?;
                *cx.get::<4>(offset) = ptr.to_le_bytes();
                *cx.get::<4>(offset + 4) = len.to_le_bytes();
                Ok(())
            }
        }
    }
}
