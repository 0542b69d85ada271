//! Host-side checks of what an algorithm returns, so that no station has to
//! repeat them: an output that breaks a rule is an error with its code, never
//! passed on.
//!
//! | rule | code |
//! |------|------|
//! | every rect has a positive width and height and lies inside the image | 1007 |
//! | NG has a non-empty reason and at least one defect rect | 9999 |
//! | at most [`DEFAULT_MAX_DEFECTS`] defect rects (configurable) | 9999 |
//! | at most [`DEFAULT_MAX_RECTS`] calibration or position rects | 9999 |
//! | scores are finite and in [0, 1] | 9999 |
//! | message, reason and labels at most [`DEFAULT_MAX_TEXT_BYTES`] | 9999 |
//! | debug is JSON of at most [`DEFAULT_MAX_DEBUG_BYTES`] | 9999 |

use crate::bindings::procvision::algorithm::types::{ExecuteOutput, ImageMeta, PreExecuteOutput, Rect, Verdict};
use crate::error::{Error, OutputCode, Result};

/// Default cap on defect rects in one result: the platform's 20.
pub const DEFAULT_MAX_DEFECTS: usize = 20;
/// Default cap on calibration or position rects in one result.
pub const DEFAULT_MAX_RECTS: usize = 1000;
/// Default cap on a message, an NG reason or a rect label: 4 KiB.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 4 * 1024;
/// Default cap on the debug JSON of one result: 256 KiB.
pub const DEFAULT_MAX_DEBUG_BYTES: usize = 256 * 1024;

/// The rules outputs are checked against; every setting documents its default.
///
/// ```
/// use pv_host::Host;
/// use pv_host::sandbox::OutputRules;
///
/// # fn demo() -> pv_host::Result<()> {
/// let host = Host::builder().output_rules(OutputRules::default().with_max_defects(50)).build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRules {
    max_defects: usize,
    max_rects: usize,
    max_text_bytes: usize,
    max_debug_bytes: usize,
}

impl Default for OutputRules {
    fn default() -> Self {
        OutputRules {
            max_defects: DEFAULT_MAX_DEFECTS,
            max_rects: DEFAULT_MAX_RECTS,
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            max_debug_bytes: DEFAULT_MAX_DEBUG_BYTES,
        }
    }
}

impl OutputRules {
    /// Most defect rects in one result. Default: [`DEFAULT_MAX_DEFECTS`] (20).
    pub fn with_max_defects(mut self, max: usize) -> Self {
        self.max_defects = max;
        self
    }

    /// Most calibration or position rects in one result. Default:
    /// [`DEFAULT_MAX_RECTS`] (1000).
    pub fn with_max_rects(mut self, max: usize) -> Self {
        self.max_rects = max;
        self
    }

    /// Longest message, NG reason or rect label, in bytes. Default:
    /// [`DEFAULT_MAX_TEXT_BYTES`] (4 KiB).
    pub fn with_max_text_bytes(mut self, max: usize) -> Self {
        self.max_text_bytes = max;
        self
    }

    /// Longest debug JSON, in bytes. Default: [`DEFAULT_MAX_DEBUG_BYTES`]
    /// (256 KiB).
    pub fn with_max_debug_bytes(mut self, max: usize) -> Self {
        self.max_debug_bytes = max;
        self
    }

    /// Check a `pre-execute` result for an image of size `image`.
    pub fn check_pre_execute(&self, out: &PreExecuteOutput, image: &ImageMeta) -> Result<()> {
        self.check_text("message", &out.message)?;
        self.check_rects("calibration", &out.calibration_rects, self.max_rects, image)?;
        self.check_debug(out.debug.as_deref())
    }

    /// Check an `execute` result for an image of size `image`.
    pub fn check_execute(&self, out: &ExecuteOutput, image: &ImageMeta) -> Result<()> {
        if out.verdict == Verdict::Ng {
            if out.ng_reason.as_deref().is_none_or(|reason| reason.trim().is_empty()) {
                return Err(invalid("an NG verdict needs a reason"));
            }
            if out.defect_rects.is_empty() {
                return Err(invalid("an NG verdict needs at least one defect rect"));
            }
        }
        if let Some(reason) = &out.ng_reason {
            self.check_text("ng-reason", reason)?;
        }
        self.check_rects("defect", &out.defect_rects, self.max_defects, image)?;
        self.check_rects("position", &out.position_rects, self.max_rects, image)?;
        self.check_debug(out.debug.as_deref())
    }

    fn check_text(&self, what: &str, text: &str) -> Result<()> {
        if text.len() > self.max_text_bytes {
            return Err(invalid(format!("the {what} has {} bytes, over the cap of {}", text.len(), self.max_text_bytes)));
        }
        Ok(())
    }

    fn check_rects(&self, kind: &str, rects: &[Rect], max: usize, image: &ImageMeta) -> Result<()> {
        if rects.len() > max {
            return Err(invalid(format!("{} {kind} rects, over the cap of {max}", rects.len())));
        }
        for (i, rect) in rects.iter().enumerate() {
            let name = format!("{kind} rect #{} ({}, {}, {}x{})", i + 1, rect.x, rect.y, rect.width, rect.height);
            if rect.width == 0 || rect.height == 0 {
                return Err(coordinate(format!("{name} has no area")));
            }
            let (right, bottom) = (i64::from(rect.x) + i64::from(rect.width), i64::from(rect.y) + i64::from(rect.height));
            if rect.x < 0 || rect.y < 0 || right > i64::from(image.width) || bottom > i64::from(image.height) {
                return Err(coordinate(format!("{name} is not inside the {}x{} image", image.width, image.height)));
            }
            if let Some(score) = rect.score
                && !(score.is_finite() && (0.0..=1.0).contains(&score))
            {
                return Err(invalid(format!("{name} has score {score}, outside [0, 1]")));
            }
            if let Some(label) = &rect.label {
                self.check_text(&format!("label of {name}"), label)?;
            }
        }
        Ok(())
    }

    fn check_debug(&self, debug: Option<&str>) -> Result<()> {
        let Some(debug) = debug else { return Ok(()) };
        if debug.len() > self.max_debug_bytes {
            return Err(invalid(format!("the debug JSON has {} bytes, over the cap of {}", debug.len(), self.max_debug_bytes)));
        }
        serde_json::from_str::<serde_json::Value>(debug).map_err(|err| invalid(format!("the debug data is not JSON: {err}")))?;
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidOutput { code: OutputCode::BrokenRule, message: message.into() }
}

fn coordinate(message: impl Into<String>) -> Error {
    Error::InvalidOutput { code: OutputCode::CoordinateInvalid, message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::bindings::procvision::algorithm::types::PixelFormat;

    fn image() -> ImageMeta {
        ImageMeta { width: 100, height: 50, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: String::new() }
    }

    fn rect(x: i32, y: i32, width: u32, height: u32) -> Rect {
        Rect { x, y, width, height, label: None, score: None }
    }

    fn ng(rects: Vec<Rect>) -> ExecuteOutput {
        ExecuteOutput {
            verdict: Verdict::Ng,
            ng_reason: Some("scratch".into()),
            defect_rects: rects,
            position_rects: Vec::new(),
            debug: None,
        }
    }

    fn code_of(result: Result<()>) -> u32 {
        let err = result.expect_err("the output must be refused");
        assert_eq!(err.kind(), ErrorKind::InvalidOutput);
        err.code().number()
    }

    #[test]
    fn each_rule_refuses_with_its_code() {
        let rules = OutputRules::default();
        let image = image();
        rules.check_execute(&ng(vec![rect(0, 0, 100, 50)]), &image).expect("the whole image is inside");
        let cases: Vec<(&str, ExecuteOutput, u32)> = vec![
            ("right edge", ng(vec![rect(1, 0, 100, 50)]), 1007),
            ("bottom edge", ng(vec![rect(0, 49, 1, 2)]), 1007),
            ("negative x", ng(vec![rect(-1, 0, 5, 5)]), 1007),
            ("zero width", ng(vec![rect(0, 0, 0, 5)]), 1007),
            ("far outside", ng(vec![rect(i32::MAX, i32::MAX, u32::MAX, u32::MAX)]), 1007),
            ("no defect", ng(Vec::new()), 9999),
            ("no reason", ExecuteOutput { ng_reason: None, ..ng(vec![rect(0, 0, 1, 1)]) }, 9999),
            ("blank reason", ExecuteOutput { ng_reason: Some("  ".into()), ..ng(vec![rect(0, 0, 1, 1)]) }, 9999),
            ("21 defects", ng(vec![rect(0, 0, 1, 1); 21]), 9999),
            ("NaN score", ng(vec![Rect { score: Some(f32::NAN), ..rect(0, 0, 1, 1) }]), 9999),
            ("score 1.5", ng(vec![Rect { score: Some(1.5), ..rect(0, 0, 1, 1) }]), 9999),
            ("long label", ng(vec![Rect { label: Some("x".repeat(5000)), ..rect(0, 0, 1, 1) }]), 9999),
            ("long reason", ExecuteOutput { ng_reason: Some("x".repeat(5000)), ..ng(vec![rect(0, 0, 1, 1)]) }, 9999),
            ("debug not JSON", ExecuteOutput { debug: Some("{oops".into()), ..ng(vec![rect(0, 0, 1, 1)]) }, 9999),
            (
                "debug too big",
                ExecuteOutput { debug: Some(format!("\"{}\"", "x".repeat(300 * 1024))), ..ng(vec![rect(0, 0, 1, 1)]) },
                9999,
            ),
            (
                "bad position rect",
                ExecuteOutput {
                    verdict: Verdict::Ok,
                    ng_reason: None,
                    defect_rects: Vec::new(),
                    position_rects: vec![rect(0, 0, 101, 1)],
                    debug: None,
                },
                1007,
            ),
        ];
        for (name, out, code) in cases {
            assert_eq!(code_of(rules.check_execute(&out, &image)), code, "{name}");
        }
        let pre = PreExecuteOutput { message: "ok".into(), calibration_rects: vec![rect(0, 0, 1, 51)], debug: None };
        assert_eq!(code_of(rules.check_pre_execute(&pre, &image)), 1007);
    }

    #[test]
    fn the_defect_cap_is_configurable() {
        let out = ng(vec![rect(0, 0, 1, 1); 21]);
        OutputRules::default().with_max_defects(50).check_execute(&out, &image()).expect("within 50");
    }
}
