//! Image processing of the scratch detector, free of SDK types.
//!
//! A scratch is a line narrower than the structures of the surface it is on. The
//! detector:
//!
//! 1. takes the white top-hat (image minus its grey-level opening) for bright lines
//!    and the black top-hat (closing minus image) for dark ones, with a square window
//!    one pixel wider than [`ScratchParams::max_width`]: lines up to that width vanish
//!    in the opening / closing and stand out in the residual, while wider structures
//!    (mortar joints, grains, part edges) are kept by it and cancel out;
//! 2. keeps residual pixels at least [`ScratchParams::min_contrast`] and labels them
//!    into 8-connected pieces;
//! 3. links line-like pieces that continue each other (same direction, on the same
//!    line, small gap): a scratch that crosses a brighter or darker structure loses
//!    contrast there and breaks, and its pieces are still one scratch;
//! 4. reports the linked lines that are long, thin and mostly continuous.
//!
//! The morphology is separable with van Herk / Gil-Werman running extremes, the
//! labelling uses an explicit stack and the linking a coarse grid, so the cost stays
//! O(pixels) plus O(pieces): the kernel runs under a fuel budget in the host.

use ndarray::ArrayView2;
use pv_guest::morphology::{closing, opening};

/// Tuning of the detector; `Default` gives the recommended values, each explained on
/// its field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScratchParams {
    /// Widest line counted as a scratch, in pixels; wider lines are texture. The
    /// top-hat window is one pixel wider. Default 2: a fine scratch, and narrow enough
    /// that the rounded crests of the sample brick wall's mortar joints are not taken
    /// for scratches (at 3 they start to be).
    pub max_width: u32,
    /// Shortest scratch reported, in pixels along the line. Default 60: at the
    /// default contrast nothing on the sample brick and gravel photos links up to
    /// 40 px, and at 60 the brick's fine joint grooves stay out even with
    /// `min_contrast` lowered to 25.
    pub min_length: u32,
    /// Grey levels a scratch must differ from the surface around it (its top-hat
    /// residual). Default 30: the fine grooves along the sample brick wall's joints
    /// average 20-30, a clearly visible scratch 45 and more.
    pub min_contrast: u8,
}

impl Default for ScratchParams {
    fn default() -> Self {
        ScratchParams { max_width: 2, min_length: 60, min_contrast: 30 }
    }
}

/// One detected line defect.
#[derive(Debug, Clone, PartialEq)]
pub struct Scratch {
    /// Left edge of the bounding box, in pixels.
    pub x: u32,
    /// Top edge of the bounding box, in pixels.
    pub y: u32,
    /// Width of the bounding box, in pixels.
    pub width: u32,
    /// Height of the bounding box, in pixels.
    pub height: u32,
    /// Length along the line from end to end, in pixels, gaps included.
    pub length: f32,
    /// Mean difference, in grey levels, between the scratch and the surface around it
    /// (the top-hat residual over the scratch's pixels).
    pub contrast: f32,
    /// Brighter than the surface (else darker).
    pub bright: bool,
}

/// Shortest connected piece taken as part of a line, in pixels: shorter ones have no
/// reliable direction and are mostly texture speckle.
const PIECE_MIN_LENGTH: f64 = 6.0;

/// Least elongation (major over minor axis) of a piece taken as part of a line.
const PIECE_MIN_ELONGATION: f64 = 3.0;

/// Widest gap bridged between two pieces of one line, in pixels along the line: a
/// scratch crossing a mortar joint or an edge about that wide loses contrast there.
const LINK_MAX_GAP: f64 = 12.0;

/// Cosine of the largest angle between two linked pieces (10 degrees).
const LINK_MIN_COS: f64 = 0.985;

/// Least elongation of a reported scratch: chance alignments of texture are stubby.
const MIN_ELONGATION: f64 = 8.0;

/// Least share of a reported scratch's length covered by its pieces: a real scratch
/// is mostly continuous, a chain of texture fragments is not.
const MIN_COVERAGE: f64 = 0.6;

/// Finds the thin bright and dark lines of `image` that are at least
/// `params.min_length` long and `params.min_contrast` grey levels off the surface,
/// and no wider than about `params.max_width`.
///
/// Dark scratches come first, then bright ones, each in raster order of their first
/// pixel. An empty or tiny image gives no scratch.
pub fn find_scratches(image: ArrayView2<u8>, params: &ScratchParams) -> Vec<Scratch> {
    let (w, h) = (image.ncols(), image.nrows());
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let pixels: Vec<u8> = image.iter().copied().collect();
    // max_width 0 would make the window one pixel, an identity filter: nothing thin
    // would ever stand out.
    let window = params.max_width.max(1) as usize + 1;
    // A contrast of 0 would select every pixel.
    let min_contrast = params.min_contrast.max(1);
    let max_offset = f64::from(params.max_width) + 2.0;
    let mut scratches = Vec::new();
    for bright in [false, true] {
        let residual = top_hat(&pixels, w, h, window, bright);
        let pieces = pieces(&residual, min_contrast, w, h);
        for line in link(&pieces, w, h, max_offset) {
            if line.length >= f64::from(params.min_length) && line.elongation >= MIN_ELONGATION && line.coverage >= MIN_COVERAGE {
                scratches.push(line.into_scratch(bright));
            }
        }
    }
    scratches
}

/// White top-hat (`bright`) or black top-hat of the image with a `window`-square.
fn top_hat(pixels: &[u8], w: usize, h: usize, window: usize, bright: bool) -> Vec<u8> {
    if bright {
        let twice = opening(pixels, w, h, window);
        pixels.iter().zip(&twice).map(|(&p, &o)| p.saturating_sub(o)).collect()
    } else {
        let twice = closing(pixels, w, h, window);
        pixels.iter().zip(&twice).map(|(&p, &c)| c.saturating_sub(p)).collect()
    }
}

/// Pixel statistics of a set of pixels: enough for its box, mean residual and
/// principal axes.
#[derive(Debug, Clone, Copy)]
struct Moments {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    area: f64,
    residual: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Moments {
    fn empty() -> Self {
        Moments {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
            area: 0.0,
            residual: 0.0,
            sx: 0.0,
            sy: 0.0,
            sxx: 0.0,
            syy: 0.0,
            sxy: 0.0,
        }
    }

    fn add_pixel(&mut self, x: usize, y: usize, residual: u8) {
        (self.x0, self.y0, self.x1, self.y1) = (self.x0.min(x), self.y0.min(y), self.x1.max(x), self.y1.max(y));
        let (fx, fy) = (x as f64, y as f64);
        self.area += 1.0;
        self.residual += f64::from(residual);
        self.sx += fx;
        self.sy += fy;
        self.sxx += fx * fx;
        self.syy += fy * fy;
        self.sxy += fx * fy;
    }

    fn merge(&mut self, o: &Moments) {
        (self.x0, self.y0, self.x1, self.y1) = (self.x0.min(o.x0), self.y0.min(o.y0), self.x1.max(o.x1), self.y1.max(o.y1));
        self.area += o.area;
        self.residual += o.residual;
        self.sx += o.sx;
        self.sy += o.sy;
        self.sxx += o.sxx;
        self.syy += o.syy;
        self.sxy += o.sxy;
    }

    /// Centroid, unit major axis, and the variances along the major and minor axes.
    /// Each pixel counts as a unit square (the 1/12 terms), so a one-pixel-wide line
    /// has a finite elongation.
    fn axes(&self) -> ((f64, f64), (f64, f64), f64, f64) {
        let n = self.area.max(1.0);
        let (mx, my) = (self.sx / n, self.sy / n);
        let cxx = self.sxx / n - mx * mx + 1.0 / 12.0;
        let cyy = self.syy / n - my * my + 1.0 / 12.0;
        let cxy = self.sxy / n - mx * my;
        let half_diff = (cxx - cyy) / 2.0;
        let disc = (half_diff * half_diff + cxy * cxy).sqrt();
        let (major, minor) = ((cxx + cyy) / 2.0 + disc, ((cxx + cyy) / 2.0 - disc).max(1.0 / 12.0));
        let angle = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
        ((mx, my), (angle.cos(), angle.sin()), major, minor)
    }
}

/// A connected piece of residual, summarised as a segment.
#[derive(Debug, Clone, Copy)]
struct Piece {
    moments: Moments,
    centre: (f64, f64),
    dir: (f64, f64),
    /// Half the length along `dir`.
    half: f64,
}

impl Piece {
    fn ends(&self) -> [(f64, f64); 2] {
        let ((cx, cy), (ux, uy), a) = (self.centre, self.dir, self.half);
        [(cx - a * ux, cy - a * uy), (cx + a * ux, cy + a * uy)]
    }
}

/// 8-connected pieces of the pixels with `residual >= min_contrast` that are
/// line-like enough to be (part of) a scratch.
fn pieces(residual: &[u8], min_contrast: u8, w: usize, h: usize) -> Vec<Piece> {
    let mut seen: Vec<bool> = residual.iter().map(|&r| r < min_contrast).collect();
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    // Most pixels are below the contrast: skip them a block at a time with a test
    // the compiler vectorises, rather than looking at them one by one.
    const BLOCK: usize = 64;
    for block_start in (0..residual.len()).step_by(BLOCK) {
        let block_end = (block_start + BLOCK).min(residual.len());
        if seen[block_start..block_end].iter().fold(true, |all, &s| all & s) {
            continue;
        }
        for start in block_start..block_end {
            if seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let mut m = Moments::empty();
            while let Some(i) = stack.pop() {
                let (x, y) = (i % w, i / w);
                m.add_pixel(x, y, residual[i]);
                for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                        let j = ny * w + nx;
                        if !seen[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            let (centre, dir, major, minor) = m.axes();
            // A uniform segment of length L has variance L^2 / 12 along it.
            let length = (12.0 * major).sqrt();
            if length >= PIECE_MIN_LENGTH && (major / minor).sqrt() >= PIECE_MIN_ELONGATION {
                out.push(Piece { moments: m, centre, dir, half: length / 2.0 });
            }
        }
    }
    out
}

/// A group of linked pieces, measured as one line.
struct Line {
    moments: Moments,
    length: f64,
    elongation: f64,
    coverage: f64,
}

impl Line {
    fn into_scratch(self, bright: bool) -> Scratch {
        let m = self.moments;
        // Pixel coordinates fit in u32: the host caps image sizes far below that.
        Scratch {
            x: m.x0 as u32,
            y: m.y0 as u32,
            width: (m.x1 - m.x0 + 1) as u32,
            height: (m.y1 - m.y0 + 1) as u32,
            length: self.length as f32,
            contrast: (m.residual / m.area.max(1.0)) as f32,
            bright,
        }
    }
}

/// Whether piece `b` continues piece `a`: nearly parallel, its near end within
/// `max_offset` of `a`'s line and the other way round, and at most
/// [`LINK_MAX_GAP`] beyond `a`'s end.
fn continues(a: &Piece, b: &Piece, max_offset: f64) -> bool {
    let (ua, ub) = (a.dir, b.dir);
    if (ua.0 * ub.0 + ua.1 * ub.1).abs() < LINK_MIN_COS {
        return false;
    }
    let along = (b.centre.0 - a.centre.0) * ua.0 + (b.centre.1 - a.centre.1) * ua.1;
    if along.abs() - a.half - b.half > LINK_MAX_GAP {
        return false;
    }
    let off_line = |p: &Piece, q: (f64, f64)| ((q.0 - p.centre.0) * p.dir.1 - (q.1 - p.centre.1) * p.dir.0).abs();
    let nearest = |from: &Piece, to: &Piece| {
        let [e0, e1] = from.ends();
        let d = |e: (f64, f64)| (e.0 - to.centre.0).powi(2) + (e.1 - to.centre.1).powi(2);
        if d(e0) <= d(e1) { e0 } else { e1 }
    };
    off_line(a, nearest(b, a)) <= max_offset && off_line(b, nearest(a, b)) <= max_offset
}

/// Groups the pieces that continue each other into lines (union-find over pairs
/// found through a grid of their end points, so only near pieces are compared).
fn link(pieces: &[Piece], w: usize, h: usize, max_offset: f64) -> Vec<Line> {
    let cell = (LINK_MAX_GAP.ceil() as usize).max(1);
    let (gw, gh) = (w.div_ceil(cell) + 1, h.div_ceil(cell) + 1);
    let cell_of = |(x, y): (f64, f64)| {
        let cx = (x.max(0.0) as usize / cell).min(gw - 1);
        let cy = (y.max(0.0) as usize / cell).min(gh - 1);
        (cx, cy)
    };
    let mut grid: Vec<Vec<usize>> = vec![Vec::new(); gw * gh];
    for (i, p) in pieces.iter().enumerate() {
        for end in p.ends() {
            let (cx, cy) = cell_of(end);
            let bucket = &mut grid[cy * gw + cx];
            if bucket.last() != Some(&i) {
                bucket.push(i);
            }
        }
    }
    let mut parent: Vec<usize> = (0..pieces.len()).collect();
    for (i, p) in pieces.iter().enumerate() {
        for end in p.ends() {
            let (cx, cy) = cell_of(end);
            // Ends within LINK_MAX_GAP of each other are at most one cell apart.
            for ny in cy.saturating_sub(1)..=(cy + 1).min(gh - 1) {
                for nx in cx.saturating_sub(1)..=(cx + 1).min(gw - 1) {
                    for &j in &grid[ny * gw + nx] {
                        if j > i && continues(p, &pieces[j], max_offset) && continues(&pieces[j], p, max_offset) {
                            let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                            parent[ri.max(rj)] = ri.min(rj);
                        }
                    }
                }
            }
        }
    }
    // Pieces come in raster order, so every group is gathered under its first piece.
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut slot = vec![usize::MAX; pieces.len()];
    for i in 0..pieces.len() {
        let root = find(&mut parent, i);
        if slot[root] == usize::MAX {
            slot[root] = groups.len();
            groups.push((root, Vec::new()));
        }
        groups[slot[root]].1.push(i);
    }
    groups.into_iter().map(|(_, members)| measure(pieces, &members)).collect()
}

/// Root of `i` in the union-find forest, halving the path on the way.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Length, elongation and coverage of the line made of `members`: the length runs
/// between the outermost piece ends along the common axis, so gaps count in it.
fn measure(pieces: &[Piece], members: &[usize]) -> Line {
    let mut moments = Moments::empty();
    for &i in members {
        moments.merge(&pieces[i].moments);
    }
    let (centre, dir, major, minor) = moments.axes();
    let (mut lo, mut hi, mut covered) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for &i in members {
        let [e0, e1] = pieces[i].ends();
        let t0 = (e0.0 - centre.0) * dir.0 + (e0.1 - centre.1) * dir.1;
        let t1 = (e1.0 - centre.0) * dir.0 + (e1.1 - centre.1) * dir.1;
        (lo, hi) = (lo.min(t0.min(t1)), hi.max(t0.max(t1)));
        covered += (t1 - t0).abs();
    }
    let length = (hi - lo).max(0.0);
    Line {
        moments,
        length,
        elongation: (major / minor).sqrt(),
        coverage: if length > 0.0 { (covered / length).min(1.0) } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;
    use ndarray::Array2;
    use pv_test_artifacts::fixtures::{self, ScratchPolarity};

    fn view(img: &GrayImage) -> ArrayView2<'_, u8> {
        ArrayView2::from_shape((img.height() as usize, img.width() as usize), img.as_raw())
            .expect("a GrayImage is a dense row-major buffer")
    }

    fn rect(s: &Scratch) -> (u32, u32, u32, u32) {
        (s.x, s.y, s.width, s.height)
    }

    #[test]
    fn brick_photo_has_no_scratch() {
        let found = find_scratches(view(&fixtures::load_gray("brick.png")), &ScratchParams::default());
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn gravel_photo_has_no_scratch() {
        let found = find_scratches(view(&fixtures::load_gray("gravel.png")), &ScratchParams::default());
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn drawn_scratches_are_found_on_brick() {
        for polarity in [ScratchPolarity::Dark, ScratchPolarity::Bright] {
            let (img, line) = fixtures::brick_with_scratch(polarity);
            let found = find_scratches(view(&img), &ScratchParams::default());
            let hit = found.iter().find(|s| fixtures::overlaps(rect(s), line));
            let Some(hit) = hit else { panic!("{polarity:?}: nothing on {line:?}: {found:?}") };
            assert_eq!(hit.bright, polarity == ScratchPolarity::Bright, "{hit:?}");
            assert!(fixtures::iou(rect(hit), line) > 0.5, "{polarity:?}: {hit:?} vs {line:?}");
            assert!(hit.length > 150.0 && hit.contrast > 30.0, "{hit:?}");
            assert!(found.iter().all(|s| fixtures::overlaps(rect(s), line)), "{polarity:?}: {found:?}");
        }
    }

    #[test]
    fn blank_and_tiny_images_have_no_scratch() {
        let params = ScratchParams::default();
        for (h, w) in [(0, 0), (1, 1), (1, 9), (9, 1), (2, 2), (64, 48)] {
            for value in [0u8, 128, 255] {
                let img = Array2::from_elem((h, w), value);
                assert!(find_scratches(img.view(), &params).is_empty(), "{h}x{w} of {value}");
            }
        }
        let odd = ScratchParams { max_width: 0, min_length: 0, min_contrast: 0 };
        assert!(find_scratches(Array2::from_elem((1, 1), 9u8).view(), &odd).is_empty());
    }

    /// Flat grey with a straight line from (20, 30) to (20 + len cos a, 30 + len sin a)
    /// of the given width and grey-level offset.
    fn with_line(len: f32, angle_deg: f32, width: f32, offset: f32) -> Array2<u8> {
        let (dx, dy) = (angle_deg.to_radians().cos(), angle_deg.to_radians().sin());
        Array2::from_shape_fn((160, 160), |(y, x)| {
            let (px, py) = (x as f32 - 20.0, y as f32 - 30.0);
            let t = px * dx + py * dy;
            let d = (px * dy - py * dx).abs();
            let on = (0.0..=len).contains(&t) && d <= width / 2.0;
            let texture = ((x * 31 + y * 17) % 11) as f32;
            (120.0 + texture + if on { offset } else { 0.0 }).clamp(0.0, 255.0) as u8
        })
    }

    #[test]
    fn synthetic_thin_lines_are_found_in_any_direction() {
        let params = ScratchParams::default();
        for angle in [0.0, 30.0, 45.0, 80.0, 90.0] {
            for (offset, bright) in [(-60.0, false), (60.0, true)] {
                let found = find_scratches(with_line(100.0, angle, 1.5, offset).view(), &params);
                assert_eq!(found.len(), 1, "{angle} {offset}: {found:?}");
                let s = &found[0];
                assert_eq!(s.bright, bright);
                assert!((s.length - 100.0).abs() < 6.0, "{angle}: {s:?}");
            }
        }
    }

    #[test]
    fn wide_short_or_faint_lines_are_not_scratches() {
        let params = ScratchParams::default();
        for (img, what) in [
            (with_line(100.0, 30.0, 9.0, -60.0), "wide"),
            (with_line(params.min_length as f32 / 2.0, 30.0, 1.5, -60.0), "short"),
            (with_line(100.0, 30.0, 1.5, -15.0), "faint"),
        ] {
            let found = find_scratches(img.view(), &params);
            assert!(found.is_empty(), "{what}: {found:?}");
        }
    }

    #[test]
    fn a_line_broken_by_a_crossing_bar_is_one_scratch() {
        let mut img = with_line(120.0, 20.0, 1.5, -60.0);
        // A bright 8 px bar across the line hides it there.
        for y in 0..160 {
            for x in 70..78 {
                img[[y, x]] = 250;
            }
        }
        let found = find_scratches(img.view(), &ScratchParams::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].length > 110.0, "{found:?}");
    }
}
