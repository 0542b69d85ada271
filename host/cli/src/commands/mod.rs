//! One module per subcommand; the option groups they share are in [`options`].

pub mod bench;
pub mod completions;
pub mod inspect;
pub mod keygen;
pub mod man;
pub mod new;
pub mod options;
pub mod pack;
pub mod progress;
pub mod pull;
pub mod push;
pub mod run;
pub mod serve;
pub mod sign;
pub mod station;
pub mod test;
pub mod trust;
pub mod verify;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use pv_host::{CompileCache, HostBuilder};

pub use self::options::{AdmissionArgs, LimitArgs, Record, TrustArgs};

/// Whether commands use the compile cache (`--no-cache` turns it off).
static USE_COMPILE_CACHE: OnceLock<bool> = OnceLock::new();

/// Set once by `main` from `--no-cache`.
pub fn use_compile_cache(on: bool) {
    let _ = USE_COMPILE_CACHE.set(on);
}

/// A host builder with the compile cache at its default place, unless
/// `--no-cache` or the cache cannot be opened (then packages simply compile).
pub fn host_builder() -> HostBuilder {
    let cache = USE_COMPILE_CACHE.get().copied().unwrap_or(true).then(CompileCache::default_dir).flatten().and_then(|dir| {
        match CompileCache::open(&dir) {
            Ok(cache) => Some(cache),
            Err(err) => {
                tracing::warn!(%err, "compiling without the compile cache");
                None
            }
        }
    });
    pv_host::Host::builder().compile_cache(cache)
}

/// Write `bytes` to `path` through a fresh temporary file beside it, flushed,
/// then renamed, so a reader (or a crash) never sees half a package.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".pv-host-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    // A package is for others to read: keep the permissions of the file it
    // replaces, else readable by all (a temporary file starts private).
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => existing.permissions(),
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
    };
    temporary
        .write_all(bytes)
        .and_then(|()| temporary.as_file().set_permissions(permissions))
        .and_then(|()| temporary.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    temporary.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
