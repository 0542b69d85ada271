//! Typed access to a step's parameters.

use crate::bindings::procvision::algorithm::types as wit;
use crate::error::{Error, Result};
use crate::output::Rect;

pub use wit::ParamValue;

impl ParamValue {
    /// The kind of value, as named in error messages ("int", "float"...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            ParamValue::Int(_) => "int",
            ParamValue::Float(_) => "float",
            ParamValue::Boolean(_) => "bool",
            ParamValue::Text(_) => "text",
            ParamValue::Rect(_) => "rect",
            ParamValue::Choice(_) => "choice",
        }
    }
}

/// The parameters of one step, validated by the host against the step's schema,
/// with defaults filled in.
///
/// The getters fail with error 1006 and a message naming the parameter, so an
/// algorithm can use `?` and the operator still learns what is wrong:
///
/// ```
/// use pv_guest::{ParamValue, Params};
/// let params = Params::from_pairs([("expected_count", ParamValue::Int(24))]);
/// assert_eq!(params.int("expected_count").unwrap(), 24);
/// let err = params.text("expected_count").unwrap_err();
/// assert_eq!(err.message(), "param `expected_count` is an int, expected a text");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    entries: Vec<wit::Param>,
}

impl Params {
    /// Parameters from name/value pairs (for tests of algorithm code).
    pub fn from_pairs<K: Into<String>>(pairs: impl IntoIterator<Item = (K, ParamValue)>) -> Self {
        Params { entries: pairs.into_iter().map(|(name, value)| wit::Param { name: name.into(), value }).collect() }
    }

    /// The raw value, if the parameter was given (or has a default).
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.entries.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    /// Whether the parameter is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Names and values, in the order the host sent them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.entries.iter().map(|p| (p.name.as_str(), &p.value))
    }

    fn require(&self, name: &str) -> Result<&ParamValue> {
        self.get(name).ok_or_else(|| Error::invalid_params(format!("param `{name}` is missing")))
    }

    fn mismatch(name: &str, found: &ParamValue, expected: &str) -> Error {
        let found = found.kind_name();
        let article = |word: &str| if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        Error::invalid_params(format!("param `{name}` is {} {found}, expected {} {expected}", article(found), article(expected)))
    }

    /// An `int` parameter.
    pub fn int(&self, name: &str) -> Result<i64> {
        match self.require(name)? {
            ParamValue::Int(v) => Ok(*v),
            other => Err(Self::mismatch(name, other, "int")),
        }
    }

    /// A `float` parameter; an `int` value is accepted and widened.
    pub fn float(&self, name: &str) -> Result<f64> {
        match self.require(name)? {
            ParamValue::Float(v) => Ok(*v),
            ParamValue::Int(v) => Ok(*v as f64),
            other => Err(Self::mismatch(name, other, "float")),
        }
    }

    /// A `bool` parameter.
    pub fn bool(&self, name: &str) -> Result<bool> {
        match self.require(name)? {
            ParamValue::Boolean(v) => Ok(*v),
            other => Err(Self::mismatch(name, other, "bool")),
        }
    }

    /// A `text` parameter.
    pub fn text(&self, name: &str) -> Result<&str> {
        match self.require(name)? {
            ParamValue::Text(v) => Ok(v),
            other => Err(Self::mismatch(name, other, "text")),
        }
    }

    /// An `enumeration` parameter: the chosen value.
    pub fn choice(&self, name: &str) -> Result<&str> {
        match self.require(name)? {
            ParamValue::Choice(v) => Ok(v),
            other => Err(Self::mismatch(name, other, "choice")),
        }
    }

    /// A `rect` parameter (a region of interest).
    pub fn rect(&self, name: &str) -> Result<Rect> {
        match self.require(name)? {
            ParamValue::Rect(v) => Ok(v.clone()),
            other => Err(Self::mismatch(name, other, "rect")),
        }
    }

    /// An `int` parameter converted to `u32`, refusing negative or too large values.
    pub fn u32(&self, name: &str) -> Result<u32> {
        let value = self.int(name)?;
        u32::try_from(value).map_err(|_| Error::invalid_params(format!("param `{name}` is {value}, expected 0..={}", u32::MAX)))
    }
}

impl From<Vec<wit::Param>> for Params {
    fn from(entries: Vec<wit::Param>) -> Self {
        Params { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn params() -> Params {
        Params::from_pairs([
            ("count", ParamValue::Int(24)),
            ("ratio", ParamValue::Float(0.5)),
            ("strict", ParamValue::Boolean(true)),
            ("label", ParamValue::Text("coin".into())),
            ("mode", ParamValue::Choice("dark".into())),
            ("roi", ParamValue::Rect(Rect::new(1, 2, 3, 4))),
            ("negative", ParamValue::Int(-1)),
        ])
    }

    #[test]
    fn typed_getters_return_values() {
        let p = params();
        assert_eq!(p.int("count"), Ok(24));
        assert_eq!(p.u32("count"), Ok(24));
        assert_eq!(p.float("ratio"), Ok(0.5));
        assert_eq!(p.float("count"), Ok(24.0));
        assert_eq!(p.bool("strict"), Ok(true));
        assert_eq!(p.text("label"), Ok("coin"));
        assert_eq!(p.choice("mode"), Ok("dark"));
        assert_eq!(p.rect("roi"), Ok(Rect::new(1, 2, 3, 4)));
        assert!(p.contains("count") && !p.contains("nope"));
        assert_eq!(p.iter().count(), 7);
    }

    #[test]
    fn errors_name_the_param_and_the_problem() {
        let p = params();
        let missing = p.int("nope").expect_err("missing");
        assert_eq!(missing.code(), ErrorCode::InvalidParams);
        assert_eq!(missing.message(), "param `nope` is missing");
        let wrong = p.bool("label").expect_err("wrong type");
        assert_eq!(wrong.message(), "param `label` is a text, expected a bool");
        let negative = p.u32("negative").expect_err("negative");
        assert!(negative.message().contains("`negative` is -1"), "{}", negative.message());
    }
}
