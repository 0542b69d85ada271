//! What the algorithm returns: rectangles, verdicts and phase outputs.

use crate::bindings::procvision::algorithm::types as wit;

pub use wit::{Rect, StepOutcome, Verdict};

impl Rect {
    /// A rectangle at `(x, y)` of `width` x `height` pixels, without label or score.
    pub fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Rect { x, y, width, height, label: None, score: None }
    }

    /// The same rectangle with a label ("scratch", "missing part"...).
    pub fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The same rectangle with a confidence score, expected in [0, 1].
    pub fn scored(mut self, score: f32) -> Self {
        self.score = Some(score);
        self
    }

    /// The smallest rectangle containing both (label and score of `self` kept).
    pub fn union(&self, other: &Rect) -> Rect {
        let left = self.x.min(other.x);
        let top = self.y.min(other.y);
        let right = (i64::from(self.x) + i64::from(self.width)).max(i64::from(other.x) + i64::from(other.width));
        let bottom = (i64::from(self.y) + i64::from(self.height)).max(i64::from(other.y) + i64::from(other.height));
        Rect {
            x: left,
            y: top,
            width: u32::try_from(right - i64::from(left)).unwrap_or(u32::MAX),
            height: u32::try_from(bottom - i64::from(top)).unwrap_or(u32::MAX),
            label: self.label.clone(),
            score: self.score,
        }
    }
}

/// Result of `pre-execute`: a message and calibration regions, no verdict.
///
/// ```
/// use pv_guest::{PreExecuteOutput, Rect};
/// let out = PreExecuteOutput::new("lighting ok").calibration(Rect::new(10, 10, 100, 80).labelled("parts"));
/// assert_eq!(out.calibration_rects.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreExecuteOutput {
    /// Human-readable status.
    pub message: String,
    /// Regions found while preparing.
    pub calibration_rects: Vec<Rect>,
    /// Debug data (a JSON object).
    pub debug: Option<serde_json::Value>,
}

impl PreExecuteOutput {
    /// An output with a message.
    pub fn new(message: impl Into<String>) -> Self {
        PreExecuteOutput { message: message.into(), ..Self::default() }
    }
    /// Add a calibration rectangle.
    pub fn calibration(mut self, rect: Rect) -> Self {
        self.calibration_rects.push(rect);
        self
    }
    /// Attach debug data.
    pub fn debug(mut self, debug: serde_json::Value) -> Self {
        self.debug = Some(debug);
        self
    }
}

/// Result of `execute`: the verdict and where the defects are.
///
/// ```
/// use pv_guest::{ExecuteOutput, Rect, Verdict};
/// let out = ExecuteOutput::ng("found 23 of 24 parts").defect(Rect::new(40, 60, 30, 30).labelled("missing part"));
/// assert_eq!(out.verdict, Verdict::Ng);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteOutput {
    /// OK or NG.
    pub verdict: Verdict,
    /// Why the part is NG (required for NG).
    pub ng_reason: Option<String>,
    /// Where the defects are (at least one for NG).
    pub defect_rects: Vec<Rect>,
    /// Where the inspected features are, for display.
    pub position_rects: Vec<Rect>,
    /// Debug data (a JSON object).
    pub debug: Option<serde_json::Value>,
}

impl ExecuteOutput {
    /// An OK verdict.
    pub fn ok() -> Self {
        ExecuteOutput { verdict: Verdict::Ok, ng_reason: None, defect_rects: Vec::new(), position_rects: Vec::new(), debug: None }
    }
    /// An NG verdict with its reason; add at least one defect with [`defect`](Self::defect).
    pub fn ng(reason: impl Into<String>) -> Self {
        ExecuteOutput { verdict: Verdict::Ng, ng_reason: Some(reason.into()), ..Self::ok() }
    }
    /// Add a defect rectangle.
    pub fn defect(mut self, rect: Rect) -> Self {
        self.defect_rects.push(rect);
        self
    }
    /// Add defect rectangles.
    pub fn defects(mut self, rects: impl IntoIterator<Item = Rect>) -> Self {
        self.defect_rects.extend(rects);
        self
    }
    /// Add a position rectangle.
    pub fn position(mut self, rect: Rect) -> Self {
        self.position_rects.push(rect);
        self
    }
    /// Add position rectangles.
    pub fn positions(mut self, rects: impl IntoIterator<Item = Rect>) -> Self {
        self.position_rects.extend(rects);
        self
    }
    /// Attach debug data.
    pub fn debug(mut self, debug: serde_json::Value) -> Self {
        self.debug = Some(debug);
        self
    }
}

impl From<PreExecuteOutput> for wit::PreExecuteOutput {
    fn from(out: PreExecuteOutput) -> Self {
        wit::PreExecuteOutput {
            message: out.message,
            calibration_rects: out.calibration_rects,
            debug: out.debug.map(|v| v.to_string()),
        }
    }
}

impl From<ExecuteOutput> for wit::ExecuteOutput {
    fn from(out: ExecuteOutput) -> Self {
        wit::ExecuteOutput {
            verdict: out.verdict,
            ng_reason: out.ng_reason,
            defect_rects: out.defect_rects,
            position_rects: out.position_rects,
            debug: out.debug.map(|v| v.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_builders_and_union() {
        let a = Rect::new(10, 10, 5, 5).labelled("a").scored(0.5);
        assert_eq!(a.label.as_deref(), Some("a"));
        assert_eq!(a.score, Some(0.5));
        let u = a.union(&Rect::new(0, 12, 4, 10));
        assert_eq!((u.x, u.y, u.width, u.height), (0, 10, 15, 12));
    }

    #[test]
    fn outputs_convert_to_the_wire_types_with_json_text() {
        let out = ExecuteOutput::ng("scratch")
            .defect(Rect::new(1, 1, 2, 2))
            .position(Rect::new(0, 0, 9, 9))
            .debug(serde_json::json!({"n": 1}));
        let wire: wit::ExecuteOutput = out.into();
        assert_eq!(wire.verdict, Verdict::Ng);
        assert_eq!(wire.ng_reason.as_deref(), Some("scratch"));
        assert_eq!(wire.debug.as_deref(), Some(r#"{"n":1}"#));
        let pre: wit::PreExecuteOutput = PreExecuteOutput::new("ok").into();
        assert_eq!(pre.debug, None);
    }
}
