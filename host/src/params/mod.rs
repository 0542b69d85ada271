//! Step parameters: from the station's JSON to typed values, checked against the
//! step's schema (names, kinds, ranges, patterns, required ones), with
//! defaults filled in: the one place the host's parameter rules live. Guide
//! info (the labelled rects that go with a guide image, [`guide_info_from_json`])
//! and JSON from outside parsed with its cost bounded ([`parse_bounded`]) live
//! here too.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, InputCode, PackageCode, Result};
use crate::types::{AlgorithmInfo, Param, ParamKind, ParamSpec, ParamValue, Rect, StepSpec};

mod guide_info;

pub use self::guide_info::{
    GUIDE_RECT_CHARGE, GuideInfoError, MAX_GUIDE_GROUPS, MAX_GUIDE_INFO_BYTES, MAX_GUIDE_RECTS, check_guide_info,
    guide_info_from_json,
};
pub use crate::bounded_json::{JsonRefusal, MAX_JSON_FILE_BYTES, MAX_JSON_VALUES, parse_bounded, read_json_file};

fn invalid(message: String) -> Error {
    Error::input(InputCode::InvalidParams, message)
}

/// Turn the station's JSON object (`{"expected_count": 24}`) into typed parameters
/// for `step`: every name must be declared, every value must have the declared
/// type and obey its rules, required parameters must be present, and defaults fill
/// in the rest. Errors are 1006 and name the parameter and the rule.
///
/// Each pattern the step declares is compiled for the call (within the host's
/// pattern caps, see error 2115);
/// [`Instance::params_from_json`](crate::Instance::params_from_json) uses the
/// ones compiled once when the package was instantiated.
pub fn params_from_json(step: &StepSpec, json: &Map<String, Value>) -> Result<Vec<Param>> {
    params_from_json_with(step, json, None)
}

pub(crate) fn params_from_json_with(
    step: &StepSpec,
    json: &Map<String, Value>,
    patterns: Option<&Patterns>,
) -> Result<Vec<Param>> {
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
        check_value_with(spec, &value, patterns)?;
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
        // Four numbers: a longer list is refused before anything is collected.
        Value::Array(items) if items.len() == 4 => items.iter().map(Value::as_i64).collect::<Option<_>>()?,
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

/// Longest pattern an algorithm may declare, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// Most compiled size of one pattern (the regex crate's `size_limit`; its own
/// default is 10 MiB): 256 KiB.
pub const MAX_PATTERN_COMPILED_BYTES: usize = 256 * 1024;

/// Most memory one pattern's lazy DFA may cache (the regex crate's
/// `dfa_size_limit`; its own default is 2 MiB): 256 KiB.
pub const MAX_PATTERN_DFA_BYTES: usize = 256 * 1024;

/// Most distinct patterns one algorithm may declare, all steps together: with
/// the per-pattern caps, at most 8 MiB of compiled patterns per package.
pub const MAX_PATTERNS_PER_PACKAGE: usize = 32;

/// Why a pattern is refused (error 2115 at load).
fn refused(message: String) -> Error {
    Error::package(PackageCode::PatternRefused, message)
}

/// `pattern` compiled to match a whole value, within the caps above. Compiling
/// stops as soon as the compiled size would pass the cap, so a hostile pattern
/// costs the host little time as well as little memory.
fn compile_pattern(pattern: &str) -> Result<Arc<regex::Regex>> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(refused(format!("a pattern of {} bytes is over the cap of {MAX_PATTERN_BYTES}", pattern.len())));
    }
    let regex = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(MAX_PATTERN_COMPILED_BYTES)
        .dfa_size_limit(MAX_PATTERN_DFA_BYTES)
        .build()
        .map_err(|err| match err {
            regex::Error::CompiledTooBig(limit) => {
                refused(format!("the pattern {pattern:?} compiles to more than the cap of {limit} bytes"))
            }
            other => refused(format!("the pattern {pattern:?} is invalid: {other}")),
        })?;
    Ok(Arc::new(regex))
}

/// The text patterns an algorithm declares, compiled once (when the package is
/// first instantiated and its `get-info` read) under the caps above; a pattern
/// that is invalid or over a cap refuses the package with 2115.
///
/// Shared as `Arc`s: cloning a `Regex` gives the clone a match cache of its own,
/// built again on its first match.
#[derive(Debug, Default)]
pub(crate) struct Patterns {
    compiled: HashMap<String, Arc<regex::Regex>>,
}

impl Patterns {
    /// The text patterns of every step of `info`.
    fn declared(info: &AlgorithmInfo) -> impl Iterator<Item = &str> {
        info.steps.iter().flat_map(|step| &step.params).filter_map(|spec| match &spec.kind {
            ParamKind::Text(rule) => rule.pattern.as_deref(),
            _ => None,
        })
    }

    /// Compile every pattern `info` declares.
    pub(crate) fn compile(info: &AlgorithmInfo) -> Result<Patterns> {
        let mut compiled = HashMap::new();
        for pattern in Self::declared(info) {
            if compiled.contains_key(pattern) {
                continue;
            }
            if compiled.len() == MAX_PATTERNS_PER_PACKAGE {
                return Err(refused(format!(
                    "the algorithm declares more than {MAX_PATTERNS_PER_PACKAGE} distinct parameter patterns"
                )));
            }
            compiled.insert(pattern.to_owned(), compile_pattern(pattern)?);
        }
        Ok(Patterns { compiled })
    }

    /// Whether every pattern `info` declares is compiled here.
    pub(crate) fn covers(&self, info: &AlgorithmInfo) -> bool {
        Self::declared(info).all(|pattern| self.compiled.contains_key(pattern))
    }

    fn get(&self, pattern: &str) -> Option<Arc<regex::Regex>> {
        self.compiled.get(pattern).cloned()
    }
}

/// Check a typed value against its spec (range, choices, length, pattern). A
/// pattern is compiled for the check, within the host's pattern caps.
pub fn check_value(spec: &ParamSpec, value: &ParamValue) -> Result<()> {
    check_value_with(spec, value, None)
}

/// [`check_value`] with the patterns compiled at load, when there are some.
pub(crate) fn check_value_with(spec: &ParamSpec, value: &ParamValue, patterns: Option<&Patterns>) -> Result<()> {
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
                let regex = match patterns.and_then(|p| p.get(pattern)) {
                    Some(regex) => regex,
                    None => compile_pattern(pattern)
                        .map_err(|err| invalid(format!("param `{name}` has a pattern the host refuses: {err}")))?,
                };
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

/// Check typed params against the step's schema: declared names, kinds and rules,
/// required ones present.
pub(crate) fn check_params(step: &StepSpec, params: &[Param], patterns: &Patterns) -> Result<()> {
    for param in params {
        let spec = step.params.iter().find(|s| s.name == param.name).ok_or_else(|| {
            Error::input(InputCode::InvalidParams, format!("step {} has no param `{}`", step.index, param.name))
        })?;
        check_value_with(spec, &param.value, Some(patterns))?;
    }
    if let Some(missing) =
        step.params.iter().find(|s| s.required && s.default.is_none() && !params.iter().any(|p| p.name == s.name))
    {
        return Err(Error::input(InputCode::InvalidParams, format!("param `{}` is required", missing.name)));
    }
    Ok(())
}

/// The params with defaults added for absent ones, or `None` when nothing is missing.
pub(crate) fn with_defaults(step: &StepSpec, params: &[Param]) -> Option<Vec<Param>> {
    let missing: Vec<Param> = step
        .params
        .iter()
        .filter(|spec| !params.iter().any(|p| p.name == spec.name))
        .filter_map(|spec| spec.default.clone().map(|value| Param { name: spec.name.clone(), value }))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(params.iter().cloned().chain(missing).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
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

    fn info_with_patterns(patterns: &[String]) -> AlgorithmInfo {
        let params = patterns
            .iter()
            .enumerate()
            .map(|(i, pattern)| ParamSpec {
                name: format!("p{i}"),
                description: String::new(),
                kind: ParamKind::Text(TextRule { min_length: None, max_length: None, pattern: Some(pattern.clone()) }),
                required: false,
                default: None,
            })
            .collect();
        AlgorithmInfo {
            name: "a".into(),
            version: "1.0.0".into(),
            description: String::new(),
            supported_pids: vec!["A".into()],
            steps: vec![StepSpec { index: 1, name: "s".into(), description: String::new(), params }],
        }
    }

    #[test]
    fn patterns_match_whole_values() {
        let patterns = Patterns::compile(&info_with_patterns(&["[A-Z]+".into()])).expect("compiles");
        let regex = patterns.get("[A-Z]+").expect("compiled");
        assert!(regex.is_match("AB") && !regex.is_match("ABc") && !regex.is_match("xAB"));
    }

    #[test]
    fn patterns_over_the_caps_refuse_the_package_with_2115() {
        let code = |patterns: &[String]| Patterns::compile(&info_with_patterns(patterns)).expect_err("refused").code();
        assert_eq!(code(&["(".into()]), ErrorCode::PatternRefused, "invalid");
        assert_eq!(code(&["a".repeat(MAX_PATTERN_BYTES + 1)]), ErrorCode::PatternRefused, "too long");
        // Short, but compiles to far more than the cap (the crate's 10 MiB default too).
        assert_eq!(code(&[r"\w{1000}".into()]), ErrorCode::PatternRefused, "too big compiled");
        let many: Vec<String> = (0..=MAX_PATTERNS_PER_PACKAGE).map(|n| format!("a{{{n}}}")).collect();
        assert_eq!(code(&many), ErrorCode::PatternRefused, "too many");
        let repeated = vec!["[0-9]+".to_owned(); 10 * MAX_PATTERNS_PER_PACKAGE];
        let patterns = Patterns::compile(&info_with_patterns(&repeated)).expect("one distinct pattern");
        assert!(patterns.covers(&info_with_patterns(&repeated)));
        assert!(!patterns.covers(&info_with_patterns(&["x".into()])));
    }
}
