//! Images by shared-memory id, named and found as the platform does on a
//! development station: a file in a directory whose name is the id with every
//! character other than ASCII letters, digits, `.`, `_` and `-` replaced by `_`,
//! plus `.npy` (a NumPy array: uint8, HxWx3 RGB or BGR, HxW or HxWx1 gray) or
//! `.bin` (the encoded camera file, PNG or JPEG); the `.npy` is looked for first.
//!
//! Loading is in two steps so that a caller can reserve memory between them:
//! [`open`] opens the file once (never following a link, never blocking on a
//! FIFO), checks on the handle that it is a regular file within the size cap,
//! and reads only the `.npy` header (of an encoded file, nothing): what the
//! host will need is known from the file's size and the meta's
//! ([`Opened::memory_bound`]); [`Opened::pixels`] then gives the pixels, a
//! `.npy`'s read straight into the guest's memory during the call, an encoded
//! file's decoded.
//!
//! An encoded file larger than an image of its meta's size could need
//! ([`max_encoded_bytes`]: 9 bytes a pixel, more than PNG's widest layout
//! stored uncompressed, plus 1 MiB of metadata) is refused before it is read.
//! Bytes after the end of the image (after a PNG's `IEND`, a JPEG's `EOI`)
//! are accepted within that bound, as the platform's decoders (OpenCV, PIL)
//! accept them: the decoder stops at the end of the image. The `.npy` payload is read
//! straight into the guest's memory during the call ([`Opened::pixels`]), one
//! copy from the page cache and no buffer of the host's in between.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::npy::{MAX_NPY_HEADER_BYTES, npy_header_len, parse_npy_header};
use super::protocol::{ImageMetaJson, ImageRef};
use crate::durable;
use crate::error::{Error, InputCode, Result};
use crate::image::{MAX_IMAGE_BYTES, MAX_IMAGE_DIMENSION, check_image, decode_image};
use crate::ingress::FillPixels;
use crate::types::{Image, ImageMeta, PixelFormat};

/// Environment variable naming the shared-memory directory (the platform's).
pub const SHM_DIR_ENV: &str = "PROC_SHM_DIR";

/// The directory the platform uses inside the temp directory when
/// [`SHM_DIR_ENV`] is not set.
pub const DEFAULT_SHM_DIR_NAME: &str = "procvision_dev_shm";

/// Longest file name the mapped id may give (NAME_MAX on Linux).
const MAX_FILE_NAME_BYTES: usize = 255;

/// The shared-memory directory as the platform computes it: `$PROC_SHM_DIR`
/// when set, else `procvision_dev_shm` inside the system temp directory (the
/// first of `$TMPDIR`, `$TEMP`, `$TMP` that is set, else `/tmp`). An empty
/// variable counts as unset, as in Python's `tempfile`.
pub fn default_shm_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var(SHM_DIR_ENV) {
        return dir;
    }
    let temp = ["TMPDIR", "TEMP", "TMP"].iter().find_map(|name| var(name)).unwrap_or_else(|| PathBuf::from("/tmp"));
    temp.join(DEFAULT_SHM_DIR_NAME)
}

fn load_failed(message: String) -> Error {
    Error::input(InputCode::ImageLoadFailed, message)
}

/// The file stem the platform gives an id: every character other than ASCII
/// letters, digits, `.`, `_` and `-` becomes `_` (one per character). With the
/// `.npy` or `.bin` suffix the name can hold no separator and is never `.` or
/// `..`, so it cannot leave the directory. An empty id, or one whose name would
/// be over the file system's limit, is refused (1002).
pub fn file_stem(id: &str) -> Result<String> {
    if id.is_empty() {
        return Err(load_failed("the shared-memory id is empty".into()));
    }
    let stem: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if stem.len() + ".npy".len() > MAX_FILE_NAME_BYTES {
        return Err(load_failed(format!("the shared-memory id is {} characters long, over the file name limit", stem.len())));
    }
    Ok(stem)
}

/// How an opened image is stored.
#[derive(Debug)]
enum Stored {
    /// A `.npy` array; the file is positioned at the first pixel byte.
    Npy { height: u32, width: u32, format: PixelFormat, file: File },
    /// An encoded file, not read yet, and its size.
    Encoded { file: File, size: u64 },
}

/// An image file opened and checked, not yet decoded (see [`open`]).
#[derive(Debug)]
pub struct Opened {
    path: PathBuf,
    stored: Stored,
    meta: ImageMetaJson,
    shm_id: String,
}

/// Open the file `image` names in `dir`: `<stem>.npy` first, then `<stem>.bin`.
/// Refused with 1002: an empty id, no such file, a symbolic link, anything but a
/// regular file, a file over [`MAX_IMAGE_BYTES`], an empty file, a `.npy` whose
/// header is malformed, over [`MAX_NPY_HEADER_BYTES`] or not uint8 C-order HxW,
/// HxWx1 or HxWx3, or whose size disagrees with its shape, an encoded file of no
/// known format. 1006 when the size disagrees with the meta.
pub fn open(dir: &Path, image: &ImageRef) -> Result<Opened> {
    let stem = file_stem(&image.shm_id)?;
    let mut found = None;
    for (suffix, npy) in [(".npy", true), (".bin", false)] {
        let path = dir.join(format!("{stem}{suffix}"));
        // Never through a symbolic link, never blocking (a FIFO would wait for
        // a writer); the type and size come from the open handle, so what was
        // checked is what is read.
        match durable::open_regular(&path, false) {
            Ok((file, size)) => {
                found = Some((path, file, size, npy));
                break;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) if is_link_refused(&err) => {
                return Err(load_failed(format!("{} is a symbolic link; only regular files are read", path.display())));
            }
            Err(err) => {
                return Err(load_failed(format!("cannot open {}: {err}", path.display())));
            }
        }
    }
    let Some((path, file, size, npy)) = found else {
        return Err(load_failed(format!(
            "no image {:?} in {} (looked for {stem}.npy and {stem}.bin)",
            image.shm_id,
            dir.display()
        )));
    };
    if size == 0 {
        return Err(load_failed(format!("{} is empty", path.display())));
    }
    if size > MAX_IMAGE_BYTES + MAX_NPY_HEADER_BYTES as u64 + 16 {
        return Err(load_failed(format!("{} is {size} bytes, over the {MAX_IMAGE_BYTES}-byte image limit", path.display())));
    }
    let bgr = image.meta.color_space.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("BGR"));
    if npy {
        let stored = open_npy(&path, file, size, bgr)?;
        let opened = Opened { path, stored, meta: image.meta.clone(), shm_id: image.shm_id.clone() };
        let (width, height) = opened.npy_size().unwrap_or_default();
        check_meta(&opened.meta, &opened.shm_id, width, height)?;
        return Ok(opened);
    }
    if let (Some(width), Some(height)) = (image.meta.width, image.meta.height) {
        let most = max_encoded_bytes(width, height);
        if size > most {
            return Err(load_failed(format!(
                "{} is {size} bytes, more than a {width}x{height} image could need encoded ({most})",
                path.display()
            )));
        }
    }
    Ok(Opened { path, stored: Stored::Encoded { file, size }, meta: image.meta.clone(), shm_id: image.shm_id.clone() })
}

/// Whether an error of [`durable::open_regular`] (not following links) is
/// the refusal of a symbolic link in the last place.
fn is_link_refused(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    return err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(not(unix))]
    false
}

/// The most bytes an encoded image of `width` x `height` may take: 9 bytes a
/// pixel (PNG's widest layout, 16-bit RGBA, stored uncompressed, with its
/// filter bytes and framing) plus 1 MiB of metadata (ICC profile, EXIF).
pub fn max_encoded_bytes(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 9 + (1 << 20)
}

fn open_npy(path: &Path, mut file: File, size: u64, bgr: bool) -> Result<Stored> {
    let fail = |message: String| load_failed(format!("{}: {message}", path.display()));
    let mut preamble = [0u8; 12];
    file.read_exact(&mut preamble[..10]).map_err(|err| fail(format!("not a NumPy array: {err}")))?;
    let wide = matches!(preamble[6], 2 | 3);
    if wide {
        file.read_exact(&mut preamble[10..]).map_err(|err| fail(format!("not a NumPy array: {err}")))?;
    }
    let (start, header_len) = npy_header_len(&preamble[..if wide { 12 } else { 10 }]).map_err(fail)?;
    // Checked before the header is allocated: a claimed 4 GiB header costs nothing.
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).map_err(|err| fail(format!("the header is cut short: {err}")))?;
    let layout = parse_npy_header(&header).map_err(fail)?;
    let (height, width, format) = match layout.shape[..] {
        [h, w] | [h, w, 1] => (h, w, PixelFormat::Gray8),
        [h, w, 3] => (h, w, if bgr { PixelFormat::Bgr8 } else { PixelFormat::Rgb8 }),
        _ => {
            return Err(fail(format!("array shape {:?} is not HxW, HxWx1 or HxWx3", layout.shape)));
        }
    };
    if height == 0 || width == 0 || height > u64::from(MAX_IMAGE_DIMENSION) || width > u64::from(MAX_IMAGE_DIMENSION) {
        return Err(fail(format!("an array of {height}x{width} pixels is empty or over {MAX_IMAGE_DIMENSION} per side")));
    }
    let channels: u64 = if format == PixelFormat::Gray8 { 1 } else { 3 };
    let payload = height * width * channels;
    let data_offset = (start + header_len) as u64;
    if data_offset + payload != size {
        return Err(fail(format!(
            "the array claims {height}x{width}x{channels} bytes after a {data_offset}-byte header, the file has {size}"
        )));
    }
    // The file now stands at the first pixel byte.
    Ok(Stored::Npy { height: height as u32, width: width as u32, format, file })
}

/// 1006 when an image's size disagrees with its meta.
fn check_meta(meta: &ImageMetaJson, shm_id: &str, width: u32, height: u32) -> Result<()> {
    if meta.width.is_some_and(|w| w != width) || meta.height.is_some_and(|h| h != height) {
        return Err(Error::input(
            InputCode::InvalidParams,
            format!(
                "image {shm_id:?} is {width}x{height} but its meta says {}x{}",
                meta.width.unwrap_or(width),
                meta.height.unwrap_or(height)
            ),
        ));
    }
    Ok(())
}

/// Read an encoded file whose size was checked at open: at most that size
/// (a file grown since is cut there; the decoder then refuses what is cut).
fn read_encoded(path: &Path, file: File, size: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(size).read_to_end(&mut bytes).map_err(|err| load_failed(format!("cannot read {}: {err}", path.display())))?;
    Ok(bytes)
}

/// The size an encoded image's header declares: 1002 for a file of no known
/// format, no header, or a size empty or over the per-side limit.
fn encoded_size(path: &Path, bytes: &[u8]) -> Result<(u32, u32)> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|err| load_failed(format!("{}: unreadable: {err}", path.display())))?;
    if reader.format().is_none() {
        return Err(load_failed(format!("{} is not a PNG or JPEG image", path.display())));
    }
    let (width, height) =
        reader.into_dimensions().map_err(|err| load_failed(format!("{}: no image header: {err}", path.display())))?;
    if width == 0 || height == 0 || width > MAX_IMAGE_DIMENSION || height > MAX_IMAGE_DIMENSION {
        return Err(load_failed(format!(
            "{}: an image of {width}x{height} pixels is empty or over {MAX_IMAGE_DIMENSION} per side",
            path.display()
        )));
    }
    Ok((width, height))
}

impl Opened {
    /// Width and height of a `.npy`, as its header declares them.
    fn npy_size(&self) -> Option<(u32, u32)> {
        match &self.stored {
            Stored::Npy { height, width, .. } => Some((*width, *height)),
            Stored::Encoded { .. } => None,
        }
    }

    /// The most host memory loading may take, known before anything is read:
    /// for a `.npy`, none (its pixels go to the guest, under the guest's memory
    /// cap); for an encoded file, its bytes plus the
    /// decoded pixels at 8 bytes a pixel (the widest layout the decoder may
    /// use) of the meta's size, capped by the decoder's own allocation limit
    /// (that limit when the meta gives no size; the image must then agree with
    /// the size it declares or is refused, 1006, before it is decoded).
    pub fn memory_bound(&self) -> u64 {
        match &self.stored {
            Stored::Npy { .. } => 0,
            Stored::Encoded { size, .. } => {
                let decoded = match (self.meta.width, self.meta.height) {
                    (Some(width), Some(height)) => u64::from(width) * u64::from(height) * 8,
                    _ => MAX_IMAGE_BYTES,
                };
                decoded.min(MAX_IMAGE_BYTES) + size
            }
        }
    }

    /// The image's pixels: a `.npy`'s are read during the call straight into
    /// the guest's memory ([`Pixels::InPlace`]: the image with its meta and
    /// no pixels, and the fill that reads the payload into the slice it is
    /// given, one read, one copy from the page cache; a file cut short since
    /// it was opened fails the fill, and the call with 1002); an encoded
    /// file's are read and decoded now ([`Pixels::Decoded`], 1002 when they
    /// cannot be). `on_read` runs when the file's pixels are read.
    pub fn pixels(self, on_read: impl FnOnce() + Send + 'static) -> Result<Pixels> {
        let meta = self.meta;
        let with_meta = |width, height, format| ImageMeta {
            width,
            height,
            format,
            timestamp_ms: meta.timestamp_ms.unwrap_or(0),
            camera_id: meta.camera_id.clone().unwrap_or_default(),
        };
        let path = self.path;
        match self.stored {
            Stored::Npy { height, width, format, mut file } => {
                let image = Image { meta: with_meta(width, height, format), pixels: Vec::new() };
                let fill: FillPixels<'static> = Box::new(move |pixels: &mut [u8]| {
                    on_read();
                    file.read_exact(pixels).map_err(|err| {
                        std::io::Error::new(err.kind(), format!("cannot read the pixels of {}: {err}", path.display()))
                    })
                });
                Ok(Pixels::InPlace { image, fill })
            }
            Stored::Encoded { file, size } => {
                on_read();
                let bytes = read_encoded(&path, file, size)?;
                let (width, height) = encoded_size(&path, &bytes)?;
                check_meta(&meta, &self.shm_id, width, height)?;
                let mut image = decode_image(&bytes, None).map_err(|err| load_failed(format!("{}: {err}", path.display())))?;
                image.meta = with_meta(image.meta.width, image.meta.height, image.meta.format);
                check_image(&image)?;
                Ok(Pixels::Decoded(image))
            }
        }
    }
}

/// An image's pixels, as [`Opened::pixels`] gives them.
pub enum Pixels {
    /// Read into the guest's memory during the call by `fill` (see
    /// [`crate::InPlace`]); `image` has the meta and no pixels.
    InPlace {
        /// The image's meta, with empty pixels.
        image: Image,
        /// Reads the pixels into the slice it is given.
        fill: FillPixels<'static>,
    },
    /// Decoded on the host.
    Decoded(Image),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn ids_map_to_the_platforms_file_names() {
        assert_eq!(file_stem("dev-shm:session-1732870000000:cur").ok().as_deref(), Some("dev-shm_session-1732870000000_cur"));
        assert_eq!(file_stem("frame_0001.cam-2").ok().as_deref(), Some("frame_0001.cam-2"));
        // Separators and anything else become one `_` per character.
        assert_eq!(file_stem("../etc/passwd").ok().as_deref(), Some(".._etc_passwd"));
        assert_eq!(file_stem("a\\b\0c é").ok().as_deref(), Some("a_b_c__"));
        assert_eq!(file_stem("").map_err(|e| e.code()).err(), Some(ErrorCode::ImageLoadFailed));
        assert!(file_stem(&"x".repeat(300)).is_err());
    }
}
