//! Getting frames into the contract's pixel layout: decoding PNG/JPEG, converting
//! between pixel formats, and checking that an image's meta fits its pixels.

use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::error::{Error, InputCode, Result};
use crate::types::{Image, ImageMeta, PixelFormat};

/// Largest width or height accepted, in pixels. Industrial cameras top out well
/// below this; anything larger is a corrupt header or a decompression bomb.
pub const MAX_IMAGE_DIMENSION: u32 = 16_384;

/// Largest number of bytes a decoded image may take (256 MiB: a 16k x 4k RGBA frame).
pub const MAX_IMAGE_BYTES: u64 = 256 * 1024 * 1024;

/// Bytes per pixel of a format.
pub fn channels(format: PixelFormat) -> usize {
    match format {
        PixelFormat::Gray8 => 1,
        PixelFormat::Rgb8 | PixelFormat::Bgr8 => 3,
        PixelFormat::Rgba8 => 4,
    }
}

/// Name of a format as the CLI and JSON spell it.
pub fn format_name(format: PixelFormat) -> &'static str {
    match format {
        PixelFormat::Gray8 => "gray8",
        PixelFormat::Rgb8 => "rgb8",
        PixelFormat::Bgr8 => "bgr8",
        PixelFormat::Rgba8 => "rgba8",
    }
}

/// Read and decode an image file; error 1002 when it cannot be read or decoded.
pub fn load_image(path: &Path, format: Option<PixelFormat>) -> Result<Image> {
    let bytes = std::fs::read(path)
        .map_err(|err| Error::input(InputCode::ImageLoadFailed, format!("cannot read image {}: {err}", path.display())))?;
    decode_image(&bytes, format)
        .map_err(|err| Error::input(InputCode::ImageLoadFailed, format!("image {}: {err}", path.display())))
}

/// Read an image file's header only, not its pixels: error 1002 when it cannot
/// be read, is not a PNG or JPEG, or is over the caps (dimensions, decoded bytes,
/// bytes once converted to `format`). Cheap: a caller with several images to
/// decode one after another can refuse a bad one before decoding any.
pub fn probe_image(path: &Path, format: Option<PixelFormat>) -> Result<()> {
    let fail = |message: String| Error::input(InputCode::ImageLoadFailed, format!("image {}: {message}", path.display()));
    let reader = ImageReader::open(path).map_err(|err| fail(format!("cannot read it: {err}")))?;
    let reader = reader.with_guessed_format().map_err(|err| fail(format!("unreadable: {err}")))?;
    checked_decoder(reader, format).map_err(|err| fail(err.to_string()))?;
    Ok(())
}

/// Decode PNG or JPEG bytes into the contract's layout.
///
/// With `format: None` the layout follows the file: gray files give `gray8`,
/// colour files `rgb8`, files with alpha `rgba8`. Otherwise the pixels are
/// converted to the format asked for. 16-bit files are reduced to 8 bits.
///
/// The decoder refuses frames over [`MAX_IMAGE_DIMENSION`] a side or
/// [`MAX_IMAGE_BYTES`] decoded, and the frame in the format asked for must fit
/// [`MAX_IMAGE_BYTES`] too: both are checked from the header, before anything is
/// decoded or converted. So decoding costs at most the decoded frame plus the
/// converted one, each at most [`MAX_IMAGE_BYTES`].
pub fn decode_image(bytes: &[u8], format: Option<PixelFormat>) -> Result<Image> {
    let fail = |message: String| Error::input(InputCode::ImageLoadFailed, message);
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|err| fail(format!("unreadable: {err}")))?;
    let (decoder, format) = checked_decoder(reader, format)?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(|err| fail(format!("does not decode: {err}")))?;
    Ok(from_dynamic(decoded, Some(format)))
}

/// The decoder of `reader`, with the host's caps set, and the format its frame
/// will be converted to, once the header says the frame fits the caps.
fn checked_decoder<'a, R: BufRead + Seek + 'a>(
    mut reader: ImageReader<R>,
    format: Option<PixelFormat>,
) -> Result<(impl ImageDecoder + 'a, PixelFormat)> {
    let fail = |message: String| Error::input(InputCode::ImageLoadFailed, message);
    if reader.format().is_none() {
        return Err(fail("not a PNG or JPEG image".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_DIMENSION);
    limits.max_image_height = Some(MAX_IMAGE_DIMENSION);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|err| fail(format!("does not decode: {err}")))?;
    let (width, height) = decoder.dimensions();
    let format = format.unwrap_or_else(|| default_format(decoder.color_type()));
    let converted = u64::from(width) * u64::from(height) * channels(format) as u64;
    if converted > MAX_IMAGE_BYTES {
        return Err(fail(format!(
            "{width}x{height} as {} takes {converted} bytes, over the cap of {MAX_IMAGE_BYTES}",
            format_name(format)
        )));
    }
    Ok((decoder, format))
}

/// The layout a file's colour type maps to when no format is asked for.
fn default_format(color: image::ColorType) -> PixelFormat {
    match (color.has_color(), color.has_alpha()) {
        (false, _) => PixelFormat::Gray8,
        (true, false) => PixelFormat::Rgb8,
        (true, true) => PixelFormat::Rgba8,
    }
}

/// Convert a decoded image into the contract's layout (see [`decode_image`]).
pub fn from_dynamic(image: DynamicImage, format: Option<PixelFormat>) -> Image {
    let format = format.unwrap_or_else(|| default_format(image.color()));
    let (width, height) = (image.width(), image.height());
    let pixels = match format {
        PixelFormat::Gray8 => image.into_luma8().into_raw(),
        PixelFormat::Rgb8 => image.into_rgb8().into_raw(),
        PixelFormat::Rgba8 => image.into_rgba8().into_raw(),
        PixelFormat::Bgr8 => {
            let mut pixels = image.into_rgb8().into_raw();
            pixels.chunks_exact_mut(3).for_each(|px| px.swap(0, 2));
            pixels
        }
    };
    Image { meta: ImageMeta { width, height, format, timestamp_ms: 0, camera_id: String::new() }, pixels }
}

/// Convert an image to RGB for display (annotation, thumbnails).
pub fn to_rgb(image: &Image) -> Result<image::RgbImage> {
    check_image(image)?;
    let ImageMeta { width, height, format, .. } = image.meta;
    let rgb: Vec<u8> = match format {
        PixelFormat::Gray8 => image.pixels.iter().flat_map(|&g| [g, g, g]).collect(),
        PixelFormat::Rgb8 => image.pixels.clone(),
        PixelFormat::Bgr8 => image.pixels.chunks_exact(3).flat_map(|px| [px[2], px[1], px[0]]).collect(),
        PixelFormat::Rgba8 => image.pixels.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect(),
    };
    image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| Error::host("pixel buffer does not fit the image size after conversion"))
}

/// The number of pixel bytes `meta` implies: `width * height * channels`.
pub fn expected_len(meta: &ImageMeta) -> usize {
    meta.width as usize * meta.height as usize * channels(meta.format)
}

/// Check that an image's meta is sane on its own: not empty, at most
/// [`MAX_IMAGE_DIMENSION`] a side; error 1006 otherwise.
pub fn check_meta(meta: &ImageMeta) -> Result<()> {
    let ImageMeta { width, height, .. } = *meta;
    let invalid = |message: String| Error::input(InputCode::InvalidParams, message);
    if width == 0 || height == 0 {
        return Err(invalid(format!("image size {width}x{height} is empty")));
    }
    if width > MAX_IMAGE_DIMENSION || height > MAX_IMAGE_DIMENSION {
        return Err(invalid(format!("image size {width}x{height} exceeds the maximum of {MAX_IMAGE_DIMENSION} pixels per side")));
    }
    Ok(())
}

/// Check that an image's meta is sane and fits its pixel buffer; error 1006 otherwise.
pub fn check_image(image: &Image) -> Result<()> {
    check_meta(&image.meta)?;
    let ImageMeta { width, height, format, .. } = image.meta;
    let invalid = |message: String| Error::input(InputCode::InvalidParams, message);
    let expected = u64::from(width) * u64::from(height) * channels(format) as u64;
    if image.pixels.len() as u64 != expected {
        return Err(invalid(format!(
            "image meta says {width}x{height} {} ({expected} bytes) but the pixel buffer has {} bytes",
            format_name(format),
            image.pixels.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn png_bytes(image: DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode png");
        bytes
    }

    #[test]
    fn gray_png_decodes_to_gray8_and_converts_on_request() {
        let gray = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x + 10 * y) as u8]));
        let bytes = png_bytes(DynamicImage::ImageLuma8(gray));
        let img = decode_image(&bytes, None).expect("decode");
        assert_eq!(img.meta.format, PixelFormat::Gray8);
        assert_eq!(img.pixels, [0, 1, 2, 10, 11, 12]);
        let rgb = decode_image(&bytes, Some(PixelFormat::Rgb8)).expect("decode as rgb");
        assert_eq!(rgb.pixels.len(), 18);
        check_image(&rgb).expect("consistent");
    }

    #[test]
    fn bgr_swaps_red_and_blue() {
        let rgb = image::RgbImage::from_pixel(1, 1, image::Rgb([1, 2, 3]));
        let bytes = png_bytes(DynamicImage::ImageRgb8(rgb));
        assert_eq!(decode_image(&bytes, None).expect("rgb").pixels, [1, 2, 3]);
        assert_eq!(decode_image(&bytes, Some(PixelFormat::Bgr8)).expect("bgr").pixels, [3, 2, 1]);
    }

    #[test]
    fn garbage_is_an_image_load_error() {
        let err = decode_image(b"definitely not an image", None).expect_err("garbage");
        assert_eq!(err.code(), ErrorCode::ImageLoadFailed);
        let mut truncated = png_bytes(DynamicImage::ImageLuma8(image::GrayImage::new(64, 64)));
        truncated.truncate(truncated.len() / 2);
        assert_eq!(decode_image(&truncated, None).expect_err("truncated").code(), ErrorCode::ImageLoadFailed);
    }

    #[test]
    fn a_frame_over_the_cap_once_converted_is_refused_before_converting() {
        // 8192x8200 gray: 67 MB decoded, within the cap; 269 MB as rgba8, over it.
        let (width, height) = (8192, 8200);
        let bytes = png_bytes(DynamicImage::ImageLuma8(image::GrayImage::new(width, height)));
        assert!(bytes.len() < 1 << 20, "one colour compresses to {} bytes", bytes.len());
        let err = decode_image(&bytes, Some(PixelFormat::Rgba8)).expect_err("over the cap as rgba8");
        assert_eq!(err.code(), ErrorCode::ImageLoadFailed);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bomb.png");
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(probe_image(&path, Some(PixelFormat::Rgba8)).expect_err("probed").code(), ErrorCode::ImageLoadFailed);
        probe_image(&path, None).expect("as gray8 it fits");
        assert_eq!(decode_image(&bytes, None).expect("fits as gray8").pixels.len(), (width * height) as usize);
    }

    #[test]
    fn inconsistent_meta_is_refused() {
        let mut img = from_dynamic(DynamicImage::ImageLuma8(image::GrayImage::new(4, 4)), None);
        img.pixels.pop();
        assert_eq!(check_image(&img).expect_err("short").code(), ErrorCode::InvalidParams);
        img.meta.width = 0;
        assert_eq!(check_image(&img).expect_err("empty").code(), ErrorCode::InvalidParams);
    }
}
