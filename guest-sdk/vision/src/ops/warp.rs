//! Perspective warps of quadrilaterals to upright rectangles.

use ndarray::{Array3, ArrayView3};

use super::geometry::Point;

/// How [`warp_quad_upright`] samples the source between pixel centres.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// The four nearest pixels, weighted by distance, computed in `f64` at the
    /// exact source position.
    Bilinear,
    /// The sixteen nearest pixels with the Keys cubic kernel (a = -0.75),
    /// reproducing `cv2.warpPerspective(..., flags=cv2.INTER_CUBIC)` of
    /// OpenCV 5 step by step, so the crops match it pixel for pixel.
    Cubic,
}

/// Cuts the quadrilateral `quad` out of `src` and straightens it into a
/// `width` × `height` image, as PP-OCR's `get_rotate_crop_image` does with
/// `cv2.getPerspectiveTransform` and `cv2.warpPerspective(..., (width,
/// height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)`.
///
/// `quad` is top-left, top-right, bottom-right, bottom-left, and the
/// perspective transform maps those to `(0, 0)`, `(width, 0)`, `(width,
/// height)` and `(0, height)`. Each output pixel centre `(x, y)` is mapped back
/// through the transform into `src` and sampled there with `interpolation`,
/// positions outside `src` taking the nearest border pixel.
///
/// With [`Interpolation::Bilinear`] the transform comes from an 8×8 linear
/// system solved in `f64` with partial pivoting, for the output-to-source
/// direction directly, and the samples are rounded to the nearest integer.
///
/// With [`Interpolation::Cubic`] every step is OpenCV 5's (checked bit for bit
/// against `cv2` 5.1 on x86-64, where it agrees on every pixel): the
/// source-to-output matrix as `cv2.getPerspectiveTransform` solves it (`f32`
/// corner products, Gaussian elimination with partial pivoting in `f64`),
/// inverted in closed form as `cv::invert` does a 3×3 matrix and then rounded
/// to `f32`; each position computed from that `f32` matrix and kept as an
/// `f32`, without OpenCV 4's rounding to 1/32 pixel; the kernel weights and
/// the sixteen-tap sum in `f32` with fused multiply-adds where OpenCV's vector
/// code has them; the sum rounded half to even and saturated.
///
/// `None` when `width` or `height` is zero, `src` has no pixels, or three
/// corners of `quad` are collinear (or nearly so), so that no perspective
/// transform onto a rectangle exists.
pub fn warp_quad_upright(
    src: ArrayView3<u8>,
    quad: [Point; 4],
    width: usize,
    height: usize,
    interpolation: Interpolation,
) -> Option<Array3<u8>> {
    let (src_h, src_w, _) = src.dim();
    if width == 0 || height == 0 || src_h == 0 || src_w == 0 {
        return None;
    }
    let q = quad.map(|p| (f64::from(p.x), f64::from(p.y)));
    if !q.iter().all(|p| p.0.is_finite() && p.1.is_finite()) || !in_general_position(&q) {
        return None;
    }
    match interpolation {
        Interpolation::Bilinear => warp_bilinear(src, q, width, height),
        Interpolation::Cubic => warp_cubic(src, quad, width, height),
    }
}

/// [`warp_quad_upright`] with bilinear sampling, `q` being the checked corners.
fn warp_bilinear(src: ArrayView3<u8>, q: [(f64, f64); 4], width: usize, height: usize) -> Option<Array3<u8>> {
    let (src_h, src_w, channels) = src.dim();
    let (w, h) = (width as f64, height as f64);
    let h_inv = homography([(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)], q)?;

    let mut out = Array3::zeros((height, width, channels));
    let contiguous = src.as_slice();
    let mut values = vec![0f64; channels];
    for (y, mut row) in out.outer_iter_mut().enumerate() {
        for (x, mut px) in row.outer_iter_mut().enumerate() {
            let (u, v) = (x as f64, y as f64);
            let den = h_inv[6] * u + h_inv[7] * v + 1.0;
            // OpenCV maps a point at infinity to the origin; do the same.
            let (sx, sy) = if den == 0.0 {
                (0.0, 0.0)
            } else {
                ((h_inv[0] * u + h_inv[1] * v + h_inv[2]) / den, (h_inv[3] * u + h_inv[4] * v + h_inv[5]) / den)
            };
            match contiguous {
                Some(s) => sample(|r, c, ch| s[(r * src_w + c) * channels + ch], src_h, src_w, sx, sy, &mut values),
                None => sample(|r, c, ch| src[[r, c, ch]], src_h, src_w, sx, sy, &mut values),
            }
            for (d, &v) in px.iter_mut().zip(&values) {
                *d = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Some(out)
}

/// [`warp_quad_upright`] with OpenCV's bicubic sampling, `quad` being checked.
fn warp_cubic(src: ArrayView3<u8>, quad: [Point; 4], width: usize, height: usize) -> Option<Array3<u8>> {
    let (src_h, src_w, channels) = src.dim();
    // `warpPerspective` inverts the source-to-output matrix and works with
    // the inverse in `f32`.
    let m = invert3(&perspective_transform(quad, width as f32, height as f32)?)?.map(|v| v as f32);
    // OpenCV keeps positions within [-size, 2 size] (size at least 16) before
    // taking their integer parts; anywhere beyond the first pixel outside
    // the image replicates the border all the same.
    let (big_w, big_h) = (src_w.max(16) as f32, src_h.max(16) as f32);
    let limit = |v: f32, big: f32| if v.is_nan() { 0.0 } else { v.clamp(-big, 2.0 * big) };
    let tap = |i: f32, k: i64, n: usize| usize::try_from((i as i64 + k).max(0)).unwrap_or(0).min(n - 1);

    let mut out = Array3::zeros((height, width, channels));
    let contiguous = src.as_slice();
    for (y, mut row) in out.outer_iter_mut().enumerate() {
        // The row's share of each coordinate, in `f32`; the column's is added
        // and the quotient taken in `f64`, the position rounded to `f32`.
        let yf = y as f32;
        let (row_x, row_y, row_w) = (yf * m[1] + m[2], yf * m[4] + m[5], yf * m[7] + m[8]);
        for (x, mut px) in row.outer_iter_mut().enumerate() {
            let xf = x as f64;
            let inv_w = 1.0 / (f64::from(row_w) + f64::from(m[6]) * xf);
            let sx = limit(((f64::from(row_x) + f64::from(m[0]) * xf) * inv_w) as f32, big_w);
            let sy = limit(((f64::from(row_y) + f64::from(m[3]) * xf) * inv_w) as f32, big_h);
            let (ix, iy) = (sx.floor(), sy.floor());
            let (wx, wy) = (cubic_weights(sx - ix), cubic_weights(sy - iy));
            let cols = [-1, 0, 1, 2].map(|k| tap(ix, k, src_w));
            let rows = [-1, 0, 1, 2].map(|k| tap(iy, k, src_h));
            for (ch, d) in px.iter_mut().enumerate() {
                let value = match contiguous {
                    Some(s) => cubic_sum(|r, c| s[(r * src_w + c) * channels + ch], rows, cols, wx, wy),
                    None => cubic_sum(|r, c| src[[r, c, ch]], rows, cols, wx, wy),
                };
                *d = value.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Some(out)
}

/// The weights of the four taps at -1, 0, 1 and 2 pixels for a position `a`
/// in [0, 1) past a pixel centre: the Keys kernel with a = -0.75, evaluated
/// as OpenCV 5 does, the second weight with two fused multiply-adds and the
/// third taking the rest of 1.
fn cubic_weights(a: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let (a2, b) = (a * a, 1.0 - a);
    let w0 = A * (a * (b * b));
    let w3 = A * (a2 * b);
    let w1 = fma32(a2, fma32(A + 2.0, a, -(A + 3.0)), 1.0);
    let w2 = ((1.0 - w0) - w1) - w3;
    [w0, w1, w2, w3]
}

/// The weighted sum of the 4×4 taps `get(rows[i], cols[j])`: each row
/// horizontally (its first product plain, then fused multiply-adds), then the
/// row sums vertically with fused multiply-adds, all in `f32`.
fn cubic_sum(get: impl Fn(usize, usize) -> u8, rows: [usize; 4], cols: [usize; 4], wx: [f32; 4], wy: [f32; 4]) -> f32 {
    let mut sum = 0.0;
    for (&r, w) in rows.iter().zip(wy) {
        let mut across = f32::from(get(r, cols[0])) * wx[0];
        for (&c, &wc) in cols[1..].iter().zip(&wx[1..]) {
            across = fma32(f32::from(get(r, c)), wc, across);
        }
        sum = fma32(across, w, sum);
    }
    sum
}

/// `a * b + c` rounded once, as a fused multiply-add, without a call to
/// `fmaf` in the common case (wasm has no fused instruction). The product of
/// two `f32` is exact in `f64`, so the `f64` sum is rounded once; rounding it
/// again to `f32` gives the fused result unless it lies exactly halfway
/// between two `f32` (or in their subnormal range), when `mul_add` decides.
fn fma32(a: f32, b: f32, c: f32) -> f32 {
    let s = f64::from(a) * f64::from(b) + f64::from(c);
    let halfway = s.to_bits() & 0x1fff_ffff == 0x1000_0000;
    if !halfway && (s == 0.0 || s.abs() >= f64::from(f32::MIN_POSITIVE)) { s as f32 } else { a.mul_add(b, c) }
}

/// The matrix taking `quad` to the corners of a `width` × `height` rectangle,
/// row-major, as `cv2.getPerspectiveTransform` computes it: the corner
/// products in `f32`, the 8×8 system solved in `f64` by Gaussian elimination
/// with partial pivoting (OpenCV's `DECOMP_LU`). `None` when a pivot is
/// below OpenCV's threshold, where OpenCV reports failure.
fn perspective_transform(quad: [Point; 4], width: f32, height: f32) -> Option<[f64; 9]> {
    let to = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)];
    let mut a = [[0f64; 8]; 8];
    let mut b = [0f64; 8];
    for (i, (p, &(u, v))) in quad.iter().zip(&to).enumerate() {
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        a[i] = [x, y, 1.0, 0.0, 0.0, 0.0, f64::from(-p.x * u), f64::from(-p.y * u)];
        a[i + 4] = [0.0, 0.0, 0.0, x, y, 1.0, f64::from(-p.x * v), f64::from(-p.y * v)];
        b[i] = f64::from(u);
        b[i + 4] = f64::from(v);
    }
    // OpenCV's LUImpl, pivot threshold 100 ε.
    for i in 0..8 {
        let k = (i + 1..8).fold(i, |k, j| if a[j][i].abs() > a[k][i].abs() { j } else { k });
        if a[k][i].abs() < f64::EPSILON * 100.0 || a[k][i].is_nan() {
            return None;
        }
        a.swap(i, k);
        b.swap(i, k);
        let d = -1.0 / a[i][i];
        let pivot = a[i];
        for j in i + 1..8 {
            let alpha = a[j][i] * d;
            for (r, &p) in a[j][i + 1..].iter_mut().zip(&pivot[i + 1..]) {
                *r += alpha * p;
            }
            b[j] += alpha * b[i];
        }
    }
    for i in (0..8).rev() {
        let s = (i + 1..8).fold(b[i], |s, k| s - a[i][k] * b[k]);
        b[i] = s / a[i][i];
    }
    let [h0, h1, h2, h3, h4, h5, h6, h7] = b;
    let m = [h0, h1, h2, h3, h4, h5, h6, h7, 1.0];
    m.iter().all(|v| v.is_finite()).then_some(m)
}

/// The inverse of the row-major 3×3 matrix `m` by cofactors over the
/// determinant, as `cv::invert` computes a 3×3 matrix. `None` when the
/// determinant is zero or the result not finite.
fn invert3(m: &[f64; 9]) -> Option<[f64; 9]> {
    let s = |r: usize, c: usize| m[r * 3 + c];
    let det = s(0, 0) * (s(1, 1) * s(2, 2) - s(1, 2) * s(2, 1)) - s(0, 1) * (s(1, 0) * s(2, 2) - s(1, 2) * s(2, 0))
        + s(0, 2) * (s(1, 0) * s(2, 1) - s(1, 1) * s(2, 0));
    if det == 0.0 {
        return None;
    }
    let d = 1.0 / det;
    let inv = [
        (s(1, 1) * s(2, 2) - s(1, 2) * s(2, 1)) * d,
        (s(0, 2) * s(2, 1) - s(0, 1) * s(2, 2)) * d,
        (s(0, 1) * s(1, 2) - s(0, 2) * s(1, 1)) * d,
        (s(1, 2) * s(2, 0) - s(1, 0) * s(2, 2)) * d,
        (s(0, 0) * s(2, 2) - s(0, 2) * s(2, 0)) * d,
        (s(0, 2) * s(1, 0) - s(0, 0) * s(1, 2)) * d,
        (s(1, 0) * s(2, 1) - s(1, 1) * s(2, 0)) * d,
        (s(0, 1) * s(2, 0) - s(0, 0) * s(2, 1)) * d,
        (s(0, 0) * s(1, 1) - s(0, 1) * s(1, 0)) * d,
    ];
    inv.iter().all(|v| v.is_finite()).then_some(inv)
}

/// Bilinear sample at `(sx, sy)` with replicated borders, one value per
/// channel into `values`.
fn sample(get: impl Fn(usize, usize, usize) -> u8, rows: usize, cols: usize, sx: f64, sy: f64, values: &mut [f64]) {
    // Beyond one pixel outside, replicate gives the border value anyway;
    // clamping first keeps the float-to-index conversion in range.
    let clamp = |v: f64, n: usize| if v.is_nan() { 0.0 } else { v.clamp(-1.0, n as f64) };
    let (sx, sy) = (clamp(sx, cols), clamp(sy, rows));
    let (fx, fy) = (sx.floor(), sy.floor());
    let (ax, ay) = (sx - fx, sy - fy);
    let index = |f: f64, n: usize| -> (usize, usize) {
        // f is an integer in [-1, n]; the two taps are f and f + 1, clamped.
        let i = f as i64;
        let at = |k: i64| usize::try_from(k.max(0)).unwrap_or(0).min(n - 1);
        (at(i), at(i + 1))
    };
    let (x0, x1) = index(fx, cols);
    let (y0, y1) = index(fy, rows);
    for (ch, v) in values.iter_mut().enumerate() {
        let top = f64::from(get(y0, x0, ch)) * (1.0 - ax) + f64::from(get(y0, x1, ch)) * ax;
        let bottom = f64::from(get(y1, x0, ch)) * (1.0 - ax) + f64::from(get(y1, x1, ch)) * ax;
        *v = top * (1.0 - ay) + bottom * ay;
    }
}

/// False when three of the four points are (nearly) collinear. The tolerance
/// is relative to the quadrilateral's size, so it does not depend on the units.
fn in_general_position(q: &[(f64, f64); 4]) -> bool {
    let scale = (0..4)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .map(|(i, j)| (q[i].0 - q[j].0).hypot(q[i].1 - q[j].1))
        .fold(0.0, f64::max);
    if scale == 0.0 {
        return false;
    }
    [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]].iter().all(|&[i, j, k]| {
        let (a, b, c) = (q[i], q[j], q[k]);
        let twice_area = (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0);
        twice_area.abs() > 1e-9 * scale * scale
    })
}

/// The homography taking each `from[i]` to `to[i]`, as its first eight
/// entries (the ninth is 1), row-major:
/// `x' = (h0 x + h1 y + h2) / (h6 x + h7 y + 1)` and
/// `y' = (h3 x + h4 y + h5) / (h6 x + h7 y + 1)`.
/// `None` when the system is singular.
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<[f64; 8]> {
    // Two equations per correspondence, linear in h0..h7:
    //   h0 x + h1 y + h2 - h6 x x' - h7 y x' = x'
    //   h3 x + h4 y + h5 - h6 x y' - h7 y y' = y'
    let mut a = [[0f64; 9]; 8];
    for (i, (&(x, y), &(xp, yp))) in from.iter().zip(&to).enumerate() {
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * xp, -y * xp, xp];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * yp, -y * yp, yp];
    }
    solve(&mut a)
}

/// Solves the 8×8 system whose augmented matrix is `a` (right-hand side in
/// column 8) by Gaussian elimination with partial pivoting.
fn solve(a: &mut [[f64; 9]; 8]) -> Option<[f64; 8]> {
    let magnitude = a.iter().flat_map(|row| row[..8].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
    let tiny = magnitude * 1e-12;
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        let size = a[pivot][col].abs();
        if size.is_nan() || size <= tiny {
            return None;
        }
        a.swap(col, pivot);
        let p = a[col];
        for row in &mut a[col + 1..] {
            let factor = row[col] / p[col];
            if factor != 0.0 {
                for (r, &pk) in row[col..].iter_mut().zip(&p[col..]) {
                    *r -= factor * pk;
                }
            }
        }
    }
    let mut h = [0f64; 8];
    for col in (0..8).rev() {
        let tail: f64 = (col + 1..8).map(|k| a[col][k] * h[k]).sum();
        h[col] = (a[col][8] - tail) / a[col][col];
    }
    h.iter().all(|v| v.is_finite()).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::resize::crop;

    const BOTH: [Interpolation; 2] = [Interpolation::Bilinear, Interpolation::Cubic];

    fn image(h: usize, w: usize, channels: usize) -> Array3<u8> {
        Array3::from_shape_fn((h, w, channels), |(y, x, c)| (y * 31 + x * 7 + c * 50) as u8)
    }

    #[test]
    fn axis_aligned_quad_is_a_crop() {
        let src = image(6, 8, 3);
        let quad = [Point::new(2.0, 1.0), Point::new(6.0, 1.0), Point::new(6.0, 4.0), Point::new(2.0, 4.0)];
        for interpolation in BOTH {
            let out = warp_quad_upright(src.view(), quad, 4, 3, interpolation).expect("valid quad");
            assert_eq!(out, crop(src.view(), 2, 1, 4, 3), "{interpolation:?}");
        }
    }

    #[test]
    fn quarter_turned_quad_rotates_the_pixels() {
        // A 4 wide, 3 high source read with its left column as the top row:
        // output (u, v) samples source (x = v, y = 2 - u).
        let src = image(3, 4, 1);
        let quad = [Point::new(0.0, 2.0), Point::new(0.0, -1.0), Point::new(4.0, -1.0), Point::new(4.0, 2.0)];
        for interpolation in BOTH {
            let out = warp_quad_upright(src.view(), quad, 3, 4, interpolation).expect("valid quad");
            assert_eq!(out.dim(), (4, 3, 1));
            for v in 0..4 {
                for u in 0..3 {
                    assert_eq!(out[[v, u, 0]], src[[2 - u, v, 0]], "{interpolation:?} at ({u}, {v})");
                }
            }
        }
    }

    #[test]
    fn halfway_samples_are_interpolated_and_borders_replicated() {
        let src = Array3::from_shape_fn((2, 2, 1), |(_, x, _)| if x == 0 { 0u8 } else { 100 });
        // The quad spans half a pixel to each side of the image horizontally,
        // one output pixel per half pixel.
        let quad = [Point::new(-0.5, 0.0), Point::new(1.5, 0.0), Point::new(1.5, 1.0), Point::new(-0.5, 1.0)];
        let out = warp_quad_upright(src.view(), quad, 4, 1, Interpolation::Bilinear).expect("valid quad");
        // x = -0.5 replicates, 0.0 is exact, 0.5 is the mean, 1.0 is exact.
        assert_eq!(out.iter().copied().collect::<Vec<_>>(), vec![0, 0, 50, 100]);
        // Cubic: the taps at -0.5 are 0, 0, 0, 100 with weights -0.09375,
        // 0.59375, 0.59375, -0.09375 (-9.375, rounded and saturated to 0); at
        // 0.5 they are 0, 0, 100, 100 (50 exactly).
        let out = warp_quad_upright(src.view(), quad, 4, 1, Interpolation::Cubic).expect("valid quad");
        assert_eq!(out.iter().copied().collect::<Vec<_>>(), vec![0, 0, 50, 100]);
    }

    #[test]
    fn perspective_quad_maps_corners() {
        // A trapezoid: the output's first pixel is the quad's first corner
        // and its pixels follow the straight lines between corners.
        let src = Array3::from_shape_fn((40, 40, 1), |(y, x, _)| (x + y) as u8);
        let quad = [Point::new(10.0, 5.0), Point::new(30.0, 8.0), Point::new(34.0, 30.0), Point::new(6.0, 28.0)];
        for interpolation in BOTH {
            let out = warp_quad_upright(src.view(), quad, 20, 20, interpolation).expect("valid quad");
            assert_eq!(out[[0, 0, 0]], 15, "{interpolation:?}");
        }
        let h = homography([(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)], quad.map(|p| (f64::from(p.x), f64::from(p.y))))
            .expect("solvable");
        let map = |u: f64, v: f64| {
            let d = h[6] * u + h[7] * v + 1.0;
            ((h[0] * u + h[1] * v + h[2]) / d, (h[3] * u + h[4] * v + h[5]) / d)
        };
        // The cubic path's matrix, OpenCV's way, takes the corners the other way.
        let m = perspective_transform(quad, 20.0, 20.0).expect("solvable");
        let forward = |x: f64, y: f64| {
            let d = m[6] * x + m[7] * y + m[8];
            ((m[0] * x + m[1] * y + m[2]) / d, (m[3] * x + m[4] * y + m[5]) / d)
        };
        let inv = invert3(&m).expect("invertible");
        for (corner, target) in [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)].into_iter().zip(quad) {
            let (x, y) = map(corner.0, corner.1);
            assert!((x - f64::from(target.x)).abs() < 1e-9 && (y - f64::from(target.y)).abs() < 1e-9);
            let (u, v) = forward(f64::from(target.x), f64::from(target.y));
            assert!((u - corner.0).abs() < 1e-9 && (v - corner.1).abs() < 1e-9);
            let d = inv[6] * corner.0 + inv[7] * corner.1 + inv[8];
            let (x, y) =
                ((inv[0] * corner.0 + inv[1] * corner.1 + inv[2]) / d, (inv[3] * corner.0 + inv[4] * corner.1 + inv[5]) / d);
            assert!((x - f64::from(target.x)).abs() < 1e-9 && (y - f64::from(target.y)).abs() < 1e-9);
        }
    }

    #[test]
    fn degenerate_requests_give_none() {
        let src = image(5, 5, 1);
        let square = [Point::new(0.0, 0.0), Point::new(4.0, 0.0), Point::new(4.0, 4.0), Point::new(0.0, 4.0)];
        let point = [Point::new(2.0, 2.0); 4];
        let line = [Point::new(0.0, 0.0), Point::new(1.0, 1.0), Point::new(2.0, 2.0), Point::new(3.0, 3.0)];
        let three_in_a_row = [Point::new(0.0, 0.0), Point::new(2.0, 0.0), Point::new(4.0, 0.0), Point::new(0.0, 4.0)];
        let nan = [Point::new(f32::NAN, 0.0), Point::new(4.0, 0.0), Point::new(4.0, 4.0), Point::new(0.0, 4.0)];
        for interpolation in BOTH {
            assert!(warp_quad_upright(src.view(), square, 0, 3, interpolation).is_none());
            assert!(warp_quad_upright(src.view(), square, 3, 0, interpolation).is_none());
            assert!(warp_quad_upright(Array3::<u8>::zeros((0, 5, 1)).view(), square, 3, 3, interpolation).is_none());
            assert!(warp_quad_upright(src.view(), point, 3, 3, interpolation).is_none());
            assert!(warp_quad_upright(src.view(), line, 3, 3, interpolation).is_none());
            assert!(warp_quad_upright(src.view(), three_in_a_row, 3, 3, interpolation).is_none());
            assert!(warp_quad_upright(src.view(), nan, 3, 3, interpolation).is_none());
        }
    }

    #[test]
    fn far_outside_quads_replicate_the_border() {
        let src = image(4, 4, 2);
        let quad = [Point::new(100.0, -50.0), Point::new(120.0, -50.0), Point::new(120.0, -40.0), Point::new(100.0, -40.0)];
        for interpolation in BOTH {
            let out = warp_quad_upright(src.view(), quad, 3, 2, interpolation).expect("valid quad");
            for px in out.lanes(ndarray::Axis(2)) {
                assert_eq!(px.to_vec(), vec![src[[0, 3, 0]], src[[0, 3, 1]]], "{interpolation:?}");
            }
        }
    }

    #[test]
    fn cubic_keeps_a_constant_image_constant() {
        // The weights sum to 1 up to rounding, well within half a level, also
        // where the quad runs off the image and the border is replicated.
        let src = Array3::from_elem((9, 12, 3), 77u8);
        let quad = [Point::new(-3.3, 1.7), Point::new(13.1, -0.6), Point::new(10.4, 11.2), Point::new(0.9, 7.8)];
        let out = warp_quad_upright(src.view(), quad, 23, 17, Interpolation::Cubic).expect("valid quad");
        assert!(out.iter().all(|&v| v == 77));
    }

    #[test]
    fn cubic_matches_opencv() {
        // Expected values from OpenCV 5.1.0 (cv2 on x86-64):
        //   M = cv2.getPerspectiveTransform(quad, [[0, 0], [6, 0], [6, 4], [0, 4]])
        //   cv2.warpPerspective(src, M, (6, 4), borderMode=cv2.BORDER_REPLICATE,
        //                       flags=cv2.INTER_CUBIC)
        // with the quad (f32) partly off the image, so borders are replicated.
        let src = Array3::from_shape_fn((6, 7, 1), |(y, x, _)| ((y * 7 + x * 13) * 29 % 256) as u8);
        let quad = [Point::new(0.7, 1.2), Point::new(5.9, 0.4), Point::new(6.6, 5.3), Point::new(-0.8, 4.6)];
        let expected: [[u8; 6]; 4] =
            [[81, 94, 186, 69, 184, 60], [90, 7, 149, 23, 103, 121], [120, 139, 114, 105, 76, 240], [25, 134, 162, 72, 109, 147]];
        let out = warp_quad_upright(src.view(), quad, 6, 4, Interpolation::Cubic).expect("valid quad");
        assert_eq!(out.dim(), (4, 6, 1));
        for (y, row) in expected.iter().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                assert_eq!(out[[y, x, 0]], v, "at ({x}, {y})");
            }
        }
        // A strided view of the same pixels takes the non-contiguous path.
        let wide = Array3::from_shape_fn((6, 7, 2), |(y, x, c)| if c == 0 { src[[y, x, 0]] } else { 0 });
        let strided = wide.slice(ndarray::s![.., .., 0..1]);
        assert!(strided.as_slice().is_none());
        assert_eq!(warp_quad_upright(strided, quad, 6, 4, Interpolation::Cubic), Some(out));
    }

    #[test]
    fn cubic_weights_are_the_keys_kernel() {
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(cubic_weights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
        assert_eq!(cubic_weights(0.25), [-0.105_468_75, 0.878_906_25, 0.261_718_75, -0.035_156_25]);
    }

    #[test]
    fn fma32_rounds_once() {
        // (1 + 2^-15) (2^-24 (1 - 2^-15)) + (1 + 2^-23) is 1 + 2^-23 + 2^-24
        // - 2^-54: just below halfway between two f32, so it rounds down. The
        // f64 sum rounds to exactly halfway, and rounding that again would
        // go up (to the even neighbour).
        let (a, b, c) = (1.0 + 2f32.powi(-15), 2f32.powi(-24) * (1.0 - 2f32.powi(-15)), 1.0 + 2f32.powi(-23));
        assert_eq!((f64::from(a) * f64::from(b) + f64::from(c)) as f32, 1.0 + 2f32.powi(-22));
        assert_eq!(fma32(a, b, c), 1.0 + 2f32.powi(-23));
        assert_eq!(fma32(a, b, c), a.mul_add(b, c));
        assert_eq!(fma32(3.0, 0.5, 0.25), 1.75);
        assert_eq!(fma32(255.0, -0.75, 191.25), 0.0);
        assert_eq!(fma32(1e-30, 1e-10, 0.0), 1e-30f32.mul_add(1e-10, 0.0));
    }
}
