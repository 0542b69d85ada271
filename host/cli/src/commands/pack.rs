//! `pv-host pack`: make a signed package from a component, a manifest and assets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use pv_host::package_file::{Manifest, PackageFile, PartEntry, SecretKey, VISION_INTERFACE_PREFIX, compose, pack};
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
    /// limits. Name, version, description and pids may be left out: they are
    /// then taken from the component's get-info, so the code is the one place
    /// they are written (given, they must agree with it). The asset list is
    /// filled in from --asset.
    #[arg(long, value_name = "MANIFEST.json")]
    manifest: PathBuf,

    /// An asset to ship, as NAME=PATH; the guest reads it by NAME. Repeatable.
    #[arg(long, value_name = "NAME=PATH")]
    asset: Vec<String>,

    /// A component that provides what the algorithm imports besides the host's
    /// interfaces, composed into it: `pv_vision_component.wasm` for an algorithm
    /// built against `wit/vision` (`cargo build -p pv-vision-component --release
    /// --target wasm32-wasip2`). The manifest records each part's digest.
    /// Repeatable.
    #[arg(long, value_name = "PART.wasm")]
    compose: Vec<PathBuf>,

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

/// The file name a part is recorded under in the manifest.
fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// The component to pack: the algorithm as built, or composed with the
/// `--compose` parts (recorded in the manifest). An algorithm that imports the
/// vision interface without a part to provide it is refused here, with the
/// command that fixes it, rather than by the line's import policy later.
fn composed(args: &PackArgs, component: Vec<u8>) -> Result<(Vec<u8>, Vec<PartEntry>)> {
    if args.compose.is_empty() {
        let file = PackageFile::parse(&component)?;
        let (imports, _) = file.interfaces()?;
        if let Some(vision) = imports.iter().find(|name| name.starts_with(VISION_INTERFACE_PREFIX)) {
            bail!(
                "{} imports {vision}, which no host provides: compose the vision component into it with \
                 `--compose target/wasm32-wasip2/release/pv_vision_component.wasm` (built by \
                 `cargo build -p pv-vision-component --release --target wasm32-wasip2`)",
                args.component.display()
            );
        }
        return Ok((component, Vec::new()));
    }
    let mut parts = Vec::with_capacity(args.compose.len());
    for path in &args.compose {
        let bytes = pv_host::package_file::read_package_file(path)?;
        parts.push((file_name(path), bytes));
    }
    let composition = compose(&file_name(&args.component), &component, &parts)?;
    Ok((composition.component, composition.parts))
}

/// What the manifest may leave to the component's get-info.
const FROM_GET_INFO: [&str; 4] = ["name", "version", "description", "pids"];

/// The manifest file's JSON with what it leaves out of [`FROM_GET_INFO`] filled
/// in from the component's get-info (which means compiling it: from the
/// compile cache when the package check after packing compiles it again).
fn completed_manifest(args: &PackArgs, component: &[u8]) -> Result<Manifest> {
    let text = std::fs::read(&args.manifest).with_context(|| format!("cannot read {}", args.manifest.display()))?;
    let mut json: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", args.manifest.display()))?;
    if let Some(fields) = json.as_object_mut().filter(|fields| FROM_GET_INFO.iter().any(|key| !fields.contains_key(*key))) {
        let origin = args.component.display().to_string();
        let host = super::host_builder().build()?;
        let loaded = super::progress::slow_step(format!("compiling {origin} to read its get-info"), || {
            host.load_component(component, &origin)?.instantiate()
        })?;
        let info = loaded.info().clone();
        let from_code = json!({
            "name": info.name,
            "version": info.version,
            "description": info.description,
            "pids": info.supported_pids,
        });
        for key in FROM_GET_INFO {
            if !fields.contains_key(key) {
                fields.insert(key.to_owned(), from_code[key].clone());
            }
        }
    }
    let bytes = serde_json::to_vec(&json)?;
    Manifest::from_json(&bytes).with_context(|| format!("in {}", args.manifest.display()))
}

/// Run the command.
pub fn run(args: PackArgs) -> Result<ExitCode> {
    let component = pv_host::package_file::read_package_file(&args.component)?;
    let (component, parts) = composed(&args, component)?;
    let mut manifest = completed_manifest(&args, &component)?;
    manifest.parts = parts;
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
    // Nothing is written yet: a refusal names what it was packed from, not
    // the output file.
    let origin = format!("the package made from {} and {}", args.component.display(), args.manifest.display());
    let host = super::host_builder().build()?;
    super::progress::slow_step("checking the package", || host.check_package(&bytes, &origin, &Admission::new(&trust)))?;

    write_atomically(&args.out, &bytes)?;
    if args.json {
        let report = json!({
            "package": args.out.display().to_string(),
            "name": manifest.name,
            "version": manifest.version.to_string(),
            "bytes": bytes.len(),
            "assets": assets.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            "parts": manifest.parts.iter().map(|part| json!({"name": part.name, "sha256": part.sha256})).collect::<Vec<_>>(),
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
