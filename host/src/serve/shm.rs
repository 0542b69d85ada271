//! Images by shared-memory id: files the platform writes into a directory,
//! either encoded PNG/JPEG bytes (`<id>.bin`) or NumPy arrays (`<id>.npy`,
//! uint8, HxW or HxWx3).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::protocol::ImageRef;
use crate::error::{Error, ErrorCode, Result};
use crate::image::{MAX_IMAGE_BYTES, MAX_IMAGE_DIMENSION, check_image, decode_image};
use crate::types::{Image, ImageMeta, PixelFormat};

/// Environment variable naming the shared-memory directory.
pub const SHM_DIR_ENV: &str = "PROC_SHM_DIR";

/// The platform's shared-memory directory on a development machine.
pub const DEFAULT_SHM_DIR: &str = "/dev/shm/procvision";

fn load_failed(message: String) -> Error {
    Error::input(ErrorCode::ImageLoadFailed, message)
}

/// An id is a plain file name: letters, digits, `-`, `_`, `.`, not starting with
/// a dot, at most 128 characters; so it can never leave the directory.
fn sanitised(id: &str) -> Result<&str> {
    let plain = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain { Ok(id) } else { Err(load_failed(format!("shared-memory id {id:?} is not a plain name"))) }
}

fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|err| load_failed(format!("cannot open {}: {err}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| load_failed(format!("cannot read {}: {err}", path.display())))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(load_failed(format!("{} is over the {MAX_IMAGE_BYTES}-byte image limit", path.display())));
    }
    Ok(bytes)
}

/// Load the image `image` names from `dir` (1002 when it cannot be read or
/// decoded, 1006 when it disagrees with its meta).
pub fn load(dir: &Path, image: &ImageRef) -> Result<Image> {
    let id = sanitised(&image.shm_id)?;
    let candidates: [(PathBuf, bool); 3] =
        [(dir.join(format!("{id}.npy")), true), (dir.join(format!("{id}.bin")), false), (dir.join(id), false)];
    let Some((path, npy)) = candidates.into_iter().find(|(path, _)| path.is_file()) else {
        return Err(load_failed(format!("no image {id:?} in {} (looked for {id}.npy, {id}.bin, {id})", dir.display())));
    };
    let bytes = read_capped(&path)?;
    let bgr = image.meta.color_space.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("BGR"));
    let mut loaded = if npy || bytes.starts_with(b"\x93NUMPY") { from_npy(&bytes, bgr)? } else { decode_image(&bytes, None)? };
    let meta = &image.meta;
    if meta.width.is_some_and(|w| w != loaded.meta.width) || meta.height.is_some_and(|h| h != loaded.meta.height) {
        return Err(Error::input(
            ErrorCode::InvalidParams,
            format!(
                "image {id:?} is {}x{} but its meta says {}x{}",
                loaded.meta.width,
                loaded.meta.height,
                meta.width.unwrap_or(loaded.meta.width),
                meta.height.unwrap_or(loaded.meta.height)
            ),
        ));
    }
    loaded.meta.timestamp_ms = meta.timestamp_ms.unwrap_or(0);
    loaded.meta.camera_id = meta.camera_id.clone().unwrap_or_default();
    check_image(&loaded)?;
    Ok(loaded)
}

fn from_npy(bytes: &[u8], bgr: bool) -> Result<Image> {
    let npy = npyz::NpyFile::new(bytes).map_err(|err| load_failed(format!("not a NumPy array: {err}")))?;
    if npy.order() != npyz::Order::C {
        return Err(load_failed("the array is in Fortran order; write it C-contiguous".into()));
    }
    let shape = npy.shape().to_vec();
    let (height, width, format) = match shape[..] {
        [h, w] | [h, w, 1] => (h, w, PixelFormat::Gray8),
        [h, w, 3] => (h, w, if bgr { PixelFormat::Bgr8 } else { PixelFormat::Rgb8 }),
        _ => return Err(load_failed(format!("array shape {shape:?} is not HxW or HxWx3"))),
    };
    if height == 0 || width == 0 || height > u64::from(MAX_IMAGE_DIMENSION) || width > u64::from(MAX_IMAGE_DIMENSION) {
        return Err(load_failed(format!("array of {height}x{width} pixels is empty or too large")));
    }
    // The header's claim is checked against the bytes before anything is read.
    let channels = if format == PixelFormat::Gray8 { 1 } else { 3 };
    if height * width * channels > bytes.len() as u64 {
        return Err(load_failed(format!("the array claims {height}x{width}x{channels} bytes, the file is shorter")));
    }
    let pixels: Vec<u8> = npy.into_vec().map_err(|err| load_failed(format!("the array is not uint8: {err}")))?;
    Ok(Image {
        meta: ImageMeta { width: width as u32, height: height as u32, format, timestamp_ms: 0, camera_id: String::new() },
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_leave_the_directory() {
        for bad in ["", "../etc/passwd", "/etc/passwd", ".hidden", "a/b", "a\\b", "x\0y"] {
            assert!(sanitised(bad).is_err(), "{bad:?}");
        }
        assert_eq!(sanitised("frame_0001.cam-2").ok(), Some("frame_0001.cam-2"));
    }
}
