//! Step parameters: from the station's JSON to typed values, checked against the
//! step's schema, with defaults filled in.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::types::{Param, ParamKind, ParamSpec, ParamValue, Rect, StepSpec};

fn invalid(message: String) -> Error {
    Error::input(ErrorCode::InvalidParams, message)
}

/// Turn the station's JSON object (`{"expected_count": 24}`) into typed parameters
/// for `step`: every name must be declared, every value must have the declared
/// type and obey its rules, required parameters must be present, and defaults fill
/// in the rest. Errors are 1006 and name the parameter and the rule.
pub fn params_from_json(step: &StepSpec, json: &Map<String, Value>) -> Result<Vec<Param>> {
    if let Some(unknown) = json.keys().find(|name| !step.params.iter().any(|spec| &spec.name == *name)) {
        let known: Vec<&str> = step.params.iter().map(|spec| spec.name.as_str()).collect();
        return Err(invalid(format!(
            "step {} has no param `{unknown}` (it has: {})",
            step.index,
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    }
    let mut params = Vec::with_capacity(step.params.len());
    for spec in &step.params {
        let value = match json.get(&spec.name) {
            Some(value) => value_from_json(spec, value)?,
            None => match &spec.default {
                Some(default) => default.clone(),
                None if spec.required => {
                    return Err(invalid(format!("param `{}` is required and has no default", spec.name)));
                }
                None => continue,
            },
        };
        check_value(spec, &value)?;
        params.push(Param { name: spec.name.clone(), value });
    }
    Ok(params)
}

fn value_from_json(spec: &ParamSpec, value: &Value) -> Result<ParamValue> {
    let name = &spec.name;
    let wrong = |expected: &str| invalid(format!("param `{name}` must be {expected}, got {value}"));
    Ok(match &spec.kind {
        ParamKind::Int(_) => match value.as_i64() {
            Some(v) => ParamValue::Int(v),
            // Accept 24.0 for 24: JSON writers often do not distinguish.
            None => match value.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => ParamValue::Int(f as i64),
                _ => return Err(wrong("a whole number")),
            },
        },
        ParamKind::Float(_) => ParamValue::Float(value.as_f64().ok_or_else(|| wrong("a number"))?),
        ParamKind::Boolean => ParamValue::Boolean(value.as_bool().ok_or_else(|| wrong("true or false"))?),
        ParamKind::Text(_) => ParamValue::Text(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned()),
        ParamKind::Enumeration(_) => ParamValue::Choice(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned()),
        ParamKind::Rect => ParamValue::Rect(
            rect_from_json(value)
                .ok_or_else(|| wrong(r#"a rectangle {"x": .., "y": .., "width": .., "height": ..} or [x, y, width, height]"#))?,
        ),
    })
}

pub(crate) fn rect_from_json(value: &Value) -> Option<Rect> {
    let numbers: Vec<i64> = match value {
        Value::Array(items) => items.iter().map(Value::as_i64).collect::<Option<_>>()?,
        Value::Object(map) => {
            ["x", "y", "width", "height"].iter().map(|k| map.get(*k).and_then(Value::as_i64)).collect::<Option<_>>()?
        }
        _ => return None,
    };
    let [x, y, width, height] = numbers[..] else { return None };
    Some(Rect {
        x: i32::try_from(x).ok()?,
        y: i32::try_from(y).ok()?,
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
        label: None,
        score: None,
    })
}

/// Most compiled text patterns kept; past it the memo starts again (a guest
/// declares a handful, a hostile one cannot make the host hoard them).
const MAX_MEMOISED_PATTERNS: usize = 256;

/// `pattern` compiled to match a whole value, memoised: a step's patterns are
/// checked on every call and compiling a regex costs far more than matching it.
///
/// Shared as an `Arc`: cloning a `Regex` gives the clone a match cache of its
/// own, built again on its first match.
fn whole_match_regex(pattern: &str) -> std::result::Result<Arc<regex::Regex>, regex::Error> {
    static COMPILED: LazyLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = LazyLock::new(Default::default);
    let lock = || COMPILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(regex) = lock().get(pattern) {
        return Ok(Arc::clone(regex));
    }
    let regex = Arc::new(regex::Regex::new(&format!("^(?:{pattern})$"))?);
    let mut compiled = lock();
    if compiled.len() >= MAX_MEMOISED_PATTERNS {
        compiled.clear();
    }
    compiled.insert(pattern.to_owned(), Arc::clone(&regex));
    Ok(regex)
}

/// Check a typed value against its spec (range, choices, length, pattern).
pub fn check_value(spec: &ParamSpec, value: &ParamValue) -> Result<()> {
    let name = &spec.name;
    match (&spec.kind, value) {
        (ParamKind::Int(range), ParamValue::Int(v)) => {
            if range.min.is_some_and(|min| *v < min) || range.max.is_some_and(|max| *v > max) {
                return Err(invalid(format!("param `{name}` is {v}, outside {}", range_text(range.min, range.max))));
            }
        }
        (ParamKind::Float(range), ParamValue::Float(v)) => {
            if !v.is_finite() {
                return Err(invalid(format!("param `{name}` is {v}, not a finite number")));
            }
            if range.min.is_some_and(|min| *v < min) || range.max.is_some_and(|max| *v > max) {
                return Err(invalid(format!("param `{name}` is {v}, outside {}", range_text(range.min, range.max))));
            }
        }
        (ParamKind::Boolean, ParamValue::Boolean(_)) | (ParamKind::Rect, ParamValue::Rect(_)) => {}
        (ParamKind::Text(rule), ParamValue::Text(v)) => {
            let chars = v.chars().count();
            if rule.min_length.is_some_and(|min| chars < min as usize) || rule.max_length.is_some_and(|max| chars > max as usize)
            {
                return Err(invalid(format!(
                    "param `{name}` has {chars} characters, outside {}",
                    range_text(rule.min_length, rule.max_length)
                )));
            }
            if let Some(pattern) = &rule.pattern {
                let regex = whole_match_regex(pattern)
                    .map_err(|err| invalid(format!("param `{name}` has an invalid pattern {pattern:?}: {err}")))?;
                if !regex.is_match(v) {
                    return Err(invalid(format!("param `{name}` is {v:?}, which does not match {pattern:?}")));
                }
            }
        }
        (ParamKind::Enumeration(choices), ParamValue::Choice(v)) => {
            if !choices.contains(v) {
                return Err(invalid(format!("param `{name}` is {v:?}, not one of {}", choices.join(", "))));
            }
        }
        (kind, value) => {
            return Err(invalid(format!("param `{name}` is declared {} but the value is {value:?}", kind_name(kind))));
        }
    }
    Ok(())
}

fn kind_name(kind: &ParamKind) -> &'static str {
    match kind {
        ParamKind::Int(_) => "int",
        ParamKind::Float(_) => "float",
        ParamKind::Boolean => "bool",
        ParamKind::Text(_) => "text",
        ParamKind::Rect => "rect",
        ParamKind::Enumeration(_) => "enumeration",
    }
}

fn range_text<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("{min}..={max}"),
        (Some(min), None) => format!(">= {min}"),
        (None, Some(max)) => format!("<= {max}"),
        (None, None) => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{IntRange, TextRule};

    fn step() -> StepSpec {
        let spec = |name: &str, kind, default| ParamSpec {
            name: name.into(),
            description: String::new(),
            kind,
            required: false,
            default,
        };
        StepSpec {
            index: 1,
            name: "count".into(),
            description: String::new(),
            params: vec![
                spec("count", ParamKind::Int(IntRange { min: Some(1), max: Some(100) }), Some(ParamValue::Int(24))),
                spec("mode", ParamKind::Enumeration(vec!["dark".into(), "bright".into()]), None),
                spec(
                    "code",
                    ParamKind::Text(TextRule { min_length: Some(2), max_length: Some(4), pattern: Some("[A-Z]+".into()) }),
                    None,
                ),
                spec("roi", ParamKind::Rect, None),
            ],
        }
    }

    fn parse(json: Value) -> Result<Vec<Param>> {
        params_from_json(&step(), json.as_object().expect("object"))
    }

    #[test]
    fn defaults_fill_in_and_values_convert() {
        let params = parse(serde_json::json!({"mode": "dark", "roi": [1, 2, 3, 4], "code": "AB"})).expect("valid");
        assert_eq!(params[0], Param { name: "count".into(), value: ParamValue::Int(24) });
        assert_eq!(params[1].value, ParamValue::Choice("dark".into()));
        assert_eq!(params[2].value, ParamValue::Text("AB".into()));
        assert!(matches!(&params[3].value, ParamValue::Rect(r) if (r.x, r.width) == (1, 3)));
        assert_eq!(parse(serde_json::json!({"count": 7.0})).expect("whole float")[0].value, ParamValue::Int(7));
    }

    #[test]
    fn each_rule_is_enforced_with_code_1006() {
        for bad in [
            serde_json::json!({"count": 0}),
            serde_json::json!({"count": 1.5}),
            serde_json::json!({"count": "many"}),
            serde_json::json!({"mode": "grey"}),
            serde_json::json!({"code": "A"}),
            serde_json::json!({"code": "abc"}),
            serde_json::json!({"roi": [1, 2]}),
            serde_json::json!({"unknown": 1}),
        ] {
            let err = parse(bad.clone()).expect_err("must be refused");
            assert_eq!(err.code(), ErrorCode::InvalidParams, "{bad}: {err}");
        }
        let err = parse(serde_json::json!({"count": 101})).expect_err("out of range");
        assert_eq!(err.to_string(), "param `count` is 101, outside 1..=100");
    }

    #[test]
    fn patterns_match_whole_values_and_the_memo_stays_bounded() {
        let first = whole_match_regex("[A-Z]+").expect("compiles");
        assert!(first.is_match("AB") && !first.is_match("ABc") && !first.is_match("xAB"));
        for n in 0..=MAX_MEMOISED_PATTERNS {
            assert!(whole_match_regex(&format!("a{{{n}}}")).expect("compiles").is_match(&"a".repeat(n)));
        }
        assert!(whole_match_regex("[A-Z]+").expect("compiled again after the memo restarted").is_match("XYZ"));
        assert!(whole_match_regex("(").is_err(), "an invalid pattern is an error, not a memo entry");
    }
}
