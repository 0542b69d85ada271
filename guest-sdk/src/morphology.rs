//! Grey-level morphology on 8-bit images: erosion, dilation, opening and closing
//! with a square window, in time independent of the window's size (the van Herk /
//! Gil-Werman running extreme, separably across rows then columns).
//!
//! Images are row-major `&[u8]` of `width * height` gray pixels, as
//! [`Image::gray`](crate::Image::gray) gives them as a slice.
//!
//! ```
//! use pv_guest::morphology::{closing, opening};
//!
//! // A 1-pixel bright speck on a dark 5x5 image: an opening removes it.
//! let mut pixels = vec![10u8; 25];
//! pixels[12] = 200;
//! assert_eq!(opening(&pixels, 5, 5, 3), vec![10u8; 25]);
//! assert_eq!(closing(&pixels, 5, 5, 3)[12], 200);
//! ```

/// Which running extreme a filter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    /// Grey-level erosion.
    Min,
    /// Grey-level dilation.
    Max,
}

impl Extreme {
    /// The value that never wins: pixels outside the image are treated as this, so
    /// the border neither darkens an erosion nor brightens a dilation.
    pub fn neutral(self) -> u8 {
        match self {
            Extreme::Min => u8::MAX,
            Extreme::Max => u8::MIN,
        }
    }

    /// The winner of `a` and `b`.
    pub fn pick(self, a: u8, b: u8) -> u8 {
        match self {
            Extreme::Min => a.min(b),
            Extreme::Max => a.max(b),
        }
    }

    /// `dst[i] = pick(a[i], b[i])`; the match sits outside the loop so the loop is a
    /// plain element-wise min / max.
    fn pick_rows(self, dst: &mut [u8], a: &[u8], b: &[u8]) {
        let lanes = dst.iter_mut().zip(a.iter().zip(b));
        match self {
            Extreme::Min => lanes.for_each(|(d, (&x, &y))| *d = x.min(y)),
            Extreme::Max => lanes.for_each(|(d, (&x, &y))| *d = x.max(y)),
        }
    }
}

/// Separable running min or max over a `k` x `k` window that reaches `lead` pixels
/// back (left, up) from the output pixel; pixels outside the image do not count.
/// `src` is a `w` x `h` gray image, row-major. The cost per pixel does not depend
/// on `k`.
pub fn extreme_2d(src: &[u8], w: usize, h: usize, k: usize, lead: usize, op: Extreme) -> Vec<u8> {
    let mut filter = RunningExtreme::new(k, lead, op);
    let mut across = vec![0u8; src.len()];
    for (row_in, row_out) in src.chunks_exact(w).zip(across.chunks_exact_mut(w)) {
        filter.apply(row_in, row_out);
    }
    extreme_columns(&across, w, h, k, lead, op)
}

/// The vertical pass of [`extreme_2d`], on whole rows at a time: the same van Herk /
/// Gil-Werman scheme as [`RunningExtreme`], with rows combined element-wise. Memory is
/// read in order (a column at a time would stride through the image) and only one
/// block of `k` rows is buffered.
fn extreme_columns(src: &[u8], w: usize, h: usize, k: usize, lead: usize, op: Extreme) -> Vec<u8> {
    let k = k.max(1);
    let lead = lead.min(k - 1);
    let mut out = vec![0u8; src.len()];
    let neutral = vec![op.neutral(); w];
    // Row p of the image padded with `lead` neutral rows on top and as many as needed
    // below.
    let row = |p: usize| match p.checked_sub(lead) {
        Some(y) if y < h => &src[y * w..(y + 1) * w],
        _ => &neutral[..],
    };
    let mut suffix = vec![0u8; k * w];
    let mut ahead = vec![0u8; w];
    for start in (0..h).step_by(k) {
        // suffix row j: extreme of padded rows start + j .. start + k.
        suffix[(k - 1) * w..].copy_from_slice(row(start + k - 1));
        for j in (0..k - 1).rev() {
            let (this, next) = suffix.split_at_mut((j + 1) * w);
            op.pick_rows(&mut this[j * w..], row(start + j), &next[..w]);
        }
        out[start * w..(start + 1) * w].copy_from_slice(&suffix[..w]);
        // Output row start + j spans padded rows start + j ..= start + j + k - 1: the
        // suffix from row j, and `ahead`, the running extreme of the next block's
        // first j rows.
        ahead.copy_from_slice(&neutral);
        for j in 1..k.min(h - start) {
            let next = row(start + k + j - 1);
            ahead.iter_mut().zip(next).for_each(|(a, &v)| *a = op.pick(*a, v));
            let y = start + j;
            op.pick_rows(&mut out[y * w..(y + 1) * w], &suffix[j * w..(j + 1) * w], &ahead);
        }
    }
    out
}

/// Van Herk / Gil-Werman running extreme along a line: three comparisons per sample
/// whatever the window, with the buffers kept between lines.
struct RunningExtreme {
    k: usize,
    lead: usize,
    op: Extreme,
    padded: Vec<u8>,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl RunningExtreme {
    fn new(k: usize, lead: usize, op: Extreme) -> Self {
        let k = k.max(1);
        RunningExtreme { k, lead: lead.min(k - 1), op, padded: Vec::new(), prefix: Vec::new(), suffix: Vec::new() }
    }

    /// `dst[i]` = extreme of `src[i - lead .. i - lead + k]`, clipped to the line.
    fn apply(&mut self, src: &[u8], dst: &mut [u8]) {
        let (k, lead, op) = (self.k, self.lead, self.op);
        let n = src.len();
        // Padded with the neutral value on both sides and up to whole blocks of k.
        let len = (n + k - 1).div_ceil(k) * k;
        self.padded.clear();
        self.padded.resize(lead, op.neutral());
        self.padded.extend_from_slice(src);
        self.padded.resize(len, op.neutral());
        self.prefix.resize(len, 0);
        self.suffix.resize(len, 0);
        for ((block, prefix), suffix) in
            self.padded.chunks_exact(k).zip(self.prefix.chunks_exact_mut(k)).zip(self.suffix.chunks_exact_mut(k))
        {
            let mut acc = op.neutral();
            for (p, &v) in prefix.iter_mut().zip(block) {
                acc = op.pick(acc, v);
                *p = acc;
            }
            acc = op.neutral();
            for (s, &v) in suffix.iter_mut().zip(block).rev() {
                acc = op.pick(acc, v);
                *s = acc;
            }
        }
        // The window of output i is padded[i .. i + k]: the suffix of the block where
        // it starts and the prefix of the block where it ends cover it exactly.
        for (i, d) in dst.iter_mut().enumerate().take(n) {
            *d = op.pick(self.suffix[i], self.prefix[i + k - 1]);
        }
    }
}

/// Grey-level opening (erosion, then dilation) with a `window`-square: removes
/// bright details smaller than the window. An even window has no centre; the
/// dilation uses the mirrored window so the result is never brighter than the
/// image.
pub fn opening(pixels: &[u8], width: usize, height: usize, window: usize) -> Vec<u8> {
    twice(pixels, width, height, window, Extreme::Min, Extreme::Max)
}

/// Grey-level closing (dilation, then erosion) with a `window`-square: removes
/// dark details smaller than the window; never darker than the image.
pub fn closing(pixels: &[u8], width: usize, height: usize, window: usize) -> Vec<u8> {
    twice(pixels, width, height, window, Extreme::Max, Extreme::Min)
}

fn twice(pixels: &[u8], width: usize, height: usize, window: usize, first: Extreme, second: Extreme) -> Vec<u8> {
    let window = window.max(1);
    let lead = window / 2;
    let once = extreme_2d(pixels, width, height, window, lead, first);
    extreme_2d(&once, width, height, window, window - 1 - lead, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_extreme_matches_brute_force() {
        let mut seed = 777u32;
        let data: Vec<u8> = (0..29)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        for k in [1, 2, 3, 4, 7, 40] {
            for lead in [0, k / 2, k - 1] {
                for op in [Extreme::Min, Extreme::Max] {
                    let mut out = vec![0; data.len()];
                    RunningExtreme::new(k, lead, op).apply(&data, &mut out);
                    for (i, &o) in out.iter().enumerate() {
                        let lo = i.saturating_sub(lead);
                        let hi = (i + k - lead).min(data.len());
                        let want = data[lo..hi].iter().copied().reduce(|a, b| op.pick(a, b));
                        assert_eq!(Some(o), want, "k {k} lead {lead} {op:?} at {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn extreme_2d_matches_brute_force() {
        let (w, h) = (13, 17);
        let mut seed = 4242u32;
        let img: Vec<u8> = (0..w * h)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        for k in [1, 2, 3, 4, 5, 20] {
            for lead in [0, k / 2, k - 1] {
                for op in [Extreme::Min, Extreme::Max] {
                    let out = extreme_2d(&img, w, h, k, lead, op);
                    for y in 0..h {
                        for x in 0..w {
                            let ys = y.saturating_sub(lead)..(y + k - lead).min(h);
                            let want = ys
                                .flat_map(|yy| (x.saturating_sub(lead)..(x + k - lead).min(w)).map(move |xx| (xx, yy)))
                                .map(|(xx, yy)| img[yy * w + xx])
                                .reduce(|a, b| op.pick(a, b));
                            assert_eq!(Some(out[y * w + x]), want, "k {k} lead {lead} {op:?} at ({x}, {y})");
                        }
                    }
                }
            }
        }
    }
}
