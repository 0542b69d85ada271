//! `pv-host sign`: add a signature to a package.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::package_file::{PackageFile, SecretKey, add_signature, read_package_file};
use serde_json::json;

use super::write_atomically;
use crate::exit;

/// Add a signature to a package (a site QA countersignature, say). The new
/// signature covers every byte of the package, earlier signatures included.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The package to sign.
    package: PathBuf,

    /// The secret key to sign with.
    #[arg(long, value_name = "NAME.key")]
    key: PathBuf,

    /// Where to write the signed package [default: replace PACKAGE].
    #[arg(short, long, value_name = "PKG.wasm")]
    out: Option<PathBuf>,

    /// Print `{"package", "key_id", "signatures"}` as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: SignArgs) -> Result<ExitCode> {
    let key = SecretKey::read(&args.key)?;
    let signed = add_signature(&read_package_file(&args.package)?, &key)?;
    let out = args.out.as_ref().unwrap_or(&args.package);
    write_atomically(out, &signed)?;
    if args.json {
        let signatures = PackageFile::parse(&signed)?.signatures().len();
        let report = json!({
            "package": out.display().to_string(),
            "key_id": key.public().id().to_string(),
            "signatures": signatures,
        });
        println!("{report}");
    } else {
        println!("signed by key {}: {}", key.public().id(), out.display());
    }
    Ok(ExitCode::from(exit::OK))
}
