//! `pv-host verify`: check a package as a line would, without running it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::{Admission, read_package_file};

use super::TrustArgs;
use crate::exit;

/// Check a package as `pv-host run` would admit it: layout, signatures against
/// the trust store, manifest, assets, rollback, import policy, and the manifest
/// against the component's get-info. Nothing is recorded and no step runs.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The package.
    package: PathBuf,

    #[command(flatten)]
    trust: TrustArgs,

    /// Accept a version older than one admitted before.
    #[arg(long)]
    allow_downgrade: bool,
}

/// Run the command.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let trust = args.trust.open()?;
    let bytes = read_package_file(&args.package)?;
    let origin = args.package.display().to_string();
    let admission = Admission::new(&trust).allow_downgrade(args.allow_downgrade);
    let package = super::host_builder().build()?.check_package(&bytes, &origin, &admission)?;
    let signers: Vec<String> = package.signers().iter().map(|s| format!("{} ({})", s.name, s.key_id)).collect();
    match package.manifest() {
        Some(manifest) => {
            println!("OK: {} {} from {}, signed by {}", manifest.name, manifest.version, manifest.publisher, signers.join(", "))
        }
        None => println!("OK: {origin}, signed by {}", signers.join(", ")),
    }
    Ok(ExitCode::from(exit::OK))
}
