//! The host-owned session of the part under inspection, with serde-typed values.
//!
//! A session spans the steps of one part. Values written during a call become
//! visible to later calls only if the call succeeds: when a call fails, traps or
//! times out, the host throws its writes away.
//!
//! ```no_run
//! # fn demo() -> pv_guest::Result<()> {
//! use pv_guest::session;
//! session::set("count", &23)?;
//! let count: Option<u32> = session::get("count")?;
//! # Ok(()) }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::procvision::algorithm::session as host;
use crate::error::{Error, Result};

/// The session id chosen by the station.
pub fn id() -> String {
    host::id()
}

/// The read-only context of the session (product code, operator, trace id...).
pub fn context() -> serde_json::Value {
    // The host only stores JSON objects here; a parse failure would be a host bug,
    // and an empty object is the safe reading of it.
    serde_json::from_str(&host::context()).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

/// The value stored under `key`, decoded as `T`; `None` when there is none.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    match host::get(key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|err| Error::unknown(format!("session value `{key}` does not decode: {err}"))),
    }
}

/// Store `value` under `key`, replacing what was there.
pub fn set<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    let text =
        serde_json::to_string(value).map_err(|err| Error::unknown(format!("session value `{key}` does not encode: {err}")))?;
    host::set(key, &text).map_err(|reason| Error::unknown(format!("session refused `{key}`: {reason}")))
}

/// Remove `key`; returns whether it was present.
pub fn delete(key: &str) -> bool {
    host::delete(key)
}

/// Whether a value is stored under `key`.
pub fn exists(key: &str) -> bool {
    host::exists(key)
}
