//! Option groups shared by the subcommands, flattened into each one that needs
//! them, so every command that runs a guest takes the same flags with the same
//! meaning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use pv_host::{Admission, Host, Limits, Package, TrustStore};

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

    /// Open the trust store if there is one: `None` only when no store is
    /// configured or its directory does not exist. A store that exists but
    /// cannot be used (a junk key, loose permissions) is an error, also for
    /// development runs: dropping it would drop its revocations too.
    pub fn open_if_present(&self) -> Result<Option<TrustStore>> {
        match self.dir() {
            Ok(dir) if dir.exists() => self.open().map(Some),
            Ok(_) | Err(_) => Ok(None),
        }
    }
}

/// How a package is admitted: the trust store, and the developer exceptions.
#[derive(Debug, Args)]
pub struct AdmissionArgs {
    #[command(flatten)]
    pub trust: TrustArgs,

    /// Development only: run a package that is unsigned, or not signed by enough
    /// trusted keys, or a bare component. Logged as a loud warning. A signature
    /// that does not verify, or one by a revoked key, is still refused, and a
    /// trust store that exists must be usable.
    #[arg(long)]
    pub allow_unsigned: bool,

    /// Admit a version older than one admitted before on this station from the
    /// same publisher.
    #[arg(long)]
    pub allow_downgrade: bool,
}

/// Whether an admission is written to the trust store's rollback record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The package goes into service (`run`, `serve`): record its version.
    Admitted,
    /// The package is only tried (`bench`, `test`): record nothing, so trying a
    /// newer version never blocks the one in service.
    TryOnly,
}

impl AdmissionArgs {
    /// Admit the package at `path`: against the trust store, or, with
    /// `--allow-unsigned`, against whatever trust store there is (a loud warning).
    pub fn load(&self, host: &Host, path: &Path, record: Record) -> Result<Package> {
        let trust = if self.allow_unsigned { self.trust.open_if_present()? } else { Some(self.trust.open()?) };
        let admission = match (&trust, self.allow_unsigned) {
            (Some(trust), false) => Admission::new(trust),
            (trust, _) => Admission::unsigned_allowed(trust.as_ref()),
        }
        .allow_downgrade(self.allow_downgrade)
        .record(record == Record::Admitted);
        let loading = format!("loading {}: compiling it (once per machine; later loads come from the cache)", path.display());
        Ok(super::progress::slow_step(loading, || host.load_package_file(path, &admission))?)
    }
}

/// The sandbox's limits, the same flags for every command that runs a guest.
/// Each tightens (or, within the host's policy, sets) one value of
/// [`Limits`]; unset flags keep the defaults.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Fuel per call, about one unit per wasm instruction [default: 50000000000].
    #[arg(long, value_name = "UNITS", conflicts_with = "no_fuel")]
    pub fuel: Option<u64>,

    /// Turn fuel metering off (calls are then bounded by their deadline only).
    #[arg(long)]
    pub no_fuel: bool,

    /// Deadline of every call, in milliseconds [default: setup 60000, pre-execute
    /// 10000, execute 30000, hooks 5000].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: Option<u64>,

    /// Cap on the algorithm's linear memory, in MiB [default: 256].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub memory_mb: Option<u64>,

    /// Cap on the guest log bytes kept per call [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub log_bytes: Option<usize>,

    /// Cap on what one call may hand back (its result, one import call's
    /// arguments), in bytes [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    pub output_bytes: Option<usize>,

    /// Cap on the core instances a component creates [default: 128].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub core_instances: Option<u32>,

    /// Cap on the linear memories a component defines [default: 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub memories: Option<u32>,

    /// Cap on the tables a component defines [default: 16].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub tables: Option<u32>,

    /// Cap on table elements, all tables together [default: 20000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub table_elements: Option<u64>,
}

impl LimitArgs {
    /// The limits the flags ask for, on top of the defaults.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if self.no_fuel {
            limits = limits.with_fuel_per_call(None);
        } else if let Some(fuel) = self.fuel {
            limits = limits.with_fuel_per_call(Some(fuel));
        }
        if let Some(ms) = self.timeout_ms {
            limits = limits.with_all_deadlines(Duration::from_millis(ms));
        }
        if let Some(mib) = self.memory_mb {
            limits = limits.with_memory_bytes(mib << 20);
        }
        if let Some(bytes) = self.log_bytes {
            limits = limits.with_log_bytes_per_call(bytes);
        }
        if let Some(bytes) = self.output_bytes {
            limits = limits.with_output_bytes_per_call(bytes);
        }
        let (instances, memories, tables) = limits.counts();
        let count = |flag: Option<u32>, default: usize| flag.map_or(default, |n| n as usize);
        limits =
            limits.with_counts(count(self.core_instances, instances), count(self.memories, memories), count(self.tables, tables));
        if let Some(elements) = self.table_elements {
            limits = limits.with_table_elements(elements);
        }
        limits
    }
}
