//! `pv-host trust`: manage the trust store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pv_host::TrustStore;
use pv_host::package_file::{KeyId, PublicKey};
use serde_json::json;

use crate::exit;

/// Manage the trust store: which keys may sign the packages this station runs.
#[derive(Debug, Args)]
pub struct TrustCommand {
    /// Trust store directory [default: $PV_HOST_TRUST, else
    /// $XDG_CONFIG_HOME/pv-host/trust, else ~/.config/pv-host/trust].
    #[arg(long, value_name = "DIR", global = true)]
    trust: Option<PathBuf>,

    /// Print JSON instead of text: `add` {"trust_store", "name", "key_id"},
    /// `revoke` {"trust_store", "revoked"}, `list` {"trust_store", "trusted":
    /// [{"name", "key_id"}], "revoked": [key ids]}.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    action: TrustAction,
}

#[derive(Debug, Subcommand)]
enum TrustAction {
    /// Trust a public key (creates the store if needed). Weak keys are refused.
    Add {
        /// The public key file (NAME.pub from `pv-host keygen`).
        key: PathBuf,
        /// The name to file it under [default: the file's name].
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a key id: packages it signed are refused from now on.
    Revoke {
        /// The key id (16 hex digits, as `pv-host inspect` shows it).
        key_id: String,
    },
    /// List trusted keys and revoked key ids.
    List,
}

/// Run the command.
pub fn run(command: TrustCommand) -> Result<ExitCode> {
    let dir = command.trust.or_else(TrustStore::default_dir).context("no trust store: pass --trust DIR or set PV_HOST_TRUST")?;
    match command.action {
        TrustAction::Add { key, name } => {
            let public = PublicKey::read(&key)?;
            let name = match name {
                Some(name) => name,
                None => key.file_stem().map(|s| s.to_string_lossy().into_owned()).context("the key file has no name")?,
            };
            let id = TrustStore::open_or_create(&dir)?.add_key(&name, public)?;
            if command.json {
                println!("{}", json!({ "trust_store": dir.display().to_string(), "name": name, "key_id": id.to_string() }));
            } else {
                println!("trusted key `{name}` ({id}) in {}", dir.display());
            }
        }
        TrustAction::Revoke { key_id } => {
            let id: KeyId = key_id.parse()?;
            TrustStore::open_or_create(&dir)?.revoke(id)?;
            if command.json {
                println!("{}", json!({ "trust_store": dir.display().to_string(), "revoked": id.to_string() }));
            } else {
                println!("revoked key {id} in {}", dir.display());
            }
        }
        TrustAction::List => {
            let store = TrustStore::open(&dir)?;
            if command.json {
                let report = json!({
                    "trust_store": dir.display().to_string(),
                    "trusted": store.keys()
                        .map(|(name, key)| json!({ "name": name, "key_id": key.id().to_string() }))
                        .collect::<Vec<_>>(),
                    "revoked": store.revoked().map(ToString::to_string).collect::<Vec<_>>(),
                });
                println!("{report}");
                return Ok(ExitCode::from(exit::OK));
            }
            println!("trust store {}", dir.display());
            for (name, key) in store.keys() {
                println!("  trusted  {}  {name}", key.id());
            }
            for id in store.revoked() {
                println!("  revoked  {id}");
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}
