//! Host-owned inspection sessions.

use std::collections::BTreeMap;

use serde_json::Value;

/// The session of one part under inspection: an id, a read-only context and a
/// key-value store of JSON values that the algorithm reads and writes through the
/// `session` import.
///
/// A call works on a staged copy: its writes reach the session only when the call
/// succeeds, so a trap, a timeout or an error leaves the session as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    id: String,
    context: Value,
    values: BTreeMap<String, Value>,
    /// Size of `values` as [`stored_bytes`](Self::stored_bytes) counts it, kept
    /// up to date so the cap check of a guest `set` is not a walk of the store.
    stored_bytes: usize,
}

/// What one entry costs against the session cap: its key, and its value's JSON
/// text or its size in host memory, whichever is larger (`[0,0,...]` takes 16
/// times its text in memory; the cap bounds the memory).
fn entry_bytes(key: &str, value: &Value) -> usize {
    key.len() + json_text_bytes(value).max(json_heap_bytes(value))
}

/// Length of `value`'s compact JSON text, counted without building it.
pub(crate) fn json_text_bytes(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// An estimate (from above, for the usual allocator) of the host memory a JSON
/// value takes: every node its 32-byte `Value`, strings their bytes, object
/// entries their key and a map node's share.
pub(crate) fn json_heap_bytes(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    /// A key's `String` header and its share of a B-tree node.
    const OBJECT_ENTRY: usize = 48;
    let mut total = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        total = total.saturating_add(NODE);
        match value {
            Value::String(text) => total = total.saturating_add(text.len()),
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                for (key, item) in map {
                    total = total.saturating_add(OBJECT_ENTRY + key.len());
                    pending.push(item);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    total
}

impl Session {
    /// A session with an id and an empty context.
    pub fn new(id: impl Into<String>) -> Self {
        Session { id: id.into(), context: Value::Object(Default::default()), values: BTreeMap::new(), stored_bytes: 0 }
    }

    /// Set the read-only context (product code, operator, trace id...). Anything but
    /// a JSON object is wrapped as `{"value": ...}` so the guest always sees an object.
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = match context {
            Value::Object(_) => context,
            other => serde_json::json!({ "value": other }),
        };
        self
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The read-only context.
    pub fn context(&self) -> &Value {
        &self.context
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Store a value (host side; the guest uses the `session` import).
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        let added = entry_bytes(&key, &value);
        let removed = self.values.get(&key).map_or(0, |old| entry_bytes(&key, old));
        self.values.insert(key, value);
        self.stored_bytes = self.stored_bytes - removed + added;
    }

    /// Store a value unless the store would then exceed `cap` bytes (see
    /// [`stored_bytes`](Self::stored_bytes)); on refusal the session is
    /// unchanged and the error is the size the store would have had.
    pub(crate) fn set_within(&mut self, key: String, value: Value, cap: usize) -> Result<(), usize> {
        let removed = self.values.get(&key).map_or(0, |old| entry_bytes(&key, old));
        let wanted = self.stored_bytes - removed + entry_bytes(&key, &value);
        if wanted > cap {
            return Err(wanted);
        }
        self.set(key, value);
        Ok(())
    }

    /// [`set_within`](Self::set_within) of a value given as JSON text, as the
    /// guest sends it. The size is checked before the text is parsed: text that
    /// alone does not fit in what is left of `cap` (whitespace included) is
    /// refused unparsed, so a 15 MiB value costs the host a length comparison,
    /// not a parse.
    pub(crate) fn set_json_within(&mut self, key: String, text: &str, cap: usize) -> Result<(), SetRefused> {
        let removed = self.values.get(&key).map_or(0, |old| entry_bytes(&key, old));
        let at_least = (self.stored_bytes - removed).saturating_add(key.len()).saturating_add(text.len());
        if at_least > cap {
            return Err(SetRefused::Full { wanted: at_least });
        }
        let value: Value = serde_json::from_str(text).map_err(|err| SetRefused::NotJson(err.to_string()))?;
        self.set_within(key, value, cap).map_err(|wanted| SetRefused::Full { wanted })
    }

    /// Size of the key-value store: keys, and each value's JSON text or its size
    /// in host memory, whichever is larger.
    pub fn stored_bytes(&self) -> usize {
        self.stored_bytes
    }

    /// All stored values.
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    pub(crate) fn remove(&mut self, key: &str) -> bool {
        match self.values.remove(key) {
            Some(old) => {
                self.stored_bytes -= entry_bytes(key, &old);
                true
            }
            None => false,
        }
    }
}

/// Why a guest `set` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetRefused {
    /// The store would reach `wanted` bytes, over its cap.
    Full { wanted: usize },
    /// The value is not JSON (the parser's message).
    NotJson(String),
}

impl Default for Session {
    fn default() -> Self {
        Session::new("default")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NODE: usize = std::mem::size_of::<Value>();

    #[test]
    fn stored_bytes_follow_sets_replacements_and_removals() {
        let mut session = Session::new("s");
        session.set("count", json!(7));
        assert_eq!(session.stored_bytes(), "count".len() + NODE, "a number costs its node, more than its text");
        let long = "x".repeat(100);
        session.set("count", json!(long));
        assert_eq!(session.stored_bytes(), "count".len() + NODE + 100, "a string costs its node and its bytes");
        let escaped = "\u{1}".repeat(100);
        session.set("count", json!(escaped));
        assert_eq!(session.stored_bytes(), "count".len() + 602, "or its text, when that is longer");
        assert!(session.remove("count"));
        assert_eq!(session.stored_bytes(), 0);
    }

    #[test]
    fn a_set_over_the_cap_leaves_the_session_unchanged() {
        let cap = 2 * NODE + 10;
        let mut session = Session::new("s");
        session.set_within("a".into(), json!("xx"), cap).expect("fits");
        let before = session.clone();
        let wanted = (1 + NODE + 2) + (1 + NODE + NODE + 20);
        assert_eq!(session.set_within("b".into(), json!("y".repeat(NODE + 20)), cap), Err(wanted));
        assert_eq!(session, before);
        // Replacing a value counts the new size, not old plus new.
        session.set_within("a".into(), json!("zzzzzz"), cap).expect("a replacement within the cap");
    }

    #[test]
    fn memory_counts_when_it_exceeds_the_text() {
        let zeros = Value::Array(vec![json!(0); 1000]);
        assert_eq!(json_text_bytes(&zeros), 2001);
        assert_eq!(json_heap_bytes(&zeros), 1001 * NODE);
        let mut session = Session::new("s");
        assert_eq!(session.set_within("z".into(), zeros, 10 * 1024), Err(1 + 1001 * NODE));
        assert_eq!(session.stored_bytes(), 0);
    }

    #[test]
    fn text_too_long_is_refused_before_parsing() {
        let mut session = Session::new("s");
        // Not JSON at all: had it been parsed, the refusal would say so.
        let junk = "{".repeat(4096);
        assert!(matches!(session.set_json_within("k".into(), &junk, 1024), Err(SetRefused::Full { .. })));
        assert!(matches!(session.set_json_within("k".into(), "{", 1024), Err(SetRefused::NotJson(_))));
        session.set_json_within("k".into(), "[1, 2]", 1024).expect("fits");
        assert_eq!(session.get("k"), Some(&json!([1, 2])));
    }
}
