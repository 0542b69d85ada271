//! `pv-host pack`: make a signed package from a component, a manifest and assets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use pv_host::package_file::{Manifest, SecretKey, pack};
use pv_host::{Admission, TrustStore};
use serde_json::json;

use super::write_atomically;
use crate::exit;

/// Make a signed package: the component, its manifest, its assets and a first
/// signature, in one .wasm file. The package is then checked as a line would
/// check it (import policy, the manifest against the component's get-info).
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The algorithm, a component built for wasm32-wasip2.
    component: PathBuf,

    /// The manifest (JSON): name, version, description, pids, wit, publisher,
    /// limits. The asset list is filled in from --asset.
    #[arg(long, value_name = "MANIFEST.json")]
    manifest: PathBuf,

    /// An asset to ship, as NAME=PATH; the guest reads it by NAME. Repeatable.
    #[arg(long, value_name = "NAME=PATH")]
    asset: Vec<String>,

    /// The secret key to sign with (see `pv-host keygen`).
    #[arg(long, value_name = "NAME.key")]
    key: PathBuf,

    /// The package to write.
    #[arg(short, long, value_name = "PKG.wasm")]
    out: PathBuf,

    /// Print `{"package", "name", "version", "bytes", "assets", "key_id"}` as
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: PackArgs) -> Result<ExitCode> {
    let component = pv_host::package_file::read_package_file(&args.component)?;
    let manifest_json = std::fs::read(&args.manifest).with_context(|| format!("cannot read {}", args.manifest.display()))?;
    let manifest = Manifest::from_json(&manifest_json).with_context(|| format!("in {}", args.manifest.display()))?;
    let mut assets = Vec::new();
    for spec in &args.asset {
        let Some((name, path)) = spec.split_once('=') else {
            bail!("--asset `{spec}` must be NAME=PATH");
        };
        let bytes = std::fs::read(path).with_context(|| format!("cannot read asset {path}"))?;
        assets.push((name.to_owned(), bytes));
    }
    let key = SecretKey::read(&args.key)?;
    let bytes = pack(&component, &manifest, &assets, Some(&key))?;

    // Check it the way a line will, trusting the key it was just signed with.
    let mut trust = TrustStore::in_memory();
    trust.add_key("signer", key.public())?;
    let origin = args.out.display().to_string();
    super::host_builder().build()?.check_package(&bytes, &origin, &Admission::new(&trust))?;

    write_atomically(&args.out, &bytes)?;
    if args.json {
        let report = json!({
            "package": args.out.display().to_string(),
            "name": manifest.name,
            "version": manifest.version.to_string(),
            "bytes": bytes.len(),
            "assets": assets.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            "key_id": key.public().id().to_string(),
        });
        println!("{report}");
        return Ok(ExitCode::from(exit::OK));
    }
    println!(
        "packed {} {} ({} bytes, {} asset(s)), signed by key {}: {}",
        manifest.name,
        manifest.version,
        bytes.len(),
        assets.len(),
        key.public().id(),
        args.out.display()
    );
    Ok(ExitCode::from(exit::OK))
}
