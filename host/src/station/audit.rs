//! The station's audit trail: `audit.jsonl`, one JSON object per line for
//! every install, activation, rollback, deactivation and uninstall, appended and flushed
//! under the station's exclusive lock. Each line is also emitted as a
//! `tracing` record with target `audit` (see [`crate::audit`]).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::Result;
use crate::station::store::io_error;

/// The audit trail's file in the station.
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `install`, `activate`, `sync`, `rollback`, `deactivate` or `uninstall`.
    pub event: String,
    /// The user id of the process that made the change.
    pub uid: Option<u32>,
    /// The package's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// The product ids whose active version changed (empty for install and
    /// uninstall).
    #[serde(default)]
    pub pids: Vec<String>,
    /// For activate and rollback: the version each PID had before, in the
    /// order of `pids` (`None`: nothing was active).
    #[serde(default)]
    pub previous: Vec<Option<String>>,
    /// Where the package came from when that was a registry: the immutable
    /// reference `REPO@sha256:...` it was pulled by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl AuditEntry {
    pub(crate) fn new(event: &str, name: &str, version: &semver::Version, sha256: &str) -> Self {
        AuditEntry {
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            event: event.to_owned(),
            uid: uid(),
            name: name.to_owned(),
            version: version.to_string(),
            sha256: sha256.to_owned(),
            pids: Vec::new(),
            previous: Vec::new(),
            source: None,
        }
    }
}

#[cfg(unix)]
fn uid() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

#[cfg(not(unix))]
fn uid() -> Option<u32> {
    None
}

/// Check that the trail can be appended to (a regular file, not a link, a
/// FIFO or a directory; created if missing), before a change is committed:
/// a change whose audit line cannot be written is not made.
pub(crate) fn check_writable(station: &Path) -> Result<()> {
    let path = station.join(AUDIT_FILE);
    durable::open_append(&path).map(drop).map_err(|err| io_error("append to", &path, &err))
}

/// The line `entry` is in the trail, without its newline.
pub(crate) fn line(entry: &AuditEntry) -> String {
    serde_json::to_string(entry).unwrap_or_default()
}

/// Append `entry` and flush it. Needs the exclusive lock.
pub(crate) fn append(station: &Path, entry: &AuditEntry) -> Result<()> {
    append_line(station, &line(entry))
}

/// Append `line` (an entry, as [`line`] writes it) and flush it, unless the
/// trail ends with it already: a change whose journal carries its line
/// appends it exactly once however often recovery applies it. Needs the
/// exclusive lock. A line cut short by a crash is ended first, so it never
/// runs into the next entry. The trail is opened without following a link
/// or blocking, and only as a regular file.
pub(crate) fn append_line(station: &Path, line: &str) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let path = station.join(AUDIT_FILE);
    let failed = |err: std::io::Error| io_error("append to", &path, &err);
    let mut file = durable::open_append(&path).map_err(failed)?;
    let length = file.metadata().map_err(failed)?.len();
    let mut bytes = Vec::new();
    if length > 0 {
        let needle = format!("{line}\n");
        let whole = needle.len() as u64;
        let tail_length = (whole + 1).min(length);
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(length - tail_length)).map_err(failed)?;
        (&mut file).take(tail_length).read_to_end(&mut tail).map_err(failed)?;
        // The whole last line is `line`: the trail is just it, or a newline
        // comes before it.
        if tail.ends_with(needle.as_bytes()) && (length == whole || tail.first() == Some(&b'\n')) {
            return Ok(());
        }
        if tail.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
    }
    if let Ok(entry) = serde_json::from_str::<AuditEntry>(line) {
        tracing::info!(
            target: "audit",
            event = %format!("station_{}", entry.event),
            name = %entry.name,
            version = %entry.version,
            sha256 = %entry.sha256,
            pids = %entry.pids.join(","),
            "station changed"
        );
    }
    bytes.extend(line.as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes).and_then(|()| file.sync_data()).map_err(failed)
}

/// How much of the end of the audit trail
/// [`StationDir::audit_trail`](crate::station::StationDir::audit_trail) reads: the
/// trail only grows (rotate it as any log), and reading it must not grow with
/// it.
pub const MAX_AUDIT_READ_BYTES: u64 = 16 << 20;

/// Read the audit trail, its last [`MAX_AUDIT_READ_BYTES`] at most; a line
/// that is not an entry (one cut short by a crash, or by where the read
/// starts) is skipped.
pub(crate) fn read(station: &Path) -> Result<Vec<AuditEntry>> {
    use std::io::{Read, Seek, SeekFrom};
    let path = station.join(AUDIT_FILE);
    let failed = |err: std::io::Error| io_error("read", &path, &err);
    let (mut file, length) = match durable::open_regular(&path, false) {
        Ok(opened) => opened,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(failed(err)),
    };
    file.seek(SeekFrom::Start(length.saturating_sub(MAX_AUDIT_READ_BYTES))).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(MAX_AUDIT_READ_BYTES).read_to_end(&mut bytes).map_err(failed)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}
