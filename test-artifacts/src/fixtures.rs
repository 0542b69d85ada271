//! Sample photographs and deterministic variants of them for tests.
//!
//! The photographs live in `examples/images/` (see `SOURCES.md` there). The variants
//! are made in memory, with hard-coded geometry measured on the photographs, so every
//! run of every test sees the same pixels.

use std::path::PathBuf;

use image::{GrayImage, Luma};

/// The repository's `examples/` folder: the example algorithms, their manifests
/// and cases, and the sample photographs.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
}

/// Folder of the sample photographs copied into the repository.
pub fn images_dir() -> PathBuf {
    examples_dir().join("images")
}

/// Path of the sample photograph `name` (for example `"coins.png"`).
pub fn image_path(name: &str) -> PathBuf {
    images_dir().join(name)
}

/// Loads the sample photograph `name` as 8-bit grey.
///
/// # Panics
///
/// When the file is missing or does not decode: this is test support, and a test
/// cannot go on without its input.
pub fn load_gray(name: &str) -> GrayImage {
    let path = image_path(name);
    match image::open(&path) {
        Ok(img) => img.into_luma8(),
        Err(err) => panic!("cannot load the sample image {}: {err}", path.display()),
    }
}

/// The coin of coins.png that [`coins_with_missing_coin`] paints over: the fourth
/// coin of the second row, an isolated mid-sized one (centre x, centre y, radius),
/// measured on the photograph.
const PAINTED_COIN: (i64, i64, i64) = (206, 124, 21);

/// How far beyond the coin's radius the paint reaches: covers the coin's soft rim and
/// its halo, so no sliver of it is left to be counted as a small part.
const PAINT_MARGIN: i64 = 4;

/// Width of the ring around the painted disk whose median gives the paint colour.
const RING_WIDTH: i64 = 4;

/// coins.png with one coin painted over with the surrounding background; returns the image and the painted box.
///
/// The coin is covered with a filled disk a few pixels larger than it, in the median
/// grey of a ring just outside the disk, so the tray looks empty there. The box is
/// (x, y, width, height) of the painted disk.
pub fn coins_with_missing_coin() -> (GrayImage, (u32, u32, u32, u32)) {
    let mut img = load_gray("coins.png");
    let (cx, cy, radius) = PAINTED_COIN;
    let r = radius + PAINT_MARGIN;
    let ring_outer = r + RING_WIDTH;
    let mut ring: Vec<u8> = disk_pixels(&img, cx, cy, ring_outer)
        .filter(|&(x, y)| dist2(x - cx, y - cy) > r * r)
        .map(|(x, y)| img.get_pixel(x as u32, y as u32).0[0])
        .collect();
    ring.sort_unstable();
    let paint = ring.get(ring.len() / 2).copied().unwrap_or(0);
    let inside: Vec<(i64, i64)> = disk_pixels(&img, cx, cy, r).collect();
    for (x, y) in inside {
        img.put_pixel(x as u32, y as u32, Luma([paint]));
    }
    let x0 = (cx - r).max(0);
    let y0 = (cy - r).max(0);
    let x1 = (cx + r).min(i64::from(img.width()) - 1);
    let y1 = (cy + r).min(i64::from(img.height()) - 1);
    (img, (x0 as u32, y0 as u32, (x1 - x0 + 1) as u32, (y1 - y0 + 1) as u32))
}

fn dist2(dx: i64, dy: i64) -> i64 {
    dx * dx + dy * dy
}

/// Pixels of `img` within `r` of (cx, cy).
fn disk_pixels(img: &GrayImage, cx: i64, cy: i64, r: i64) -> impl Iterator<Item = (i64, i64)> {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    ((cy - r).max(0)..=(cy + r).min(h - 1))
        .flat_map(move |y| ((cx - r).max(0)..=(cx + r).min(w - 1)).map(move |x| (x, y)))
        .filter(move |&(x, y)| dist2(x - cx, y - cy) <= r * r)
}

/// Whether the scratch drawn by [`brick_with_scratch`] is darker or brighter than the surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScratchPolarity {
    /// A groove: darker than the bricks around it.
    Dark,
    /// A scuff: brighter than the bricks around it.
    Bright,
}

/// Start and end (x, y) of the scratch drawn on brick.png: about 200 px, diagonal,
/// across several bricks and mortar joints, away from the image border.
const SCRATCH_LINE: ((f64, f64), (f64, f64)) = ((150.0, 180.0), (300.0, 312.0));

/// Full width of the scratch, in pixels.
const SCRATCH_WIDTH: f64 = 2.0;

/// How far the scratch moves a pixel's grey level at its core: clearly visible on the
/// bricks without being a black or white bar.
const SCRATCH_DEPTH: f64 = 70.0;

/// brick.png with a thin straight scratch drawn across several bricks; returns the image and the box of the line.
///
/// The line is 2 px wide with anti-aliased edges: each pixel's grey level moves by
/// [`SCRATCH_DEPTH`] times its coverage, down for [`ScratchPolarity::Dark`] and up for
/// [`ScratchPolarity::Bright`], so the brick texture still shows through like on a
/// real scratch. The box is (x, y, width, height) of every pixel changed.
pub fn brick_with_scratch(polarity: ScratchPolarity) -> (GrayImage, (u32, u32, u32, u32)) {
    let mut img = load_gray("brick.png");
    let ((ax, ay), (bx, by)) = SCRATCH_LINE;
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let half = SCRATCH_WIDTH / 2.0;
    let sign = match polarity {
        ScratchPolarity::Dark => -1.0,
        ScratchPolarity::Bright => 1.0,
    };
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    let pad = half + 1.0;
    let (w, h) = img.dimensions();
    let y_range = (ay.min(by) - pad).floor().max(0.0) as u32..=(ay.max(by) + pad).ceil() as u32;
    for y in y_range.filter(|&y| y < h) {
        for x in ((ax.min(bx) - pad).floor().max(0.0) as u32..=(ax.max(bx) + pad).ceil() as u32).filter(|&x| x < w) {
            // Distance from the pixel centre to the segment.
            let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let t = (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0);
            let (qx, qy) = (ax + t * dx, ay + t * dy);
            let d = ((px - qx).powi(2) + (py - qy).powi(2)).sqrt();
            // Coverage falls linearly over one pixel around the edge of the stroke.
            let coverage = (half + 0.5 - d).clamp(0.0, 1.0);
            if coverage <= 0.0 {
                continue;
            }
            let old = f64::from(img.get_pixel(x, y).0[0]);
            let new = (old + sign * SCRATCH_DEPTH * coverage).round().clamp(0.0, 255.0) as u8;
            img.put_pixel(x, y, Luma([new]));
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    (img, (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Intersection over union of two (x, y, w, h) boxes; overlap test helper.
///
/// 0.0 for disjoint boxes (and for two empty ones), 1.0 for equal non-empty boxes.
pub fn iou(a: (u32, u32, u32, u32), b: (u32, u32, u32, u32)) -> f64 {
    let inter = intersection_area(a, b);
    let union = area(a) + area(b) - inter;
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

/// Whether two (x, y, w, h) boxes share at least one pixel.
pub fn overlaps(a: (u32, u32, u32, u32), b: (u32, u32, u32, u32)) -> bool {
    intersection_area(a, b) > 0
}

fn area(b: (u32, u32, u32, u32)) -> u64 {
    u64::from(b.2) * u64::from(b.3)
}

fn intersection_area(a: (u32, u32, u32, u32), b: (u32, u32, u32, u32)) -> u64 {
    // u64 so that x + w cannot overflow.
    let span = |a0: u32, al: u32, b0: u32, bl: u32| {
        let lo = u64::from(a0.max(b0));
        let hi = (u64::from(a0) + u64::from(al)).min(u64::from(b0) + u64::from(bl));
        hi.saturating_sub(lo)
    };
    span(a.0, a.2, b.0, b.2) * span(a.1, a.3, b.1, b.3)
}
