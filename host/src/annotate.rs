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
    fn color(self) -> Rgb<u8> {
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
/// skipped.
pub fn annotate(image: &Image, marks: &[(Mark, &Rect)]) -> Result<RgbImage> {
    let mut canvas = crate::image::to_rgb(image)?;
    // Thicker lines on large frames keep the marks visible on a thumbnail.
    let thickness = (canvas.width().max(canvas.height()) / 400).max(1) as i64;
    for (number, (mark, rect)) in marks.iter().enumerate() {
        let color = mark.color();
        draw_box(&mut canvas, rect, thickness, color);
        let text = match &rect.label {
            Some(label) => format!("{} {label}", number + 1),
            None => format!("{}", number + 1),
        };
        draw_label(&mut canvas, i64::from(rect.x), i64::from(rect.y), &text, color);
    }
    Ok(canvas)
}

fn put(canvas: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && x < i64::from(canvas.width()) && y < i64::from(canvas.height()) {
        canvas.put_pixel(x as u32, y as u32, color);
    }
}

fn draw_box(canvas: &mut RgbImage, rect: &Rect, thickness: i64, color: Rgb<u8>) {
    let (x0, y0) = (i64::from(rect.x), i64::from(rect.y));
    let (x1, y1) = (x0 + i64::from(rect.width).max(1) - 1, y0 + i64::from(rect.height).max(1) - 1);
    let (w, h) = (i64::from(canvas.width()), i64::from(canvas.height()));
    if x1 < 0 || y1 < 0 || x0 >= w || y0 >= h {
        return;
    }
    for t in 0..thickness {
        for x in x0.max(0)..=x1.min(w - 1) {
            put(canvas, x, y0 + t, color);
            put(canvas, x, y1 - t, color);
        }
        for y in y0.max(0)..=y1.min(h - 1) {
            put(canvas, x0 + t, y, color);
            put(canvas, x1 - t, y, color);
        }
    }
}

/// Text in the 8x8 public-domain bitmap font, white on the mark's colour, above
/// the rectangle when there is room, else inside it.
fn draw_label(canvas: &mut RgbImage, x: i64, y: i64, text: &str, background: Rgb<u8>) {
    const GLYPH: i64 = 8;
    let top = if y >= GLYPH + 2 { y - GLYPH - 2 } else { y.max(0) + 1 };
    let left = x.max(0);
    let chars: Vec<char> = text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect();
    let width = chars.len() as i64 * GLYPH + 2;
    for dy in 0..GLYPH + 2 {
        for dx in 0..width {
            put(canvas, left + dx, top + dy, background);
        }
    }
    for (i, c) in chars.iter().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY[*c as usize];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    put(canvas, left + 1 + i as i64 * GLYPH + col, top + 1 + row as i64, Rgb([255, 255, 255]));
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
}
