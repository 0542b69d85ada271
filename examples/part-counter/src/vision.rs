//! Image processing of the part counter, free of SDK types.
//!
//! The pipeline is built for bright parts on a darker, unevenly lit tray:
//!
//! 1. background estimate: a grey-level opening with a window wider than any part,
//!    so the parts vanish and the slow lighting gradient stays;
//! 2. the residual (image minus background) is flat where the tray is, so a global
//!    threshold works on it where one on the raw image would not: a hysteresis pair,
//!    Otsu's threshold to find the parts and the histogram valley below it to outline
//!    them;
//! 3. a small binary opening removes speckle, holes inside parts (dark engravings on
//!    a coin) are filled, and 8-connected components are labelled.
//!
//! Every step is a separable running min / max or a linear scan, so the cost is
//! O(pixels) whatever the window size: the kernel runs under a fuel budget in the host.

use ndarray::ArrayView2;
use pv_guest::morphology::opening;

/// Side of the square window of the background opening, in pixels. It must exceed the
/// side of the largest square that fits inside a part (about 0.7 x its diameter) for
/// the part to vanish from the estimate; 61 covers parts up to about 85 px across.
const BACKGROUND_WINDOW: usize = 61;

/// Side of the square window of the noise-removing binary opening: 3 px removes
/// single-pixel speckle and one-pixel bridges between touching parts.
const CLEANUP_WINDOW: usize = 3;

/// Residual threshold below which nothing counts as foreground, in grey levels: on a
/// frame without parts Otsu still splits the sensor noise in two, and this keeps that
/// split from becoming a field of blobs.
const MIN_THRESHOLD: u8 = 16;

/// Half-width, in grey levels, of the box smoothing of the residual histogram before
/// its valley is searched.
const VALLEY_SMOOTHING: usize = 4;

/// A connected foreground region.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// Left edge of the bounding box, in pixels.
    pub x: u32,
    /// Top edge of the bounding box, in pixels.
    pub y: u32,
    /// Width of the bounding box, in pixels.
    pub width: u32,
    /// Height of the bounding box, in pixels.
    pub height: u32,
    /// Number of pixels of the region, holes filled.
    pub area: u32,
    /// Mean column of the region's pixels.
    pub centroid_x: f32,
    /// Mean row of the region's pixels.
    pub centroid_y: f32,
}

/// An axis-aligned box (x, y, width, height) in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxPx {
    /// Left edge, in pixels.
    pub x: u32,
    /// Top edge, in pixels.
    pub y: u32,
    /// Width, in pixels.
    pub width: u32,
    /// Height, in pixels.
    pub height: u32,
}

/// Mean grey level of the image (0.0 for an empty image).
pub fn mean_intensity(image: ArrayView2<u8>) -> f64 {
    let n = image.len();
    if n == 0 {
        return 0.0;
    }
    let sum: u64 = image.iter().map(|&v| u64::from(v)).sum();
    sum as f64 / n as f64
}

/// The two residual thresholds [`segment_parts`] uses on `image`, as (low, high):
/// a part is a region whose residual (image minus background) is above `low`
/// everywhere and above `high` somewhere. Exposed for diagnostics and tuning.
pub fn residual_thresholds(image: ArrayView2<u8>) -> (u8, u8) {
    let (w, h) = (image.ncols(), image.nrows());
    thresholds(&background_residual(&to_vec(image), w, h))
}

/// All foreground blobs (bright parts on a darker, unevenly lit background), after noise cleanup,
/// holes filled; blobs smaller than `min_noise_area` px are dropped as noise.
///
/// Blobs come in raster order of their topmost-leftmost pixel.
pub fn segment_parts(image: ArrayView2<u8>, min_noise_area: u32) -> Vec<Blob> {
    let (w, h) = (image.ncols(), image.nrows());
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let residual = background_residual(&to_vec(image), w, h);
    let (low, high) = thresholds(&residual);
    let mask: Vec<u8> = residual.iter().map(|&r| if r > low { 255 } else { 0 }).collect();
    let mask = opening(&mask, w, h, CLEANUP_WINDOW);
    let mask = fill_holes(&mask, w, h);
    label(&mask, &residual, w, h)
        .into_iter()
        .filter(|(blob, peak)| *peak > high && blob.area >= min_noise_area)
        .map(|(blob, _)| blob)
        .collect()
}

/// Where parts are missing from a regular row layout, when it can tell (else empty).
///
/// The parts are clustered into rows by centroid height; if all rows but one have the
/// same count and `expected` is the number of rows times that count, each part missing
/// from the short row gets a box the size of a typical part, in the gaps of that row
/// or beyond its ends.
///
/// Rows are split where the sorted centroid heights jump by more than half a typical
/// part height, so slightly skewed rows still group. The spacing of the full rows
/// (their median pitch) says how many parts fit in each gap of the short row and
/// beyond its ends, so several parts missing from the one short row each get a box,
/// inner gaps first. Parts missing from more than one row, or a layout that is not
/// rows of equal length, give an empty list rather than a guess.
pub fn find_missing(parts: &[Blob], expected: usize) -> Vec<BoxPx> {
    if parts.len() < 2 || parts.len() >= expected {
        return Vec::new();
    }
    let typical_w = median_f32(parts.iter().map(|b| b.width as f32).collect());
    let typical_h = median_f32(parts.iter().map(|b| b.height as f32).collect());
    let rows = cluster_rows(parts, typical_h * 0.5);
    let Some(full) = majority_count(&rows) else {
        return Vec::new();
    };
    let short_rows: Vec<&Vec<&Blob>> = rows.iter().filter(|row| row.len() != full).collect();
    let [short] = short_rows.as_slice() else {
        return Vec::new();
    };
    if short.len() >= full || rows.len() * full != expected {
        return Vec::new();
    }
    let full_rows: Vec<&Vec<&Blob>> = rows.iter().filter(|row| row.len() == full).collect();
    let pitch = median_f32(full_rows.iter().flat_map(|row| row.windows(2).map(|p| p[1].centroid_x - p[0].centroid_x)).collect());
    if pitch <= 0.0 {
        return Vec::new();
    }
    let missing = full - short.len();
    // A gap of n pitches between two neighbours holds n - 1 missing parts.
    let mut centres: Vec<f32> = Vec::new();
    for pair in short.windows(2) {
        let (x0, gap) = (pair[0].centroid_x, pair[1].centroid_x - pair[0].centroid_x);
        let slots = (gap / pitch).round().max(1.0) as usize;
        centres.extend((1..slots).map(|s| x0 + gap * s as f32 / slots as f32));
    }
    // The rest is missing beyond the ends of the row: where the full rows reach
    // further than this one.
    let (first, last) = (short[0].centroid_x, short[short.len() - 1].centroid_x);
    let left_room = first - median_f32(full_rows.iter().map(|row| row[0].centroid_x).collect());
    let right_room = median_f32(full_rows.iter().map(|row| row[row.len() - 1].centroid_x).collect()) - last;
    let (mut left, mut right) = (0usize, 0usize);
    while centres.len() < missing {
        // The end with more room left over takes the next part.
        if left_room - left as f32 * pitch >= right_room - right as f32 * pitch {
            left += 1;
            centres.push(first - left as f32 * pitch);
        } else {
            right += 1;
            centres.push(last + right as f32 * pitch);
        }
    }
    centres.truncate(missing);
    centres.sort_by(f32::total_cmp);
    let row_y = short.iter().map(|b| b.centroid_y).sum::<f32>() / short.len() as f32;
    let y = (row_y - typical_h / 2.0).round().max(0.0);
    centres
        .into_iter()
        .map(|cx| {
            // Float to integer casts saturate: a box reaching off the left or top edge
            // is clamped to 0 above and cannot wrap.
            let x = (cx - typical_w / 2.0).round().max(0.0);
            BoxPx { x: x as u32, y: y as u32, width: typical_w.round() as u32, height: typical_h.round() as u32 }
        })
        .collect()
}

/// Groups the parts into rows: sorted by centroid height, a new row starts where the
/// height jumps by more than `split`. Each row comes sorted left to right.
fn cluster_rows(parts: &[Blob], split: f32) -> Vec<Vec<&Blob>> {
    let mut by_y: Vec<&Blob> = parts.iter().collect();
    by_y.sort_by(|a, b| a.centroid_y.total_cmp(&b.centroid_y));
    let mut rows: Vec<Vec<&Blob>> = Vec::new();
    let mut last_y = f32::NEG_INFINITY;
    for blob in by_y {
        match rows.last_mut() {
            Some(row) if blob.centroid_y - last_y <= split => row.push(blob),
            _ => rows.push(vec![blob]),
        }
        last_y = blob.centroid_y;
    }
    for row in &mut rows {
        row.sort_by(|a, b| a.centroid_x.total_cmp(&b.centroid_x));
    }
    rows
}

/// The row length shared by all rows but one, if the rows are laid out that way.
/// With two rows of different lengths either could be the odd one: the longer is
/// taken as the full length, as parts go missing rather than appear.
fn majority_count(rows: &[Vec<&Blob>]) -> Option<usize> {
    if rows.len() < 2 {
        return None;
    }
    let counts: Vec<usize> = rows.iter().map(Vec::len).collect();
    counts.iter().copied().filter(|&c| counts.iter().filter(|&&o| o == c).count() == counts.len() - 1).max()
}

/// Median of a list (0.0 for an empty one); the upper median for even lengths.
fn median_f32(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// Copies the view into a row-major buffer: the filters below run over plain slices,
/// whatever the view's strides.
fn to_vec(image: ArrayView2<u8>) -> Vec<u8> {
    image.iter().copied().collect()
}

/// The image minus its background, where the background is the grey-level opening
/// with a [`BACKGROUND_WINDOW`] square: it keeps the lighting and drops the parts.
fn background_residual(pixels: &[u8], w: usize, h: usize) -> Vec<u8> {
    let background = opening(pixels, w, h, BACKGROUND_WINDOW);
    pixels.iter().zip(&background).map(|(&p, &b)| p.saturating_sub(b)).collect()
}

/// Hysteresis thresholds (low, high) of a residual image.
///
/// `high` is Otsu's threshold: it separates parts from background well, but on parts
/// whose brightness varies across the tray (dim coins under the weaker light) it
/// falls inside the part and cuts it up. `low` is the deepest point of the histogram
/// valley between the background's mode and `high`, where the part outlines are; a
/// region above `low` only counts if it reaches `high` somewhere, so bright specks of
/// background that cross `low` are not parts.
fn thresholds(residual: &[u8]) -> (u8, u8) {
    let mut hist = [0u64; 256];
    for &p in residual {
        hist[usize::from(p)] += 1;
    }
    let high = otsu(&hist).max(MIN_THRESHOLD);
    // A 9-bin box smoothing keeps the valley search off single-bin noise.
    let smooth: Vec<u64> =
        (0..256usize).map(|v| hist[v.saturating_sub(VALLEY_SMOOTHING)..=(v + VALLEY_SMOOTHING).min(255)].iter().sum()).collect();
    let top = usize::from(high);
    let mode = (0..=top).max_by_key(|&v| (smooth[v], std::cmp::Reverse(v))).unwrap_or(0);
    let valley = (mode..=top).min_by_key(|&v| (smooth[v], std::cmp::Reverse(v))).unwrap_or(top);
    // valley <= high <= 255.
    let low = (valley as u8).max(MIN_THRESHOLD);
    (low, high.max(low))
}

/// Otsu's threshold: the grey level that maximises the between-class variance of the
/// histogram. Values strictly above it form the bright class.
fn otsu(hist: &[u64; 256]) -> u8 {
    let total: f64 = hist.iter().map(|&c| c as f64).sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(v, &c)| v as f64 * c as f64).sum();
    let (mut best, mut best_var) = (0u8, -1.0f64);
    let (mut n_low, mut sum_low) = (0.0f64, 0.0f64);
    for (v, &c) in hist.iter().enumerate() {
        n_low += c as f64;
        sum_low += v as f64 * c as f64;
        let n_high = total - n_low;
        if n_low == 0.0 || n_high == 0.0 {
            continue;
        }
        let mean_diff = sum_low / n_low - (sum_all - sum_low) / n_high;
        let between = n_low * n_high * mean_diff * mean_diff;
        if between > best_var {
            best_var = between;
            // v < 256 as the histogram has 256 bins.
            best = v as u8;
        }
    }
    best
}

/// Fills holes: background pixels not 4-connected to the image border become
/// foreground. 4-connectivity for the background pairs with the 8-connectivity of
/// the labelling, so a diagonal gap in a part's rim does not leak.
fn fill_holes(mask: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut outside = vec![false; mask.len()];
    let mut stack: Vec<usize> = Vec::new();
    let seed = |i: usize, outside: &mut Vec<bool>, stack: &mut Vec<usize>| {
        if mask[i] == 0 && !outside[i] {
            outside[i] = true;
            stack.push(i);
        }
    };
    for x in 0..w {
        seed(x, &mut outside, &mut stack);
        seed((h - 1) * w + x, &mut outside, &mut stack);
    }
    for y in 0..h {
        seed(y * w, &mut outside, &mut stack);
        seed(y * w + w - 1, &mut outside, &mut stack);
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        if x > 0 {
            seed(i - 1, &mut outside, &mut stack);
        }
        if x + 1 < w {
            seed(i + 1, &mut outside, &mut stack);
        }
        if y > 0 {
            seed(i - w, &mut outside, &mut stack);
        }
        if y + 1 < h {
            seed(i + w, &mut outside, &mut stack);
        }
    }
    outside.iter().map(|&o| if o { 0 } else { 255 }).collect()
}

/// 8-connected components of the non-zero pixels of `mask`, with an explicit stack,
/// each with the highest value of `residual` inside it.
fn label(mask: &[u8], residual: &[u8], w: usize, h: usize) -> Vec<(Blob, u8)> {
    let mut seen = vec![false; mask.len()];
    let mut stack: Vec<usize> = Vec::new();
    let mut blobs = Vec::new();
    for start in 0..mask.len() {
        if mask[start] == 0 || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let (mut area, mut sum_x, mut sum_y, mut peak) = (0u64, 0u64, 0u64, 0u8);
        while let Some(i) = stack.pop() {
            peak = peak.max(residual[i]);
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            area += 1;
            sum_x += x as u64;
            sum_y += y as u64;
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if mask[j] != 0 && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        // Coordinates and areas fit in u32: the host caps image sizes far below 4 G
        // pixels.
        let blob = Blob {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0 + 1) as u32,
            height: (y1 - y0 + 1) as u32,
            area: area as u32,
            centroid_x: (sum_x as f64 / area as f64) as f32,
            centroid_y: (sum_y as f64 / area as f64) as f32,
        };
        blobs.push((blob, peak));
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;
    use ndarray::Array2;
    use pv_test_artifacts::fixtures;

    /// Part areas recommended as the caller's plausible range: coins.png's coins
    /// measure 963-3144 px.
    const MIN_AREA: u32 = 400;
    const MAX_AREA: u32 = 6000;
    const NOISE: u32 = 40;

    fn view(img: &GrayImage) -> ArrayView2<'_, u8> {
        ArrayView2::from_shape((img.height() as usize, img.width() as usize), img.as_raw())
            .expect("a GrayImage is a dense row-major buffer")
    }

    fn parts_of(img: &GrayImage) -> Vec<Blob> {
        segment_parts(view(img), NOISE).into_iter().filter(|b| (MIN_AREA..=MAX_AREA).contains(&b.area)).collect()
    }

    fn rect(b: BoxPx) -> (u32, u32, u32, u32) {
        (b.x, b.y, b.width, b.height)
    }

    #[test]
    fn coins_photo_has_24_parts_of_plausible_size() {
        let coins = fixtures::load_gray("coins.png");
        let blobs = segment_parts(view(&coins), NOISE);
        assert_eq!(blobs.len(), 24, "{blobs:?}");
        assert!(blobs.iter().all(|b| (MIN_AREA..=MAX_AREA).contains(&b.area)), "{blobs:?}");
        let mean = mean_intensity(view(&coins));
        assert!((90.0..105.0).contains(&mean), "{mean}");
        assert!(find_missing(&blobs, 24).is_empty());
    }

    #[test]
    fn painted_coin_is_counted_missing_and_located() {
        let (img, painted) = fixtures::coins_with_missing_coin();
        let parts = parts_of(&img);
        assert_eq!(parts.len(), 23, "{parts:?}");
        let missing = find_missing(&parts, 24);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(fixtures::iou(rect(missing[0]), painted) > 0.3, "{missing:?} vs {painted:?}");
    }

    #[test]
    fn blank_and_tiny_images_have_no_parts() {
        for (h, w) in [(0, 0), (1, 1), (1, 7), (7, 1), (2, 2), (64, 48)] {
            for value in [0u8, 128, 255] {
                let img = Array2::from_elem((h, w), value);
                assert!(segment_parts(img.view(), 1).is_empty(), "{h}x{w} of {value}");
            }
        }
        assert_eq!(mean_intensity(Array2::<u8>::zeros((0, 3)).view()), 0.0);
        assert_eq!(mean_intensity(Array2::from_elem((1, 1), 7u8).view()), 7.0);
    }

    /// A tray with a lighting gradient and bright disks, one of them a ring (a part
    /// with a dark hole) and some speckle.
    fn synthetic_tray(centres: &[(f32, f32)], radius: f32) -> Array2<u8> {
        Array2::from_shape_fn((120, 200), |(y, x)| {
            let (fx, fy) = (x as f32, y as f32);
            let mut v = 30.0 + fx * 0.3 + fy * 0.2;
            for (i, &(cx, cy)) in centres.iter().enumerate() {
                let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
                let in_hole = i == 0 && d < radius / 3.0;
                if d <= radius && !in_hole {
                    v += 120.0;
                }
            }
            if (x * 7 + y * 13) % 97 == 0 {
                v += 60.0;
            }
            v.min(255.0) as u8
        })
    }

    fn grid(rows: usize, cols: usize) -> Vec<(f32, f32)> {
        (0..rows).flat_map(|r| (0..cols).map(move |c| (20.0 + c as f32 * 32.0, 20.0 + r as f32 * 30.0))).collect()
    }

    #[test]
    fn synthetic_parts_are_found_with_holes_filled() {
        let img = synthetic_tray(&grid(3, 5), 10.0);
        let blobs = segment_parts(img.view(), 20);
        assert_eq!(blobs.len(), 15, "{blobs:?}");
        // pi r^2 = 314; the ring's hole counts as part of it.
        assert!(blobs.iter().all(|b| (250..=380).contains(&b.area)), "{blobs:?}");
        let first = &blobs[0];
        assert!((first.centroid_x - 20.0).abs() < 1.0 && (first.centroid_y - 20.0).abs() < 1.0, "{first:?}");
    }

    #[test]
    fn missing_part_is_located_inside_a_row_and_at_its_end() {
        for gone in [7, 5, 9] {
            let mut centres = grid(3, 5);
            let (gx, gy) = centres.remove(gone);
            let blobs = segment_parts(synthetic_tray(&centres, 10.0).view(), 20);
            assert_eq!(blobs.len(), 14);
            let missing = find_missing(&blobs, 15);
            assert_eq!(missing.len(), 1, "{gone}: {missing:?}");
            let m = missing[0];
            let (mx, my) = (m.x as f32 + m.width as f32 / 2.0, m.y as f32 + m.height as f32 / 2.0);
            assert!((mx - gx).abs() < 4.0 && (my - gy).abs() < 4.0, "{gone}: {m:?} vs ({gx}, {gy})");
        }
    }

    #[test]
    fn several_parts_missing_from_one_row_each_get_a_box() {
        let blobs = segment_parts(synthetic_tray(&grid(3, 5), 10.0).view(), 20);
        // Blobs come in raster order: 10..15 is the last row; drop its 2nd and 5th.
        let kept: Vec<Blob> = blobs.iter().enumerate().filter(|&(i, _)| i != 11 && i != 14).map(|(_, b)| b.clone()).collect();
        let missing = find_missing(&kept, 15);
        let centres: Vec<(f32, f32)> =
            missing.iter().map(|m| (m.x as f32 + m.width as f32 / 2.0, m.y as f32 + m.height as f32 / 2.0)).collect();
        assert_eq!(centres.len(), 2, "{missing:?}");
        for ((mx, my), (gx, gy)) in centres.into_iter().zip([(52.0, 80.0), (148.0, 80.0)]) {
            assert!((mx - gx).abs() < 4.0 && (my - gy).abs() < 4.0, "{missing:?}");
        }
    }

    #[test]
    fn find_missing_declines_when_it_cannot_tell() {
        let blobs = segment_parts(synthetic_tray(&grid(3, 5), 10.0).view(), 20);
        assert!(find_missing(&blobs, 15).is_empty(), "nothing missing");
        assert!(find_missing(&blobs, 17).is_empty(), "all rows full");
        let two_rows: Vec<Blob> = blobs.iter().enumerate().filter(|&(i, _)| i != 2 && i != 7).map(|(_, b)| b.clone()).collect();
        assert!(find_missing(&two_rows, 15).is_empty(), "missing from two rows");
        assert!(find_missing(&[], 3).is_empty());
        assert!(find_missing(&blobs[..1], 3).is_empty());
    }
}
