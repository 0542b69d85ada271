//! The active mapping (`active/<pid>.json`), the rollback history
//! (`history/<pid>.json`) and the generation counter, changed together through
//! a journal so that a change of several files is all or nothing.
//!
//! A change is committed in three steps, under the station's exclusive lock:
//! the full set of new file contents is written to `journal.json` (replaced
//! atomically: this rename is the commit point), each file is then replaced
//! atomically, and the journal is removed. Whoever takes the exclusive lock
//! next and finds a journal applies it again (applying is idempotent); a
//! reader that finds one reads the journal's contents over the files. A
//! process killed at any point therefore leaves the old state (no journal yet)
//! or the new one, never a mix.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::{Error, Result};
use crate::station::audit::{self, AuditEntry};
use crate::station::store::io_error;

/// The directory of active mappings.
pub(crate) const ACTIVE_DIR: &str = "active";
/// The directory of rollback histories.
pub(crate) const HISTORY_DIR: &str = "history";
/// The generation counter: bumped by every change of the mapping, so a running
/// station notices a change by reading a few bytes.
pub(crate) const GENERATION_FILE: &str = "generation";
/// The journal of a change under way.
pub(crate) const JOURNAL_FILE: &str = "journal.json";
/// Format of the records and the journal.
const FORMAT: u32 = 1;

/// Longest `%XX`-encoded PID file name (file names are at most 255 bytes).
const MAX_PLAIN_PID_FILE: usize = 200;

/// How many earlier versions a PID keeps for rollback.
pub const HISTORY_DEPTH: usize = 5;

/// One version of one package, as the records name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PackageRef {
    /// The package's name.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
}

impl std::fmt::Display for PackageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// `active/<pid>.json`: which version serves a PID.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActiveRecord {
    format: u32,
    pid: String,
    name: String,
    version: semver::Version,
    sha256: String,
    activated_at_ms: u64,
    /// Where it came from, when that was a registry: `REPO@sha256:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

/// `history/<pid>.json`: the versions active before, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryRecord {
    format: u32,
    pid: String,
    previous: Vec<PackageRef>,
}

/// `journal.json`: the new contents of every file a change touches (`None`:
/// remove the file), by path relative to the station, and the change's lines
/// of the audit trail, appended once the files are written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    format: u32,
    writes: Vec<(String, Option<String>)>,
    /// One line (a single change), or several (a sync of several packages).
    #[serde(default, skip_serializing_if = "AuditLines::is_empty")]
    audit: AuditLines,
}

/// The audit lines of a journal: a string as journals of one line were
/// written, or a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(untagged)]
enum AuditLines {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl AuditLines {
    fn is_empty(&self) -> bool {
        self.lines().is_empty()
    }

    fn lines(&self) -> &[String] {
        match self {
            AuditLines::None => &[],
            AuditLines::One(line) => std::slice::from_ref(line),
            AuditLines::Many(lines) => lines,
        }
    }
}

/// The mapping as read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) generation: u64,
    pub(crate) active: BTreeMap<String, PackageRef>,
    pub(crate) history: BTreeMap<String, Vec<PackageRef>>,
    /// The registry reference each active version was synced from, where it was.
    pub(crate) sources: BTreeMap<String, String>,
}

/// The file name for a PID. A PID is 1 to 64 printable characters (the
/// manifest's rule), so it may hold `/` or start with `.`: every byte outside
/// ASCII letters, digits, `-` and `_` (and a `.` that is not the first) is
/// written `%XX`; a name that would be long (a PID of many non-ASCII
/// characters) is `~` and the PID's SHA-256 instead (`~` never appears in the
/// other form). The PID itself is kept inside the record, which is what
/// readers use.
pub(crate) fn pid_file(pid: &str) -> String {
    let mut name = String::new();
    for (i, byte) in pid.bytes().enumerate() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_') || (byte == b'.' && i > 0) {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.len() > MAX_PLAIN_PID_FILE {
        name = format!("~{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(pid.as_bytes())));
    }
    name.push_str(".json");
    name
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn corrupt(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::host(format!("{} is not a station record: {err}", path.display()))
}

/// Largest record read: an active record or a history is a few hundred bytes;
/// a journal holds two per product id of one package (a manifest of at most
/// 64 KiB lists at most a few thousand).
const MAX_RECORD_BYTES: u64 = 16 << 20;

/// Read a file of at most [`MAX_RECORD_BYTES`], `None` when it is not there.
/// Only a regular file is read, never through a link and never waiting: a
/// FIFO, a device or a link in its place is an error, not a hang.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match durable::read_regular(path, false, MAX_RECORD_BYTES) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::FileTooLarge => {
            Err(corrupt(path, format!("it is over the {MAX_RECORD_BYTES}-byte limit of a record")))
        }
        Err(err) => Err(io_error("read", path, &err)),
    }
}

/// The contents of every record file in `dir` by relative path.
fn read_records(station: &Path, dir: &str, files: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let path = station.join(dir);
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_error("read", &path, &err)),
    };
    for entry in entries {
        let entry = entry.map_err(|err| io_error("read", &path, &err))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if let Some(bytes) = read_optional(&entry.path())? {
            files.insert(format!("{dir}/{name}"), bytes);
        }
    }
    Ok(())
}

/// Read the journal left by a change under way, if any.
fn read_journal(station: &Path) -> Result<Option<Journal>> {
    let path = station.join(JOURNAL_FILE);
    let Some(bytes) = read_optional(&path)? else { return Ok(None) };
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|err| corrupt(&path, err))?;
    if journal.format != FORMAT {
        return Err(corrupt(&path, format!("format {} (this pv-host reads {FORMAT})", journal.format)));
    }
    for (file, _) in &journal.writes {
        check_relative(file).map_err(|err| corrupt(&path, err))?;
    }
    if journal.audit.lines().iter().any(|line| line.contains('\n') || serde_json::from_str::<AuditEntry>(line).is_err()) {
        return Err(corrupt(&path, "its audit line is not an entry of the audit trail"));
    }
    Ok(Some(journal))
}

/// A journal names only files of the mapping: `generation`, `active/X.json`,
/// `history/X.json`, X a plain file name.
fn check_relative(file: &str) -> std::result::Result<(), String> {
    if file == GENERATION_FILE {
        return Ok(());
    }
    let plain = |name: &str| !name.is_empty() && !name.starts_with('.') && !name.contains('/') && name.ends_with(".json");
    match file.split_once('/') {
        Some((ACTIVE_DIR | HISTORY_DIR, name)) if plain(name) => Ok(()),
        _ => Err(format!("the journal names `{file}`, not a file of the mapping")),
    }
}

/// The generation as written in `generation` (0 before the first change).
pub(crate) fn read_generation_file(station: &Path) -> Result<u64> {
    let path = station.join(GENERATION_FILE);
    match read_optional(&path)? {
        None => Ok(0),
        Some(bytes) => String::from_utf8_lossy(&bytes).trim().parse().map_err(|err| corrupt(&path, err)),
    }
}

/// Whether a change was interrupted (its journal is still there).
pub(crate) fn journal_pending(station: &Path) -> bool {
    station.join(JOURNAL_FILE).exists()
}

/// Read the mapping: the files, with a pending journal's contents over them.
/// The caller holds the station's lock (shared or exclusive).
pub(crate) fn read_mapping(station: &Path) -> Result<Mapping> {
    let mut files = BTreeMap::new();
    read_records(station, ACTIVE_DIR, &mut files)?;
    read_records(station, HISTORY_DIR, &mut files)?;
    let mut generation = read_generation_file(station)?;
    if let Some(journal) = read_journal(station)? {
        for (file, contents) in journal.writes {
            if file == GENERATION_FILE {
                if let Some(contents) = &contents {
                    generation = contents.trim().parse().map_err(|err| corrupt(&station.join(JOURNAL_FILE), err))?;
                }
                continue;
            }
            match contents {
                Some(contents) => files.insert(file, contents.into_bytes()),
                None => files.remove(&file),
            };
        }
    }
    let mut mapping = Mapping { generation, ..Mapping::default() };
    for (file, bytes) in files {
        let path = station.join(&file);
        if file.starts_with(ACTIVE_DIR) {
            let record: ActiveRecord = serde_json::from_slice(&bytes).map_err(|err| corrupt(&path, err))?;
            if record.format != FORMAT || format!("{ACTIVE_DIR}/{}", pid_file(&record.pid)) != file {
                return Err(corrupt(&path, "its format or product id does not match its file name"));
            }
            if !crate::station::store::plain_name(&record.name) {
                return Err(corrupt(&path, format!("`{}` is not a package name", record.name)));
            }
            let reference = PackageRef { name: record.name, version: record.version, sha256: record.sha256 };
            if let Some(source) = record.source {
                mapping.sources.insert(record.pid.clone(), source);
            }
            mapping.active.insert(record.pid, reference);
        } else {
            let record: HistoryRecord = serde_json::from_slice(&bytes).map_err(|err| corrupt(&path, err))?;
            if record.format != FORMAT || format!("{HISTORY_DIR}/{}", pid_file(&record.pid)) != file {
                return Err(corrupt(&path, "its format or product id does not match its file name"));
            }
            if record.previous.iter().any(|r| !crate::station::store::plain_name(&r.name)) {
                return Err(corrupt(&path, "it names something that is not a package name"));
            }
            mapping.history.insert(record.pid, record.previous);
        }
    }
    Ok(mapping)
}

/// Finish a change a killed process left half-done. Needs the exclusive lock.
pub(crate) fn recover(station: &Path) -> Result<()> {
    if let Some(journal) = read_journal(station)? {
        tracing::info!(station = %station.display(), "finishing a change that was interrupted");
        apply(station, &journal)?;
    }
    Ok(())
}

fn apply(station: &Path, journal: &Journal) -> Result<()> {
    apply_until(station, journal, usize::MAX)
}

/// Apply the first `steps` writes of `journal`, and remove it once every write
/// is applied. (Fewer steps stand for a process killed half-way; tests use it.)
fn apply_until(station: &Path, journal: &Journal, steps: usize) -> Result<()> {
    for (file, contents) in journal.writes.iter().take(steps) {
        let path = station.join(file);
        let written = match contents {
            Some(contents) => {
                if let Some(dir) = path.parent() {
                    crate::station::create_dirs(dir)?;
                }
                durable::write_replacing(&path, contents.as_bytes())
            }
            None => durable::remove_durably(&path),
        };
        written.map_err(|err| io_error("write", &path, &err))?;
    }
    if steps < journal.writes.len() {
        return Ok(());
    }
    for line in journal.audit.lines() {
        audit::append_line(station, line)?;
    }
    let path = station.join(JOURNAL_FILE);
    durable::remove_durably(&path).map_err(|err| io_error("remove", &path, &err))
}

/// A change of the mapping: new active records and histories, by PID.
#[derive(Debug, Default)]
pub(crate) struct Change {
    active: BTreeMap<String, Option<(PackageRef, Option<String>)>>,
    history: BTreeMap<String, Vec<PackageRef>>,
    audit: Vec<AuditEntry>,
}

impl Change {
    /// `pid` is served by `to` (or by nothing).
    pub(crate) fn set_active(&mut self, pid: &str, to: Option<PackageRef>) {
        self.active.insert(pid.to_owned(), to.map(|to| (to, None)));
    }

    /// `pid` is served by `to`, pulled from the registry reference `source`.
    pub(crate) fn set_active_from(&mut self, pid: &str, to: PackageRef, source: Option<String>) {
        self.active.insert(pid.to_owned(), Some((to, source)));
    }

    /// `pid`'s history becomes `previous` (oldest first; trimmed to
    /// [`HISTORY_DEPTH`]).
    pub(crate) fn set_history(&mut self, pid: &str, mut previous: Vec<PackageRef>) {
        let excess = previous.len().saturating_sub(HISTORY_DEPTH);
        previous.drain(..excess);
        self.history.insert(pid.to_owned(), previous);
    }

    /// An entry of the audit trail for the change: journaled with it, so the
    /// change is made and audited, or neither.
    pub(crate) fn audit(&mut self, entry: AuditEntry) {
        self.audit.push(entry);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty() && self.history.is_empty()
    }

    /// Commit the change (see the module documentation). Needs the exclusive
    /// lock, and [`recover`] run under it first. When its audit entry cannot
    /// be appended (the trail is a directory, a FIFO, a link), nothing is
    /// committed. Once the journal is written the change is made: a failure
    /// to finish it is logged, and the next change (or the next open of the
    /// station) finishes it, its audit line included, exactly once.
    pub(crate) fn commit(self, station: &Path, current: &Mapping) -> Result<u64> {
        self.commit_until(station, current, usize::MAX)
    }

    /// [`commit`](Self::commit), stopped after the journal and `steps` of its
    /// writes (a process killed there).
    fn commit_until(self, station: &Path, current: &Mapping, steps: usize) -> Result<u64> {
        let generation = current.generation + 1;
        let json = |value: serde_json::Value| serde_json::to_string_pretty(&value).unwrap_or_default();
        let mut writes: Vec<(String, Option<String>)> = Vec::new();
        for (pid, to) in self.active {
            let file = format!("{ACTIVE_DIR}/{}", pid_file(&pid));
            let contents = to.map(|(to, source)| {
                let record = ActiveRecord {
                    format: FORMAT,
                    pid: pid.clone(),
                    name: to.name,
                    version: to.version,
                    sha256: to.sha256,
                    activated_at_ms: now_ms(),
                    source,
                };
                json(serde_json::to_value(record).unwrap_or_default())
            });
            writes.push((file, contents));
        }
        for (pid, previous) in self.history {
            let file = format!("{HISTORY_DIR}/{}", pid_file(&pid));
            let contents = (!previous.is_empty()).then(|| {
                json(serde_json::to_value(HistoryRecord { format: FORMAT, pid: pid.clone(), previous }).unwrap_or_default())
            });
            writes.push((file, contents));
        }
        writes.push((GENERATION_FILE.to_owned(), Some(format!("{generation}\n"))));
        if !self.audit.is_empty() {
            audit::check_writable(station)?;
        }
        let journal = Journal { format: FORMAT, writes, audit: AuditLines::Many(self.audit.iter().map(audit::line).collect()) };
        let path = station.join(JOURNAL_FILE);
        let bytes = serde_json::to_vec(&journal).map_err(|err| Error::host(err.to_string()))?;
        durable::write_replacing(&path, &bytes).map_err(|err| io_error("write", &path, &err))?;
        // The commit point is passed: the change is made, whatever follows.
        if let Err(err) = apply_until(station, &journal, steps) {
            tracing::warn!(station = %station.display(), %err, "a change is committed but not finished; the next change finishes it");
        }
        Ok(generation)
    }
}

#[cfg(test)]
mod tests;
