//! Drawing results onto the inspected image, so a person can see what the
//! algorithm saw: defects in red, positions in green, calibration regions in blue,
//! each with its number and label.

use image::{Rgb, RgbImage};

use crate::error::Result;
use crate::types::{Image, Rect};

/// What a rectangle marks; decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A defect (red).
    Defect,
    /// A feature's position (green).
    Position,
    /// A calibration region from pre-execute (blue).
    Calibration,
    /// Where a golden case expects a defect (yellow).
    Expected,
}

impl Mark {
    /// What it is called in a legend.
    pub fn name(self) -> &'static str {
        match self {
            Mark::Defect => "defect",
            Mark::Position => "position",
            Mark::Calibration => "calibration",
            Mark::Expected => "expected defect",
        }
    }

    /// Its colour, as drawn.
    pub fn color(self) -> Rgb<u8> {
        match self {
            Mark::Defect => Rgb([230, 40, 40]),
            Mark::Position => Rgb([40, 200, 70]),
            Mark::Calibration => Rgb([60, 120, 255]),
            Mark::Expected => Rgb([250, 210, 0]),
        }
    }
}

/// The image in RGB with every rectangle drawn and labelled `"<n> <label>"`.
/// Rectangles partly outside the image are clipped; those entirely outside are
/// skipped. Labels are laid out so that none covers another (see
/// [`place_labels`]); a label with no free place is left off the image.
pub fn annotate(image: &Image, marks: &[(Mark, &Rect)]) -> Result<RgbImage> {
    let mut canvas = crate::image::to_rgb(image)?;
    // Thicker lines on large frames keep the marks visible when scaled down.
    let thickness = (canvas.width().max(canvas.height()) / 400).max(1) as i64;
    let boxes: Vec<PixelBox> = marks.iter().map(|(_, rect)| PixelBox::of(rect)).collect();
    let texts: Vec<String> = marks
        .iter()
        .enumerate()
        .map(|(number, (_, rect))| match &rect.label {
            Some(label) => format!("{} {label}", number + 1),
            None => format!("{}", number + 1),
        })
        .collect();
    draw_marks(&mut canvas, marks, &boxes, &texts, thickness);
    Ok(canvas)
}

/// A copy of the image at most `max_width` pixels wide with every rectangle
/// drawn at that scale and tagged with its number only (`1`, `2`, ...): the
/// labels themselves belong in a legend beside it, where they never collide.
pub fn annotate_thumbnail(image: &Image, marks: &[(Mark, &Rect)], max_width: u32) -> Result<RgbImage> {
    let full = crate::image::to_rgb(image)?;
    let width = full.width().clamp(1, max_width.max(1));
    let scale = f64::from(width) / f64::from(full.width().max(1));
    let height = ((f64::from(full.height()) * scale).round() as u32).max(1);
    let mut canvas = image::imageops::thumbnail(&full, width, height);
    let scaled = |v: i32| (f64::from(v) * scale).round() as i64;
    let boxes: Vec<PixelBox> = marks
        .iter()
        .map(|(_, rect)| {
            let (x, y) = (scaled(rect.x), scaled(rect.y));
            let right = scaled(rect.x.saturating_add(rect.width.min(i32::MAX as u32) as i32)).max(x + 1);
            let bottom = scaled(rect.y.saturating_add(rect.height.min(i32::MAX as u32) as i32)).max(y + 1);
            PixelBox { x0: x, y0: y, x1: right - 1, y1: bottom - 1 }
        })
        .collect();
    let texts: Vec<String> = (1..=marks.len()).map(|n| n.to_string()).collect();
    draw_marks(&mut canvas, marks, &boxes, &texts, 1);
    Ok(canvas)
}

/// An axis-aligned box in canvas pixels, corners inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    /// Left column.
    pub x0: i64,
    /// Top row.
    pub y0: i64,
    /// Right column (inclusive).
    pub x1: i64,
    /// Bottom row (inclusive).
    pub y1: i64,
}

impl PixelBox {
    fn of(rect: &Rect) -> PixelBox {
        let (x0, y0) = (i64::from(rect.x), i64::from(rect.y));
        PixelBox { x0, y0, x1: x0 + i64::from(rect.width).max(1) - 1, y1: y0 + i64::from(rect.height).max(1) - 1 }
    }

    fn overlaps(&self, other: &PixelBox) -> bool {
        self.x0 <= other.x1 && other.x0 <= self.x1 && self.y0 <= other.y1 && other.y0 <= self.y1
    }

    fn grown(&self, by: i64) -> PixelBox {
        PixelBox { x0: self.x0 - by, y0: self.y0 - by, x1: self.x1 + by, y1: self.y1 + by }
    }
}

/// One glyph of the 8x8 bitmap font, and the padding around a label's text.
const GLYPH: i64 = 8;
const LABEL_HEIGHT: i64 = GLYPH + 2;

fn label_width(text: &str) -> i64 {
    text.chars().count() as i64 * GLYPH + 2
}

/// Draw the boxes, then the labels where [`place_labels`] puts them. A box
/// expecting a defect (yellow) is drawn dashed and a little outside its
/// rectangle, so a defect found exactly there (red) stays visible inside it.
fn draw_marks(canvas: &mut RgbImage, marks: &[(Mark, &Rect)], boxes: &[PixelBox], texts: &[String], thickness: i64) {
    for ((mark, _), b) in marks.iter().zip(boxes) {
        match mark {
            Mark::Expected => draw_box(canvas, &b.grown(thickness + 1), thickness, mark.color(), true),
            _ => draw_box(canvas, b, thickness, mark.color(), false),
        }
    }
    let sizes: Vec<(i64, i64)> = texts.iter().map(|text| (label_width(text), LABEL_HEIGHT)).collect();
    let places = place_labels(boxes, &sizes, (i64::from(canvas.width()), i64::from(canvas.height())));
    for (((mark, _), text), place) in marks.iter().zip(texts).zip(places) {
        if let Some(place) = place {
            draw_label(canvas, place, text, mark.color());
        }
    }
}

/// Where each label goes: a box of `sizes[i]` near `anchors[i]`, inside the
/// canvas, covering no label placed before it. The candidates, in order: above
/// the rectangle's top-left corner, inside it, below it, the same on the right
/// edge, beside it; then rows further up and down from it. `None` when none is
/// free (or the canvas is smaller than the label).
pub fn place_labels(anchors: &[PixelBox], sizes: &[(i64, i64)], canvas: (i64, i64)) -> Vec<Option<PixelBox>> {
    /// Rows tried above and below the anchor once the near places are taken.
    const FARTHEST_ROWS: i64 = 12;
    let (canvas_w, canvas_h) = canvas;
    let mut placed: Vec<PixelBox> = Vec::with_capacity(anchors.len());
    let mut places = Vec::with_capacity(anchors.len());
    for (anchor, &(w, h)) in anchors.iter().zip(sizes) {
        if w > canvas_w || h > canvas_h {
            places.push(None);
            continue;
        }
        let near = [
            (anchor.x0, anchor.y0 - h - 1),
            (anchor.x0 + 1, anchor.y0 + 1),
            (anchor.x0, anchor.y1 + 2),
            (anchor.x1 - w + 1, anchor.y0 - h - 1),
            (anchor.x1 - w + 1, anchor.y1 + 2),
            (anchor.x0 - w - 1, anchor.y0),
            (anchor.x1 + 2, anchor.y0),
        ];
        let farther = (1..=FARTHEST_ROWS)
            .flat_map(|row| [(anchor.x0, anchor.y0 - h - 1 - row * (h + 1)), (anchor.x0, anchor.y1 + 2 + row * (h + 1))]);
        let found = near.into_iter().chain(farther).find_map(|(x, y)| {
            // Shifted into the canvas, then checked against the labels so far.
            let (x, y) = (x.clamp(0, canvas_w - w), y.clamp(0, canvas_h - h));
            let candidate = PixelBox { x0: x, y0: y, x1: x + w - 1, y1: y + h - 1 };
            (!placed.iter().any(|other| other.overlaps(&candidate))).then_some(candidate)
        });
        if let Some(found) = found {
            placed.push(found);
        }
        places.push(found);
    }
    places
}

fn put(canvas: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && x < i64::from(canvas.width()) && y < i64::from(canvas.height()) {
        canvas.put_pixel(x as u32, y as u32, color);
    }
}

fn draw_box(canvas: &mut RgbImage, b: &PixelBox, thickness: i64, color: Rgb<u8>, dashed: bool) {
    let (w, h) = (i64::from(canvas.width()), i64::from(canvas.height()));
    if b.x1 < 0 || b.y1 < 0 || b.x0 >= w || b.y0 >= h {
        return;
    }
    // Dashes of four pixels on, three off.
    let on = |i: i64| !dashed || i.rem_euclid(7) < 4;
    for t in 0..thickness {
        for x in b.x0.max(0)..=b.x1.min(w - 1) {
            if on(x) {
                put(canvas, x, b.y0 + t, color);
                put(canvas, x, b.y1 - t, color);
            }
        }
        for y in b.y0.max(0)..=b.y1.min(h - 1) {
            if on(y) {
                put(canvas, b.x0 + t, y, color);
                put(canvas, b.x1 - t, y, color);
            }
        }
    }
}

/// Text in the 8x8 public-domain bitmap font, white on the mark's colour, in
/// the box [`place_labels`] chose.
fn draw_label(canvas: &mut RgbImage, place: PixelBox, text: &str, background: Rgb<u8>) {
    for y in place.y0..=place.y1 {
        for x in place.x0..=place.x1 {
            put(canvas, x, y, background);
        }
    }
    let chars = text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' });
    for (i, c) in chars.enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY[c as usize];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    put(canvas, place.x0 + 1 + i as i64 * GLYPH + col, place.y0 + 1 + row as i64, Rgb([255, 255, 255]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ImageMeta, PixelFormat};

    #[test]
    fn draws_the_outline_in_the_mark_colour_and_clips() {
        let image = Image {
            meta: ImageMeta { width: 40, height: 40, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: String::new() },
            pixels: vec![0; 1600],
        };
        let inside = Rect { x: 20, y: 20, width: 10, height: 10, label: Some("scratch".into()), score: None };
        let outside = Rect { x: -50, y: 5, width: 10, height: 10, label: None, score: None };
        let canvas = annotate(&image, &[(Mark::Defect, &inside), (Mark::Position, &outside)]).expect("annotate");
        assert_eq!(*canvas.get_pixel(25, 29), Mark::Defect.color());
        assert_eq!(*canvas.get_pixel(25, 25), Rgb([0, 0, 0]));
    }

    #[test]
    fn an_expected_rect_stays_visible_around_a_defect_found_exactly_there() {
        let image = Image {
            meta: ImageMeta { width: 60, height: 60, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: String::new() },
            pixels: vec![0; 3600],
        };
        let rect = Rect { x: 20, y: 20, width: 20, height: 20, label: None, score: None };
        let canvas = annotate(&image, &[(Mark::Expected, &rect), (Mark::Defect, &rect)]).expect("annotate");
        let colours: std::collections::BTreeSet<[u8; 3]> = canvas.pixels().map(|p| p.0).collect();
        assert!(colours.contains(&Mark::Expected.color().0) && colours.contains(&Mark::Defect.color().0), "{colours:?}");
        // The defect's outline is on the rect, the expected one just outside it.
        assert_eq!(*canvas.get_pixel(30, 39), Mark::Defect.color());
        assert_eq!(*canvas.get_pixel(21, 41), Mark::Expected.color());
    }

    #[test]
    fn labels_never_cover_each_other_however_crowded_the_rects() {
        // Sixty rects on a 320x240 canvas, many overlapping, long labels.
        let anchors: Vec<PixelBox> = (0..60i64)
            .map(|i| {
                let (x, y) = ((i * 37) % 300, (i * 53) % 220);
                PixelBox { x0: x, y0: y, x1: x + 15, y1: y + 11 }
            })
            .collect();
        let sizes: Vec<(i64, i64)> = (0..60).map(|i| (label_width(&format!("{} scratch", i + 1)), LABEL_HEIGHT)).collect();
        let places = place_labels(&anchors, &sizes, (320, 240));
        let placed: Vec<PixelBox> = places.iter().flatten().copied().collect();
        assert!(placed.len() >= 30, "most labels find a place: {}", placed.len());
        for (i, a) in placed.iter().enumerate() {
            assert!(a.x0 >= 0 && a.y0 >= 0 && a.x1 < 320 && a.y1 < 240, "{a:?} is off the canvas");
            for b in &placed[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} covers {b:?}");
            }
        }
        // Each placed label keeps its size.
        for (place, (w, h)) in places.iter().zip(&sizes) {
            if let Some(place) = place {
                assert_eq!((place.x1 - place.x0 + 1, place.y1 - place.y0 + 1), (*w, *h));
            }
        }
    }
}
