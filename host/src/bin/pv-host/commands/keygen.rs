//! `pv-host keygen`: make a signing key pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::SecretKey;

use crate::exit;

/// Make an ed25519 key pair for signing packages: NAME.key (secret, readable by
/// you only) and NAME.pub (public, for the trust stores of the lines).
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Path and name of the key files, without extension.
    #[arg(long, value_name = "NAME")]
    out: PathBuf,
}

/// Run the command.
pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    let key = SecretKey::generate()?;
    let secret = args.out.with_extension("key");
    key.write(&secret)?;
    println!("secret key: {} (keep it private)", secret.display());
    println!("public key: {}", secret.with_extension("pub").display());
    println!("key id:     {}", key.public().id());
    Ok(ExitCode::from(exit::OK))
}
