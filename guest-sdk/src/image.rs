//! Images as the algorithm sees them: pixels plus meta, with `ndarray` views.

use ndarray::{Array2, ArrayView2, ArrayView3, CowArray, Ix2};

use crate::bindings::procvision::algorithm::types as wit;
use crate::error::{Error, Result};

pub use wit::{ImageMeta, PixelFormat};

impl PixelFormat {
    /// Bytes per pixel.
    pub fn channels(self) -> usize {
        match self {
            PixelFormat::Gray8 => 1,
            PixelFormat::Rgb8 | PixelFormat::Bgr8 => 3,
            PixelFormat::Rgba8 => 4,
        }
    }
}

/// A frame handed to the algorithm: row-major, tightly packed 8-bit pixels.
///
/// The host guarantees that the buffer length matches the meta; the views below
/// still check, so a hand-built image with a wrong length gets an error, not a panic.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    meta: ImageMeta,
    pixels: Vec<u8>,
}

impl Image {
    /// Build an image from meta and pixels (mostly for tests of algorithm code).
    pub fn new(meta: ImageMeta, pixels: Vec<u8>) -> Self {
        Image { meta, pixels }
    }

    /// A gray image of the given size (for tests).
    pub fn gray(width: u32, height: u32, pixels: Vec<u8>) -> Self {
        Self::new(ImageMeta { width, height, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: String::new() }, pixels)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.meta.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.meta.height
    }
    /// Pixel layout.
    pub fn format(&self) -> PixelFormat {
        self.meta.format
    }
    /// Size, format, timestamp and camera id.
    pub fn meta(&self) -> &ImageMeta {
        &self.meta
    }
    /// The raw pixel bytes.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The image as `[row, column, channel]`, whatever its format.
    pub fn view(&self) -> Result<ArrayView3<'_, u8>> {
        let shape = (self.meta.height as usize, self.meta.width as usize, self.meta.format.channels());
        ArrayView3::from_shape(shape, &self.pixels).map_err(|err| {
            Error::image(format!(
                "pixel buffer of {} bytes does not fit {}x{} {:?}: {err}",
                self.pixels.len(),
                self.meta.width,
                self.meta.height,
                self.meta.format
            ))
        })
    }

    /// The image as `[row, column]`; only for `gray8` images.
    pub fn gray_view(&self) -> Result<ArrayView2<'_, u8>> {
        if self.meta.format != PixelFormat::Gray8 {
            return Err(Error::image(format!("expected a gray8 image, got {:?}", self.meta.format)));
        }
        let view = self.view()?;
        Ok(view.index_axis_move(ndarray::Axis(2), 0))
    }

    /// The image as `[row, column, channel]`; only for colour images.
    pub fn color_view(&self) -> Result<ArrayView3<'_, u8>> {
        if self.meta.format == PixelFormat::Gray8 {
            return Err(Error::image("expected a colour image, got gray8"));
        }
        self.view()
    }

    /// Luminance as `[row, column]`: borrowed for gray images, computed (ITU-R BT.601
    /// weights, alpha ignored) for colour ones.
    pub fn luma(&self) -> Result<CowArray<'_, u8, Ix2>> {
        if self.meta.format == PixelFormat::Gray8 {
            return Ok(CowArray::from(self.gray_view()?));
        }
        Ok(CowArray::from(luma_of(self.view()?, self.meta.format)))
    }
}

/// Luminance of colour pixels `[row, column, channel]` in `format` (ITU-R BT.601
/// weights, alpha ignored), as [`Image::luma`] computes it; a one-channel view
/// is copied as it is.
pub fn luma_of(view: ArrayView3<'_, u8>, format: PixelFormat) -> Array2<u8> {
    if view.dim().2 == 1 {
        return view.index_axis(ndarray::Axis(2), 0).to_owned();
    }
    let (r, b) = match format {
        PixelFormat::Bgr8 => (2, 0),
        _ => (0, 2),
    };
    Array2::from_shape_fn((view.dim().0, view.dim().1), |(y, x)| {
        let px = |c: usize| u32::from(view[[y, x, c]]);
        // Fixed-point BT.601: 0.299 R + 0.587 G + 0.114 B, rounded.
        ((299 * px(r) + 587 * px(1) + 114 * px(b) + 500) / 1000) as u8
    })
}

impl From<wit::Image> for Image {
    fn from(image: wit::Image) -> Self {
        Image { meta: image.meta, pixels: image.pixels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(format: PixelFormat, width: u32, height: u32, pixels: Vec<u8>) -> Image {
        Image::new(ImageMeta { width, height, format, timestamp_ms: 0, camera_id: String::new() }, pixels)
    }

    #[test]
    fn gray_view_is_row_major() {
        let img = Image::gray(3, 2, vec![1, 2, 3, 4, 5, 6]);
        let view = img.gray_view().expect("valid gray image");
        assert_eq!(view.dim(), (2, 3));
        assert_eq!(view[[1, 0]], 4);
        assert_eq!(view[[0, 2]], 3);
        assert!(img.color_view().is_err());
    }

    #[test]
    fn color_view_has_channels_last() {
        let img = image(PixelFormat::Rgb8, 2, 1, vec![10, 20, 30, 40, 50, 60]);
        let view = img.color_view().expect("valid rgb image");
        assert_eq!(view.dim(), (1, 2, 3));
        assert_eq!(view[[0, 1, 2]], 60);
        assert!(img.gray_view().is_err());
    }

    #[test]
    fn luma_weights_channels_and_respects_bgr_order() {
        let rgb = image(PixelFormat::Rgb8, 1, 1, vec![255, 0, 0]);
        let bgr = image(PixelFormat::Bgr8, 1, 1, vec![0, 0, 255]);
        let rgba = image(PixelFormat::Rgba8, 1, 1, vec![255, 0, 0, 7]);
        assert_eq!(rgb.luma().expect("rgb")[[0, 0]], 76);
        assert_eq!(bgr.luma().expect("bgr")[[0, 0]], 76);
        assert_eq!(rgba.luma().expect("rgba")[[0, 0]], 76);
        let white = image(PixelFormat::Rgb8, 1, 1, vec![255, 255, 255]);
        assert_eq!(white.luma().expect("white")[[0, 0]], 255);
    }

    #[test]
    fn wrong_buffer_length_is_an_image_error_not_a_panic() {
        let img = Image::gray(4, 4, vec![0; 15]);
        let err = img.gray_view().expect_err("short buffer");
        assert_eq!(err.code(), crate::ErrorCode::ImageLoadFailed);
        assert!(img.luma().is_err());
    }
}
