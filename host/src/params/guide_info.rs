//! Guide info: the labelled rectangles that go with a guide image, as the
//! platform writes them, with what they may cost the host bounded.
//!
//! The platform's generation-2 calls send `guide_info` as groups
//! `{"label": L, "posList": [rect, ...]}`; each rect the guest receives carries
//! its group's label. That copy is where a small frame could become a large
//! input (a 1 MiB label shared by a thousand rects is a gigabyte once copied),
//! so every rect is charged [`GUIDE_RECT_CHARGE`] bytes plus the length of the
//! label it carries against [`MAX_GUIDE_INFO_BYTES`], and the charge is taken
//! before the label is copied: guide info over the caps is refused (1006)
//! having allocated no more than the caps allow.

use serde_json::Value;

use super::rect_from_json;
use crate::error::{Error, InputCode, Result};
use crate::types::Rect;

/// Most rectangles guide info may hold, all groups together: 4096.
pub const MAX_GUIDE_RECTS: usize = 4096;

/// Most groups guide info may hold: 1024.
pub const MAX_GUIDE_GROUPS: usize = 1024;

/// Most bytes guide info may take once decoded, every rect charged
/// [`GUIDE_RECT_CHARGE`] plus the length of its label: 1 MiB.
pub const MAX_GUIDE_INFO_BYTES: usize = 1 << 20;

/// What one rect is charged besides its label: the host's record of it and
/// the guest's copy, rounded up.
pub const GUIDE_RECT_CHARGE: usize = 64;

/// Why guide info was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuideInfoError {
    /// Not the platform's shape (not a list, a rect that is not four whole
    /// numbers, a label that is not text): a frame the server cannot
    /// understand.
    Malformed(String),
    /// Well formed, but over [`MAX_GUIDE_RECTS`], [`MAX_GUIDE_GROUPS`] or
    /// [`MAX_GUIDE_INFO_BYTES`]: refused as invalid params (1006).
    OverCap(String),
}

impl std::fmt::Display for GuideInfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuideInfoError::Malformed(message) | GuideInfoError::OverCap(message) => f.write_str(message),
        }
    }
}

impl From<GuideInfoError> for Error {
    fn from(err: GuideInfoError) -> Self {
        Error::input(InputCode::InvalidParams, err.to_string())
    }
}

/// The running charge of guide info against the caps.
#[derive(Default)]
struct Charge {
    rects: usize,
    bytes: usize,
}

impl Charge {
    fn rect(&mut self, label_bytes: usize) -> std::result::Result<(), GuideInfoError> {
        self.rects += 1;
        self.bytes = self.bytes.saturating_add(GUIDE_RECT_CHARGE).saturating_add(label_bytes);
        if self.rects > MAX_GUIDE_RECTS {
            return Err(GuideInfoError::OverCap(format!("guide info holds over {MAX_GUIDE_RECTS} rects")));
        }
        if self.bytes > MAX_GUIDE_INFO_BYTES {
            return Err(GuideInfoError::OverCap(format!(
                "guide info takes over {MAX_GUIDE_INFO_BYTES} bytes ({GUIDE_RECT_CHARGE} a rect plus its label, \
                 a group's label counted once for each of its rects)"
            )));
        }
        Ok(())
    }
}

/// A label as the platform writes it: a string, or a number written as one;
/// borrowed, so that nothing is copied before it is charged.
fn label(value: Option<&Value>) -> std::result::Result<Option<std::borrow::Cow<'_, str>>, GuideInfoError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str().into())),
        Some(Value::Number(n)) => Ok(Some(n.to_string().into())),
        Some(other) => Err(GuideInfoError::Malformed(format!("a label must be a string, got {}", brief(other)))),
    }
}

/// A value named in a message, cut short: the value may be megabytes.
fn brief(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 64 {
        let mut end = 64;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

fn guide_rect(value: &Value, group_label: Option<&str>, charge: &mut Charge) -> std::result::Result<Rect, GuideInfoError> {
    let mut rect = rect_from_json(value).ok_or_else(|| {
        GuideInfoError::Malformed(format!("`guide_info` holds rects of x, y, width, height, got {}", brief(value)))
    })?;
    let own_label = label(value.get("label"))?;
    let label = group_label.or(own_label.as_deref());
    charge.rect(label.map_or(0, str::len))?;
    rect.label = label.map(str::to_owned);
    Ok(rect)
}

/// `guide_info` as either generation writes it: a list whose items are groups
/// `{"label": L, "posList": [rect, ...]}` (each rect then carries L) or rects
/// (`{"x", "y", "width", "height"}` or `[x, y, w, h]`); flattened in order.
/// Refused over [`MAX_GUIDE_GROUPS`], [`MAX_GUIDE_RECTS`] or
/// [`MAX_GUIDE_INFO_BYTES`] ([`GuideInfoError::OverCap`]), before a label is
/// copied past them.
pub fn guide_info_from_json(value: &Value) -> std::result::Result<Vec<Rect>, GuideInfoError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(GuideInfoError::Malformed("`guide_info` must be a list".into())),
    };
    let groups = items.iter().filter(|item| item.get("posList").is_some()).count();
    if groups > MAX_GUIDE_GROUPS {
        return Err(GuideInfoError::OverCap(format!("guide info holds {groups} groups, over {MAX_GUIDE_GROUPS}")));
    }
    let mut charge = Charge::default();
    let mut rects = Vec::new();
    for item in items {
        match item.get("posList") {
            Some(Value::Array(positions)) => {
                let group = label(item.get("label"))?;
                for position in positions {
                    rects.push(guide_rect(position, group.as_deref(), &mut charge)?);
                }
            }
            Some(_) => {
                return Err(GuideInfoError::Malformed("a `guide_info` group's `posList` must be a list of rects".into()));
            }
            None => rects.push(guide_rect(item, None, &mut charge)?),
        }
    }
    Ok(rects)
}

/// Check guide info built some other way (an embedder's [`StepInput`](crate::types::StepInput))
/// against the same caps: 1006 over them.
pub fn check_guide_info(rects: &[Rect]) -> Result<()> {
    let mut charge = Charge::default();
    for rect in rects {
        charge.rect(rect.label.as_ref().map_or(0, String::len))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_label_their_rects_and_loose_rects_keep_their_own() {
        let value = json!([
            {"label": "1", "posList": [{"x": 94, "y": 269, "width": 319, "height": 398}, [1, 2, 3, 4]]},
            {"label": 2, "posList": []},
            {"x": 5, "y": 6, "width": 7, "height": 8, "label": "loose"},
        ]);
        let rects = guide_info_from_json(&value).expect("parses");
        let labels: Vec<_> = rects.iter().map(|r| (r.x, r.label.as_deref())).collect();
        assert_eq!(labels, [(94, Some("1")), (1, Some("1")), (5, Some("loose"))]);
        assert!(check_guide_info(&rects).is_ok());
    }

    #[test]
    fn a_shared_label_is_charged_once_per_rect() {
        // 1 KiB label, rects until the charge passes 1 MiB: refused, where the
        // frame itself is a few kilobytes of positions.
        let label = "L".repeat(1024);
        let rects = MAX_GUIDE_INFO_BYTES / (1024 + GUIDE_RECT_CHARGE) + 1;
        let value = json!([{"label": label, "posList": vec![[0, 0, 1, 1]; rects]}]);
        let err = guide_info_from_json(&value).expect_err("over the byte cap");
        assert!(matches!(err, GuideInfoError::OverCap(_)), "{err:?}");
        assert_eq!(Error::from(err).code(), crate::ErrorCode::InvalidParams);
        // One rect fewer fits.
        let value = json!([{"label": "L".repeat(1024), "posList": vec![[0, 0, 1, 1]; rects - 1]}]);
        assert_eq!(guide_info_from_json(&value).map(|r| r.len()), Ok(rects - 1));
    }

    #[test]
    fn counts_over_the_caps_are_refused() {
        let too_many_rects = json!([{"posList": vec![[0, 0, 1, 1]; MAX_GUIDE_RECTS + 1]}]);
        assert!(matches!(guide_info_from_json(&too_many_rects), Err(GuideInfoError::OverCap(_))));
        let too_many_groups = Value::Array(vec![json!({"posList": []}); MAX_GUIDE_GROUPS + 1]);
        assert!(matches!(guide_info_from_json(&too_many_groups), Err(GuideInfoError::OverCap(_))));
        let built: Vec<Rect> =
            (0..=MAX_GUIDE_RECTS).map(|_| Rect { x: 0, y: 0, width: 1, height: 1, label: None, score: None }).collect();
        assert_eq!(check_guide_info(&built).map_err(|e| e.code()), Err(crate::ErrorCode::InvalidParams));
    }

    #[test]
    fn malformed_guide_info_is_told_apart_from_guide_info_over_the_caps() {
        for bad in [json!(3), json!([{"posList": 3}]), json!([{"label": [], "posList": [[0, 0, 1, 1]]}]), json!([[0, 0, -1, 1]])]
        {
            assert!(matches!(guide_info_from_json(&bad), Err(GuideInfoError::Malformed(_))), "{bad}");
        }
    }
}
