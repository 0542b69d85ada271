//! Thresholds of grey images (fixed, Otsu's, adaptive) and of probability
//! maps, mask dilation and polygon scores.

use ndarray::{Array2, ArrayView2, s};
use pv_guest::{Error, Result};

use super::filters::{Border, box_mean, histogram};

use super::geometry::Point;

/// The mask of `map` values strictly greater than `t` (as `map > t` in NumPy).
/// NaN is never above the threshold.
pub fn threshold(map: ArrayView2<f32>, t: f32) -> Array2<bool> {
    map.mapv(|v| v > t)
}

/// 255 where `img` is above `level`, 0 elsewhere: `cv2.threshold(img, level,
/// 255, cv2.THRESH_BINARY)`.
pub fn binarize(img: ArrayView2<u8>, level: u8) -> Array2<u8> {
    img.mapv(|p| if p > level { 255 } else { 0 })
}

/// Otsu's threshold: the level that best splits the histogram into two classes
/// (the largest between-class variance; the first such level), as
/// `cv2.threshold(img, 0, 255, cv2.THRESH_OTSU)` returns it. Then
/// [`binarize`] with it. 0 for an empty or flat image.
pub fn otsu_level(img: ArrayView2<u8>) -> u8 {
    let bins = histogram(img);
    let total = img.len() as f64;
    if total == 0.0 {
        return 0;
    }
    let mean: f64 = bins.iter().enumerate().map(|(level, &n)| level as f64 * n as f64).sum::<f64>() / total;
    // OpenCV's loop, with its guards against classes of (almost) nothing.
    let (mut q1, mut mu1, mut best_sigma, mut best_level) = (0.0f64, 0.0f64, 0.0f64, 0u8);
    for (level, &count) in bins.iter().enumerate() {
        let p = count as f64 / total;
        let q1_next = q1 + p;
        let q2 = 1.0 - q1_next;
        if q1_next.min(q2) < f64::from(f32::EPSILON) || q1_next.max(q2) > 1.0 - f64::from(f32::EPSILON) {
            q1 = q1_next;
            continue;
        }
        mu1 = (mu1 * q1 + level as f64 * p) / q1_next;
        let mu2 = (mean - q1_next * mu1) / q2;
        q1 = q1_next;
        let sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
        if sigma > best_sigma {
            best_sigma = sigma;
            best_level = level as u8;
        }
    }
    best_level
}

/// 255 where a pixel is brighter than the mean of the `block` x `block` window
/// around it minus `c`, 0 elsewhere: `cv2.adaptiveThreshold(img, 255,
/// cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, c)` (the window mean
/// rounded to a grey level and `c` rounded up, as OpenCV does; the border
/// replicated). Works where the lighting varies across the frame. 1006 unless
/// `block` is odd and at least 3, or for a `c` that is not finite.
pub fn adaptive_threshold(img: ArrayView2<u8>, block: usize, c: f64) -> Result<Array2<u8>> {
    if block < 3 || block.is_multiple_of(2) || block > super::filters::MAX_KERNEL {
        return Err(Error::invalid_params(format!("an adaptive threshold block of {block}: it must be odd and at least 3")));
    }
    if !c.is_finite() {
        return Err(Error::invalid_params(format!("an adaptive threshold offset of {c}")));
    }
    let delta = c.ceil().clamp(-512.0, 512.0) as i32;
    let means = box_mean(img, block, Border::Replicate);
    Ok(ndarray::Zip::from(&img).and(&means).map_collect(|&p, &m| if i32::from(p) - i32::from(m) > -delta { 255 } else { 0 }))
}

/// `mask` dilated by a `kh` × `kw` rectangle of ones, as `cv2.dilate(mask,
/// np.ones((kh, kw)))` does it.
///
/// OpenCV's default anchor is the kernel's centre rounded down, `(kw / 2,
/// kh / 2)` in integer division, so an output pixel is set when any input pixel
/// in rows `y - kh/2 ..= y - kh/2 + kh - 1` and columns `x - kw/2 ..= x - kw/2 +
/// kw - 1` is. For an odd size that window is centred; for PP-OCR's 2×2 kernel
/// it is the pixel and its neighbours above, to the left and diagonally up-left,
/// which spreads every set pixel one step right and down. Pixels outside the
/// image count as unset. A kernel with a zero side leaves the mask unchanged
/// (OpenCV would substitute a 3×3 kernel for an empty one).
pub fn dilate_mask(mask: ArrayView2<bool>, kh: usize, kw: usize) -> Array2<bool> {
    let (h, w) = mask.dim();
    if kh == 0 || kw == 0 || h == 0 || w == 0 {
        return mask.to_owned();
    }
    let (ay, ax) = (kh / 2, kw / 2);
    // A rectangle is separable: dilate along the rows, then down the columns
    // of that. Both passes keep a running count of set pixels in the window,
    // so the cost does not depend on the kernel size, and both walk flat
    // row-major buffers.
    let src: Vec<bool> = mask.iter().copied().collect();
    let mut across = vec![false; h * w];
    for (row, out) in src.chunks_exact(w).zip(across.chunks_exact_mut(w)) {
        slide(row, out, ax, kw);
    }
    // Per column, the number of set pixels of `across` in rows
    // `y - ay ..= y - ay + kh - 1`.
    let below = kh - 1 - ay;
    let mut counts = vec![0u32; w];
    let add = |counts: &mut [u32], r: usize, delta: i32| {
        for (c, &v) in counts.iter_mut().zip(&across[r * w..(r + 1) * w]) {
            if v {
                *c = c.saturating_add_signed(delta);
            }
        }
    };
    for r in 0..=below.min(h - 1) {
        add(&mut counts, r, 1);
    }
    let mut out = Array2::from_elem((h, w), false);
    for (y, mut row) in out.outer_iter_mut().enumerate() {
        if y > 0 {
            if y + below < h {
                add(&mut counts, y + below, 1);
            }
            if y > ay {
                add(&mut counts, y - ay - 1, -1);
            }
        }
        for (d, &c) in row.iter_mut().zip(&counts) {
            *d = c > 0;
        }
    }
    out
}

/// One row of the horizontal pass of [`dilate_mask`]: `out[x]` is set when any of
/// `row[x - anchor ..= x - anchor + k - 1]` (clipped to the row) is.
fn slide(row: &[bool], out: &mut [bool], anchor: usize, k: usize) {
    let len = row.len();
    let below = k - 1 - anchor;
    let mut count = row[..=below.min(len - 1)].iter().filter(|&&v| v).count();
    for (x, d) in out.iter_mut().enumerate() {
        if x > 0 {
            if x + below < len && row[x + below] {
                count += 1;
            }
            if x > anchor && row[x - anchor - 1] {
                count -= 1;
            }
        }
        *d = count > 0;
    }
}

/// The mean of `map` over the pixels inside `polygon`, the way PP-OCR's
/// `box_score_fast` computes a box's score; 0.0 when no pixel is covered.
///
/// Like PP-OCR: the polygon's bounding box, `floor(min)` to `ceil(max)` and
/// clipped to the map, is cut out; the polygon is shifted to that box's origin
/// and its coordinates truncated towards zero to integers; it is filled as
/// `cv2.fillPoly` fills it; and the mean is taken over the filled pixels.
///
/// OpenCV's fill is reproduced, not approximated: every edge is drawn as an
/// 8-connected Bresenham line (OpenCV's `LineIterator`, clipped to the box),
/// and each scanline is filled between the edges' crossings, from the first
/// pixel centre at or right of the left crossing to the last at or left of the
/// right one (even-odd rule, edges spanning rows `y0 .. y1` half-open, in 16-bit
/// fixed point). Checked against `box_score_fast` run with OpenCV 5.1 on
/// hundreds of random polygons, partly outside the map: same pixels, same mean.
pub fn mean_in_polygon(map: ArrayView2<f32>, polygon: &[Point]) -> f32 {
    let (map_h, map_w) = map.dim();
    if map_h == 0 || map_w == 0 || polygon.is_empty() {
        return 0.0;
    }
    // Bounding box, as `np.clip(np.floor(min).astype(int32), 0, w - 1)` etc.
    // (`as` truncates the already-integral value and saturates.)
    let bound = |v: f32, round: fn(f64) -> f64, size: usize| -> usize {
        let v = round(f64::from(v));
        if v.is_nan() { 0 } else { usize::try_from(v.max(0.0) as i64).unwrap_or(0).min(size - 1) }
    };
    let min_x = polygon.iter().map(|p| p.x).fold(f32::INFINITY, f32::min);
    let max_x = polygon.iter().map(|p| p.x).fold(f32::NEG_INFINITY, f32::max);
    let min_y = polygon.iter().map(|p| p.y).fold(f32::INFINITY, f32::min);
    let max_y = polygon.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max);
    let (x0, x1) = (bound(min_x, f64::floor, map_w), bound(max_x, f64::ceil, map_w));
    let (y0, y1) = (bound(min_y, f64::floor, map_h), bound(max_y, f64::ceil, map_h));
    if x1 < x0 || y1 < y0 {
        return 0.0;
    }
    let (box_w, box_h) = (x1 - x0 + 1, y1 - y0 + 1);

    // Shift, then truncate towards zero (`astype(np.int32)`). Clamping far
    // beyond any real map keeps the fill's i64 fixed-point arithmetic (16
    // fractional bits) away from overflow.
    let (ox, oy) = (x0 as f64, y0 as f64);
    let limit = f64::from(1u32 << 24);
    let vertices: Vec<(i64, i64)> = polygon
        .iter()
        .map(|p| {
            let x = (f64::from(p.x) - ox).trunc().clamp(-limit, limit);
            let y = (f64::from(p.y) - oy).trunc().clamp(-limit, limit);
            (if x.is_nan() { 0 } else { x as i64 }, if y.is_nan() { 0 } else { y as i64 })
        })
        .collect();

    let mut mask = Array2::from_elem((box_h, box_w), false);
    fill_poly(&mut mask, &vertices);

    let window = map.slice(s![y0..=y1, x0..=x1]);
    let (mut sum, mut count) = (0f64, 0usize);
    for (&v, &inside) in window.iter().zip(mask.iter()) {
        if inside {
            sum += f64::from(v);
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { (sum / count as f64) as f32 }
}

/// Fixed-point shift of OpenCV's polygon filler (`XY_SHIFT`).
const XY_SHIFT: u32 = 16;
const XY_ONE: i64 = 1 << XY_SHIFT;

/// Sets the pixels `cv2.fillPoly(mask, [vertices], 1)` sets (8-connected edges,
/// no sub-pixel shift): the edges' lines, then the scanline spans.
fn fill_poly(mask: &mut Array2<bool>, vertices: &[(i64, i64)]) {
    let (h, w) = mask.dim();
    let (Ok(hi), Ok(wi)) = (i64::try_from(h), i64::try_from(w)) else { return };
    let Some(&last) = vertices.last() else { return };

    struct Edge {
        y0: i64,
        y1: i64,
        /// x at row `y0`, 16 fractional bits.
        x: i64,
        /// x step per row, 16 fractional bits.
        dx: i64,
    }
    let mut edges = Vec::with_capacity(vertices.len());
    let mut p0 = last;
    for &p1 in vertices {
        draw_line(mask, p0, p1);
        // Like CollectPolyEdges: an edge leaving the image is rebuilt from its
        // clipped integer ends, which changes its slope slightly.
        let (mut c0, mut c1) = (p0, p1);
        if outside(p0, wi, hi) || outside(p1, wi, hi) {
            let (mut t0, mut t1) = (p0, p1);
            clip_line(wi, hi, &mut t0, &mut t1);
            if t0.1 != t1.1 {
                c0.1 = t0.1;
                c1.1 = t1.1;
            }
            c0.0 = t0.0;
            c1.0 = t1.0;
        }
        if p0.1 != p1.1 {
            let (x0c, x1c) = (c0.0 << XY_SHIFT, c1.0 << XY_SHIFT);
            // C division: truncates towards zero, as Rust's does.
            let dx = (x1c - x0c) / (c1.1 - c0.1);
            let edge = if p0.1 < p1.1 {
                Edge { y0: p0.1, y1: p1.1, x: x0c.saturating_add((p0.1 - c0.1).saturating_mul(dx)), dx }
            } else {
                Edge { y0: p1.1, y1: p0.1, x: x1c.saturating_add((p1.1 - c1.1).saturating_mul(dx)), dx }
            };
            edges.push(edge);
        }
        p0 = p1;
    }
    if edges.len() < 2 {
        return;
    }

    let y_start = edges.iter().map(|e| e.y0).min().unwrap_or(0).max(0);
    let y_end = edges.iter().map(|e| e.y1).max().unwrap_or(0).min(hi);
    let mut crossings = Vec::with_capacity(edges.len());
    for y in y_start..y_end {
        crossings.clear();
        crossings
            .extend(edges.iter().filter(|e| e.y0 <= y && y < e.y1).map(|e| e.x.saturating_add((y - e.y0).saturating_mul(e.dx))));
        crossings.sort_unstable();
        let Ok(row) = usize::try_from(y) else { continue };
        for pair in crossings.chunks_exact(2) {
            // First pixel centre at or right of the left crossing, last at or
            // left of the right one.
            let left = (pair[0] + XY_ONE - 1) >> XY_SHIFT;
            let right = pair[1] >> XY_SHIFT;
            if left < wi && right >= 0 {
                let (Ok(a), Ok(b)) = (usize::try_from(left.max(0)), usize::try_from(right.min(wi - 1))) else { continue };
                if a <= b {
                    mask.slice_mut(s![row, a..=b]).fill(true);
                }
            }
        }
    }
}

fn outside(p: (i64, i64), w: i64, h: i64) -> bool {
    p.0 < 0 || p.0 >= w || p.1 < 0 || p.1 >= h
}

/// OpenCV's `clipLine`: clips the segment to `[0, w-1] × [0, h-1]` in place
/// (Cohen–Sutherland with OpenCV's rounding); false when nothing is left.
fn clip_line(w: i64, h: i64, p1: &mut (i64, i64), p2: &mut (i64, i64)) -> bool {
    if w <= 0 || h <= 0 {
        return false;
    }
    let (right, bottom) = (w - 1, h - 1);
    let code =
        |p: (i64, i64)| i32::from(p.0 < 0) + i32::from(p.0 > right) * 2 + i32::from(p.1 < 0) * 4 + i32::from(p.1 > bottom) * 8;
    // `(double)(a - y1) * (x2 - x1) / (y2 - y1)`, truncated.
    let step = |num: i64, d1: i64, d2: i64| (num as f64 * d1 as f64 / d2 as f64) as i64;
    let (mut c1, mut c2) = (code(*p1), code(*p2));
    if (c1 & c2) == 0 && (c1 | c2) != 0 {
        if c1 & 12 != 0 {
            let a = if c1 < 8 { 0 } else { bottom };
            p1.0 += step(a - p1.1, p2.0 - p1.0, p2.1 - p1.1);
            p1.1 = a;
            c1 = i32::from(p1.0 < 0) + i32::from(p1.0 > right) * 2;
        }
        if c2 & 12 != 0 {
            let a = if c2 < 8 { 0 } else { bottom };
            p2.0 += step(a - p2.1, p2.0 - p1.0, p2.1 - p1.1);
            p2.1 = a;
            c2 = i32::from(p2.0 < 0) + i32::from(p2.0 > right) * 2;
        }
        if (c1 & c2) == 0 && (c1 | c2) != 0 {
            if c1 != 0 {
                let a = if c1 == 1 { 0 } else { right };
                p1.1 += step(a - p1.0, p2.1 - p1.1, p2.0 - p1.0);
                p1.0 = a;
                c1 = 0;
            }
            if c2 != 0 {
                let a = if c2 == 1 { 0 } else { right };
                p2.1 += step(a - p2.0, p2.1 - p1.1, p2.0 - p1.0);
                p2.0 = a;
                c2 = 0;
            }
        }
    }
    (c1 | c2) == 0
}

/// OpenCV's 8-connected `Line` (a `LineIterator` drawn left to right), clipped
/// to the mask.
fn draw_line(mask: &mut Array2<bool>, mut p1: (i64, i64), mut p2: (i64, i64)) {
    let (h, w) = mask.dim();
    let (Ok(hi), Ok(wi)) = (i64::try_from(h), i64::try_from(w)) else { return };
    if (outside(p1, wi, hi) || outside(p2, wi, hi)) && !clip_line(wi, hi, &mut p1, &mut p2) {
        return;
    }
    let (mut dx, mut dy) = (p2.0 - p1.0, p2.1 - p1.1);
    if dx < 0 {
        dx = -dx;
        dy = -dy;
        p1 = p2;
    }
    let step_y = if dy < 0 { -1 } else { 1 };
    dy = dy.abs();
    // Walk the major axis one pixel at a time; step the minor axis when the
    // error term goes negative.
    let vertical = dy > dx;
    let (major, minor) = if vertical { (dy, dx) } else { (dx, dy) };
    let (major_step, minor_step) = if vertical { ((0, step_y), (1, 0)) } else { ((1, 0), (0, step_y)) };
    let mut err = major - 2 * minor;
    let mut p = p1;
    for i in 0..=major {
        if let (Ok(x), Ok(y)) = (usize::try_from(p.0), usize::try_from(p.1))
            && let Some(m) = mask.get_mut((y, x))
        {
            *m = true;
        }
        if i == major {
            break;
        }
        if err < 0 {
            p.0 += minor_step.0;
            p.1 += minor_step.1;
            err += 2 * major;
        }
        err -= 2 * minor;
        p.0 += major_step.0;
        p.1 += major_step.1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected values below come from OpenCV 5.1.0 on the same pixels.
    fn pattern() -> Array2<u8> {
        super::super::test_pattern(13, 17)
    }

    #[test]
    fn otsu_picks_the_level_opencv_picks() {
        // cv2.threshold(pattern, 0, 255, cv2.THRESH_OTSU)[0] == 122.
        assert_eq!(otsu_level(pattern().view()), 122);
        // Two populations, 40..60 and 180..210: cv2 says 59.
        let bimodal = Array2::from_shape_fn((6, 20), |(y, x)| {
            if x < 10 { (40 + (x * 7 + y * 3) % 20) as u8 } else { (180 + (x * 5 + y * 11) % 30) as u8 }
        });
        assert_eq!(otsu_level(bimodal.view()), 59);
        assert_eq!(otsu_level(Array2::from_elem((4, 4), 9u8).view()), 0, "flat");
        assert_eq!(otsu_level(Array2::<u8>::zeros((0, 4)).view()), 0, "empty");
        assert_eq!(binarize(bimodal.view(), 59).iter().filter(|&&p| p == 255).count(), 60);
    }

    #[test]
    fn adaptive_threshold_matches_opencv() {
        // cv2.adaptiveThreshold(pattern, 255, ADAPTIVE_THRESH_MEAN_C, THRESH_BINARY, 5, 3.5).
        let out = adaptive_threshold(pattern().view(), 5, 3.5).expect("thresholds");
        assert_eq!(out.iter().filter(|&&p| p == 255).count(), 116);
        let first_row: Vec<u8> = out.row(0).to_vec();
        let expected = [0, 0, 255, 255, 0, 0, 255, 255, 0, 255, 255, 0, 0, 255, 255, 0, 0];
        assert_eq!(first_row, expected);
        assert!(adaptive_threshold(pattern().view(), 4, 0.0).is_err());
        assert!(adaptive_threshold(pattern().view(), 1, 0.0).is_err());
        assert!(adaptive_threshold(pattern().view(), 3, f64::INFINITY).is_err());
    }
    use ndarray::array;

    fn pts(coords: &[(f32, f32)]) -> Vec<Point> {
        coords.iter().map(|&(x, y)| Point::new(x, y)).collect()
    }

    /// The mask `mean_in_polygon` averages over, on a `h × w` map whose
    /// bounding box is the whole map (polygon touching all four sides).
    fn filled(h: usize, w: usize, polygon: &[(i64, i64)]) -> Array2<u8> {
        let mut mask = Array2::from_elem((h, w), false);
        fill_poly(&mut mask, polygon);
        mask.mapv(u8::from)
    }

    #[test]
    fn threshold_is_strict() {
        let map = array![[0.2f32, 0.3, 0.31], [f32::NAN, 1.0, -1.0]];
        assert_eq!(threshold(map.view(), 0.3), array![[false, false, true], [false, true, false]]);
    }

    #[test]
    fn dilate_2x2_spreads_right_and_down() {
        let mut mask = Array2::from_elem((4, 4), false);
        mask[[1, 1]] = true;
        mask[[3, 3]] = true;
        let out = dilate_mask(mask.view(), 2, 2);
        let expected = array![
            [false, false, false, false],
            [false, true, true, false],
            [false, true, true, false],
            [false, false, false, true],
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn dilate_3x3_is_centred_and_1xk_is_horizontal() {
        let mut mask = Array2::from_elem((5, 5), false);
        mask[[0, 2]] = true;
        let out = dilate_mask(mask.view(), 3, 3);
        let count = out.iter().filter(|&&v| v).count();
        assert_eq!(count, 6);
        assert!(out[[0, 1]] && out[[1, 3]] && !out[[2, 2]]);
        // 1 row × 2 columns: anchor column 1, so a pixel spreads to the right.
        let out = dilate_mask(mask.view(), 1, 2);
        assert!(out[[0, 2]] && out[[0, 3]] && !out[[0, 1]] && !out[[1, 2]]);
        assert_eq!(dilate_mask(mask.view(), 0, 3), mask);
        // Kernels larger than the image.
        let one = array![[true]];
        assert_eq!(dilate_mask(one.view(), 5, 4), one);
        let row = array![[false, false, true]];
        assert_eq!(dilate_mask(row.view(), 7, 6), array![[true, true, true]]);
    }

    #[test]
    fn fill_includes_edges_of_a_rectangle() {
        let m = filled(5, 6, &[(1, 1), (4, 1), (4, 3), (1, 3)]);
        let expected =
            array![[0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0],];
        assert_eq!(m, expected);
    }

    #[test]
    fn fill_of_a_triangle_matches_opencv() {
        // cv2.fillPoly(np.zeros((5, 5), np.uint8), [np.array([[0, 0], [4, 0], [0, 4]])], 1)
        let m = filled(5, 5, &[(0, 0), (4, 0), (0, 4)]);
        let expected = array![[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]];
        assert_eq!(m, expected);
        // A shallow edge: the Bresenham line adds pixels the span rule misses.
        let m = filled(3, 7, &[(0, 0), (6, 2), (0, 2)]);
        let expected = array![[1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]];
        assert_eq!(m, expected);
    }

    #[test]
    fn degenerate_polygons_fill_their_lines() {
        assert_eq!(filled(3, 3, &[(1, 1)]), array![[0, 0, 0], [0, 1, 0], [0, 0, 0]]);
        assert_eq!(filled(3, 3, &[(0, 2), (2, 0)]), array![[0, 0, 1], [0, 1, 0], [1, 0, 0]]);
        // Vertices far outside are clipped (cv2.fillPoly gives the same).
        let m = filled(2, 2, &[(-1 << 24, -1 << 24), (1 << 24, -1 << 24), (1 << 24, 1 << 24), (-1 << 24, 1 << 24)]);
        assert_eq!(m, array![[1, 1], [1, 1]]);
    }

    #[test]
    fn mean_on_a_constant_map() {
        let map = Array2::from_elem((10, 12), 0.75f32);
        let quad = pts(&[(2.3, 1.7), (9.6, 2.2), (9.1, 7.9), (1.8, 7.4)]);
        assert!((mean_in_polygon(map.view(), &quad) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn mean_on_a_half_map() {
        // Left half 1.0, right half 0.0; the rectangle straddles them evenly.
        let map = Array2::from_shape_fn((8, 8), |(_, x)| if x < 4 { 1.0f32 } else { 0.0 });
        let rect = pts(&[(2.0, 1.0), (5.0, 1.0), (5.0, 6.0), (2.0, 6.0)]);
        assert!((mean_in_polygon(map.view(), &rect) - 0.5).abs() < 1e-6);
        // The whole map.
        let all = pts(&[(0.0, 0.0), (7.0, 0.0), (7.0, 7.0), (0.0, 7.0)]);
        assert!((mean_in_polygon(map.view(), &all) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn mean_uses_the_shifted_truncated_polygon() {
        // Values are the column index; a box from x = 1.9 to 4.2 covers the
        // bounding box columns 1..=5 and, after truncation, columns 1..=4
        // (1.9 - 1 = 0.9 truncates to 0).
        let map = Array2::from_shape_fn((6, 8), |(_, x)| x as f32);
        let quad = pts(&[(1.9, 1.0), (4.2, 1.0), (4.2, 3.0), (1.9, 3.0)]);
        assert!((mean_in_polygon(map.view(), &quad) - 2.5).abs() < 1e-6);
    }

    #[test]
    fn mean_of_nothing_is_zero() {
        let map = Array2::from_elem((4, 4), 1.0f32);
        assert_eq!(mean_in_polygon(map.view(), &[]), 0.0);
        let empty = Array2::<f32>::zeros((0, 4));
        assert_eq!(mean_in_polygon(empty.view(), &pts(&[(0.0, 0.0), (1.0, 1.0)])), 0.0);
        // Entirely outside the map: the box clamps to the corner pixel, which
        // the shifted polygon does not reach.
        let far = pts(&[(100.0, 100.0), (110.0, 100.0), (110.0, 110.0)]);
        assert_eq!(mean_in_polygon(map.view(), &far), 0.0);
        // A box hanging over the edge still scores the part inside.
        let over = pts(&[(-3.0, -3.0), (2.0, -3.0), (2.0, 2.0), (-3.0, 2.0)]);
        assert_eq!(mean_in_polygon(map.view(), &over), 1.0);
    }
}
