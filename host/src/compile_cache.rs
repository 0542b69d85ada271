//! The authenticated compile cache: compiled components kept on disk so a
//! package is compiled once per machine. Documented on [`CompileCache`].

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
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
/// The directory: [`CompileCache::default_dir`], or the one given to
/// [`HostBuilder::compile_cache`](crate::HostBuilder::compile_cache).
#[derive(Clone)]
pub struct CompileCache {
    dir: PathBuf,
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

/// Create `path` with `bytes`, readable by its owner only, unless it exists.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
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
    /// [`DEFAULT_CACHE_BYTES`].
    pub fn open(dir: &Path) -> Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // Only its owner may list or add entries.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|err| cache_error(format!("cannot create the compile cache {}: {err}", dir.display())))?;
        let key_path = dir.join("key");
        if !key_path.exists() {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|err| cache_error(format!("no randomness for the cache key: {err}")))?;
            // Written aside, then linked into place: two hosts starting at once
            // agree on one key (the loser's link fails and it reads the winner's).
            let aside = dir.join(format!("key.{}.tmp", std::process::id()));
            let _ = std::fs::remove_file(&aside);
            create_private(&aside, &key)
                .map_err(|err| cache_error(format!("cannot write the cache key {}: {err}", aside.display())))?;
            let _ = std::fs::hard_link(&aside, &key_path);
            let _ = std::fs::remove_file(&aside);
        }
        let bytes = std::fs::read(&key_path)
            .map_err(|err| cache_error(format!("cannot read the cache key {}: {err}", key_path.display())))?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| cache_error(format!("the cache key {} is not 32 bytes", key_path.display())))?;
        Ok(CompileCache { dir: dir.to_owned(), key, max_bytes: DEFAULT_CACHE_BYTES })
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
        let bytes = std::fs::read(entry).ok()?;
        let authentic = bytes.len() > TAG_LEN && {
            let (tag, payload) = bytes.split_at(TAG_LEN);
            self.tag(entry, payload).verify_slice(tag).is_ok()
        };
        if !authentic {
            tracing::warn!(entry = %entry.display(), "a compile cache entry failed its authentication; it is deleted, not loaded");
            let _ = std::fs::remove_file(entry);
            return None;
        }
        // SAFETY: the bytes carry a valid HMAC under this host's private key,
        // bound to this entry's name, so this host serialized them from a
        // component it compiled with an engine of the same configuration and
        // version (both are in the name). That is what `deserialize` requires.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &bytes[TAG_LEN..]) };
        match component {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(entry = %entry.display(), %err, "a compile cache entry does not load; it is deleted");
                let _ = std::fs::remove_file(entry);
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
        let aside = entry.with_extension(format!("{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&aside);
        let written = create_private(&aside, &[&tag[..], &payload].concat()).and_then(|()| std::fs::rename(&aside, entry));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&aside);
            tracing::warn!(entry = %entry.display(), %err, "cannot write a compile cache entry");
            return;
        }
        self.evict();
    }

    /// Delete the least recently written entries until the cache fits its cap.
    fn evict(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == ENTRY_EXTENSION))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}
