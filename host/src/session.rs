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

/// What one entry costs against the session cap: its key and its JSON text.
fn entry_bytes(key: &str, value: &Value) -> usize {
    key.len() + value.to_string().len()
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

    /// Store a value unless the store would then exceed `cap` bytes (keys and
    /// JSON text together); on refusal the session is unchanged.
    pub(crate) fn set_within(&mut self, key: String, value: Value, cap: usize) -> Result<(), usize> {
        let removed = self.values.get(&key).map_or(0, |old| entry_bytes(&key, old));
        let wanted = self.stored_bytes - removed + entry_bytes(&key, &value);
        if wanted > cap {
            return Err(wanted);
        }
        self.set(key, value);
        Ok(())
    }

    /// Size of the key-value store: keys and JSON text of the values.
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

impl Default for Session {
    fn default() -> Self {
        Session::new("default")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_bytes_follow_sets_replacements_and_removals() {
        let mut session = Session::new("s");
        session.set("count", json!(7));
        assert_eq!(session.stored_bytes(), "count".len() + "7".len());
        session.set("count", json!("seven"));
        assert_eq!(session.stored_bytes(), "count".len() + "\"seven\"".len());
        assert!(session.remove("count"));
        assert_eq!(session.stored_bytes(), 0);
    }

    #[test]
    fn a_set_over_the_cap_leaves_the_session_unchanged() {
        let mut session = Session::new("s");
        session.set_within("a".into(), json!("xx"), 10).expect("fits");
        let before = session.clone();
        assert_eq!(session.set_within("b".into(), json!("yyyy"), 10), Err(1 + 4 + 1 + 6));
        assert_eq!(session, before);
        // Replacing a value counts the new size, not old plus new.
        session.set_within("a".into(), json!("zzzzzz"), 10).expect("a replacement within the cap");
    }
}
