//! Files several processes share and a crash must never leave half-written:
//! an exclusive (or shared) lock on a lock file, and replacement through a
//! fresh temporary file that is flushed, renamed into place, and whose
//! directory is flushed. The trust store and the station both build on these.
//!
//! The helpers return `std::io::Result`; each caller maps failures to the
//! error its own domain reports.

use std::io::Write;
use std::path::Path;

/// A lock on a lock file (created if missing, never truncated), released when
/// dropped. The kernel releases it too when the process dies, so a process
/// killed while holding it never blocks the others.
#[derive(Debug)]
pub(crate) struct LockFile(std::fs::File);

impl LockFile {
    fn open(path: &Path) -> std::io::Result<std::fs::File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)
    }

    /// Wait for the exclusive lock on `path`: for every read-modify-write.
    pub(crate) fn exclusive(path: &Path) -> std::io::Result<Self> {
        let file = LockFile::open(path)?;
        file.lock()?;
        Ok(LockFile(file))
    }

    /// Wait for a shared lock on `path`: for reading several files as one
    /// consistent snapshot while no change is under way.
    pub(crate) fn shared(path: &Path) -> std::io::Result<Self> {
        let file = LockFile::open(path)?;
        file.lock_shared()?;
        Ok(LockFile(file))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first says so.
        let _ = self.0.unlock();
    }
}

/// Create `path`, never overwriting.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path).and_then(|mut file| file.write_all(bytes))
}

/// Replace `path` atomically and durably: written to a fresh temporary file of
/// its own (never a fixed name another process could be writing too), flushed,
/// renamed over `path`, and the directory flushed. A reader sees the old file or
/// the new one, never half of one, also after a crash.
pub(crate) fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    let mut temporary = tempfile::Builder::new().prefix(TEMPORARY_PREFIX).tempfile_in(dir)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|err| err.error)?;
    sync_dir(dir)
}

/// Create `path` atomically and durably, never replacing a file that is there:
/// as [`write_replacing`], but the rename fails with `AlreadyExists` when
/// `path` exists. The temporary file is removed on failure.
pub(crate) fn write_new_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    let mut temporary = tempfile::Builder::new().prefix(TEMPORARY_PREFIX).tempfile_in(dir)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    temporary.persist_noclobber(path).map_err(|err| err.error)?;
    sync_dir(dir)
}

/// Remove `path` (a missing file is fine) and flush its directory.
pub(crate) fn remove_durably(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(parent(path)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Flush a directory, so the renames and removals in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir).and_then(|dir| dir.sync_all())
}

/// The prefix of the temporary files [`write_replacing`] writes: a file with it
/// that is still there while its writer's lock is held by someone else was
/// left by a process that died, and may be removed.
pub(crate) const TEMPORARY_PREFIX: &str = ".tmp-";

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
