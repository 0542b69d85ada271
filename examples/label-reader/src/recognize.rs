//! Text recognition: each line cropped upright, PP-OCR's CRNN recogniser, CTC
//! greedy decoding.

use ndarray::{Array3, ArrayView3, Axis};
use pv_guest::{Error, PixelFormat, Result};
use pv_vision::ops::{self, Interpolation, Point};
use pv_vision::tensors::{AsView, Layout};
use pv_vision::{ChannelOrder, ImageTensor, Model, Normalize};

/// The recogniser's input height, in pixels.
const LINE_HEIGHT: usize = 48;
/// The narrowest input, in pixels: PP-OCR pads shorter lines to it.
const MIN_LINE_WIDTH: usize = 320;
/// Lines per inference: lines of similar length are batched, as PaddleOCR does.
const BATCH: usize = 6;
/// The widest line fed to the recogniser, in pixels (a 1:40 line). Wider crops are
/// squeezed to it: the bound keeps a hostile frame's one long "line" from costing
/// unbounded time and memory.
const MAX_LINE_WIDTH: usize = 48 * 40;

/// The characters a recogniser emits, index by index.
#[derive(Debug, Clone, PartialEq)]
pub struct Charset {
    /// Index 0 is CTC's blank; then the model's list; last a space.
    symbols: Vec<String>,
}

impl Charset {
    /// The character list as PaddleOCR models carry it (in the ONNX metadata
    /// `character`, one per line): index 0 becomes the blank, a space is appended.
    pub fn from_lines(list: &str) -> Charset {
        let mut symbols = vec![String::new()];
        symbols.extend(list.split('\n').map(|line| line.trim_end_matches('\r').to_owned()));
        symbols.push(" ".to_owned());
        Charset { symbols }
    }

    /// Number of classes, the blank included: the recogniser's last dimension.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether there are no classes but the blank.
    pub fn is_empty(&self) -> bool {
        self.symbols.len() <= 1
    }
}

/// A line read: its text and the mean probability of its characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The characters, in order.
    pub text: String,
    /// Mean of the winning probability over the characters kept, in [0, 1]; 0
    /// when nothing was read.
    pub score: f32,
}

/// Crop a line upright: the quadrilateral warped to a rectangle as wide as its
/// longer horizontal edge and as high as its longer vertical edge; a crop at least
/// 1.5 times higher than wide is a vertical line and is turned a quarter left.
pub fn crop_line(pixels: ArrayView3<'_, u8>, corners: [Point; 4]) -> Option<Array3<u8>> {
    let distance = |a: Point, b: Point| f64::from(a.x - b.x).hypot(f64::from(a.y - b.y));
    let [tl, tr, br, bl] = corners;
    // Truncated, as PaddleOCR's int() does.
    let width = distance(tl, tr).max(distance(br, bl)) as usize;
    let height = distance(tl, bl).max(distance(tr, br)) as usize;
    // Bicubic, as PaddleOCR crops (cv2.warpPerspective with INTER_CUBIC): the
    // recogniser reads some lines differently from a bilinear crop.
    let crop = ops::warp_quad_upright(pixels, corners, width, height, Interpolation::Cubic)?;
    if height as f32 >= 1.5 * width as f32 {
        // A quarter turn counter-clockwise: row r of the result is column w-1-r.
        let mut turned = crop.permuted_axes([1, 0, 2]);
        turned.invert_axis(Axis(0));
        return Some(turned.as_standard_layout().into_owned());
    }
    Some(crop)
}

/// Read lines cropped by [`crop_line`], in the order given.
pub fn recognize(model: &Model, charset: &Charset, lines: &[Array3<u8>], format: PixelFormat) -> Result<Vec<Reading>> {
    // Ratios and widths in f64, as PaddleOCR's Python computes them.
    let ratio = |line: &Array3<u8>| line.dim().1 as f64 / line.dim().0.max(1) as f64;
    // Batches of lines of similar length waste little on padding.
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| ratio(&lines[a]).total_cmp(&ratio(&lines[b])));
    let mut readings = vec![Reading { text: String::new(), score: 0.0 }; lines.len()];
    for batch in order.chunks(BATCH) {
        let widest = batch.iter().map(|&i| ratio(&lines[i])).fold(MIN_LINE_WIDTH as f64 / LINE_HEIGHT as f64, f64::max);
        // As PaddleOCR: the batch's width is int(48 * widest ratio).
        let batch_width = ((LINE_HEIGHT as f64 * widest) as usize).min(MAX_LINE_WIDTH);
        let items: Vec<(ArrayView3<'_, u8>, usize)> = batch
            .iter()
            .map(|&i| (lines[i].view(), ((LINE_HEIGHT as f64 * ratio(&lines[i])).ceil() as usize).clamp(1, batch_width)))
            .collect();
        let input = ImageTensor::new(LINE_HEIGHT, batch_width)
            .normalize(Normalize::SYMMETRIC)
            .channel_order(ChannelOrder::Bgr)
            .batch(&items, format)?;
        let output = model.run(input)?;
        let shape = output.shape().to_vec();
        if shape.len() != 3 || shape[0] != batch.len() || shape[2] != charset.len() {
            return Err(Error::unknown(format!(
                "the recogniser returned shape {shape:?}, expected [{}, steps, {}] for its character list",
                batch.len(),
                charset.len()
            )));
        }
        let data = output.data().unwrap_or_default();
        let per_line = shape[1] * shape[2];
        for (slot, &line) in batch.iter().enumerate() {
            let steps = data.get(slot * per_line..(slot + 1) * per_line).unwrap_or_default();
            readings[line] = ctc_greedy(steps, charset);
        }
    }
    Ok(readings)
}

/// A gap between two characters is read as a space when the space's probability
/// reaches this at one of the gap's blank steps. Greedy decoding keeps only each
/// step's winner, and PP-OCR often puts a word gap's space a little under the
/// blank (0.26-0.50 on the rendered labels, where a gap inside a word stays
/// under 0.07): without the rescue, "LOT 575487" reads "LOT575487".
pub const SPACE_RESCUE: f32 = 0.2;

/// CTC greedy decoding: the most probable class at each step; repeats collapsed,
/// blanks dropped, and a space kept where a gap's blanks nearly hid one (see
/// [`SPACE_RESCUE`]); the score is the mean probability of the characters kept.
pub fn ctc_greedy(probabilities: &[f32], charset: &Charset) -> Reading {
    let space = charset.len() - 1;
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f32, 0usize);
    let mut previous = usize::MAX;
    // The highest space probability over the blank steps since the last character.
    let mut gap_space = 0.0f32;
    for step in probabilities.chunks_exact(charset.len().max(1)) {
        let (best, probability) =
            step.iter().copied().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, p)| if p > best.1 { (i, p) } else { best });
        if best == 0 {
            gap_space = gap_space.max(step[space]);
        } else if best != previous {
            let after_a_word = !text.is_empty() && !text.ends_with(' ');
            if best != space && after_a_word && gap_space >= SPACE_RESCUE {
                text.push(' ');
            }
            text.push_str(&charset.symbols[best]);
            sum += probability;
            kept += 1;
            gap_space = 0.0;
        }
        previous = best;
    }
    Reading { text, score: if kept == 0 { 0.0 } else { sum / kept as f32 } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charset() -> Charset {
        Charset::from_lines("A\nB\nC")
    }

    /// One step of probabilities over blank, A, B, C, space with `winner` at 0.9.
    fn step(winner: usize) -> Vec<f32> {
        let mut probabilities = vec![0.025; 5];
        probabilities[winner] = 0.9;
        probabilities
    }

    #[test]
    fn the_charset_has_a_blank_first_and_a_space_last() {
        let charset = charset();
        assert_eq!(charset.len(), 5);
        assert_eq!(charset.symbols[1], "A");
        assert_eq!(charset.symbols[4], " ");
    }

    #[test]
    fn greedy_decoding_collapses_repeats_and_drops_blanks() {
        // A A blank A B B space C: "AA" only when a blank separates them.
        let steps: Vec<f32> = [1, 1, 0, 1, 2, 2, 4, 3].iter().flat_map(|&w| step(w)).collect();
        let reading = ctc_greedy(&steps, &charset());
        assert_eq!(reading.text, "AAB C");
        assert!((reading.score - 0.9).abs() < 1e-6);
        let blank: Vec<f32> = [0, 0].iter().flat_map(|&w| step(w)).collect();
        assert_eq!(ctc_greedy(&blank, &charset()), Reading { text: String::new(), score: 0.0 });
    }

    /// A blank step whose runner-up, the space, has `space`.
    fn blank_over_space(space: f32) -> Vec<f32> {
        vec![1.0 - space, 0.0, 0.0, 0.0, space]
    }

    #[test]
    fn a_space_nearly_as_likely_as_the_blank_between_two_characters_is_kept() {
        let read = |gap: f32| {
            let steps: Vec<f32> = [step(1), blank_over_space(gap), step(2)].concat();
            ctc_greedy(&steps, &charset()).text
        };
        assert_eq!(read(0.4), "A B");
        assert_eq!(read(SPACE_RESCUE), "A B");
        assert_eq!(read(0.05), "AB", "a gap inside a word");
        // Never before the first character, never doubled.
        let leading: Vec<f32> = [blank_over_space(0.4), step(1)].concat();
        assert_eq!(ctc_greedy(&leading, &charset()).text, "A");
        let doubled: Vec<f32> = [step(1), step(4), blank_over_space(0.4), step(2)].concat();
        assert_eq!(ctc_greedy(&doubled, &charset()).text, "A B");
        // The score stays the mean over the characters the model chose.
        assert!((ctc_greedy(&[step(1), blank_over_space(0.4), step(2)].concat(), &charset()).score - 0.9).abs() < 1e-6);
    }

    #[test]
    fn a_tall_crop_is_turned_to_read_left_to_right() {
        // A 2-wide, 4-high region: rows 0..4 of column 0 are 10, 20, 30, 40.
        let pixels = Array3::from_shape_fn((4, 2, 1), |(y, x, _)| if x == 0 { 10 * (y as u8 + 1) } else { 0 });
        let corners = [Point::new(0.0, 0.0), Point::new(2.0, 0.0), Point::new(2.0, 4.0), Point::new(0.0, 4.0)];
        let line = crop_line(pixels.view(), corners).expect("a crop");
        assert_eq!(line.dim(), (2, 4, 1));
        // Turned counter-clockwise: the old left column is now the bottom row.
        let bottom: Vec<u8> = line.slice(ndarray::s![1, .., 0]).to_vec();
        assert_eq!(bottom, vec![10, 20, 30, 40]);
    }
}
