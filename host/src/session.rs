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
}

impl Session {
    /// A session with an id and an empty context.
    pub fn new(id: impl Into<String>) -> Self {
        Session { id: id.into(), context: Value::Object(Default::default()), values: BTreeMap::new() }
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
        self.values.insert(key.into(), value);
    }

    /// All stored values.
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    pub(crate) fn remove(&mut self, key: &str) -> bool {
        self.values.remove(key).is_some()
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new("default")
    }
}
