//! A session of its own for one call: begun, used for one call, ended. How a
//! station runs a call that names no session and how `serve` runs a
//! generation-2 call (the platform has no sessions there).

use std::sync::atomic::Ordering;

use super::Runner;
use crate::error::Result;

/// A session begun by [`Runner::session_for_one_call`] and ended (its writes
/// dropped) when this is dropped.
#[derive(Debug)]
pub struct OneCallSession {
    runner: Runner,
    id: String,
}

impl OneCallSession {
    /// The session's id, for the call.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for OneCallSession {
    fn drop(&mut self) {
        self.runner.end_session(&self.id);
    }
}

impl Runner {
    /// Begin a session of its own for one call (`pv-host:call:N`, numbered per
    /// runner), ended when the returned value is dropped. Drop it once the
    /// call is over: ending a session whose call still runs waits for it.
    pub fn session_for_one_call(&self) -> Result<OneCallSession> {
        let id = format!("pv-host:call:{}", self.inner.next_one_call.fetch_add(1, Ordering::Relaxed));
        self.begin_session(&id, serde_json::Value::Object(serde_json::Map::new()))?;
        Ok(OneCallSession { runner: self.clone(), id })
    }
}
