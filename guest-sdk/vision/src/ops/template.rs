//! Template matching: where a small image best fits inside a larger one.

use ndarray::{Array2, ArrayView2};
use pv_guest::{Error, Result};

/// Sums over windows through a summed-area table (one row and column of zeros
/// in front): any window's sum in four reads.
struct Integral {
    table: Array2<f64>,
}

impl Integral {
    fn new(img: ArrayView2<u8>, value: impl Fn(u8) -> f64) -> Integral {
        let (h, w) = img.dim();
        let mut table = Array2::<f64>::zeros((h + 1, w + 1));
        for y in 0..h {
            let mut row = 0.0;
            for x in 0..w {
                row += value(img[[y, x]]);
                table[[y + 1, x + 1]] = table[[y, x + 1]] + row;
            }
        }
        Integral { table }
    }

    fn window(&self, y: usize, x: usize, h: usize, w: usize) -> f64 {
        let t = &self.table;
        t[[y + h, x + w]] - t[[y, x + w]] - t[[y + h, x]] + t[[y, x]]
    }
}

/// The normalised correlation of `template` with every window of `img` it fits
/// in: `cv2.matchTemplate(img, template, cv2.TM_CCOEFF_NORMED)`. The result is
/// `(H - h + 1) x (W - w + 1)`, each value in [-1, 1], 1 where the window is
/// the template up to brightness and contrast. A flat window (or a flat
/// template) correlates with nothing: 0. 1006 for an empty template or one
/// larger than the image.
///
/// The cost is the template's area for every position: a 64x64 template on a
/// 1920x1200 frame is about 9 x 10⁹ multiply-adds. Search a cropped region when
/// the part's place is roughly known.
pub fn match_template(img: ArrayView2<u8>, template: ArrayView2<u8>) -> Result<Array2<f32>> {
    let ((ih, iw), (th, tw)) = (img.dim(), template.dim());
    if th == 0 || tw == 0 || th > ih || tw > iw {
        return Err(Error::invalid_params(format!(
            "a {tw}x{th} template in a {iw}x{ih} image: the template must be non-empty and fit in the image"
        )));
    }
    let n = (th * tw) as f64;
    let t_mean = template.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
    let centred: Vec<f64> = template.iter().map(|&p| f64::from(p) - t_mean).collect();
    let t_norm = centred.iter().map(|v| v * v).sum::<f64>().sqrt();
    let sums = Integral::new(img, f64::from);
    let squares = Integral::new(img, |p| f64::from(p) * f64::from(p));
    let rows: Vec<Vec<f64>> = img.outer_iter().map(|row| row.iter().map(|&p| f64::from(p)).collect()).collect();
    let (oh, ow) = (ih - th + 1, iw - tw + 1);
    let mut out = Array2::<f32>::zeros((oh, ow));
    for y in 0..oh {
        for x in 0..ow {
            let sum = sums.window(y, x, th, tw);
            let variance_n = squares.window(y, x, th, tw) - sum * sum / n;
            // Flat to rounding: no correlation (OpenCV's own guard is alike).
            if t_norm < 1e-6 || variance_n <= 1e-6 * n {
                continue;
            }
            // Σ (I - Ī)(T - T̄) = Σ I (T - T̄), since Σ (T - T̄) = 0.
            let mut cross = 0.0;
            for (ty, weights) in centred.chunks_exact(tw).enumerate() {
                let row = &rows[y + ty][x..x + tw];
                cross += row.iter().zip(weights).map(|(i, t)| i * t).sum::<f64>();
            }
            out[[y, x]] = (cross / (t_norm * variance_n.sqrt())).clamp(-1.0, 1.0) as f32;
        }
    }
    Ok(out)
}

/// The best place in a [`match_template`] result: `(x, y, score)` of its largest
/// value (the first in raster order among equals), as `cv2.minMaxLoc`'s maximum.
/// `None` for an empty result.
pub fn best_match(scores: ArrayView2<f32>) -> Option<(usize, usize, f32)> {
    let mut best: Option<(usize, usize, f32)> = None;
    for ((y, x), &score) in scores.indexed_iter() {
        if best.is_none_or(|(_, _, top)| score > top) {
            best = Some((x, y, score));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_found_where_it_was_cut_from() {
        let img = super::super::test_pattern(40, 50);
        let template = img.slice(ndarray::s![12..20, 30..39]).to_owned();
        let scores = match_template(img.view(), template.view()).expect("matches");
        assert_eq!(scores.dim(), (40 - 8 + 1, 50 - 9 + 1));
        let (x, y, score) = best_match(scores.view()).expect("a best place");
        assert_eq!((x, y), (30, 12));
        assert!((score - 1.0).abs() < 1e-5, "{score}");
        assert!(scores.iter().all(|s| (-1.0..=1.0).contains(s)));
    }

    #[test]
    fn brightness_and_contrast_do_not_matter_and_flat_windows_score_zero() {
        let template = Array2::from_shape_fn((3, 3), |(y, x)| (10 * (y * 3 + x)) as u8);
        let mut img = Array2::from_elem((5, 8), 100u8);
        // The template at twice the contrast plus 20, at (4, 1).
        for ((y, x), &t) in template.indexed_iter() {
            img[[1 + y, 4 + x]] = 2 * t + 20;
        }
        let scores = match_template(img.view(), template.view()).expect("matches");
        let (x, y, score) = best_match(scores.view()).expect("best");
        assert_eq!((x, y), (4, 1));
        assert!((score - 1.0).abs() < 1e-5);
        // The window at (0, 0) is all 100: flat, so 0.
        assert_eq!(scores[[0, 0]], 0.0);
    }

    #[test]
    fn a_template_larger_than_the_image_is_refused() {
        let img = Array2::<u8>::zeros((4, 4));
        assert!(match_template(img.view(), Array2::<u8>::zeros((5, 2)).view()).is_err());
        assert!(match_template(img.view(), Array2::<u8>::zeros((0, 2)).view()).is_err());
        assert_eq!(best_match(Array2::<f32>::zeros((0, 0)).view()), None);
    }
}
