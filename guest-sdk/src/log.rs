//! Structured logging into the host's log.
//!
//! Use the macros: they format like `format!` and add fields after a `;`:
//!
//! ```no_run
//! let (found, expected) = (23, 24);
//! pv_guest::info!("found {found} parts");
//! pv_guest::warn!("count off"; "found" => found, "expected" => expected);
//! ```
//!
//! The host caps the log bytes of each call and marks where it cut, so logging in a
//! loop cannot flood the station.

use crate::bindings::procvision::algorithm::log as host;

pub use host::Level;

/// Write one record with key-value fields; the macros call this.
pub fn write(level: Level, message: &str, fields: &[(&str, String)]) {
    let fields: Vec<host::Field> =
        fields.iter().map(|(key, value)| host::Field { key: (*key).to_owned(), value: value.clone() }).collect();
    host::log(level, message, &fields);
}

/// Log at an explicit level: `log!(Level::Info, "x = {}", x; "key" => value)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($fmt:expr),+ $(; $($key:expr => $value:expr),* $(,)?)?) => {
        $crate::log::write(
            $level,
            &::std::format!($($fmt),+),
            &[$($(($key, ::std::string::ToString::to_string(&$value))),*)?],
        )
    };
}

/// Log at trace level.
#[macro_export]
macro_rules! trace {
    ($($args:tt)+) => { $crate::log!($crate::log::Level::Trace, $($args)+) };
}
/// Log at debug level.
#[macro_export]
macro_rules! debug {
    ($($args:tt)+) => { $crate::log!($crate::log::Level::Debug, $($args)+) };
}
/// Log at info level.
#[macro_export]
macro_rules! info {
    ($($args:tt)+) => { $crate::log!($crate::log::Level::Info, $($args)+) };
}
/// Log at warn level.
#[macro_export]
macro_rules! warn {
    ($($args:tt)+) => { $crate::log!($crate::log::Level::Warn, $($args)+) };
}
/// Log at error level.
#[macro_export]
macro_rules! error {
    ($($args:tt)+) => { $crate::log!($crate::log::Level::Error, $($args)+) };
}
