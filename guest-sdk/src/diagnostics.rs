//! Diagnostic values for tools and dashboards: intermediate measurements, scores.
//!
//! ```no_run
//! pv_guest::diagnostics::publish("threshold", &127);
//! ```

use serde::Serialize;

use crate::bindings::procvision::algorithm::diagnostics as host;

/// Publish `value` under `key` for the current call; a later publish of the same key
/// replaces it. A value that cannot be encoded as JSON is published as its error text.
pub fn publish<T: Serialize + ?Sized>(key: &str, value: &T) {
    let text =
        serde_json::to_string(value).unwrap_or_else(|err| serde_json::Value::String(format!("unencodable: {err}")).to_string());
    host::publish(key, &text);
}
