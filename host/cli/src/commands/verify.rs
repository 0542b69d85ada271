//! `pv-host verify`: check a package as a line would, without running it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::Admission;
use pv_host::package_file::read_package_file;
use serde_json::json;

use super::TrustArgs;
use crate::exit;
use crate::terminal_safe as safe;

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

    /// Print `{"status": "OK", "package", "name", "version", "publisher",
    /// "signers": [{"name", "key_id"}]}` as JSON instead of text (on refusal:
    /// `{"status": "ERROR", "error_code", "message"}`).
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let trust = args.trust.open()?;
    let bytes = read_package_file(&args.package)?;
    let origin = args.package.display().to_string();
    let admission = Admission::new(&trust).allow_downgrade(args.allow_downgrade);
    let package = super::host_builder().build()?.check_package(&bytes, &origin, &admission)?;
    if args.json {
        let manifest = package.manifest();
        let report = json!({
            "status": "OK",
            "package": origin,
            "name": manifest.map(|m| m.name.clone()),
            "version": manifest.map(|m| m.version.to_string()),
            "publisher": manifest.map(|m| m.publisher.clone()),
            "signers": package.signers().iter()
                .map(|s| json!({ "name": s.name, "key_id": s.key_id.to_string() }))
                .collect::<Vec<_>>(),
        });
        println!("{report}");
        return Ok(ExitCode::from(exit::OK));
    }
    let signers: Vec<String> = package.signers().iter().map(|s| format!("{} ({})", s.name, s.key_id)).collect();
    match package.manifest() {
        Some(manifest) => println!(
            "OK: {} {} from {}, signed by {}",
            safe(&manifest.name),
            manifest.version,
            safe(&manifest.publisher),
            signers.join(", ")
        ),
        None => println!("OK: {}, signed by {}", safe(&origin), signers.join(", ")),
    }
    Ok(ExitCode::from(exit::OK))
}
