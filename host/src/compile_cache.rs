//! The authenticated compile cache: compiled components kept on disk so a
//! package is compiled once per machine. Documented on [`CompileCache`].

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

/// Environment variable naming the cache directory.
pub const CACHE_DIR_ENV: &str = "PV_HOST_CACHE";

/// Default cap on the cache's size: 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

/// Extension of cache entries.
const ENTRY_EXTENSION: &str = "cwasm";
/// Length of the tag in front of each entry.
const TAG_LEN: usize = 32;
/// Name of the key file in the directory.
const KEY_NAME: &str = "key";

type Tag = Hmac<Sha256>;

/// A compile cache directory and its key: compiled components kept on disk so
/// a package is compiled once per machine, not once per start.
///
/// Deserializing compiled code is running it: wasmtime trusts those bytes
/// completely. So every cache file carries an HMAC-SHA256 under a key only this
/// host knows (`key`, mode 0600, created on first use), bound to the entry's
/// name; the tag is checked before anything is deserialized, and a file that
/// fails the check, or does not deserialize, is deleted and rebuilt, never
/// loaded. Entries are keyed by the SHA-256 of the component bytes (the exact
/// bytes that were verified), the wasmtime version and the engine's
/// configuration (fuel, epochs, stack... anything that changes the code), and
/// written mode 0600 with a rename, so a reader never sees half of one. Past the
/// size cap the least recently written entries go.
///
/// The directory and the key are trusted only if this host's user made them
/// and no one else can change them: [`CompileCache::open`] refuses (error 9999,
/// kind `Host`; the CLI then warns and compiles without a cache) a directory that
/// is a symbolic link, is not a directory, is not owned by the effective user or
/// is writable by its group or others, and a key that is a symbolic link, is not
/// a regular file, is not owned by the effective user or is readable or writable
/// by its group or others. Both are created with `O_EXCL`/`O_NOFOLLOW`-style
/// opens (directory 0700, key 0600); the key, the entries and the files written
/// aside are then opened relative to the directory's handle, never following a
/// link, so a directory swapped after the check is not followed either. An entry
/// that is not a regular file of this user, or is writable by others, is deleted
/// unread.
///
/// The directory: [`CompileCache::default_dir`], or the one given to
/// [`HostBuilder::compile_cache`](crate::HostBuilder::compile_cache).
#[derive(Clone)]
pub struct CompileCache {
    dir: PathBuf,
    /// The directory as opened and checked: every file is reached through it.
    handle: Arc<OwnedFd>,
    key: [u8; 32],
    max_bytes: u64,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CompileCache").field("dir", &self.dir).field("max_bytes", &self.max_bytes).finish()
    }
}

fn cache_error(message: String) -> Error {
    Error::host(message)
}

/// Opens that never follow a symbolic link in the last component and are not
/// inherited by child processes.
fn no_follow() -> OFlags {
    OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Whether `stat` is a `kind` owned by the effective user, with none of the
/// `forbidden` mode bits; the reason otherwise.
#[allow(clippy::unnecessary_cast, reason = "`st_uid` and `st_mode` are `u32` on Linux but other types elsewhere")]
fn private_check(stat: &rustix::fs::Stat, kind: FileType, forbidden: u32) -> std::result::Result<(), String> {
    let file_type = FileType::from_raw_mode(stat.st_mode as _);
    if file_type != kind {
        return Err(format!("it is a {file_type:?}, not a {kind:?}"));
    }
    match crate::durable::access_problem(stat.st_uid as u32, stat.st_mode as u32, false, forbidden) {
        Some(problem) => Err(format!("it {problem}")),
        None => Ok(()),
    }
}

/// Create `name` in `dir` with `bytes`, readable by its owner only; fails if
/// anything, a link included, is already there.
fn create_private(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let fd =
        rustix::fs::openat(dir, name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | no_follow(), Mode::from_raw_mode(0o600))?;
    std::fs::File::from(fd).write_all(bytes)
}

impl CompileCache {
    /// `$PV_HOST_CACHE`, else `$XDG_CACHE_HOME/pv-host/compiled`, else
    /// `$HOME/.cache/pv-host/compiled`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        var(CACHE_DIR_ENV)
            .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("pv-host").join("compiled")))
            .or_else(|| var("HOME").map(|home| home.join(".cache").join("pv-host").join("compiled")))
    }

    /// Open (creating if needed) the cache in `dir`, capped at
    /// [`DEFAULT_CACHE_BYTES`]. Refused (error 9999) when the directory or its
    /// key could have been made or changed by someone else: a directory that
    /// is a symbolic link, not owned by the effective user or writable by its
    /// group or others; a key that is a symbolic link, not owned by the
    /// effective user or readable or writable by its group or others.
    pub fn open(dir: &Path) -> Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // Only its owner may list or add entries.
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|err| cache_error(format!("cannot create the compile cache {}: {err}", dir.display())))?;
        let refuse =
            |what: &str, why: String| cache_error(format!("the compile cache {} is not used: {what} {why}", dir.display()));
        let handle = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | no_follow(), Mode::empty())
            .map_err(|err| refuse("the directory", format!("cannot be opened without following a link: {err}")))?;
        let stat = rustix::fs::fstat(&handle).map_err(|err| refuse("the directory", err.to_string()))?;
        private_check(&stat, FileType::Directory, 0o022).map_err(|why| refuse("the directory", why))?;

        let key_fd = match rustix::fs::openat(&handle, KEY_NAME, OFlags::RDONLY | no_follow(), Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|err| cache_error(format!("no randomness for the cache key: {err}")))?;
                // Written aside, then linked into place: two hosts starting at once
                // agree on one key (the loser's link fails and it reads the winner's).
                let aside = format!("{KEY_NAME}.{}.tmp", std::process::id());
                let _ = rustix::fs::unlinkat(&handle, aside.as_str(), AtFlags::empty());
                create_private(&handle, &aside, &key).map_err(|err| refuse("the key", format!("cannot be written: {err}")))?;
                let _ = rustix::fs::linkat(&handle, aside.as_str(), &handle, KEY_NAME, AtFlags::empty());
                let _ = rustix::fs::unlinkat(&handle, aside.as_str(), AtFlags::empty());
                rustix::fs::openat(&handle, KEY_NAME, OFlags::RDONLY | no_follow(), Mode::empty())
                    .map_err(|err| refuse("the key", format!("cannot be opened without following a link: {err}")))?
            }
            Err(err) => return Err(refuse("the key", format!("cannot be opened without following a link: {err}"))),
        };
        let stat = rustix::fs::fstat(&key_fd).map_err(|err| refuse("the key", err.to_string()))?;
        private_check(&stat, FileType::RegularFile, 0o077).map_err(|why| refuse("the key", why))?;
        let mut bytes = Vec::with_capacity(33);
        std::fs::File::from(key_fd)
            .take(33)
            .read_to_end(&mut bytes)
            .map_err(|err| refuse("the key", format!("cannot be read: {err}")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| refuse("the key", "is not 32 bytes".to_owned()))?;
        Ok(CompileCache { dir: dir.to_owned(), handle: Arc::new(handle), key, max_bytes: DEFAULT_CACHE_BYTES })
    }

    /// Cap on the cache's size; the least recently written entries go past it.
    /// Default: [`DEFAULT_CACHE_BYTES`] (1 GiB).
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry of `component` compiled by `engine`.
    pub fn entry_path(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        let mut config = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut config);
        let mut name = Sha256::new();
        name.update(b"pv-host compile cache v1\0");
        name.update(env!("CARGO_PKG_VERSION").as_bytes());
        name.update(config.finish().to_le_bytes());
        name.update(Sha256::digest(component));
        self.dir.join(format!("{}.{ENTRY_EXTENSION}", hex::encode(name.finalize())))
    }

    fn tag(&self, entry: &Path, payload: &[u8]) -> Tag {
        // A key of any length is accepted by HMAC.
        let mut tag = <Tag as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        tag.update(entry.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        tag.update(payload);
        tag
    }

    /// The compilation kept in `entry` (from [`entry_path`](Self::entry_path)),
    /// if this host wrote it; anything else found there is deleted.
    pub(crate) fn load(&self, engine: &Engine, entry: &Path) -> Option<Component> {
        let name = entry.file_name()?.to_str()?;
        // Opened without following a link, and without blocking on a FIFO.
        let fd = rustix::fs::openat(&*self.handle, name, OFlags::RDONLY | OFlags::NONBLOCK | no_follow(), Mode::empty()).ok()?;
        let stat = rustix::fs::fstat(&fd).ok()?;
        if let Err(why) = private_check(&stat, FileType::RegularFile, 0o022) {
            tracing::warn!(entry = %entry.display(), why, "a compile cache entry is not this host's file; it is deleted, not loaded");
            self.remove(name);
            return None;
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd).take(self.max_bytes.saturating_add(1)).read_to_end(&mut bytes).ok()?;
        let authentic = bytes.len() > TAG_LEN && {
            let (tag, payload) = bytes.split_at(TAG_LEN);
            self.tag(entry, payload).verify_slice(tag).is_ok()
        };
        if !authentic {
            tracing::warn!(entry = %entry.display(), "a compile cache entry failed its authentication; it is deleted, not loaded");
            self.remove(name);
            return None;
        }
        // SAFETY: the bytes carry a valid HMAC under this host's private key,
        // bound to this entry's name, so this host serialized them from a
        // component it compiled with an engine of the same configuration and
        // version (both are in the name). That is what `deserialize` requires.
        #[allow(unsafe_code, reason = "deserializing a compiled component is unsafe by nature; see SAFETY")]
        let component = unsafe { Component::deserialize(engine, &bytes[TAG_LEN..]) };
        match component {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(entry = %entry.display(), %err, "a compile cache entry does not load; it is deleted");
                self.remove(name);
                None
            }
        }
    }

    /// Keep `component` in `entry`. Failures are logged: the cache is an
    /// optimisation, never a reason to refuse a package.
    pub(crate) fn store(&self, entry: &Path, component: &Component) {
        let payload = match component.serialize() {
            Ok(payload) => payload,
            Err(err) => {
                tracing::warn!(%err, "cannot serialize a compiled component for the cache");
                return;
            }
        };
        let tag = self.tag(entry, &payload).finalize().into_bytes();
        let Some(name) = entry.file_name().and_then(|n| n.to_str()) else { return };
        let aside = format!("{name}.{}.tmp", std::process::id());
        self.remove(&aside);
        let written = create_private(&self.handle, &aside, &[&tag[..], &payload].concat()).and_then(|()| {
            rustix::fs::renameat(&*self.handle, aside.as_str(), &*self.handle, name).map_err(std::io::Error::from)
        });
        if let Err(err) = written {
            self.remove(&aside);
            tracing::warn!(entry = %entry.display(), %err, "cannot write a compile cache entry");
            return;
        }
        self.evict();
    }

    /// Delete `name` from the directory (a link itself, never what it points to).
    fn remove(&self, name: &str) {
        let _ = rustix::fs::unlinkat(&*self.handle, name, AtFlags::empty());
    }

    /// Delete the least recently written entries until the cache fits its cap.
    fn evict(&self) {
        let Ok(dir) = rustix::fs::Dir::read_from(&*self.handle) else { return };
        let mut entries: Vec<(i64, u64, String)> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().ok().map(str::to_owned))
            .filter(|name| Path::new(name).extension().is_some_and(|x| x == ENTRY_EXTENSION))
            .filter_map(|name| {
                let stat = rustix::fs::statat(&*self.handle, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
                Some((stat.st_mtime as i64, stat.st_size as u64, name))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, name) in entries {
            if total <= self.max_bytes {
                break;
            }
            if rustix::fs::unlinkat(&*self.handle, name.as_str(), AtFlags::empty()).is_ok() {
                total -= len;
            }
        }
    }
}
