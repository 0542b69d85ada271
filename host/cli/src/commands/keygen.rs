//! `pv-host keygen`: make a signing key pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::package_file::SecretKey;
use serde_json::json;

use crate::exit;

/// Make an ed25519 key pair for signing packages: NAME.key (secret, readable by
/// you only) and NAME.pub (public, for the trust stores of the lines).
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Path and name of the key files, without extension.
    #[arg(long, value_name = "NAME")]
    out: PathBuf,

    /// Print `{"secret_key", "public_key", "key_id"}` as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    let key = SecretKey::generate()?;
    let secret = args.out.with_extension("key");
    key.write(&secret)?;
    let public = secret.with_extension("pub");
    if args.json {
        let report = json!({
            "secret_key": secret.display().to_string(),
            "public_key": public.display().to_string(),
            "key_id": key.public().id().to_string(),
        });
        println!("{report}");
    } else {
        println!("secret key: {} (keep it private)", secret.display());
        println!("public key: {}", public.display());
        println!("key id:     {}", key.public().id());
    }
    Ok(ExitCode::from(exit::OK))
}
