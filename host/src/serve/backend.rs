//! What the server runs calls on: one package ([`serve`](super::serve)) or
//! every version active on a station ([`serve_station`](super::serve_station)),
//! and the generation-1 sessions begun on them.
//!
//! A call resolves a [`Target`] once, when its frame is read, and holds it to
//! its end: a station switch never moves a call to another version half-way.
//! A generation-1 session records the target it was begun on and keeps it for
//! all its later calls; a new session takes the version active then.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::protocol::PhaseCall;
use crate::error::{Error, InputCode, Result};
use crate::runner::Runner;
use crate::station::{ActiveVersion, Station};
use crate::types::AlgorithmInfo;
use crate::wire;

/// The package of [`super::serve`] and its `get-info`.
#[derive(Debug)]
pub(super) struct Single {
    runner: Runner,
    info: AlgorithmInfo,
}

/// What a call runs on: a runner and the `get-info` of its package. Cheap to
/// clone; a clone held by a call or a session keeps a station version loaded.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// The one package served.
    Package(Arc<Single>),
    /// A version of a station.
    Version(Arc<ActiveVersion>),
}

impl Target {
    pub(super) fn runner(&self) -> &Runner {
        match self {
            Target::Package(single) => &single.runner,
            Target::Version(version) => version.runner(),
        }
    }

    pub(super) fn info(&self) -> &AlgorithmInfo {
        match self {
            Target::Package(single) => &single.info,
            Target::Version(version) => version.info(),
        }
    }

    /// Whether both are the same loaded package (not merely the same name).
    fn same(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Package(a), Target::Package(b)) => Arc::ptr_eq(a, b),
            (Target::Version(a), Target::Version(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn serves(&self, pid: &str) -> bool {
        self.info().supported_pids.iter().any(|supported| supported == pid)
    }

    /// For the log: which station version answers, if this is one.
    pub(super) fn describe(&self) -> Option<String> {
        match self {
            Target::Package(_) => None,
            Target::Version(version) => Some(version.package().to_string()),
        }
    }
}

/// One package, or a station.
pub(super) enum Backend {
    /// [`super::serve`]: every call on one runner.
    Package(Target),
    /// [`super::serve_station`]: each call on the version active for its
    /// product id (followed by the station's watcher, owned by the caller).
    Station(Arc<Station>),
}

impl Backend {
    pub(super) fn package(runner: Runner, info: AlgorithmInfo) -> Backend {
        Backend::Package(Target::Package(Arc::new(Single { runner, info })))
    }

    /// The product id of a call that names none: `configured` (`--pid`), else
    /// the only one served; 1001 otherwise.
    pub(super) fn default_pid(&self, configured: Option<&str>) -> Result<String> {
        if let Some(pid) = configured {
            return Ok(pid.to_owned());
        }
        match self {
            Backend::Package(target) => match target.info().supported_pids.as_slice() {
                [only] => Ok(only.clone()),
                pids => Err(Error::input(
                    InputCode::InvalidPid,
                    format!(
                        "the call names no product id and the algorithm supports {} ({}); start serve with --pid",
                        pids.len(),
                        pids.join(", ")
                    ),
                )),
            },
            Backend::Station(station) => {
                let active = station.active();
                let mut pids = active.keys();
                match (pids.next(), pids.next()) {
                    (Some(only), None) => Ok(only.clone()),
                    _ => Err(Error::input(
                        InputCode::InvalidPid,
                        format!(
                            "the call names no product id and the station serves {} ({}); start serve with --pid",
                            active.len(),
                            active.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )),
                }
            }
        }
    }

    /// The target of a call for `pid` outside any session: the package, or the
    /// version active for `pid` now (1001 when none is).
    pub(super) fn route(&self, pid: &str) -> Result<Target> {
        match self {
            Backend::Package(target) => Ok(target.clone()),
            Backend::Station(station) => station.route(pid).map(Target::Version),
        }
    }

    /// The target of a generation-1 call: the package; or, on a station, the
    /// version its session was begun on when that version serves the call's
    /// product id (a session stays on its version), else the version active
    /// for the product id now (the call's, or [`default_pid`](Self::default_pid)'s).
    ///
    /// A call that names no session (the server calls it `default`) follows
    /// the active version instead: its session is ended on the old version and
    /// begun again on the new one, or a station without session ids would
    /// never switch.
    pub(super) fn phase_target(&self, sessions: &mut Sessions, call: &PhaseCall, configured_pid: Option<&str>) -> Result<Target> {
        if let Backend::Package(target) = self {
            return Ok(target.clone());
        }
        sessions.end_idle(Instant::now());
        let found = sessions.find(&call.session_id, &call.pid);
        if call.session_named
            && let Some(found) = &found
        {
            return Ok(found.clone());
        }
        let pid = if call.pid.is_empty() { self.default_pid(configured_pid)? } else { call.pid.clone() };
        let current = self.route(&pid)?;
        if let Some(found) = found
            && !found.same(&current)
        {
            sessions.forget(&call.session_id, &found);
        }
        Ok(current)
    }

    /// The runners a generation-1 `teardown` tears down: the package's; on a
    /// station, the call's version when it names one that can be resolved, else
    /// every active version's.
    pub(super) fn teardown_runners(&self, resolved: Result<Target>) -> Vec<Runner> {
        match (self, resolved) {
            (_, Ok(target)) => vec![target.runner().clone()],
            (Backend::Package(target), Err(_)) => vec![target.runner().clone()],
            (Backend::Station(station), Err(_)) => distinct(&station.versions()).iter().map(|v| v.runner().clone()).collect(),
        }
    }

    /// The data of an `info` reply for `pid` (empty: the call names none).
    ///
    /// One package: its description. A station: the description of the version
    /// active for `pid` (1001 when none is); without a PID, when one version
    /// serves every active product id, its description with `supported_pids`
    /// the product ids it is active for, else a summary: `supported_pids` every
    /// active product id, no `steps`, and `pids`, each active product id's
    /// description (1001 when nothing is active).
    pub(super) fn info_data(&self, pid: &str) -> Result<Map<String, Value>> {
        let station = match self {
            Backend::Package(target) => return Ok(wire::info_data(target.info())),
            Backend::Station(station) => station,
        };
        if !pid.is_empty() {
            return Ok(wire::info_data(station.route(pid)?.info()));
        }
        let versions = station.versions();
        let pids: Vec<&String> = versions.keys().collect();
        match distinct(&versions).as_slice() {
            [] => Err(Error::input(InputCode::InvalidPid, "no product id is active on this station")),
            [only] => {
                let mut data = wire::info_data(only.info());
                data.insert("supported_pids".into(), json!(pids));
                Ok(data)
            }
            _ => Ok(wire::station_info_data(versions.iter().map(|(pid, version)| (pid, version.info())))),
        }
    }

    /// Tear down the idle instances of every runner served (blocking).
    pub(super) fn shutdown(&self) {
        match self {
            Backend::Package(target) => target.runner().shutdown(),
            Backend::Station(station) => {
                for version in distinct(&station.versions()) {
                    version.runner().shutdown();
                }
            }
        }
    }
}

/// Each version once, in product id order of its first product id.
fn distinct(versions: &BTreeMap<String, Arc<ActiveVersion>>) -> Vec<Arc<ActiveVersion>> {
    let mut seen: Vec<Arc<ActiveVersion>> = Vec::new();
    for version in versions.values() {
        if !seen.iter().any(|known| Arc::ptr_eq(known, version)) {
            seen.push(Arc::clone(version));
        }
    }
    seen
}

/// Sessions begun, each on its target, oldest first; past `max` the least
/// recently begun is ended, and so is one no call used for longer than `idle`
/// (checked as frames arrive), so an idle session does not keep an old
/// station version loaded. Owned by the reader: nothing here waits, an
/// ended session is ended on a blocking thread (its call may still be
/// running).
pub(super) struct Sessions {
    /// Session id, its target, when a call last used it.
    order: VecDeque<(String, Target, Instant)>,
    max: usize,
    idle: Duration,
    /// No session can have been idle for `idle` before this.
    next_sweep: Option<Instant>,
}

impl Sessions {
    pub(super) fn new(max: usize, idle: Duration) -> Sessions {
        Sessions { order: VecDeque::new(), max: max.max(1), idle, next_sweep: None }
    }

    /// End the sessions no call used for longer than `idle` before `now`. A
    /// scan only when one may be due: the earliest last use plus `idle`.
    pub(super) fn end_idle(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|due| now < due) {
            return;
        }
        for (id, target) in take_idle(&mut self.order, self.idle, now) {
            tokio::task::spawn_blocking(move || target.runner().end_session(&id));
        }
        self.next_sweep = self.order.iter().map(|(_, _, used)| *used).min().and_then(|used| used.checked_add(self.idle));
    }

    /// The target session `id` was begun on that serves `pid` (any, when `pid`
    /// is empty), the most recently begun first.
    fn find(&self, id: &str, pid: &str) -> Option<Target> {
        self.order
            .iter()
            .rev()
            .find(|(known, target, _)| known == id && (pid.is_empty() || target.serves(pid)))
            .map(|(_, target, _)| target.clone())
    }

    /// Begin session `id` on `target` unless it is begun there already; either
    /// way it is used now.
    pub(super) fn ensure(&mut self, target: &Target, id: &str, context: &Value) {
        let now = Instant::now();
        if let Some((_, _, used)) = self.order.iter_mut().find(|(known, on, _)| known == id && on.same(target)) {
            *used = now;
            return;
        }
        if target.runner().begin_session(id, context.clone()).is_ok() {
            self.order.push_back((id.to_owned(), target.clone(), now));
            if self.next_sweep.is_none() {
                self.next_sweep = now.checked_add(self.idle);
            }
        }
        while self.order.len() > self.max {
            if let Some((oldest, on, _)) = self.order.pop_front() {
                tokio::task::spawn_blocking(move || on.runner().end_session(&oldest));
            }
        }
    }

    /// End session `id` on `target` (on a blocking thread) and forget it.
    fn forget(&mut self, id: &str, target: &Target) {
        self.order.retain(|(known, on, _)| !(known == id && on.same(target)));
        let (id, target) = (id.to_owned(), target.clone());
        tokio::task::spawn_blocking(move || target.runner().end_session(&id));
    }
}

/// Take out of `sessions` those last used longer than `idle` before `now`.
fn take_idle<T>(sessions: &mut VecDeque<(String, T, Instant)>, idle: Duration, now: Instant) -> Vec<(String, T)> {
    let mut taken = Vec::new();
    let mut kept = VecDeque::with_capacity(sessions.len());
    for (id, target, used) in sessions.drain(..) {
        if now.saturating_duration_since(used) > idle {
            taken.push((id, target));
        } else {
            kept.push_back((id, target, used));
        }
    }
    *sessions = kept;
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_idle_longer_than_the_idle_time_are_taken_and_the_others_kept_in_order() {
        let idle = Duration::from_millis(50);
        let start = Instant::now();
        let mut sessions: VecDeque<(String, (), Instant)> = ["a", "b", "c"]
            .iter()
            .zip([start, start + Duration::from_millis(30), start + Duration::from_millis(10)])
            .map(|(id, used)| (id.to_string(), (), used))
            .collect();
        assert!(take_idle(&mut sessions, idle, start + idle).is_empty(), "none idle for longer than 50 ms yet");
        let taken = take_idle(&mut sessions, idle, start + Duration::from_millis(70));
        assert_eq!(taken, [("a".to_string(), ()), ("c".to_string(), ())]);
        let left: Vec<&str> = sessions.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(left, ["b"]);
        assert_eq!(take_idle(&mut sessions, idle, start + Duration::from_millis(81)).len(), 1);
        assert!(sessions.is_empty());
    }
}
