//! JSON from outside the host (a platform frame, a `--params` or
//! `--guide-info` file) parsed with what it may cost the host bounded.
//!
//! The text is bounded by its length, but a parsed value is not: `[0,0,...]`
//! takes 16 times its text as `serde_json::Value`s, so a 16 MiB frame could
//! cost a quarter of a gigabyte. [`parse_bounded`] counts the values first,
//! walking the text without keeping anything, and parses only text with at most
//! [`MAX_JSON_VALUES`] of them; what it then holds is at most about 100 bytes a
//! value plus the text's own strings. [`read_json_file`] reads at most
//! [`MAX_JSON_FILE_BYTES`] of a file (a device such as `/dev/zero` is cut off
//! there and refused, never read to exhaustion).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Most values (scalars, lists, objects and object keys, all counted) that
/// JSON from outside may hold: 262 144, room for guide info at its caps many
/// times over; a parsed value then takes at most about 26 MB besides its
/// strings.
pub const MAX_JSON_VALUES: usize = 1 << 18;

/// Largest JSON file read for `--params` or `--guide-info @FILE`: 16 MiB, the
/// platform's frame cap.
pub const MAX_JSON_FILE_BYTES: u64 = 16 << 20;

/// Longest `request_id` kept from text that is refused, so that the refusal
/// can answer its call.
const MAX_KEPT_ID_BYTES: usize = 256;

/// Why JSON text was not parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonRefusal {
    /// Not JSON.
    Syntax(String),
    /// More than the allowed number of values; `request_id` is the text's
    /// top-level `request_id`, when it is a number or a short string that
    /// came before the cut.
    TooManyValues {
        /// The cap that was passed.
        max: usize,
        /// The top-level `request_id`, if it could be kept.
        request_id: Option<Value>,
    },
}

impl fmt::Display for JsonRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonRefusal::Syntax(err) => write!(f, "not JSON: {err}"),
            JsonRefusal::TooManyValues { max, .. } => {
                write!(f, "the JSON holds over {max} values (numbers, strings, lists, objects and keys)")
            }
        }
    }
}

/// Parse `text` into a [`Value`] when it holds at most `max_values` values;
/// nothing is kept while counting.
pub fn parse_bounded(text: &[u8], max_values: usize) -> Result<Value, JsonRefusal> {
    // n values take at least 2n - 1 bytes (`[0,0,...]`: each scalar a byte
    // and a separator, the list its two brackets): a text this short cannot
    // hold too many and is parsed once (the platform's frames are short).
    if text.len() / 2 < max_values {
        return serde_json::from_slice(text).map_err(|err| JsonRefusal::Syntax(err.to_string()));
    }
    let left = Cell::new(max_values);
    let request_id = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let counted = TopLevel { left: &left, request_id: &request_id }.deserialize(&mut deserializer);
    match counted {
        Ok(()) => {}
        Err(_) if left.get() == 0 => {
            return Err(JsonRefusal::TooManyValues { max: max_values, request_id: request_id.into_inner() });
        }
        // The parse below reports a syntax error as serde_json words it.
        Err(_) => {}
    }
    serde_json::from_slice(text).map_err(|err| JsonRefusal::Syntax(err.to_string()))
}

/// Read the JSON file at `path`: at most `max_bytes`, refusing a longer one
/// (a device or a FIFO that never ends included) without reading past the cap.
pub fn read_json_file(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is over the {max_bytes}-byte limit", path.display()),
        ));
    }
    Ok(bytes)
}

/// Takes one value off the count, failing at zero.
fn tick<E: serde::de::Error>(left: &Cell<usize>) -> Result<(), E> {
    match left.get() {
        0 => Err(E::custom("too many values")),
        n => {
            left.set(n - 1);
            Ok(())
        }
    }
}

/// Counts a value and everything in it, keeping nothing.
#[derive(Clone, Copy)]
struct Counter<'a> {
    left: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! count_scalars {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: serde::de::Error>(self, _: $ty) -> Result<(), E> {
            tick(self.left)
        }
    )*};
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    count_scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        tick(self.left)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        tick(self.left)?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        tick(self.left)?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            tick(self.left)?;
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// The top-level value: counted as [`Counter`] does, its `request_id` kept
/// when it is a number or a short string.
struct TopLevel<'a> {
    left: &'a Cell<usize>,
    request_id: &'a RefCell<Option<Value>>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        tick(self.left)?;
        while let Some(is_id) = map.next_key_seed(IsRequestId)? {
            tick(self.left)?;
            if is_id {
                let id = map.next_value_seed(Scalar { left: self.left })?;
                *self.request_id.borrow_mut() = id;
            } else {
                map.next_value_seed(Counter { left: self.left })?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Counter { left: self.left }.visit_seq(seq)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        tick(self.left)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        tick(self.left)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        tick(self.left)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        tick(self.left)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        tick(self.left)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        tick(self.left)
    }
}

/// Whether a key is `request_id`, without keeping it.
struct IsRequestId;

impl<'de> DeserializeSeed<'de> for IsRequestId {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsRequestId {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == "request_id")
    }
}

/// A value kept when it is a number or a short string; anything else is
/// counted and dropped.
struct Scalar<'a> {
    left: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Scalar<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Value>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scalar<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request id")
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Option<Value>, E> {
        tick(self.left).map(|()| Some(n.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Option<Value>, E> {
        tick(self.left).map(|()| Some(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Option<Value>, E> {
        tick(self.left).map(|()| Some(n.into()))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Option<Value>, E> {
        tick(self.left).map(|()| (text.len() <= MAX_KEPT_ID_BYTES).then(|| text.into()))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Option<Value>, E> {
        tick(self.left).map(|()| None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
        tick(self.left).map(|()| Some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        Counter { left: self.left }.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
        Counter { left: self.left }.visit_map(map).map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_within_the_count_parses_as_serde_json_would() {
        let text = br#"{"type":"call","request_id":7,"data":{"a":[1,2.5,"x",null,true],"b":{}}}"#;
        assert_eq!(parse_bounded(text, 64), Ok(serde_json::from_slice::<Value>(text).expect("json")));
        // 1 object, 3 keys, 2 scalars, 1 object, 2 keys, 1 list, 5 items, 1 object: 16.
        assert!(parse_bounded(text, 16).is_ok());
        assert!(matches!(parse_bounded(text, 15), Err(JsonRefusal::TooManyValues { .. })));
    }

    #[test]
    fn a_refusal_keeps_the_request_id_that_came_before_the_cut() {
        // As the platform writes a frame: the request id before the data.
        let many = format!(r#"{{"type":"call","request_id":"r-1","data":{{"user_params":{{"n":{}}}}}}}"#, json!(vec![0; 100]));
        let Err(JsonRefusal::TooManyValues { request_id, max }) = parse_bounded(many.as_bytes(), 50) else { panic!("refused") };
        assert_eq!((request_id, max), (Some(json!("r-1")), 50));
        let long_id = format!(r#"{{"request_id":"{}","data":{}}}"#, "x".repeat(1000), json!(vec![0; 100]));
        let Err(JsonRefusal::TooManyValues { request_id, .. }) = parse_bounded(long_id.as_bytes(), 50) else { panic!("refused") };
        assert_eq!(request_id, None, "a long id is not kept");
    }

    #[test]
    fn the_densest_text_at_the_cap_is_taken_and_one_value_more_is_not() {
        // `[0,...,0]` with n zeros: n + 1 values in 2n + 1 bytes.
        let list = |zeros: usize| format!("[{}0]", "0,".repeat(zeros - 1));
        assert!(parse_bounded(list(49).as_bytes(), 50).is_ok(), "50 values");
        assert!(matches!(parse_bounded(list(50).as_bytes(), 50), Err(JsonRefusal::TooManyValues { .. })), "51 values");
    }

    #[test]
    fn syntax_errors_are_syntax_errors() {
        for bad in [&b"not json"[..], b"{", b"[1,", b"{\"a\" 1}"] {
            assert!(matches!(parse_bounded(bad, 1000), Err(JsonRefusal::Syntax(_))), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_file_over_the_cap_is_refused_without_reading_past_it() {
        let err = read_json_file(Path::new("/dev/zero"), 1024).expect_err("endless");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.json");
        std::fs::write(&path, b"{\"a\":1}").expect("write");
        assert_eq!(read_json_file(&path, 7).expect("fits"), b"{\"a\":1}");
        assert!(read_json_file(&path, 6).is_err());
    }
}
