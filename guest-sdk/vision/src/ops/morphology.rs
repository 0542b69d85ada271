//! Grey-level morphology with rectangular kernels: erosion (the minimum over a
//! window), dilation (the maximum), opening and closing, as OpenCV computes them.
//!
//! A mask is an image of 0 and 255, so the same functions serve masks. Pixels
//! outside the image never win (OpenCV's default border for morphology). The
//! window of a `k`-wide kernel covers `x - k/2 ..= x - k/2 + k - 1` (OpenCV's
//! anchor). Each pass costs about three comparisons a pixel whatever the kernel
//! size (van Herk / Gil-Werman).

use ndarray::{Array2, ArrayView2};
use pv_guest::{Error, Result};

#[derive(Clone, Copy)]
enum Extreme {
    Min,
    Max,
}

impl Extreme {
    fn pick(self, a: u8, b: u8) -> u8 {
        match self {
            Extreme::Min => a.min(b),
            Extreme::Max => a.max(b),
        }
    }

    /// The value that never wins: what lies outside the image.
    fn neutral(self) -> u8 {
        match self {
            Extreme::Min => u8::MAX,
            Extreme::Max => 0,
        }
    }
}

/// `out[i]` = the extreme of `src` over `i - k/2 ..= i - k/2 + k - 1`.
fn slide(src: &[u8], out: &mut [u8], k: usize, extreme: Extreme) {
    let n = src.len();
    let before = k / 2;
    // The row padded with the neutral value so every window lies inside it.
    let mut padded = vec![extreme.neutral(); n + k - 1];
    padded[before..before + n].copy_from_slice(src);
    // Running extremes from the start of each block of k (forward) and from
    // its end (backward): a window [i, i + k) spans at most two blocks.
    let mut forward = padded.clone();
    let mut backward = padded.clone();
    for block in (0..padded.len()).step_by(k) {
        let end = (block + k).min(padded.len());
        for i in block + 1..end {
            forward[i] = extreme.pick(forward[i - 1], padded[i]);
        }
        for i in (block..end - 1).rev() {
            backward[i] = extreme.pick(backward[i + 1], padded[i]);
        }
    }
    for (i, value) in out.iter_mut().enumerate() {
        *value = extreme.pick(backward[i], forward[i + k - 1]);
    }
}

fn filter(img: ArrayView2<u8>, kh: usize, kw: usize, extreme: Extreme) -> Result<Array2<u8>> {
    if kh == 0 || kw == 0 {
        return Err(Error::invalid_params(format!("a {kw}x{kh} kernel: both sides must be at least 1")));
    }
    let (h, w) = img.dim();
    let mut across = Array2::<u8>::zeros((h, w));
    let mut row = vec![0u8; w];
    for (y, src) in img.outer_iter().enumerate() {
        for (slot, &p) in row.iter_mut().zip(src.iter()) {
            *slot = p;
        }
        if let Some(out) = across.row_mut(y).as_slice_mut() {
            slide(&row, out, kw, extreme);
        }
    }
    let mut out = Array2::<u8>::zeros((h, w));
    let (mut column, mut result) = (vec![0u8; h], vec![0u8; h]);
    for x in 0..w {
        for (slot, &p) in column.iter_mut().zip(across.column(x).iter()) {
            *slot = p;
        }
        slide(&column, &mut result, kh, extreme);
        for (y, &value) in result.iter().enumerate() {
            out[[y, x]] = value;
        }
    }
    Ok(out)
}

/// The minimum over each `kh` x `kw` window: `cv2.erode(img, np.ones((kh, kw)))`.
/// 1006 for a kernel side of 0.
pub fn erode(img: ArrayView2<u8>, kh: usize, kw: usize) -> Result<Array2<u8>> {
    filter(img, kh, kw, Extreme::Min)
}

/// The maximum over each `kh` x `kw` window: `cv2.dilate(img, np.ones((kh, kw)))`.
/// 1006 for a kernel side of 0.
pub fn dilate(img: ArrayView2<u8>, kh: usize, kw: usize) -> Result<Array2<u8>> {
    filter(img, kh, kw, Extreme::Max)
}

/// Erosion then dilation: removes bright specks smaller than the kernel
/// (`cv2.morphologyEx(img, cv2.MORPH_OPEN, kernel)`).
pub fn open(img: ArrayView2<u8>, kh: usize, kw: usize) -> Result<Array2<u8>> {
    dilate(erode(img, kh, kw)?.view(), kh, kw)
}

/// Dilation then erosion: fills dark gaps smaller than the kernel
/// (`cv2.morphologyEx(img, cv2.MORPH_CLOSE, kernel)`).
pub fn close(img: ArrayView2<u8>, kh: usize, kw: usize) -> Result<Array2<u8>> {
    erode(dilate(img, kh, kw)?.view(), kh, kw)
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    /// The extreme over each window, the slow way, for comparison.
    fn brute(img: &Array2<u8>, kh: usize, kw: usize, max: bool) -> Array2<u8> {
        let (h, w) = img.dim();
        Array2::from_shape_fn((h, w), |(y, x)| {
            let mut best = if max { 0 } else { 255 };
            for dy in 0..kh {
                for dx in 0..kw {
                    let (yy, xx) = (y as isize - (kh / 2) as isize + dy as isize, x as isize - (kw / 2) as isize + dx as isize);
                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                        let p = img[[yy as usize, xx as usize]];
                        best = if max { best.max(p) } else { best.min(p) };
                    }
                }
            }
            best
        })
    }

    #[test]
    fn erosion_and_dilation_match_the_definition_for_any_kernel() {
        // A deterministic pseudo-random image.
        let img = super::super::test_pattern(13, 17);
        for (kh, kw) in [(1, 1), (1, 2), (2, 1), (3, 3), (2, 5), (4, 4), (7, 3), (20, 30)] {
            assert_eq!(erode(img.view(), kh, kw).expect("erodes"), brute(&img, kh, kw, false), "{kh}x{kw}");
            assert_eq!(dilate(img.view(), kh, kw).expect("dilates"), brute(&img, kh, kw, true), "{kh}x{kw}");
        }
        assert!(erode(img.view(), 0, 3).is_err());
    }

    #[test]
    fn opening_removes_specks_and_closing_fills_gaps() {
        let speck = array![[0u8, 0, 0, 0], [0, 255, 0, 0], [0, 0, 0, 0]];
        assert_eq!(open(speck.view(), 2, 2).expect("opens"), Array2::<u8>::zeros((3, 4)));
        let gap = array![[255u8, 255, 255, 255], [255, 0, 255, 255], [255, 255, 255, 255]];
        assert_eq!(close(gap.view(), 3, 3).expect("closes"), Array2::from_elem((3, 4), 255));
        // An even kernel's anchor shifts the result one step right and down,
        // exactly as cv2.morphologyEx(square, cv2.MORPH_OPEN, np.ones((2, 2))) does.
        let square = array![[0u8, 0, 0, 0], [0, 255, 255, 0], [0, 255, 255, 0], [0, 0, 0, 0]];
        let shifted = array![[0u8, 0, 0, 0], [0, 0, 0, 0], [0, 0, 255, 255], [0, 0, 255, 255]];
        assert_eq!(open(square.view(), 2, 2).expect("opens"), shifted);
    }
}
