//! `pv-host pull`: a signed package from an OCI registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::Admission;
use serde_json::json;

use super::{TrustArgs, write_atomically};
use crate::exit;
use crate::registry::{Registry, RegistryArgs, parse_reference};

/// Pull a signed package from an OCI registry. The manifest is checked against
/// the reference's digest, the package against the manifest's, and its
/// signatures, manifest and assets against the trust store (as `pv-host verify`
/// checks them) before anything is written.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// What to pull: REGISTRY/REPOSITORY:VERSION or REGISTRY/REPOSITORY@sha256:...
    reference: String,

    /// Where to write the package [default: NAME-VERSION.pkg.wasm here].
    #[arg(short, long, value_name = "PKG.wasm")]
    out: Option<PathBuf>,

    #[command(flatten)]
    trust: TrustArgs,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Print `{"package", "pinned", "name", "version"}` as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: PullArgs) -> Result<ExitCode> {
    let reference = parse_reference(&args.reference, args.registry.allow_latest)?;
    let trust = args.trust.open()?;
    let registry = Registry::new(&args.registry, &[&reference])?;
    let pulled = registry.pull(&reference)?;
    // Trust before writing: a package no trusted key signed never lands here.
    let verified = Admission::new(&trust).record(false).verify(&pulled.bytes, &pulled.pinned)?;
    let manifest = verified.manifest.ok_or_else(|| anyhow::anyhow!("{} is a bare component, not a package", pulled.pinned))?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("{}-{}.pkg.wasm", manifest.name, manifest.version)));
    write_atomically(&out, &pulled.bytes)?;
    if args.json {
        println!(
            "{}",
            json!({
                "package": out.display().to_string(),
                "pinned": pulled.pinned,
                "name": manifest.name,
                "version": manifest.version.to_string(),
            })
        );
    } else {
        println!("pulled {} {} ({}): {}", manifest.name, manifest.version, pulled.pinned, out.display());
    }
    Ok(ExitCode::from(exit::OK))
}
