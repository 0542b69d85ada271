//! Image views turned into model inputs.

use ndarray::ArrayView3;
use pv_guest::{Error, Image, PixelFormat, Result};
use rten_tensor::NdTensor;

/// Per-channel normalisation of 8-bit pixels: `(value / 255 - mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Subtracted from `value / 255`, per channel of the model's order.
    pub mean: [f32; 3],
    /// Divides the result, per channel of the model's order.
    pub std: [f32; 3],
}

impl Normalize {
    /// `value / 255`: inputs in [0, 1].
    pub const UNIT: Normalize = Normalize { mean: [0.0; 3], std: [1.0; 3] };
    /// `(value / 255 - 0.5) / 0.5`: inputs in [-1, 1] (PaddleOCR's models).
    pub const SYMMETRIC: Normalize = Normalize { mean: [0.5; 3], std: [0.5; 3] };
    /// The ImageNet statistics most classifiers and backbones were trained with
    /// (in RGB order).
    pub const IMAGENET: Normalize = Normalize { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/// The order of colour planes a model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue (PyTorch and PIL-trained models).
    Rgb,
    /// Blue, green, red (models trained on OpenCV-loaded images, PaddleOCR's among them).
    Bgr,
}

/// How to turn an image into a `[1, 3, height, width]` `f32` tensor.
///
/// The image is resized as `cv2.resize` with `INTER_LINEAR` does it, bit for bit
/// ([`ops::resize_bilinear`](crate::ops::resize_bilinear)); then one pass over the
/// tensor does the rest: the channel order the model wants, gray replicated to
/// three planes, alpha dropped, normalisation, and zero padding on the right.
///
/// ```
/// use pv_guest::Image;
/// use pv_vision::{ChannelOrder, ImageTensor, Normalize};
/// use pv_vision::tensors::*;
///
/// let image = Image::gray(4, 2, vec![0, 255, 0, 255, 255, 0, 255, 0]);
/// let tensor = ImageTensor::new(2, 4).normalize(Normalize::SYMMETRIC).from_image(&image)?;
/// assert_eq!(tensor.shape(), [1, 3, 2, 4]);
/// assert_eq!(tensor[[0, 0, 0, 1]], 1.0);
/// assert_eq!(tensor[[0, 2, 0, 0]], -1.0);
/// # Ok::<(), pv_guest::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageTensor {
    height: usize,
    width: usize,
    content_width: usize,
    normalize: Normalize,
    order: ChannelOrder,
}

impl ImageTensor {
    /// A tensor of `height` x `width`, the image stretched to fill it, values in
    /// [0, 1] ([`Normalize::UNIT`]), planes in RGB order.
    pub fn new(height: usize, width: usize) -> Self {
        ImageTensor { height, width, content_width: width, normalize: Normalize::UNIT, order: ChannelOrder::Rgb }
    }

    /// Normalise with these statistics (default [`Normalize::UNIT`]).
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = normalize;
        self
    }

    /// Write the planes in this order (default [`ChannelOrder::Rgb`]).
    pub fn channel_order(mut self, order: ChannelOrder) -> Self {
        self.order = order;
        self
    }

    /// Resize the image to `content_width` columns only and fill the columns right
    /// of it with zeros (after normalisation), as text recognisers take a line:
    /// its aspect kept, padded to the batch's width. At most the tensor's width.
    pub fn pad_right(mut self, content_width: usize) -> Self {
        self.content_width = content_width.min(self.width);
        self
    }

    /// The tensor of a frame or a guide image.
    pub fn from_image(&self, image: &Image) -> Result<NdTensor<f32, 4>> {
        self.from_view(image.view()?, image.format())
    }

    /// The tensor of pixels `[row, column, channel]` laid out as `format` says (a
    /// crop or a warped region of a frame, say).
    pub fn from_view(&self, pixels: ArrayView3<'_, u8>, format: PixelFormat) -> Result<NdTensor<f32, 4>> {
        self.batch(&[(pixels, self.content_width)], format)
    }

    /// A batch `[N, 3, height, width]` of several images of one format, each
    /// resized to the content width given with it (at most the tensor's width) and
    /// padded with zeros on the right, as text recognisers take lines of several
    /// lengths in one inference.
    pub fn batch(&self, items: &[(ArrayView3<'_, u8>, usize)], format: PixelFormat) -> Result<NdTensor<f32, 4>> {
        if self.height == 0 || self.width == 0 {
            return Err(Error::image(format!("a {}x{} tensor holds no pixel", self.width, self.height)));
        }
        let item_len = 3 * self.height * self.width;
        let mut data = vec![0.0f32; items.len() * item_len];
        for ((pixels, content_width), out) in items.iter().zip(data.chunks_exact_mut(item_len)) {
            self.fill(pixels.view(), format, (*content_width).min(self.width), out)?;
        }
        Ok(NdTensor::from_data([items.len(), 3, self.height, self.width], data))
    }

    /// Write one `[3, height, width]` item into `out` (zeroed by the caller).
    fn fill(&self, pixels: ArrayView3<'_, u8>, format: PixelFormat, content_width: usize, out: &mut [f32]) -> Result<()> {
        let (src_h, src_w, channels) = pixels.dim();
        if channels != format.channels() {
            return Err(Error::image(format!("{channels} channels do not match {format:?}")));
        }
        if src_h == 0 || src_w == 0 || content_width == 0 {
            return Err(Error::image(format!(
                "cannot make a {content_width}x{} tensor from a {src_w}x{src_h} image",
                self.height
            )));
        }
        // The resize is done in 8 bits, bit-exact with OpenCV's: models trained on
        // OpenCV pipelines saw rounded pixels, and the rounding changes what a
        // recogniser reads on hard lines. It costs one u8 image of the target
        // size, a quarter of the tensor; a frame already at size is read in place.
        let resized;
        let pixels = if (src_h, src_w) == (self.height, content_width) {
            pixels
        } else {
            resized = crate::ops::resize_bilinear(pixels, self.height, content_width);
            resized.view()
        };
        let plane_of = source_planes(format, self.order);
        let plane_len = self.height * self.width;
        for (plane, out) in out.chunks_exact_mut(plane_len).enumerate() {
            let source = plane_of[plane];
            // (v / 255 - mean) / std as one multiply-add per value.
            let scale = 1.0 / (255.0 * self.normalize.std[plane]);
            let offset = -self.normalize.mean[plane] / self.normalize.std[plane];
            // Columns right of the content stay zero: zero after normalisation,
            // as PaddleOCR pads.
            for (out_row, row) in out.chunks_exact_mut(self.width).zip(pixels.outer_iter()) {
                for (value, pixel) in out_row.iter_mut().zip(row.outer_iter()) {
                    *value = f32::from(pixel[source]) * scale + offset;
                }
            }
        }
        Ok(())
    }
}

/// For each of the model's three planes, the source channel it reads.
fn source_planes(format: PixelFormat, order: ChannelOrder) -> [usize; 3] {
    match (format, order) {
        (PixelFormat::Gray8, _) => [0, 0, 0],
        (PixelFormat::Rgb8 | PixelFormat::Rgba8, ChannelOrder::Rgb) | (PixelFormat::Bgr8, ChannelOrder::Bgr) => [0, 1, 2],
        (PixelFormat::Rgb8 | PixelFormat::Rgba8, ChannelOrder::Bgr) | (PixelFormat::Bgr8, ChannelOrder::Rgb) => [2, 1, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_guest::ImageMeta;
    use rten_tensor::prelude::*;

    fn image(format: PixelFormat, width: u32, height: u32, pixels: Vec<u8>) -> Image {
        Image::new(ImageMeta { width, height, format, timestamp_ms: 0, camera_id: String::new() }, pixels)
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn same_size_copies_and_normalises_every_pixel() {
        let rgb = image(PixelFormat::Rgb8, 2, 1, vec![255, 0, 51, 0, 255, 102]);
        let tensor = ImageTensor::new(1, 2).from_image(&rgb).expect("tensor");
        assert_eq!(tensor.shape(), [1, 3, 1, 2]);
        let expected = [[1.0, 0.0], [0.0, 1.0], [0.2, 0.4]];
        for (plane, values) in expected.iter().enumerate() {
            for (x, &value) in values.iter().enumerate() {
                assert!(close(tensor[[0, plane, 0, x]], value), "plane {plane} x {x}: {}", tensor[[0, plane, 0, x]]);
            }
        }
    }

    #[test]
    fn channel_order_swaps_planes_whatever_the_source_order() {
        let rgb = image(PixelFormat::Rgb8, 1, 1, vec![10, 20, 30]);
        let bgr = image(PixelFormat::Bgr8, 1, 1, vec![30, 20, 10]);
        let rgba = image(PixelFormat::Rgba8, 1, 1, vec![10, 20, 30, 255]);
        for source in [&rgb, &bgr, &rgba] {
            let as_bgr = ImageTensor::new(1, 1).channel_order(ChannelOrder::Bgr).from_image(source).expect("tensor");
            assert!(close(as_bgr[[0, 0, 0, 0]], 30.0 / 255.0), "{:?}", source.format());
            assert!(close(as_bgr[[0, 2, 0, 0]], 10.0 / 255.0), "{:?}", source.format());
        }
    }

    #[test]
    fn gray_is_replicated_and_symmetric_normalisation_maps_to_minus_one_one() {
        let gray = Image::gray(2, 1, vec![0, 255]);
        let tensor = ImageTensor::new(1, 2).normalize(Normalize::SYMMETRIC).from_image(&gray).expect("tensor");
        for plane in 0..3 {
            assert!(close(tensor[[0, plane, 0, 0]], -1.0));
            assert!(close(tensor[[0, plane, 0, 1]], 1.0));
        }
    }

    #[test]
    fn upsampling_blends_like_opencv_and_padding_is_zero() {
        // 2 -> 4 columns: source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25
        // (clamped), blended and rounded to 8 bits as cv2.resize does.
        let gray = Image::gray(2, 1, vec![0, 100]);
        let tensor = ImageTensor::new(1, 6).pad_right(4).from_image(&gray).expect("tensor");
        let values: Vec<f32> = (0..6).map(|x| tensor[[0, 0, 0, x]] * 255.0).collect();
        let expected = [0.0, 25.0, 75.0, 100.0, 0.0, 0.0];
        for (got, want) in values.iter().zip(expected) {
            assert!((got - want).abs() < 1e-3, "{values:?}");
        }
    }

    #[test]
    fn a_wrong_buffer_or_an_empty_size_is_an_image_error() {
        let short = Image::gray(4, 4, vec![0; 3]);
        assert_eq!(ImageTensor::new(2, 2).from_image(&short).expect_err("short").code().number(), 1002);
        let fine = Image::gray(1, 1, vec![0]);
        assert_eq!(ImageTensor::new(0, 2).from_image(&fine).expect_err("empty").code().number(), 1002);
    }

    #[test]
    fn a_batch_pads_each_item_to_its_own_content_width() {
        let bright = ndarray::Array3::from_elem((2, 2, 1), 255u8);
        let dark = ndarray::Array3::from_elem((2, 4, 1), 0u8);
        let items = [(bright.view(), 2), (dark.view(), 4)];
        let batch = ImageTensor::new(2, 4).normalize(Normalize::SYMMETRIC).batch(&items, PixelFormat::Gray8).expect("batch");
        assert_eq!(batch.shape(), [2, 3, 2, 4]);
        assert!(close(batch[[0, 1, 1, 1]], 1.0) && close(batch[[0, 1, 1, 2]], 0.0));
        assert!(close(batch[[1, 2, 0, 3]], -1.0));
    }
}
