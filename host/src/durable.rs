//! Files several processes share and a crash must never leave half-written:
//! an exclusive (or shared) lock on a lock file, waited for a bounded time;
//! replacement through a fresh temporary file that is flushed, renamed into
//! place, and whose directory is flushed; and reads that never follow a link
//! nor block on what is not a regular file. The trust store and the station
//! both build on these.
//!
//! The helpers return `std::io::Result`; each caller maps failures to the
//! error its own domain reports ([`lock_error`] for a lock).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long taking a lock waits for another process by default: 30 s.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variable that sets how long taking a lock waits, in
/// milliseconds, when [`set_lock_timeout`] was not called.
pub const LOCK_TIMEOUT_ENV: &str = "PV_HOST_LOCK_TIMEOUT_MS";

/// After how long a wait for a lock is logged (once, at warn level).
const LOCK_WAIT_WARNING: Duration = Duration::from_secs(1);

/// The timeout [`set_lock_timeout`] set, in milliseconds; `u64::MAX`: none set.
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Set, for the whole process, how long taking the lock of a trust store or a
/// station waits for another process that holds it before failing with
/// [`ErrorCode::Busy`](crate::ErrorCode::Busy). Overrides
/// [`LOCK_TIMEOUT_ENV`]; the default is [`DEFAULT_LOCK_TIMEOUT`].
pub fn set_lock_timeout(timeout: Duration) {
    let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX - 1).min(u64::MAX - 1);
    LOCK_TIMEOUT_MS.store(millis, Ordering::Relaxed);
}

/// How long taking a lock waits: what [`set_lock_timeout`] set, else
/// `$PV_HOST_LOCK_TIMEOUT_MS`, else [`DEFAULT_LOCK_TIMEOUT`].
pub fn lock_timeout() -> Duration {
    match LOCK_TIMEOUT_MS.load(Ordering::Relaxed) {
        u64::MAX => std::env::var(LOCK_TIMEOUT_ENV)
            .ok()
            .and_then(|value| value.trim().parse().ok())
            .map_or(DEFAULT_LOCK_TIMEOUT, Duration::from_millis),
        millis => Duration::from_millis(millis),
    }
}

/// A lock on a lock file (created if missing, never truncated), released when
/// dropped. The kernel releases it too when the process dies, so a process
/// killed while holding it never blocks the others; one that lives and holds
/// it makes the others wait [`lock_timeout`] at most, then fail
/// ([`lock_error`] makes that [`ErrorCode::Busy`](crate::ErrorCode::Busy)).
#[derive(Debug)]
pub(crate) struct LockFile(File);

impl LockFile {
    fn open(path: &Path) -> std::io::Result<File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        open_checked(options, 0o600, false, path).map(|(file, _)| file)
    }

    /// The exclusive lock on `path`: for every read-modify-write.
    pub(crate) fn exclusive(path: &Path) -> std::io::Result<Self> {
        LockFile::acquire(path, false)
    }

    /// A shared lock on `path`: for reading several files as one consistent
    /// snapshot while no change is under way.
    pub(crate) fn shared(path: &Path) -> std::io::Result<Self> {
        LockFile::acquire(path, true)
    }

    /// Try the lock until it is had or [`lock_timeout`] has passed (then a
    /// `TimedOut` error naming the file); a wait past
    /// [`LOCK_WAIT_WARNING`] is logged once.
    fn acquire(path: &Path, shared: bool) -> std::io::Result<Self> {
        let file = LockFile::open(path)?;
        let timeout = lock_timeout();
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut warned = false;
        loop {
            let tried = if shared { file.try_lock_shared() } else { file.try_lock() };
            match tried {
                Ok(()) => return Ok(LockFile(file)),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(err)) => return Err(err),
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "another process holds the lock {} and did not release it within {} ms (set {LOCK_TIMEOUT_ENV} to wait longer)",
                        path.display(),
                        timeout.as_millis()
                    ),
                ));
            }
            if !warned && waited >= LOCK_WAIT_WARNING {
                warned = true;
                tracing::warn!(
                    lock = %path.display(),
                    timeout_ms = timeout.as_millis() as u64,
                    "waiting for a lock another process holds"
                );
            }
            std::thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first says so.
        let _ = self.0.unlock();
    }
}

/// The error for a failure to take the lock `path`: a lock another process
/// kept past the timeout is [`Error::Busy`] (3001, try again later), naming
/// the file; any other failure is what `other` makes of it.
pub(crate) fn lock_error(err: std::io::Error, other: impl FnOnce(std::io::Error) -> Error) -> Error {
    if err.kind() == std::io::ErrorKind::TimedOut { Error::Busy { message: err.to_string() } } else { other(err) }
}

/// `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`: a link in the last place is refused
/// and a FIFO or a device opens without waiting (then refused by its type).
#[cfg(unix)]
fn no_follow_no_block() -> i32 {
    use rustix::fs::OFlags;
    (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC).bits() as i32
}

/// Refuse anything but a regular file, checked on the open handle (what was
/// opened, not what the path names now).
fn check_regular(path: &Path, file: &File) -> std::io::Result<u64> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file (a directory, a FIFO, a device or a socket)", path.display()),
        ));
    }
    Ok(metadata.len())
}

/// Open `path` for reading without blocking: a FIFO or a device in its place
/// opens at once and is refused, as anything that is not a regular file is
/// (checked on the handle). With `follow` false a symbolic link in the last
/// place is refused too. The file and its size.
pub(crate) fn open_regular(path: &Path, follow: bool) -> std::io::Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    open_checked(options, 0o644, follow, path)
}

/// Open `path` with `options` (a file created gets `mode`), never blocking
/// and, unless `follow`, never through a symbolic link in the last place; only
/// a regular file (checked on the handle) is kept. The file and its size.
fn open_checked(mut options: std::fs::OpenOptions, mode: u32, follow: bool, path: &Path) -> std::io::Result<(File, u64)> {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        let flags = if follow { (OFlags::NONBLOCK | OFlags::CLOEXEC).bits() as i32 } else { no_follow_no_block() };
        options.mode(mode).custom_flags(flags);
    }
    #[cfg(not(unix))]
    let _ = (mode, follow);
    let file = options.open(path)?;
    let length = check_regular(path, &file)?;
    Ok((file, length))
}

/// Why others than this user could change a file or directory with owner
/// `uid` and mode `mode`, if they could: owned by another user (root allowed
/// when `root_may_own`), or with any of the `forbidden` mode bits set. The one
/// rule the trust store, the station and the compile cache apply (each with
/// its own bits), as sshd's StrictModes does.
pub(crate) fn access_problem(uid: u32, mode: u32, root_may_own: bool, forbidden: u32) -> Option<String> {
    #[cfg(unix)]
    let me = rustix::process::geteuid().as_raw();
    #[cfg(not(unix))]
    let me = uid;
    let mode = mode & 0o7777;
    if uid != me && !(root_may_own && uid == 0) {
        let allowed = if root_may_own { format!("this user ({me}) or root") } else { format!("this user ({me})") };
        Some(format!("belongs to user {uid}, not to {allowed}; fix the owner (chown)"))
    } else if mode & forbidden != 0 {
        Some(format!("has mode {mode:04o}, which lets others in (none of {forbidden:04o} may be set); fix it (chmod)"))
    } else {
        None
    }
}

/// Read the regular file `path` (as [`open_regular`] opens it), refusing one
/// over `max_bytes` by its size before a byte is read (`FileTooLarge`), and
/// reading at most `max_bytes + 1` in case it grows meanwhile.
pub(crate) fn read_regular(path: &Path, follow: bool, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let (file, length) = open_regular(path, follow)?;
    let too_large = || {
        std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("{} is over the {max_bytes}-byte limit", path.display()))
    };
    if length > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Open `path` for appending (created mode 0644 if missing), without
/// following a link or blocking, and only if it is a regular file.
pub(crate) fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true).read(true);
    open_checked(options, 0o644, false, path).map(|(file, _)| file)
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
