//! [`Station`]: the active versions of a station directory, each on a
//! [`Runner`] of its own, routed by product id and swapped while calls run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use crate::admission::Admission;
use crate::bindings::procvision::algorithm::types::{AlgorithmInfo, ExecuteOutput, StepInput};
use crate::error::{Error, InputCode, Result, StationCode};
use crate::host::Host;
use crate::instance::CallReport;
use crate::locks::{self, lock};
use crate::runner::{OneCallSession, Runner, RunnerConfig};
use crate::station::{PackageRef, StationDir};
use crate::trust::TrustStore;

/// How often [`Station::watch`] looks for a change by default: a poll reads the
/// few bytes of the station's `generation` file.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The session a version is warmed up on before it takes over.
const WARM_UP_SESSION: &str = "station-warm-up";

/// One active version: its package on a runner of its own, and its `get-info`.
/// A call holds an `Arc` of it from start to end, so a switch never moves a
/// call (or a part held on it) to another version half-way.
#[derive(Debug)]
pub struct ActiveVersion {
    package: PackageRef,
    runner: Runner,
    info: AlgorithmInfo,
}

impl ActiveVersion {
    /// Which package and version this is.
    pub fn package(&self) -> &PackageRef {
        &self.package
    }

    /// The runner of this version.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Its `get-info`.
    pub fn info(&self) -> &AlgorithmInfo {
        &self.info
    }
}

/// A call's report and the version that answered it.
#[derive(Debug)]
#[must_use]
pub struct Routed<T> {
    /// The version the call ran on (`None` when it was refused before routing:
    /// no version is active for the product id).
    pub package: Option<PackageRef>,
    /// The call's report.
    pub report: CallReport<T>,
}

/// The routes: product id to active version.
type Routes = HashMap<String, Arc<ActiveVersion>>;

/// What [`Station::refresh`] last saw.
#[derive(Debug, Default)]
struct Seen {
    generation: Option<u64>,
    /// Versions that could not be loaded, by product id: not tried again until
    /// the mapping names something else for it.
    failed: BTreeMap<String, PackageRef>,
}

/// The embedded API of station mode: serves every product id a station
/// directory has a version active for, each version on its own [`Runner`].
///
/// ```no_run
/// use std::sync::Arc;
/// use pv_host::{Host, RunnerConfig, TrustStore, station::{DEFAULT_WATCH_INTERVAL, Station}};
///
/// # fn demo(input: pv_host::types::StepInput) -> pv_host::Result<()> {
/// let trust = TrustStore::open("/etc/pv-host/trust".as_ref())?;
/// let station = Arc::new(Station::open("/var/lib/pv-host/station".as_ref(), Host::new()?, trust, RunnerConfig::default())?);
/// let _watcher = station.watch(DEFAULT_WATCH_INTERVAL);
/// let routed = station.execute_blocking(input);
/// println!("{:?} answered {:?}", routed.package, routed.report.result.map(|out| out.verdict));
/// # Ok(()) }
/// ```
///
/// **Hot swap.** [`refresh`](Self::refresh) reads the mapping when its
/// generation changed; a newly active version is loaded (its stored file
/// checked against the digest the mapping names, its signatures against the
/// trust store, compiled through the host's compile cache), instantiated and set
/// up *before* it is routed to; only then does the next call for its product ids
/// go to it. A call routed before keeps its `Arc<ActiveVersion>` and finishes on
/// the version it started on; the old runner is torn down when its last call
/// ends. A version that cannot be loaded leaves the old one serving (and is
/// reported by `refresh`, and logged by the watcher).
///
/// **Noticing changes.** A change made by another process (`pv-host station
/// activate`) is picked up by [`watch`](Self::watch): a thread that polls the
/// generation (a read of a few bytes) every interval and refreshes on a change.
/// A poll on every call was not chosen: loading and warming a version takes
/// up to seconds, and no call should wait for it; calls never touch the disk.
/// [`refresh`](Self::refresh) may also be called directly (it blocks: from
/// async code, call it on a blocking thread).
///
/// **Sessions.** The runner of a version keeps its own sessions. A caller that
/// keeps a part on one version for all its steps takes the route once
/// ([`route`](Self::route)) and uses that runner for the part;
/// [`execute_blocking`](Self::execute_blocking) and [`execute`](Self::execute)
/// run one step in a session of its own.
pub struct Station {
    dir: StationDir,
    host: Host,
    trust: TrustStore,
    config: RunnerConfig,
    routes: RwLock<Arc<Routes>>,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Station {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Station").field("dir", &self.dir).field("active", &self.active()).finish_non_exhaustive()
    }
}

impl Station {
    /// Open the station in `dir` and load and warm every active version. A
    /// version that cannot be loaded is logged and left out (its product ids
    /// are refused with 1001) rather than keeping the others from serving;
    /// [`refresh`](Self::refresh) tries it again once the mapping changes.
    /// The station's lock held by another process past
    /// [`crate::lock_timeout`] fails the open with
    /// [`ErrorCode::Busy`](crate::ErrorCode::Busy).
    pub fn open(dir: &Path, host: Host, trust: TrustStore, config: RunnerConfig) -> Result<Station> {
        let station = Station {
            dir: StationDir::open(dir)?,
            host,
            trust,
            config,
            routes: RwLock::new(Arc::new(Routes::new())),
            seen: Mutex::new(Seen::default()),
        };
        match station.refresh() {
            Err(err) if err.kind() == crate::ErrorKind::Busy => return Err(err),
            Err(err) => tracing::warn!(%err, station = %dir.display(), "a version active on the station could not be loaded"),
            Ok(_) => {}
        }
        Ok(station)
    }

    /// The station directory.
    pub fn dir(&self) -> &StationDir {
        &self.dir
    }

    /// The routes now: read under the lock once, then used without it.
    fn routes(&self) -> Arc<Routes> {
        Arc::clone(&locks::read(&self.routes))
    }

    /// The version active for `pid` now (1001 when none is). Hold the `Arc`
    /// for as long as the work must stay on one version.
    pub fn route(&self, pid: &str) -> Result<Arc<ActiveVersion>> {
        let routes = self.routes();
        routes.get(pid).cloned().ok_or_else(|| {
            Error::input(InputCode::InvalidPid, format!("no version is active for product id `{pid}` on this station"))
        })
    }

    /// The version serving each product id.
    pub fn active(&self) -> BTreeMap<String, PackageRef> {
        let routes = self.routes();
        routes.iter().map(|(pid, version)| (pid.clone(), version.package.clone())).collect()
    }

    /// The version serving each product id now; product ids served by one
    /// version share its `Arc`.
    pub fn versions(&self) -> BTreeMap<String, Arc<ActiveVersion>> {
        let routes = self.routes();
        routes.iter().map(|(pid, version)| (pid.clone(), Arc::clone(version))).collect()
    }

    /// Follow the station directory: when its generation changed since the last
    /// look, load and warm every newly active version, then switch the routes
    /// at once. Whether the routes changed. Blocking. A version that cannot be
    /// loaded keeps the old one serving its product ids and is reported as the
    /// error (after every other change has been made).
    pub fn refresh(&self) -> Result<bool> {
        let mut seen = lock(&self.seen);
        let hint = self.dir.generation_hint()?;
        if hint.is_some() && hint == seen.generation {
            return Ok(false);
        }
        let mapping = self.dir.mapping()?;
        let current = self.routes();
        let mut loaded: HashMap<PackageRef, Arc<ActiveVersion>> =
            current.values().map(|version| (version.package.clone(), Arc::clone(version))).collect();
        let mut routes = Routes::new();
        let mut first_error = None;
        seen.failed.retain(|pid, failed| mapping.active.get(pid) == Some(failed));
        for (pid, wanted) in &mapping.active {
            let version = match loaded.get(wanted) {
                Some(version) => Some(Arc::clone(version)),
                None if seen.failed.get(pid) == Some(wanted) => None,
                None => match self.load(wanted) {
                    Ok(version) => {
                        tracing::info!(pid = %pid, package = %wanted, "version loaded and warmed");
                        loaded.insert(wanted.clone(), Arc::clone(&version));
                        Some(version)
                    }
                    Err(err) => {
                        tracing::warn!(pid = %pid, package = %wanted, %err, "cannot load the version activated; the one before keeps serving");
                        seen.failed.insert(pid.clone(), wanted.clone());
                        first_error.get_or_insert(err);
                        None
                    }
                },
            };
            // A version that failed to load leaves the one before in place.
            if let Some(version) = version.or_else(|| current.get(pid).cloned()) {
                routes.insert(pid.clone(), version);
            }
        }
        let changed = routes.len() != current.len()
            || routes.iter().any(|(pid, version)| current.get(pid).is_none_or(|old| !Arc::ptr_eq(old, version)));
        if changed {
            // Product ids now served by another version than before.
            let switched =
                routes.iter().filter(|(pid, version)| current.get(*pid).is_none_or(|old| old.package != version.package)).count();
            let active: Vec<(String, String, String)> = routes
                .iter()
                .map(|(pid, version)| (pid.clone(), version.package.name.clone(), version.package.version.to_string()))
                .collect();
            self.host.telemetry().record_station(&active, switched as u64);
            *locks::write(&self.routes) = Arc::new(routes);
        }
        seen.generation = Some(mapping.generation);
        match first_error {
            Some(err) => Err(err),
            None => Ok(changed),
        }
    }

    /// Load, check and warm one version.
    fn load(&self, package: &PackageRef) -> Result<Arc<ActiveVersion>> {
        let bytes = self.dir.package_bytes(package)?;
        let origin = format!("{package} (station)");
        // Admitted at install; moving back to an installed version is the
        // station's rollback, so the rollback record does not apply here.
        let admission = Admission::new(&self.trust).allow_downgrade(true).record(false);
        let loaded = self.host.load_package(&bytes, &origin, &admission)?;
        if loaded.manifest().is_none_or(|m| m.name != package.name || m.version != package.version) {
            return Err(Error::station(
                StationCode::InstallFailed,
                format!("the stored file of {package} holds another package"),
            ));
        }
        let info = loaded.instantiate()?.info().clone();
        let runner = Runner::new(loaded, self.config.clone());
        runner.begin_session(WARM_UP_SESSION, serde_json::json!({}))?;
        let warmed = runner.warm_up_blocking(WARM_UP_SESSION);
        runner.end_session(WARM_UP_SESSION);
        warmed.into_result()?;
        Ok(Arc::new(ActiveVersion { package: package.clone(), runner, info }))
    }

    /// Watch the station directory from a thread of its own: every `interval`,
    /// [`refresh`](Self::refresh) (a changed generation only). The thread
    /// stops when the [`Watcher`] is dropped or the station is. A refresh
    /// never waits without bound: station files are opened without blocking,
    /// and the station's lock is waited for [`crate::lock_timeout`] at most.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> Watcher {
        let (stop, stopped) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<()>();
        let station: Weak<Station> = Arc::downgrade(self);
        let thread = std::thread::Builder::new().name("pv-host-station-watch".into()).spawn(move || {
            // Dropped when the thread ends: what the watcher's drop waits for.
            let _done = done;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let Some(station) = station.upgrade() else { break };
                if let Err(err) = station.refresh() {
                    tracing::warn!(%err, "station refresh failed");
                }
            }
        });
        match thread {
            Ok(thread) => Watcher { stop: Some(stop), finished: Some(finished), thread: Some(thread) },
            Err(err) => {
                tracing::error!(%err, "cannot start the station watcher thread; changes are picked up by refresh() only");
                Watcher { stop: None, finished: None, thread: None }
            }
        }
    }

    /// Run one `execute` step for `input.pid` on the version active for it,
    /// in a session of its own, on the calling thread (not from inside an
    /// async runtime).
    pub fn execute_blocking(&self, input: StepInput) -> Routed<ExecuteOutput> {
        let (version, session) = match self.open_call(&input.pid) {
            Ok(opened) => opened,
            Err(refused) => return *refused,
        };
        let report = version.runner.execute_blocking(session.id(), input);
        Routed { package: Some(version.package.clone()), report }
    }

    /// The async form of [`execute_blocking`](Self::execute_blocking), for an
    /// embedder inside an async runtime (where the blocking form must not run).
    pub async fn execute(&self, input: StepInput) -> Routed<ExecuteOutput> {
        let (version, session) = match self.open_call(&input.pid) {
            Ok(opened) => opened,
            Err(refused) => return *refused,
        };
        let report = version.runner.execute(session.id(), input).await;
        Routed { package: Some(version.package.clone()), report }
    }

    /// The version active for `pid` and a session of its own for one call, or
    /// the call's refusal.
    fn open_call<T>(&self, pid: &str) -> std::result::Result<(Arc<ActiveVersion>, OneCallSession), Box<Routed<T>>> {
        let version = self.route(pid).map_err(|err| Box::new(Routed { package: None, report: CallReport::refused(err) }))?;
        match version.runner.session_for_one_call() {
            Ok(session) => Ok((version, session)),
            Err(err) => Err(Box::new(Routed { package: Some(version.package.clone()), report: CallReport::refused(err) })),
        }
    }
}

/// The thread of [`Station::watch`]; stops it when dropped. Dropping it waits
/// for a refresh under way for [`Watcher::STOP_WAIT`] at most: a refresh
/// still running then (a version loading, a lock waited for) is left to
/// finish on its own, and the thread ends after it, so shutting down never
/// waits on the watcher.
#[derive(Debug)]
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    finished: Option<mpsc::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    /// How long dropping a watcher waits for its thread: 5 s.
    pub const STOP_WAIT: Duration = Duration::from_secs(5);
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        let (Some(finished), Some(thread)) = (self.finished.take(), self.thread.take()) else { return };
        match finished.recv_timeout(Self::STOP_WAIT) {
            Err(RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
            }
            Ok(()) | Err(RecvTimeoutError::Timeout) => {
                tracing::warn!("the station watcher is still refreshing; it is left to end on its own");
            }
        }
    }
}
