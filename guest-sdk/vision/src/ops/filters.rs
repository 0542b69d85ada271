//! Smoothing, differences and histograms of grey images, as OpenCV computes them.

use ndarray::{Array2, ArrayView2};
use pv_guest::{Error, Result};

/// How a filter reads past the image's edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// `gfedcb|abcdefgh|gfedcba`: OpenCV's default (`BORDER_REFLECT_101`).
    Reflect101,
    /// `aaaaaa|abcdefgh|hhhhhhh` (`BORDER_REPLICATE`).
    Replicate,
}

impl Border {
    /// The index inside `0..n` that index `i` (possibly outside) reads.
    fn index(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        match self {
            Border::Replicate => i.clamp(0, n - 1) as usize,
            Border::Reflect101 if n == 1 => 0,
            Border::Reflect101 => {
                // Reflection is periodic with period 2(n - 1): any window size works.
                let period = 2 * (n - 1);
                let i = i.rem_euclid(period);
                (if i >= n { period - i } else { i }) as usize
            }
        }
    }
}

/// A box filter's window: `k` taps with OpenCV's anchor `k / 2`, so output `i`
/// covers inputs `i - k/2 ..= i - k/2 + k - 1`.
fn window_start(i: usize, k: usize) -> isize {
    i as isize - (k / 2) as isize
}

/// The rounded mean of every `kh` x `kw` window, the image extended by
/// `border`: a running sum along each row (kept as `u32`: a row's window holds
/// at most 65536 x 255), then running column sums down the rows, written out as
/// means at once. Besides the result it holds four bytes a pixel, and the cost
/// does not grow with the kernel beyond its first window.
fn box_means(img: ArrayView2<u8>, kh: usize, kw: usize, border: Border) -> Array2<u8> {
    let (h, w) = img.dim();
    let mut across = Array2::<u32>::zeros((h, w));
    for (row, mut out) in img.outer_iter().zip(across.outer_iter_mut()) {
        let at = |i: isize| u32::from(row[border.index(i, w)]);
        let mut sum: u32 = (0..kw as isize).map(|d| at(window_start(0, kw) + d)).sum();
        for x in 0..w {
            out[x] = sum;
            let start = window_start(x, kw);
            sum = sum + at(start + kw as isize) - at(start);
        }
    }
    let count = (kh * kw) as u64;
    let mut means = Array2::<u8>::zeros((h, w));
    if h == 0 || w == 0 {
        return means;
    }
    let mut columns = vec![0u64; w];
    let add_row = |columns: &mut [u64], y: isize, sign: bool| {
        let row = across.row(border.index(y, h));
        for (sum, &v) in columns.iter_mut().zip(row.iter()) {
            if sign {
                *sum += u64::from(v);
            } else {
                *sum -= u64::from(v);
            }
        }
    };
    for d in 0..kh as isize {
        add_row(&mut columns, window_start(0, kh) + d, true);
    }
    for y in 0..h {
        for (mean, &sum) in means.row_mut(y).iter_mut().zip(&columns) {
            *mean = rounded_mean(sum, count);
        }
        let start = window_start(y, kh);
        add_row(&mut columns, start + kh as isize, true);
        add_row(&mut columns, start, false);
    }
    means
}

/// `sum / count` rounded to the nearest integer, halves to even (OpenCV's `cvRound`).
fn rounded_mean(sum: u64, count: u64) -> u8 {
    let (q, r) = (sum / count, sum % count);
    let up = 2 * r > count || (2 * r == count && q % 2 == 1);
    (q + u64::from(up)).min(255) as u8
}

/// The largest kernel side a box filter takes (a row's window sum stays in `u32`).
pub const MAX_KERNEL: usize = 1 << 16;

fn check_kernel(kh: usize, kw: usize) -> Result<()> {
    if kh == 0 || kw == 0 || kh > MAX_KERNEL || kw > MAX_KERNEL {
        return Err(Error::invalid_params(format!("a {kw}x{kh} kernel: each side must be 1..={MAX_KERNEL}")));
    }
    Ok(())
}

/// The mean of each `kw` x `kh` window: `cv2.blur(img, (kw, kh))` (borders
/// reflected, `BORDER_REFLECT_101`; the mean rounded half to even). Equal to
/// OpenCV for odd kernels; for an even side OpenCV 5.1.0 adds one grey level to
/// every pixel (its rounding slip), this does not. 1006 for a kernel side of 0.
/// The cost does not grow with the kernel.
pub fn box_blur(img: ArrayView2<u8>, kh: usize, kw: usize) -> Result<Array2<u8>> {
    check_kernel(kh, kw)?;
    Ok(box_means(img, kh, kw, Border::Reflect101))
}

/// The mean of each window with `border` (for the adaptive threshold, which
/// replicates its border).
pub(super) fn box_mean(img: ArrayView2<u8>, k: usize, border: Border) -> Array2<u8> {
    box_means(img, k, k, border)
}

/// OpenCV's fixed taps for the small odd sizes when no sigma is given.
const SMALL_GAUSSIANS: [&[f64]; 4] = [
    &[1.0],
    &[0.25, 0.5, 0.25],
    &[0.0625, 0.25, 0.375, 0.25, 0.0625],
    &[0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
];

/// The taps of `cv2.getGaussianKernel(size, sigma)`: with a `sigma` of 0 or
/// less, OpenCV's fixed binomial taps for sizes 1, 3, 5 and 7, and for larger
/// sizes the sigma `0.3 * ((size - 1) / 2 - 1) + 0.8`, as OpenCV picks them.
pub fn gaussian_kernel(size: usize, sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 && !size.is_multiple_of(2) && size <= 7 {
        return SMALL_GAUSSIANS[size / 2].to_vec();
    }
    let sigma = if sigma > 0.0 { sigma } else { 0.3 * ((size as f64 - 1.0) * 0.5 - 1.0) + 0.8 };
    let centre = (size as f64 - 1.0) / 2.0;
    let taps: Vec<f64> = (0..size).map(|i| (-((i as f64 - centre).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = taps.iter().sum();
    taps.into_iter().map(|t| t / total).collect()
}

/// A Gaussian blur with an odd `size` x `size` kernel: `cv2.GaussianBlur(img,
/// (size, size), sigma)` (a `sigma` of 0 picks it from the size as OpenCV does;
/// borders reflected). OpenCV rounds its fixed-point taps for 8-bit images, so a
/// pixel may differ from it by one grey level. 1006 for an even or zero size.
pub fn gaussian_blur(img: ArrayView2<u8>, size: usize, sigma: f64) -> Result<Array2<u8>> {
    if size == 0 || size.is_multiple_of(2) {
        return Err(Error::invalid_params(format!("a Gaussian kernel of size {size}: it must be odd")));
    }
    if !sigma.is_finite() {
        return Err(Error::invalid_params(format!("a Gaussian sigma of {sigma}")));
    }
    let taps = gaussian_kernel(size, sigma);
    let (h, w) = img.dim();
    let half = (size / 2) as isize;
    let border = Border::Reflect101;
    let mut across = Array2::<f64>::zeros((h, w));
    for (row, mut out) in img.outer_iter().zip(across.outer_iter_mut()) {
        for x in 0..w {
            out[x] =
                taps.iter().enumerate().map(|(t, k)| k * f64::from(row[border.index(x as isize + t as isize - half, w)])).sum();
        }
    }
    let mut blurred = Array2::<u8>::zeros((h, w));
    for x in 0..w {
        let column = across.column(x);
        for y in 0..h {
            let value: f64 =
                taps.iter().enumerate().map(|(t, k)| k * column[border.index(y as isize + t as isize - half, h)]).sum();
            blurred[[y, x]] = value.round_ties_even().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(blurred)
}

/// `|a - b|` pixel by pixel: `cv2.absdiff`. 1006 when the sizes differ.
pub fn abs_diff(a: ArrayView2<u8>, b: ArrayView2<u8>) -> Result<Array2<u8>> {
    if a.dim() != b.dim() {
        return Err(Error::invalid_params(format!(
            "absolute difference of a {}x{} and a {}x{} image: the sizes must match",
            a.dim().1,
            a.dim().0,
            b.dim().1,
            b.dim().0
        )));
    }
    Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&p, &q| p.abs_diff(q)))
}

/// How many pixels have each grey level: `cv2.calcHist` with 256 bins over 0..256.
pub fn histogram(img: ArrayView2<u8>) -> [u64; 256] {
    let mut bins = [0u64; 256];
    for &p in img.iter() {
        bins[usize::from(p)] += 1;
    }
    bins
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn borders_reflect_and_replicate_as_opencv() {
        // Reflect101 over 0..4: ... 2 1 | 0 1 2 3 | 2 1 0 1 ...
        let reflected: Vec<usize> = (-3..8).map(|i| Border::Reflect101.index(i, 4)).collect();
        assert_eq!(reflected, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        let replicated: Vec<usize> = (-2..6).map(|i| Border::Replicate.index(i, 4)).collect();
        assert_eq!(replicated, vec![0, 0, 0, 1, 2, 3, 3, 3]);
        assert_eq!(Border::Reflect101.index(-5, 1), 0);
    }

    #[test]
    fn box_blur_matches_opencv_on_a_small_image() {
        // cv2.blur(img, (3, 3)) of this image (values checked by hand: the
        // corner's window reflects to rows/columns 1,0,1).
        let img = array![[0u8, 0, 90], [0, 0, 90], [0, 0, 90]];
        let blurred = box_blur(img.view(), 3, 3).expect("blurs");
        // Column 1: windows over columns 0,1,2 -> (0+0+90)*3/9 = 30.
        // Column 2: columns 1,2,1 -> (0+90+0)*3/9 = 30. Column 0: 1,0,1 -> 0.
        assert_eq!(blurred, array![[0u8, 30, 30], [0, 30, 30], [0, 30, 30]]);
        // A 1x1 kernel is the identity; a zero side is refused.
        assert_eq!(box_blur(img.view(), 1, 1).expect("identity"), img);
        assert!(box_blur(img.view(), 0, 3).is_err());
    }

    #[test]
    fn means_round_half_to_even() {
        assert_eq!(rounded_mean(5, 2), 2); // 2.5 -> 2
        assert_eq!(rounded_mean(7, 2), 4); // 3.5 -> 4
        assert_eq!(rounded_mean(10, 4), 2); // 2.5 -> 2
        assert_eq!(rounded_mean(11, 4), 3); // 2.75 -> 3
    }

    #[test]
    fn an_even_window_is_anchored_as_opencv_anchors_it() {
        // A 2-wide window covers x-1 and x; at x = 0 it reflects to x = 1.
        // (OpenCV 5.1.0 gives one grey level more for every even kernel,
        // [16, 16, 31, 61] here, and 11 for a flat 10: a rounding slip of its own.)
        let img = array![[10u8, 20, 40, 80]];
        let blurred = box_blur(img.view(), 1, 2).expect("blurs");
        assert_eq!(blurred, array![[15u8, 15, 30, 60]]);
    }

    #[test]
    fn gaussian_taps_are_opencvs() {
        // cv2.getGaussianKernel(3, 0) -> [0.25, 0.5, 0.25].
        let taps = gaussian_kernel(3, 0.0);
        assert!(taps.iter().zip([0.25, 0.5, 0.25]).all(|(a, b)| (a - b).abs() < 1e-12), "{taps:?}");
        let taps = gaussian_kernel(5, 1.0);
        assert!((taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(taps[2] > taps[1] && taps[1] > taps[0] && (taps[0] - taps[4]).abs() < 1e-15);
    }

    #[test]
    fn a_gaussian_blur_keeps_flat_regions_and_spreads_a_step() {
        let flat = Array2::from_elem((5, 6), 77u8);
        assert_eq!(gaussian_blur(flat.view(), 5, 0.0).expect("blurs"), flat);
        // A vertical step 0 | 200 with the 3-tap [1/4, 1/2, 1/4]: 0, 50, 150, 200.
        let step = Array2::from_shape_fn((3, 4), |(_, x)| if x < 2 { 0u8 } else { 200 });
        let blurred = gaussian_blur(step.view(), 3, 0.0).expect("blurs");
        assert_eq!(blurred.row(1).to_vec(), vec![0, 50, 150, 200]);
        assert!(gaussian_blur(step.view(), 4, 0.0).is_err());
        assert!(gaussian_blur(step.view(), 3, f64::NAN).is_err());
    }

    #[test]
    fn gaussian_blur_is_within_one_grey_level_of_opencv() {
        let img = super::super::test_pattern(13, 17);
        // cv2.GaussianBlur(pattern, (5, 5), 0)[0] and cv2.GaussianBlur(pattern, (9, 9), 2.0)[6].
        let opencv_5: [u8; 17] = [112, 117, 126, 133, 129, 129, 145, 148, 132, 135, 137, 122, 124, 140, 140, 137, 137];
        let opencv_9: [u8; 17] = [119, 121, 124, 126, 127, 126, 124, 123, 122, 121, 121, 122, 124, 124, 126, 127, 127];
        let ours_5 = gaussian_blur(img.view(), 5, 0.0).expect("blurs");
        let ours_9 = gaussian_blur(img.view(), 9, 2.0).expect("blurs");
        for (ours, theirs) in [(ours_5.row(0).to_vec(), opencv_5), (ours_9.row(6).to_vec(), opencv_9)] {
            assert!(ours.iter().zip(theirs).all(|(&a, b)| a.abs_diff(b) <= 1), "{ours:?} against {theirs:?}");
        }
    }

    #[test]
    fn abs_diff_and_histogram() {
        let a = array![[0u8, 255], [10, 20]];
        let b = array![[255u8, 0], [20, 10]];
        assert_eq!(abs_diff(a.view(), b.view()).expect("same size"), array![[255u8, 255], [10, 10]]);
        assert!(abs_diff(a.view(), b.slice(ndarray::s![.., ..1])).is_err());
        let bins = histogram(a.view());
        assert_eq!((bins[0], bins[255], bins[10], bins[20], bins.iter().sum::<u64>()), (1, 1, 1, 1, 4));
    }
}
