//! `pv-host inspect`: show what a package holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pv_host::TrustStore;
use pv_host::package_file::{PackageFile, read_package_file};
use pv_host::trust::SignatureStatus;
use serde_json::{Value, json};

use crate::exit;
use crate::terminal_safe as safe;

/// Show what a package holds: manifest, the component's imports and exports,
/// assets, signers, sections, sizes and digest. Nothing is compiled or run.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The package (or a bare component).
    package: PathBuf,

    /// Also say, for each signature, whether this trust store trusts it.
    #[arg(long, value_name = "DIR")]
    trust: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run the command.
pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let bytes = read_package_file(&args.package)?;
    let file = PackageFile::parse(&bytes)?;
    let trust = args.trust.as_deref().map(TrustStore::open).transpose()?;
    let report = report(&args, &file, trust.as_ref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(ExitCode::from(exit::OK))
}

fn report(args: &InspectArgs, file: &PackageFile<'_>, trust: Option<&TrustStore>) -> Result<Value> {
    let (imports, exports) = file.interfaces()?;
    let (manifest, manifest_error) = match file.manifest() {
        Ok(manifest) => (serde_json::to_value(manifest)?, Value::Null),
        Err(err) => (Value::Null, Value::String(err.to_string())),
    };
    let assets: Vec<Value> =
        file.assets().iter().map(|(name, data)| json!({ "name": name, "size": data.len(), "sha256": sha256(data) })).collect();
    let signatures: Vec<Value> = file
        .signatures()
        .iter()
        .map(|signature| {
            let status = trust.map(|trust| match trust.signature_status(file, signature) {
                SignatureStatus::Trusted { name } => format!("trusted ({name})"),
                SignatureStatus::Invalid { name } => format!("DOES NOT VERIFY (key {name})"),
                SignatureStatus::Revoked => "REVOKED".to_owned(),
                SignatureStatus::Unknown => "unknown key".to_owned(),
            });
            json!({ "key_id": signature.key_id.to_string(), "signed_bytes": signature.signed_len, "status": status })
        })
        .collect();
    let sections: Vec<Value> =
        file.sections().iter().map(|s| json!({ "name": s.name, "offset": s.offset, "size": s.size })).collect();
    // The parts the manifest says the component was composed from, each checked
    // against the components really nested in it.
    let nested = pv_host::package_file::nested_component_digests(file.component()).unwrap_or_default();
    let parts: Vec<Value> = file
        .manifest()
        .ok()
        .flatten()
        .map(|manifest| manifest.parts)
        .unwrap_or_default()
        .iter()
        .map(|part| json!({ "name": part.name, "size": part.size, "sha256": part.sha256, "inside": nested.contains(&part.sha256) }))
        .collect();
    Ok(json!({
        "file": args.package.display().to_string(),
        "size": file.bytes().len(),
        "sha256": file.sha256(),
        "component": { "size": file.component().len(), "imports": imports, "exports": exports },
        "manifest": manifest,
        "manifest_error": manifest_error,
        "parts": parts,
        "assets": assets,
        "signatures": signatures,
        "sections": sections,
    }))
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// `name (size bytes, sha256 digest)` of a part or an asset.
fn file_entry(entry: &Value) -> String {
    format!(
        "{} ({} bytes, sha256 {})",
        safe(entry["name"].as_str().unwrap_or("")),
        entry["size"],
        safe(entry["sha256"].as_str().unwrap_or(""))
    )
}

fn print_text(report: &Value) {
    println!("package    {} ({} bytes)", safe(report["file"].as_str().unwrap_or("")), report["size"]);
    println!("sha256     {}", safe(report["sha256"].as_str().unwrap_or("")));
    let manifest = &report["manifest"];
    if manifest.is_object() {
        println!(
            "algorithm  {} {} from {}",
            safe(manifest["name"].as_str().unwrap_or("")),
            safe(manifest["version"].as_str().unwrap_or("")),
            safe(manifest["publisher"].as_str().unwrap_or(""))
        );
        println!("           {}", safe(manifest["description"].as_str().unwrap_or("")));
        let pids: Vec<&str> = manifest["pids"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        println!("pids       {}", safe(&pids.join(", ")));
        println!("wit        {}", safe(manifest["wit"].as_str().unwrap_or("")));
        if let Some(limits) = manifest.get("limits") {
            println!("limits     {limits}");
        }
    } else if let Some(error) = report["manifest_error"].as_str() {
        println!("manifest   {}", safe(error));
    } else {
        println!("manifest   none: a bare component");
    }
    println!("component  {} bytes", report["component"]["size"]);
    for (label, key) in [("imports", "imports"), ("exports", "exports")] {
        for name in report["component"][key].as_array().into_iter().flatten() {
            println!("  {label:<8} {}", safe(name.as_str().unwrap_or("")));
        }
    }
    let parts = report["parts"].as_array().map_or(&[][..], Vec::as_slice);
    if !parts.is_empty() {
        println!("composed   from {} components", parts.len());
    }
    for part in parts {
        let missing = if part["inside"] == true { "" } else { ": NOT INSIDE the component" };
        println!("  {}{missing}", file_entry(part));
    }
    let assets = report["assets"].as_array().map_or(&[][..], Vec::as_slice);
    println!("assets     {}", assets.len());
    for asset in assets {
        println!("  {}", file_entry(asset));
    }
    let signatures = report["signatures"].as_array().map_or(&[][..], Vec::as_slice);
    println!("signatures {}", signatures.len());
    for signature in signatures {
        let status = signature["status"].as_str().map(|s| format!(": {s}")).unwrap_or_default();
        println!(
            "  key {} over the first {} bytes{status}",
            safe(signature["key_id"].as_str().unwrap_or("")),
            signature["signed_bytes"]
        );
    }
}
