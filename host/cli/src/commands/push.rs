//! `pv-host push`: a signed package to an OCI registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::exit;
use crate::registry::{Registry, RegistryArgs, parse_reference};

/// Push a signed package to an OCI registry, as a WebAssembly artifact in the
/// CNCF layout (config `application/vnd.wasm.config.v0+json`, one
/// `application/wasm` layer holding the package's bytes unchanged, annotations
/// for name, version, publisher and product ids). Prints the immutable
/// `REPOSITORY@sha256:...` reference to pull it by.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The signed package.
    package: PathBuf,

    /// Where to push it: REGISTRY/REPOSITORY:VERSION (the tag must be the
    /// package's version).
    reference: String,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Print `{"reference", "pinned", "digest"}` as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: PushArgs) -> Result<ExitCode> {
    let reference = parse_reference(&args.reference, args.registry.allow_latest)?;
    let package = pv_host::package_file::read_package_file(&args.package)?;
    let registry = Registry::new(&args.registry, &[&reference])?;
    let pinned = registry.push(&reference, package)?;
    if args.json {
        let digest = pinned.rsplit_once('@').map(|(_, digest)| digest).unwrap_or_default();
        println!("{}", json!({ "reference": args.reference, "pinned": pinned, "digest": digest }));
    } else {
        println!("{pinned}");
    }
    Ok(ExitCode::from(exit::OK))
}
