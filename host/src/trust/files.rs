//! The files of a trust store on disk: revocations, permission checks, the
//! lock, durable writes.

use std::collections::BTreeSet;
use std::path::Path;

use super::store_error;
use crate::durable::{self, LockFile};
use crate::error::Result;
use crate::package_file::KeyId;

/// File of revoked key ids in the trust store directory.
pub(super) const REVOKED_FILE: &str = "revoked";
/// Lock file taken exclusively around every rewrite of a file of the store.
const LOCK_FILE: &str = ".lock";

/// Read the revoked key ids of the store in `dir` (none when there is no list).
pub(super) fn read_revoked(dir: &Path) -> Result<BTreeSet<KeyId>> {
    let path = dir.join(REVOKED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|line| !line.is_empty())
            .map(str::parse)
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(err) => Err(store_error(format!("cannot read {}: {err}", path.display()))),
    }
}

/// Refuse a store directory or file that someone other than the current user
/// (or root) owns or may write (2114). See [`TrustStore`].
#[cfg(unix)]
pub(super) fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)
        .map_err(|err| store_error(format!("cannot read the trust store entry {}: {err}", path.display())))?;
    match durable::access_problem(metadata.uid(), metadata.mode(), true, 0o022) {
        Some(problem) => {
            Err(store_error(format!("{} {problem}: another user could change what this station trusts", path.display())))
        }
        None => Ok(()),
    }
}

#[cfg(not(unix))]
pub(super) fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// An exclusive lock on the store's lock file, released when dropped.
pub(super) struct StoreLock {
    _held: LockFile,
}

impl StoreLock {
    pub(super) fn exclusive(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        LockFile::exclusive(&path)
            .map(|held| StoreLock { _held: held })
            .map_err(|err| durable::lock_error(err, |err| store_error(format!("cannot lock {}: {err}", path.display()))))
    }
}

/// Create `path`, never overwriting.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_new(path, bytes).map_err(|err| store_error(format!("cannot write {}: {err}", path.display())))
}

/// Replace `path` atomically and durably (see [`durable::write_replacing`]).
pub(super) fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_replacing(path, bytes).map_err(|err| store_error(format!("cannot write {}: {err}", path.display())))
}
