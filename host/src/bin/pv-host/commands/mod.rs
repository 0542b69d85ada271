//! One module per subcommand, and the trust store options they share.

pub mod bench;
pub mod inspect;
pub mod keygen;
pub mod pack;
pub mod progress;
pub mod run;
pub mod serve;
pub mod sign;
pub mod test;
pub mod trust;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use clap::Args;
use pv_host::{CompileCache, HostBuilder, TrustStore};

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

/// Where the trust store is and what it requires.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Trust store directory [default: $PV_HOST_TRUST, else
    /// $XDG_CONFIG_HOME/pv-host/trust, else ~/.config/pv-host/trust].
    #[arg(long, value_name = "DIR")]
    pub trust: Option<PathBuf>,

    /// How many distinct trusted keys must have signed the package.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub required_signers: u16,
}

impl TrustArgs {
    /// The trust store directory: the flag, else the default location.
    pub fn dir(&self) -> Result<PathBuf> {
        self.trust
            .clone()
            .or_else(TrustStore::default_dir)
            .context("no trust store: pass --trust DIR or set PV_HOST_TRUST (neither HOME nor XDG_CONFIG_HOME is set)")
    }

    /// Open the trust store.
    pub fn open(&self) -> Result<TrustStore> {
        let dir = self.dir()?;
        Ok(TrustStore::open(&dir)?.with_required_signers(usize::from(self.required_signers)))
    }
}

/// Admit the package at `path`: against the trust store, or, with
/// `allow_unsigned`, against whatever trust store there is (a loud warning).
pub fn admit_package(
    host: &pv_host::Host,
    path: &Path,
    trust: &TrustArgs,
    allow_unsigned: bool,
    allow_downgrade: bool,
) -> Result<pv_host::Package> {
    let trust = match trust.open() {
        Ok(trust) => Some(trust),
        Err(_) if allow_unsigned => None,
        Err(err) => return Err(err),
    };
    let admission = match (&trust, allow_unsigned) {
        (Some(trust), false) => pv_host::Admission::new(trust),
        (trust, _) => pv_host::Admission::unsigned_allowed(trust.as_ref()),
    }
    .allow_downgrade(allow_downgrade);
    let loading = format!("loading {}: compiling it (once per machine; later loads come from the cache)", path.display());
    Ok(progress::slow_step(loading, || host.load_package_file(path, &admission))?)
}

/// Write `bytes` to `path` through a temporary file and a rename, so a reader (or
/// a crash) never sees half a package.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}
