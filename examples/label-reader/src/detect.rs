//! Text detection: PP-OCR's DB detector and its post-processing.
//!
//! The detector gives, per pixel, the probability that it lies in a text line
//! (Differentiable Binarization, Liao et al. 2020). The map is thresholded, each
//! connected region becomes its minimum-area rectangle, regions whose mean
//! probability is low are dropped, and the survivors are grown back ("unclip") by
//! `area * unclip_ratio / perimeter`: the network is trained on lines shrunk by that
//! rule. The steps and defaults follow PaddleOCR and RapidOCR, so the same image
//! gives the same boxes.

use ndarray::{ArrayView2, ArrayView3};
use pv_guest::{Error, PixelFormat, Result};
use pv_vision::ops::{self, Point, RotatedRect};
use pv_vision::tensors::{AsView, Layout};
use pv_vision::{ChannelOrder, ImageTensor, Model, Normalize};

/// The detector's settings; the defaults are PaddleOCR's for PP-OCRv4 with the
/// input limited to 960 px on its longer side.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectParams {
    /// The longer side of the detector's input, in pixels: larger frames are scaled
    /// down to it (smaller ones are not scaled up). It bounds the detector's time
    /// and memory whatever the frame's size.
    pub limit_side_len: usize,
    /// A pixel is text when its probability is above this.
    pub thresh: f32,
    /// A region is kept when its mean probability is at least this.
    pub box_thresh: f32,
    /// How far a kept region is grown back, relative to area / perimeter.
    pub unclip_ratio: f32,
    /// Regions looked at, at most: a bound on post-processing time for a frame
    /// that is all texture.
    pub max_candidates: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams { limit_side_len: 960, thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, max_candidates: 1000 }
    }
}

/// Regions narrower than this (in detector pixels) are noise.
const MIN_SIDE: f32 = 3.0;

/// A text line found by the detector: its corners in frame pixels, clockwise from
/// the top-left, and the mean text probability inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    /// Top-left, top-right, bottom-right, bottom-left.
    pub corners: [Point; 4],
    /// Mean probability of the detector inside the box, in [0, 1].
    pub score: f32,
}

impl TextBox {
    /// The axis-aligned box around the corners: `(x, y, width, height)`.
    pub fn bounds(&self) -> (i32, i32, u32, u32) {
        bounds(&self.corners)
    }
}

/// The axis-aligned box around `corners`: `(x, y, width, height)`.
pub fn bounds(corners: &[Point; 4]) -> (i32, i32, u32, u32) {
    let xs = corners.map(|p| p.x);
    let ys = corners.map(|p| p.y);
    let (left, right) = (xs.iter().copied().fold(f32::MAX, f32::min), xs.iter().copied().fold(f32::MIN, f32::max));
    let (top, bottom) = (ys.iter().copied().fold(f32::MAX, f32::min), ys.iter().copied().fold(f32::MIN, f32::max));
    // Corners lie inside the frame (the detector clips them).
    (left as i32, top as i32, (right - left).round() as u32 + 1, (bottom - top).round() as u32 + 1)
}

/// The detector's input size for a `height` x `width` frame: the longer side at
/// most `limit`, both sides rounded to a multiple of 32 (the network downsamples
/// five times), at least 32.
pub fn input_size(height: usize, width: usize, limit: usize) -> (usize, usize) {
    let longer = height.max(width).max(1);
    let ratio = if longer > limit { limit as f64 / longer as f64 } else { 1.0 };
    // As PaddleOCR: truncate, then round half to even to a multiple of 32.
    let round = |side: usize| {
        let scaled = (side as f64 * ratio).trunc();
        ((scaled / 32.0).round_ties_even() as usize * 32).max(32)
    };
    (round(height), round(width))
}

/// Find the text lines of a frame, sorted top to bottom, then left to right.
pub fn detect(model: &Model, pixels: ArrayView3<'_, u8>, format: PixelFormat, params: &DetectParams) -> Result<Vec<TextBox>> {
    let (height, width, _) = pixels.dim();
    let (input_h, input_w) = input_size(height, width, params.limit_side_len);
    let input = ImageTensor::new(input_h, input_w)
        .normalize(Normalize::SYMMETRIC)
        .channel_order(ChannelOrder::Bgr)
        .from_view(pixels, format)?;
    let output = model.run(input)?;
    let shape = output.shape().to_vec();
    if shape.len() != 4 || shape[0] != 1 || shape[2] != input_h || shape[3] != input_w {
        return Err(Error::unknown(format!("the detector returned shape {shape:?}, expected [1, 1, {input_h}, {input_w}]")));
    }
    // The first plane of a contiguous [1, 1, H, W] output.
    let data = output.data().unwrap_or_default();
    let map = ArrayView2::from_shape((input_h, input_w), data.get(..input_h * input_w).unwrap_or_default())
        .map_err(|err| Error::unknown(format!("the detector's map cannot be read: {err}")))?;
    Ok(boxes_from_map(map, height, width, params))
}

/// DB post-processing: from the probability map (detector pixels) to boxes in a
/// `frame_h` x `frame_w` frame.
pub fn boxes_from_map(map: ArrayView2<'_, f32>, frame_h: usize, frame_w: usize, params: &DetectParams) -> Vec<TextBox> {
    let (map_h, map_w) = map.dim();
    // A 2x2 dilation joins characters the threshold left a pixel apart.
    let mask = ops::dilate_mask(ops::threshold(map, params.thresh).view(), 2, 2);
    let regions = ops::connected_components(mask.view());
    let mut boxes = Vec::new();
    for region in regions.components.iter().take(params.max_candidates) {
        let outline = regions.outline(region.label);
        let Some(rect) = ops::min_area_rect(&outline) else { continue };
        if rect.short_side() < MIN_SIDE {
            continue;
        }
        let score = ops::mean_in_polygon(map, &ordered(rect.corners()));
        if score < params.box_thresh {
            continue;
        }
        let grown = unclip(&rect, params.unclip_ratio);
        if grown.short_side() < MIN_SIDE + 2.0 {
            continue;
        }
        // To frame pixels, rounded and clipped as PaddleOCR does (in f64, as
        // NumPy computes it)...
        let scale =
            |v: f32, map: usize, frame: usize| (f64::from(v) / map as f64 * frame as f64).round().clamp(0.0, frame as f64) as f32;
        let to_frame = |p: Point| Point::new(scale(p.x, map_w, frame_w), scale(p.y, map_h, frame_h));
        let corners = ordered(grown.corners()).map(to_frame);
        // ...then clipped to the last pixel, and boxes of 3 px or less dropped.
        let corners = corners.map(|p| {
            Point::new(p.x.clamp(0.0, frame_w.saturating_sub(1) as f32), p.y.clamp(0.0, frame_h.saturating_sub(1) as f32))
        });
        let distance_between = |a: Point, b: Point| f64::from(a.x - b.x).hypot(f64::from(a.y - b.y));
        if distance_between(corners[0], corners[1]).trunc() <= 3.0 || distance_between(corners[0], corners[3]).trunc() <= 3.0 {
            continue;
        }
        boxes.push(TextBox { corners, score });
    }
    sort_reading_order(&mut boxes);
    boxes
}

/// The region grown back by PP-OCR's unclip rule: every side moved out by
/// `area * ratio / perimeter`. The arithmetic is `f64` (as PaddleOCR's Python
/// does it), rounded to `f32` once at the end, so that a port to another
/// language computes the same box.
pub fn unclip(rect: &RotatedRect, ratio: f32) -> RotatedRect {
    let (width, height) = (f64::from(rect.width), f64::from(rect.height));
    let distance = width * height * f64::from(ratio) / (2.0 * (width + height));
    RotatedRect { width: (width + 2.0 * distance).max(0.0) as f32, height: (height + 2.0 * distance).max(0.0) as f32, ..*rect }
}

/// Corners clockwise from the top-left: the two leftmost (top one first), then the
/// two rightmost (top one first) give top-left, bottom-left, top-right,
/// bottom-right.
fn ordered(corners: [Point; 4]) -> [Point; 4] {
    let mut by_x = corners;
    by_x.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (mut left, mut right) = ([by_x[0], by_x[1]], [by_x[2], by_x[3]]);
    left.sort_by(|a, b| a.y.total_cmp(&b.y));
    right.sort_by(|a, b| a.y.total_cmp(&b.y));
    [left[0], right[0], right[1], left[1]]
}

/// Top to bottom by the top-left corner; boxes whose tops are within 10 px of each
/// other are one row, read left to right.
fn sort_reading_order(boxes: &mut [TextBox]) {
    boxes.sort_by(|a, b| a.corners[0].y.total_cmp(&b.corners[0].y).then(a.corners[0].x.total_cmp(&b.corners[0].x)));
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (upper, lower) = (boxes[j].corners[0], boxes[j + 1].corners[0]);
            if (lower.y - upper.y).abs() < 10.0 && lower.x < upper.x {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn input_size_limits_the_longer_side_and_rounds_to_32() {
        assert_eq!(input_size(300, 800, 960), (288, 800));
        assert_eq!(input_size(1920, 1080, 960), (960, 544));
        // 208 / 32 = 6.5 rounds to even: 192, as Python's round does.
        assert_eq!(input_size(208, 640, 960), (192, 640));
        assert_eq!(input_size(5, 5, 960), (32, 32));
    }

    #[test]
    fn one_bright_bar_is_one_box_grown_by_the_unclip_rule() {
        // A 40x8 bar of probability 0.9 in a 64x32 map; the frame is twice the map.
        let mut map = Array2::<f32>::zeros((32, 64));
        map.slice_mut(ndarray::s![12..20, 10..50]).fill(0.9);
        let boxes = boxes_from_map(map.view(), 64, 128, &DetectParams::default());
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let [top_left, top_right, bottom_right, bottom_left] = boxes[0].corners;
        // The score is taken over the dilated region, a row and a column wider than
        // the bar: 0.9 * (40 * 8) / (41 * 9) = 0.78, as PaddleOCR scores it.
        assert!((boxes[0].score - 0.78).abs() < 0.01, "{}", boxes[0].score);
        // The dilated region spans x 10..=50 and y 12..=20 (41 x 9 px centres:
        // a 40 x 8 rectangle); distance = 320 * 1.6 / 96 = 5.33, so the grown box
        // is 50.7 x 18.7 map pixels, twice that in the frame.
        assert!(top_left.x < top_right.x && top_left.y < bottom_left.y && bottom_right.x > bottom_left.x);
        let width = top_right.x - top_left.x;
        let height = bottom_left.y - top_left.y;
        assert!((width - 101.0).abs() <= 2.0, "width {width}");
        assert!((height - 37.0).abs() <= 2.0, "height {height}");
    }

    #[test]
    fn faint_and_thin_regions_are_dropped() {
        let mut map = Array2::<f32>::zeros((32, 64));
        map.slice_mut(ndarray::s![4..12, 4..40]).fill(0.35); // above thresh, below box_thresh
        map.slice_mut(ndarray::s![20..21, 4..60]).fill(0.9); // one pixel high
        assert!(boxes_from_map(map.view(), 32, 64, &DetectParams::default()).is_empty());
    }

    #[test]
    fn boxes_come_in_reading_order() {
        let mut map = Array2::<f32>::zeros((64, 96));
        map.slice_mut(ndarray::s![40..48, 8..40]).fill(0.9); // second row
        map.slice_mut(ndarray::s![10..18, 56..90]).fill(0.9); // first row, right
        map.slice_mut(ndarray::s![12..20, 8..40]).fill(0.9); // first row, left (lower by 2 px)
        let boxes = boxes_from_map(map.view(), 64, 96, &DetectParams::default());
        let lefts: Vec<(f32, f32)> = boxes.iter().map(|b| (b.corners[0].x, b.corners[0].y)).collect();
        assert_eq!(boxes.len(), 3, "{lefts:?}");
        assert!(lefts[0].0 < lefts[1].0 && lefts[1].1 < lefts[2].1, "{lefts:?}");
    }
}
