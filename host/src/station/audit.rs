//! The station's audit trail: `audit.jsonl`, one JSON object per line for
//! every install, activation, rollback, deactivation and uninstall, appended and flushed
//! under the station's exclusive lock. Each line is also emitted as a
//! `tracing` record with target `audit` (see [`crate::audit`]).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::station::store::io_error;

/// The audit trail's file in the station.
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `install`, `activate`, `rollback`, `deactivate` or `uninstall`.
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

/// Append `entry` and flush it. Needs the exclusive lock. A line cut short by
/// a crash is ended first, so it never runs into the next entry.
pub(crate) fn append(station: &Path, entry: &AuditEntry) -> Result<()> {
    tracing::info!(
        target: "audit",
        event = %format!("station_{}", entry.event),
        name = %entry.name,
        version = %entry.version,
        sha256 = %entry.sha256,
        pids = %entry.pids.join(","),
        "station changed"
    );
    let path = station.join(AUDIT_FILE);
    let failed = |err: std::io::Error| io_error("append to", &path, &err);
    let mut file = std::fs::OpenOptions::new().create(true).append(true).read(true).open(&path).map_err(failed)?;
    let length = file.metadata().map_err(failed)?.len();
    let mut line = Vec::new();
    if length > 0 {
        use std::io::{Read, Seek, SeekFrom};
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(length - 1)).and_then(|_| file.read_exact(&mut last)).map_err(failed)?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    line.extend(serde_json::to_vec(entry).unwrap_or_default());
    line.push(b'\n');
    file.write_all(&line).and_then(|()| file.sync_data()).map_err(failed)
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
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(failed(err)),
    };
    let length = file.metadata().map_err(failed)?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(MAX_AUDIT_READ_BYTES))).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(MAX_AUDIT_READ_BYTES).read_to_end(&mut bytes).map_err(failed)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}
