//! Golden cases: an image, a product id, a step, params, the expected verdict
//! and, optionally, where the defects must be.
//!
//! ```toml
//! # Paths are relative to this file. The IoU tolerance defaults to 0.5.
//! iou = 0.5
//!
//! [[case]]
//! name = "all 24 coins"
//! image = "../images/coins.png"
//! pid = "A01"
//! step = 1
//! params = { expected_count = 24 }
//! verdict = "OK"
//!
//! [[case]]
//! name = "one coin missing"
//! image = "../images/coins.png"
//! pid = "A01"
//! params = { expected_count = 25 }
//! verdict = "NG"
//! defects = [{ x = 18, y = 16, width = 363, height = 273 }]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, InputCode, Result};
use crate::types::Rect;

/// Default IoU a found rect must reach to match an expected one.
pub const DEFAULT_IOU: f64 = 0.5;

/// An expected rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// One golden case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenCase {
    /// A name for reports.
    pub name: String,
    /// The image, relative to the cases file.
    pub image: PathBuf,
    /// Product id.
    pub pid: String,
    /// Step index (default 1).
    #[serde(default = "first_step")]
    pub step: u32,
    /// Params as a table (defaults fill the rest).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// `"OK"` or `"NG"`.
    pub verdict: String,
    /// Where the defects must be found (each matched by IoU).
    #[serde(default)]
    pub defects: Vec<ExpectedRect>,
}

fn first_step() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(default)]
    iou: Option<f64>,
    #[serde(default)]
    case: Vec<GoldenCase>,
}

/// Golden cases read from a TOML file, with image paths made relative to it.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenCases {
    /// The IoU a found rect must reach.
    pub iou: f64,
    /// The cases.
    pub cases: Vec<GoldenCase>,
}

impl GoldenCases {
    /// Read a cases file (error 1006 with the reason when it is not one).
    pub fn read(path: &Path) -> Result<GoldenCases> {
        let invalid = |reason: String| Error::input(InputCode::InvalidParams, format!("cases file {}: {reason}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|err| invalid(err.to_string()))?;
        let file: CasesFile = toml::from_str(&text).map_err(|err| invalid(err.to_string()))?;
        let iou = file.iou.unwrap_or(DEFAULT_IOU);
        if !(iou > 0.0 && iou <= 1.0) {
            return Err(invalid(format!("iou {iou} must be in (0, 1]")));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut cases = file.case;
        for case in &mut cases {
            if case.verdict != "OK" && case.verdict != "NG" {
                return Err(invalid(format!("case `{}`: verdict must be \"OK\" or \"NG\"", case.name)));
            }
            case.image = dir.join(&case.image);
        }
        Ok(GoldenCases { iou, cases })
    }
}

/// Intersection over union of two rectangles.
pub fn iou(a: &ExpectedRect, b: &Rect) -> f64 {
    let (ax1, ay1) = (f64::from(a.x) + f64::from(a.width), f64::from(a.y) + f64::from(a.height));
    let (bx1, by1) = (f64::from(b.x) + f64::from(b.width), f64::from(b.y) + f64::from(b.height));
    let w = (ax1.min(bx1) - f64::from(a.x.max(b.x))).max(0.0);
    let h = (ay1.min(by1) - f64::from(a.y.max(b.y))).max(0.0);
    let inter = w * h;
    let union = f64::from(a.width) * f64::from(a.height) + f64::from(b.width) * f64::from(b.height) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// For each expected rect, the best IoU any found rect reaches.
pub fn best_matches(expected: &[ExpectedRect], found: &[Rect]) -> Vec<f64> {
    expected.iter().map(|e| found.iter().map(|f| iou(e, f)).fold(0.0, f64::max)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: i32, y: i32, width: u32, height: u32) -> Rect {
        Rect { x, y, width, height, label: None, score: None }
    }

    #[test]
    fn iou_of_equal_shifted_and_disjoint_rects() {
        let e = ExpectedRect { x: 0, y: 0, width: 10, height: 10 };
        assert_eq!(iou(&e, &rect(0, 0, 10, 10)), 1.0);
        assert!((iou(&e, &rect(5, 0, 10, 10)) - 50.0 / 150.0).abs() < 1e-9);
        assert_eq!(iou(&e, &rect(20, 20, 5, 5)), 0.0);
        assert_eq!(best_matches(&[e], &[rect(20, 20, 5, 5), rect(0, 0, 10, 10)]), vec![1.0]);
    }
}
