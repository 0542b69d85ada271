//! What every call returns: its result, the guest's logs and diagnostics, and
//! what it consumed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::sandbox::LogRecord;

/// What one call consumed. Kept on failure too: a call stopped by a limit shows
/// how far it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// Wall-clock time of the call, input copy and output lift included.
    pub wall_time: Duration,
    /// Fuel the call burnt (about one unit per wasm instruction); `None` when the
    /// host meters no fuel.
    pub fuel_consumed: Option<u64>,
    /// Highest total linear memory of the instance during the call, in bytes.
    pub peak_memory_bytes: u64,
}

/// The result of one call into the guest, with what the guest logged and published
/// and what it consumed. Logs and diagnostics are kept on failure too: they often
/// say why.
#[derive(Debug)]
#[must_use]
pub struct CallReport<T> {
    /// The output, or why there is none.
    pub result: Result<T>,
    /// What the guest logged or printed, under the per-call quota.
    pub logs: Vec<LogRecord>,
    /// What the guest published through `diagnostics`.
    pub diagnostics: BTreeMap<String, Value>,
    /// Time, fuel and memory of the call.
    pub usage: ResourceUsage,
}

impl<T> CallReport<T> {
    /// The output, dropping logs and diagnostics.
    pub fn into_result(self) -> Result<T> {
        self.result
    }

    pub(crate) fn ok(value: T) -> Self {
        CallReport { result: Ok(value), logs: Vec::new(), diagnostics: BTreeMap::new(), usage: ResourceUsage::default() }
    }

    /// The report of a call refused before it reached the guest.
    pub fn refused(err: Error) -> Self {
        CallReport { result: Err(err), logs: Vec::new(), diagnostics: BTreeMap::new(), usage: ResourceUsage::default() }
    }
}
