//! Builders for the algorithm's self-description (`get-info`).

use crate::bindings::procvision::algorithm::types as wit;
use crate::params::ParamValue;

pub use wit::{AlgorithmInfo, ParamKind, ParamSpec, StepSpec as Step};

impl AlgorithmInfo {
    /// Start a description with the package name and semantic version.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        AlgorithmInfo {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            supported_pids: Vec::new(),
            steps: Vec::new(),
        }
    }
    /// One sentence for operators.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// Product ids this algorithm inspects.
    pub fn pids<S: Into<String>>(mut self, pids: impl IntoIterator<Item = S>) -> Self {
        self.supported_pids.extend(pids.into_iter().map(Into::into));
        self
    }
    /// Add a step; steps are indexed from 1.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}

impl Step {
    /// A step with its index (from 1) and short name.
    pub fn new(index: u32, name: impl Into<String>) -> Self {
        Step { index, name: name.into(), description: String::new(), params: Vec::new() }
    }
    /// What the step checks.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// Add a parameter.
    pub fn param(mut self, param: ParamSpec) -> Self {
        self.params.push(param);
        self
    }
}

impl ParamSpec {
    fn with_kind(name: impl Into<String>, kind: ParamKind) -> Self {
        ParamSpec { name: name.into(), description: String::new(), kind, required: false, default: None }
    }
    /// A whole number, unbounded.
    pub fn int(name: impl Into<String>) -> Self {
        Self::with_kind(name, ParamKind::Int(wit::IntRange { min: None, max: None }))
    }
    /// A whole number in `min..=max`.
    pub fn int_in(name: impl Into<String>, min: i64, max: i64) -> Self {
        Self::with_kind(name, ParamKind::Int(wit::IntRange { min: Some(min), max: Some(max) }))
    }
    /// A real number, unbounded.
    pub fn float(name: impl Into<String>) -> Self {
        Self::with_kind(name, ParamKind::Float(wit::FloatRange { min: None, max: None }))
    }
    /// A real number in `min..=max`.
    pub fn float_in(name: impl Into<String>, min: f64, max: f64) -> Self {
        Self::with_kind(name, ParamKind::Float(wit::FloatRange { min: Some(min), max: Some(max) }))
    }
    /// A switch.
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::with_kind(name, ParamKind::Boolean)
    }
    /// Free text, optionally limited with [`length`](Self::length) and [`pattern`](Self::pattern).
    pub fn text(name: impl Into<String>) -> Self {
        Self::with_kind(name, ParamKind::Text(wit::TextRule { min_length: None, max_length: None, pattern: None }))
    }
    /// A region of interest inside the image.
    pub fn rect(name: impl Into<String>) -> Self {
        Self::with_kind(name, ParamKind::Rect)
    }
    /// One of a fixed list of choices.
    pub fn choice<S: Into<String>>(name: impl Into<String>, choices: impl IntoIterator<Item = S>) -> Self {
        Self::with_kind(name, ParamKind::Enumeration(choices.into_iter().map(Into::into).collect()))
    }
    /// What the parameter does, for the people who set it.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// The station must supply a value.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Character-count limits of a text parameter (ignored for other kinds).
    pub fn length(mut self, min: Option<u32>, max: Option<u32>) -> Self {
        if let ParamKind::Text(rule) = &mut self.kind {
            rule.min_length = min;
            rule.max_length = max;
        }
        self
    }
    /// A regular expression a text parameter must match in full (ignored for other kinds).
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        if let ParamKind::Text(rule) = &mut self.kind {
            rule.pattern = Some(pattern.into());
        }
        self
    }
    /// The value used when the station gives none. Whole numbers given for a float
    /// parameter are widened and text given for a choice parameter becomes the choice.
    pub fn default(mut self, value: impl Into<ParamValue>) -> Self {
        let value = match (&self.kind, value.into()) {
            (ParamKind::Float(_), ParamValue::Int(v)) => ParamValue::Float(v as f64),
            (ParamKind::Enumeration(_), ParamValue::Text(v)) => ParamValue::Choice(v),
            (_, value) => value,
        };
        self.default = Some(value);
        self
    }
}

impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::Int(v)
    }
}
impl From<i32> for ParamValue {
    fn from(v: i32) -> Self {
        ParamValue::Int(v.into())
    }
}
impl From<u32> for ParamValue {
    fn from(v: u32) -> Self {
        ParamValue::Int(v.into())
    }
}
impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float(v)
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Boolean(v)
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Text(v.to_owned())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Text(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_produce_the_described_schema() {
        let info = AlgorithmInfo::new("demo", "1.2.3").description("d").pids(["A", "B"]).step(
            Step::new(1, "count")
                .param(ParamSpec::int_in("n", 1, 10).default(5).describe("how many"))
                .param(ParamSpec::float_in("ratio", 0.0, 1.0).default(1))
                .param(ParamSpec::choice("mode", ["dark", "bright"]).default("dark"))
                .param(ParamSpec::text("code").length(Some(1), Some(8)).pattern("[A-Z]+").required()),
        );
        assert_eq!(info.supported_pids, ["A", "B"]);
        let params = &info.steps[0].params;
        assert_eq!(params[0].default, Some(ParamValue::Int(5)));
        assert_eq!(params[0].kind, ParamKind::Int(wit::IntRange { min: Some(1), max: Some(10) }));
        assert_eq!(params[1].default, Some(ParamValue::Float(1.0)));
        assert_eq!(params[2].default, Some(ParamValue::Choice("dark".into())));
        assert!(params[3].required);
        match &params[3].kind {
            ParamKind::Text(rule) => {
                assert_eq!((rule.min_length, rule.max_length), (Some(1), Some(8)));
                assert_eq!(rule.pattern.as_deref(), Some("[A-Z]+"));
            }
            other => panic!("expected a text kind, got {other:?}"),
        }
    }
}
