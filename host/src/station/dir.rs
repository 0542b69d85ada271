//! The station directory: installing, listing, activating, rolling back and
//! uninstalling, each change under the station's lock and durable.

use std::path::{Path, PathBuf};

use super::activation::{self, Change, Mapping, PackageRef};
use super::audit::AuditEntry;
use super::reports::{Activation, Installed, InstalledVersion, Listing, Switch};
use super::{audit, store};
use crate::admission::Admission;
use crate::durable::{self, LockFile};
use crate::error::{Error, InputCode, PackageCode, Result, StationCode, TrustCode};
use crate::host::Host;
use crate::package_file::{Manifest, PackageFile};
use crate::package_file::{read_package_file, read_package_file_no_follow};
use crate::trust::TrustStore;

/// Environment variable naming the station directory.
pub const STATION_DIR_ENV: &str = "PV_HOST_STATION";
/// The lock file of a station.
const LOCK_FILE: &str = ".lock";

/// A station directory (see the [module documentation](super)).
#[derive(Debug, Clone)]
pub struct StationDir {
    dir: PathBuf,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

fn not_installed(name: &str, version: &semver::Version) -> Error {
    Error::input(
        InputCode::InvalidParams,
        format!("{name} {version} is not installed on this station: install it with `pv-host station install PACKAGE`"),
    )
}

/// Create `dir` and its parents, readable by all and writable by the owner
/// only (whatever the umask adds), so that `store::check_permissions` accepts it.
pub(crate) fn create_dirs(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder.create(dir).map_err(|err| store::io_error("create", dir, &err))
}

impl StationDir {
    /// The directory used when none is given: `$PV_HOST_STATION`, else
    /// `$XDG_DATA_HOME/pv-host/station`, else `$HOME/.local/share/pv-host/station`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        var(STATION_DIR_ENV)
            .or_else(|| var("XDG_DATA_HOME").map(|data| data.join("pv-host").join("station")))
            .or_else(|| var("HOME").map(|home| home.join(".local").join("share").join("pv-host").join("station")))
    }

    /// Open the station in `dir`, creating it if needed, and finish a change a
    /// killed process left half-done.
    pub fn open(dir: &Path) -> Result<StationDir> {
        create_dirs(dir)?;
        for path in
            [dir.to_owned(), dir.join(store::PACKAGES_DIR), dir.join(activation::ACTIVE_DIR), dir.join(activation::HISTORY_DIR)]
        {
            store::check_permissions(&path)?;
        }
        let station = StationDir { dir: dir.to_owned() };
        if activation::journal_pending(dir) {
            let _lock = station.lock()?;
            activation::recover(dir)?;
        }
        Ok(station)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<LockFile> {
        let path = self.dir.join(LOCK_FILE);
        LockFile::exclusive(&path).map_err(|err| durable::lock_error(err, |err| store::io_error("lock", &path, &err)))
    }

    fn lock_shared(&self) -> Result<LockFile> {
        let path = self.dir.join(LOCK_FILE);
        LockFile::shared(&path).map_err(|err| durable::lock_error(err, |err| store::io_error("lock", &path, &err)))
    }

    /// The exclusive lock, with any interrupted change finished, and the mapping.
    pub(super) fn begin_change(&self) -> Result<(LockFile, Mapping)> {
        let lock = self.lock()?;
        activation::recover(&self.dir)?;
        let mapping = activation::read_mapping(&self.dir)?;
        Ok((lock, mapping))
    }

    /// Install the package file at `path` (see [`install`](Self::install)).
    pub fn install_file(&self, host: &Host, path: &Path, admission: &Admission<'_>) -> Result<Installed> {
        let bytes = read_package_file(path)?;
        self.install(host, &bytes, &path.display().to_string(), admission)
    }

    /// Admit `bytes` completely with `admission` (its refusal, with its code,
    /// is the install's), then store them. A package without a manifest or
    /// without trusted signers is refused whatever the admission allows: a
    /// station runs signed packages only.
    ///
    /// The version goes into the trust store's rollback record (when
    /// `admission` records) only once the package is stored and audited, so
    /// an install that fails or is killed before then leaves the record where
    /// it was; installing again, stored already, records it.
    pub fn install(&self, host: &Host, bytes: &[u8], origin: &str, admission: &Admission<'_>) -> Result<Installed> {
        self.install_from(host, bytes, origin, None, admission)
    }

    /// [`install`](Self::install) of a package pulled from a registry: the
    /// immutable reference it came by (`REPO@sha256:...`) goes into the audit
    /// trail with the install.
    pub fn install_from(
        &self,
        host: &Host,
        bytes: &[u8],
        origin: &str,
        source: Option<&str>,
        admission: &Admission<'_>,
    ) -> Result<Installed> {
        // Other bytes under an installed name and version are the station's
        // refusal (2005), before admission would call them a swapped build
        // (2112): the store says it first, from the name and version alone.
        if let Ok(Some(claimed)) = PackageFile::parse(bytes).and_then(|file| file.manifest())
            && store::plain_name(&claimed.name)
            && let Ok(existing) = read_package_file_no_follow(&store::package_path(&self.dir, &claimed.name, &claimed.version))
            && sha256_hex(&existing) != sha256_hex(bytes)
        {
            return Err(Error::station(
                StationCode::InstallFailed,
                format!(
                    "{} {} is installed already with other bytes: an installed version is never replaced; publish a new version",
                    claimed.name, claimed.version
                ),
            ));
        }
        let package = host.load_package(bytes, origin, &admission.record(false))?;
        let Some(manifest) = package.manifest().cloned() else {
            return Err(Error::untrusted(
                TrustCode::Unsigned,
                format!("{origin} is a bare component: a station installs signed packages only (`pv-host pack`, `pv-host sign`)"),
            ));
        };
        let Some(publisher) = package.signers().first().cloned() else {
            return Err(Error::untrusted(
                TrustCode::Unsigned,
                format!("{origin} is not signed by enough trusted keys: a station installs trusted packages only"),
            ));
        };
        drop(package);
        let sha256 = sha256_hex(bytes);
        let content_sha256 = crate::package_file::PackageFile::parse(bytes)?.content_sha256();
        let path = store::package_path(&self.dir, &manifest.name, &manifest.version);
        let reference = PackageRef { name: manifest.name.clone(), version: manifest.version.clone(), sha256 };
        let (_lock, _) = self.begin_change()?;
        store::check_package_dirs(&self.dir, &manifest.name)?;
        let installed = |already_installed| Installed {
            package: reference.clone(),
            pids: manifest.pids.clone(),
            path: path.clone(),
            already_installed,
        };
        match read_package_file_no_follow(&path) {
            Ok(existing) if sha256_hex(&existing) == reference.sha256 => {
                admission.record_publisher(&publisher, &manifest, &content_sha256)?;
                return Ok(installed(true));
            }
            Ok(_) => {
                return Err(Error::station(
                    StationCode::InstallFailed,
                    format!(
                        "{reference} is installed already with other bytes: an installed version is never replaced; publish a new version"
                    ),
                ));
            }
            Err(_) if std::fs::symlink_metadata(&path).is_err() => {}
            Err(err) => return Err(err),
        }
        // Installed and audited, or neither: the trail is checked first, and
        // the package removed again when its line cannot be written.
        audit::check_writable(&self.dir)?;
        store::store_new(&path, bytes)?;
        let mut entry = audit::AuditEntry::new("install", &reference.name, &reference.version, &reference.sha256);
        entry.source = source.map(str::to_owned);
        if let Err(err) = audit::append(&self.dir, &entry) {
            store::remove(&path)?;
            return Err(err);
        }
        admission.record_publisher(&publisher, &manifest, &content_sha256)?;
        Ok(installed(false))
    }

    /// The bytes and manifest of an installed version.
    pub(super) fn read_installed(&self, name: &str, version: &semver::Version) -> Result<(Vec<u8>, PackageRef)> {
        if !store::plain_name(name) {
            return Err(not_installed(name, version));
        }
        let path = store::package_path(&self.dir, name, version);
        store::check_package_dirs(&self.dir, name)?;
        let bytes = match read_package_file_no_follow(&path) {
            Ok(bytes) => bytes,
            Err(_) if std::fs::symlink_metadata(&path).is_err() => return Err(not_installed(name, version)),
            Err(err) => return Err(err),
        };
        let sha256 = sha256_hex(&bytes);
        Ok((bytes, PackageRef { name: name.to_owned(), version: version.clone(), sha256 }))
    }

    /// Check an installed package's signatures against `trust` again (no
    /// rollback check: see the module documentation) and return its manifest.
    pub(super) fn verify_installed(&self, trust: &TrustStore, bytes: &[u8], reference: &PackageRef) -> Result<Manifest> {
        let origin = format!("installed {reference}");
        let verified = Admission::new(trust).allow_downgrade(true).record(false).verify(bytes, &origin)?;
        verified.manifest.ok_or_else(|| Error::package(PackageCode::InvalidManifest, format!("{origin} has no manifest")))
    }

    /// The bytes of an installed version whose digest is `reference.sha256`,
    /// for [`Station`] to load.
    pub(crate) fn package_bytes(&self, reference: &PackageRef) -> Result<Vec<u8>> {
        let (bytes, found) = self.read_installed(&reference.name, &reference.version)?;
        if found.sha256 != reference.sha256 {
            return Err(Error::station(
                StationCode::InstallFailed,
                format!("the stored file of {reference} is not the one that was activated (its digest differs)"),
            ));
        }
        Ok(bytes)
    }

    /// What is installed, what is active per product id, and the histories.
    pub fn list(&self) -> Result<Listing> {
        let mapping = self.mapping()?;
        let mut installed = Vec::new();
        for (name, version, path) in store::installed(&self.dir)? {
            let bytes = read_package_file_no_follow(&path)?;
            let manifest = PackageFile::parse(&bytes)?.manifest()?;
            let (pids, publisher) = manifest.map_or((Vec::new(), String::new()), |m| (m.pids, m.publisher));
            let package = PackageRef { name, version, sha256: sha256_hex(&bytes) };
            let active_for =
                mapping.active.iter().filter(|(_, active)| **active == package).map(|(pid, _)| pid.clone()).collect();
            installed.push(InstalledVersion { package, pids, publisher, active_for });
        }
        Ok(Listing {
            installed,
            active: mapping.active,
            sources: mapping.sources,
            history: mapping.history,
            generation: mapping.generation,
        })
    }

    /// The mapping, read under a shared lock.
    pub(crate) fn mapping(&self) -> Result<Mapping> {
        let _lock = self.lock_shared()?;
        activation::read_mapping(&self.dir)
    }

    /// The generation of the mapping, cheaply: a few bytes read, no lock. A
    /// change under way (or interrupted) reads as `None`: read the mapping.
    pub(crate) fn generation_hint(&self) -> Result<Option<u64>> {
        if activation::journal_pending(&self.dir) {
            return Ok(None);
        }
        activation::read_generation_file(&self.dir).map(Some)
    }

    /// Activate `name` `version` for every product id its manifest lists, or
    /// for `pid` only (which it must list: else 1001). Refused with
    /// [`StationCode::ActivationConflict`](crate::error::StationCode::ActivationConflict) when another package is active for one
    /// of them; a version that is not installed is refused with 1006.
    pub fn activate(&self, trust: &TrustStore, name: &str, version: &semver::Version, pid: Option<&str>) -> Result<Activation> {
        let (_lock, mapping) = self.begin_change()?;
        let (bytes, target) = self.read_installed(name, version)?;
        let manifest = self.verify_installed(trust, &bytes, &target)?;
        let pids: Vec<String> = match pid {
            None => manifest.pids.clone(),
            Some(pid) if manifest.pids.iter().any(|p| p == pid) => vec![pid.to_owned()],
            Some(pid) => {
                return Err(Error::input(
                    InputCode::InvalidPid,
                    format!("{target} does not support product id `{pid}` (it lists {:?})", manifest.pids),
                ));
            }
        };
        let conflicts: Vec<String> = pids
            .iter()
            .filter_map(|pid| mapping.active.get(pid).filter(|active| active.name != target.name).map(|a| format!("{pid} ({a})")))
            .collect();
        if !conflicts.is_empty() {
            return Err(Error::station(
                StationCode::ActivationConflict,
                format!(
                    "activating {target} conflicts with another package active for {}: a product id is served by one package",
                    conflicts.join(", ")
                ),
            ));
        }
        self.switch(&mapping, "activate", &target, &pids, |pid, from| {
            let mut previous = mapping.history.get(pid).cloned().unwrap_or_default();
            previous.extend(from.cloned());
            previous
        })
    }

    /// Roll `pid` back to the version it had before (the most recent entry of
    /// its history), checking that version's signatures again. Refused with
    /// 1006 when there is nothing to go back to.
    pub fn rollback(&self, trust: &TrustStore, pid: &str) -> Result<Activation> {
        let (_lock, mapping) = self.begin_change()?;
        let mut previous = mapping.history.get(pid).cloned().unwrap_or_default();
        let Some(target) = previous.pop() else {
            return Err(Error::input(
                InputCode::InvalidParams,
                format!("product id `{pid}` has no earlier version to roll back to"),
            ));
        };
        let (bytes, found) = self.read_installed(&target.name, &target.version)?;
        if found.sha256 != target.sha256 {
            return Err(Error::station(
                StationCode::InstallFailed,
                format!("the stored file of {target} is not the one that was active (its digest differs)"),
            ));
        }
        self.verify_installed(trust, &bytes, &target)?;
        self.switch(&mapping, "rollback", &target, &[pid.to_owned()], |_, _| previous.clone())
    }

    /// Stop serving `pid`: nothing is active for it afterwards, and what was
    /// goes onto its history (so [`rollback`](Self::rollback) brings it back).
    /// This is how a product id moves to another package without a conflict.
    /// 1006 when nothing is active for it.
    pub fn deactivate(&self, pid: &str) -> Result<PackageRef> {
        let (_lock, mapping) = self.begin_change()?;
        let Some(current) = mapping.active.get(pid).cloned() else {
            return Err(Error::input(InputCode::InvalidParams, format!("nothing is active for product id `{pid}`")));
        };
        let mut change = Change::default();
        change.set_active(pid, None);
        let mut previous = mapping.history.get(pid).cloned().unwrap_or_default();
        previous.push(current.clone());
        change.set_history(pid, previous);
        let mut entry = audit::AuditEntry::new("deactivate", &current.name, &current.version, &current.sha256);
        entry.pids = vec![pid.to_owned()];
        entry.previous = vec![Some(current.version.to_string())];
        change.audit(entry);
        change.commit(&self.dir, &mapping)?;
        Ok(current)
    }

    /// Commit `target` as active for `pids`, each PID's history given by
    /// `history(pid, what was active)`, and audit it.
    fn switch(
        &self,
        mapping: &Mapping,
        event: &str,
        target: &PackageRef,
        pids: &[String],
        history: impl Fn(&str, Option<&PackageRef>) -> Vec<PackageRef>,
    ) -> Result<Activation> {
        let mut change = Change::default();
        let mut switches = Vec::new();
        let source = self.registry_source(target);
        for pid in pids {
            let from = mapping.active.get(pid);
            if from != Some(target) {
                change.set_active_from(pid, target.clone(), source.clone());
                change.set_history(pid, history(pid, from));
            }
            switches.push(Switch { pid: pid.clone(), from: from.cloned(), to: target.clone() });
        }
        if change.is_empty() {
            return Ok(Activation { switches, generation: mapping.generation });
        }
        let mut entry = audit::AuditEntry::new(event, &target.name, &target.version, &target.sha256);
        entry.source = source;
        entry.pids = switches.iter().map(|s| s.pid.clone()).collect();
        entry.previous = switches.iter().map(|s| s.from.as_ref().map(|f| f.version.to_string())).collect();
        change.audit(entry);
        let generation = change.commit(&self.dir, mapping)?;
        Ok(Activation { switches, generation })
    }

    /// Remove an installed version. Refused with
    /// [`StationCode::UnsafeUninstall`](crate::error::StationCode::UnsafeUninstall) while it is active for any product id;
    /// 1006 when it is not installed. It leaves every history.
    pub fn uninstall(&self, name: &str, version: &semver::Version) -> Result<PackageRef> {
        let (_lock, mapping) = self.begin_change()?;
        let (_, reference) = self.read_installed(name, version)?;
        let active: Vec<&String> = mapping
            .active
            .iter()
            .filter(|(_, active)| active.name == name && active.version == *version)
            .map(|(pid, _)| pid)
            .collect();
        if !active.is_empty() {
            return Err(Error::station(
                StationCode::UnsafeUninstall,
                format!("{reference} is active for {active:?}: activate another version (or roll back) before uninstalling it"),
            ));
        }
        // The trail is checked before anything changes; only a failure to
        // write after that (a full disk) leaves the version removed without
        // its line, and the error says so.
        audit::check_writable(&self.dir)?;
        let mut change = Change::default();
        for (pid, previous) in &mapping.history {
            if previous.iter().any(|p| p.name == name && p.version == *version) {
                let kept = previous.iter().filter(|p| !(p.name == name && p.version == *version)).cloned().collect();
                change.set_history(pid, kept);
            }
        }
        if !change.is_empty() {
            change.commit(&self.dir, &mapping)?;
        }
        store::remove(&store::package_path(&self.dir, name, version))?;
        audit::append(&self.dir, &audit::AuditEntry::new("uninstall", name, version, &reference.sha256)).map_err(|err| {
            Error::host(format!("{reference} is uninstalled, but its line of the audit trail is not written: {err}"))
        })?;
        Ok(reference)
    }

    /// The audit trail, oldest first: the entries of its last
    /// [`MAX_AUDIT_READ_BYTES`](super::MAX_AUDIT_READ_BYTES).
    pub fn audit_trail(&self) -> Result<Vec<AuditEntry>> {
        audit::read(&self.dir)
    }

    /// The registry reference `target` was installed from, as the audit trail
    /// says (the latest install or sync of exactly these bytes that names one).
    fn registry_source(&self, target: &PackageRef) -> Option<String> {
        let trail = audit::read(&self.dir).ok()?;
        trail
            .into_iter()
            .rev()
            .filter(|entry| {
                entry.name == target.name && entry.version == target.version.to_string() && entry.sha256 == target.sha256
            })
            .find_map(|entry| entry.source)
    }
}
