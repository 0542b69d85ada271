//! `pv-host station sync FILE`: make a station what a desired-state file says.
//!
//! The file maps product ids to packages by immutable registry reference:
//!
//! ```toml
//! [pids]
//! A01 = "registry.plant.example/lines/part-counter:1.1.0@sha256:4f1c..."
//! A02 = "registry.plant.example/lines/part-counter:1.1.0@sha256:4f1c..."
//! LBL-1 = "registry.plant.example/lines/label-reader@sha256:9a0b..."
//! ```
//!
//! Everything is fetched and checked before anything changes: each package is
//! pulled (unless its product ids already run it from that reference) and
//! checked against its digests and the trust store; then each is installed
//! (full admission) and every product id switched in one journaled change. A
//! failure anywhere (registry down, a digest that does not match, a bad
//! signature, a package that does not list its product id) leaves the mapping
//! as it was. Running the same file again changes nothing. Product ids the
//! file does not name are left alone.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use pv_host::station::{DesiredPid, StationDir};
use pv_host::{Admission, Host, TrustStore};
use serde::Deserialize;

use crate::registry::{Registry, RegistryArgs, parse_reference};

/// The most bytes of a desired-state file read (a plant's file is a few KiB).
const MAX_DESIRED_BYTES: u64 = 1 << 20;

/// The desired-state file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DesiredFile {
    /// Product id to `REGISTRY/REPOSITORY[:TAG]@sha256:...`.
    pids: BTreeMap<String, String>,
}

/// What sync will do or did for one product id.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    pub pid: String,
    pub from: Option<String>,
    pub to: String,
    pub source: String,
    pub changes: bool,
}

/// `registry/repository@digest`, the form pulls report and records keep.
fn pinned(reference: &oci_client::Reference) -> String {
    format!("{}/{}@{}", reference.resolve_registry(), reference.repository(), reference.digest().unwrap_or_default())
}

fn read_desired(path: &Path) -> Result<BTreeMap<String, oci_client::Reference>> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .take(MAX_DESIRED_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > MAX_DESIRED_BYTES {
        bail!("{} is over {MAX_DESIRED_BYTES} bytes: not a desired-state file", path.display());
    }
    let desired: DesiredFile =
        toml::from_str(&text).with_context(|| format!("{} is not a desired-state file", path.display()))?;
    if desired.pids.is_empty() {
        bail!("{} names no product id under [pids]", path.display());
    }
    let mut references = BTreeMap::new();
    for (pid, text) in desired.pids {
        let reference = parse_reference(&text, false).with_context(|| format!("{}: product id `{pid}`", path.display()))?;
        if reference.digest().is_none() {
            return Err(anyhow::Error::new(crate::registry::ReferenceRefused(format!(
                "{}: product id `{pid}` names `{text}` by tag only: a desired state names builds, so give its digest (`@sha256:...`, as `pv-host push` prints it)",
                path.display()
            ))));
        }
        references.insert(pid, reference);
    }
    Ok(references)
}

/// Plan, and unless `dry_run` apply, the desired state in `file`.
pub fn sync(
    station: &StationDir,
    host: &Host,
    trust: &TrustStore,
    registry_args: &RegistryArgs,
    file: &Path,
    dry_run: bool,
    allow_downgrade: bool,
) -> Result<(Vec<Planned>, Option<u64>)> {
    let desired = read_desired(file)?;
    let listing = station.list()?;
    // By reference: the product ids it must serve.
    let mut by_source: BTreeMap<String, (oci_client::Reference, Vec<String>)> = BTreeMap::new();
    for (pid, reference) in &desired {
        by_source.entry(pinned(reference)).or_insert_with(|| (reference.clone(), Vec::new())).1.push(pid.clone());
    }
    let references: Vec<&oci_client::Reference> = by_source.values().map(|(reference, _)| reference).collect();
    let registry = Registry::new(registry_args, &references)?;

    // Fetch and check everything first; nothing is written in this loop. A
    // build installed here already is not admitted again (going back to it is
    // what a station is for, as `rollback` does): its signatures are checked
    // again when it is switched to.
    let check = Admission::new(trust).record(false).allow_downgrade(allow_downgrade);
    let installed: Vec<(String, semver::Version, String)> =
        listing.installed.iter().map(|i| (i.package.name.clone(), i.package.version.clone(), i.package.sha256.clone())).collect();
    let mut pulled: Vec<(String, Vec<u8>)> = Vec::new();
    let mut wanted: Vec<DesiredPid> = Vec::new();
    for (source, (reference, pids)) in &by_source {
        let running = pids.iter().all(|pid| listing.sources.get(pid) == Some(source));
        let (name, version) = if running {
            let active = &listing.active[&pids[0]];
            (active.name.clone(), active.version.clone())
        } else {
            let package = registry.pull(reference)?;
            let file = pv_host::package_file::PackageFile::parse(&package.bytes)?;
            let manifest = file.manifest()?.with_context(|| format!("{source} is a bare component, not a package"))?;
            let here = installed.iter().any(|(name, version, sha256)| {
                *name == manifest.name && *version == manifest.version && *sha256 == file.sha256()
            });
            if !here {
                check.verify(&package.bytes, source)?;
            }
            for pid in pids {
                if !manifest.pids.contains(pid) {
                    bail!(
                        "{source} is {} {}, which does not list product id `{pid}` (it lists {:?})",
                        manifest.name,
                        manifest.version,
                        manifest.pids
                    );
                }
            }
            if !here {
                pulled.push((source.clone(), package.bytes));
            }
            (manifest.name, manifest.version)
        };
        for pid in pids {
            wanted.push(DesiredPid {
                pid: pid.clone(),
                name: name.clone(),
                version: version.clone(),
                source: Some(source.clone()),
            });
        }
    }
    let plan: Vec<Planned> = wanted
        .iter()
        .map(|w| {
            let from = listing.active.get(&w.pid);
            let to = format!("{} {}", w.name, w.version);
            let changes = from.is_none_or(|f| f.name != w.name || f.version != w.version)
                || listing.sources.get(&w.pid) != w.source.as_ref();
            Planned {
                pid: w.pid.clone(),
                from: from.map(ToString::to_string),
                to,
                source: w.source.clone().unwrap_or_default(),
                changes,
            }
        })
        .collect();
    if dry_run {
        return Ok((plan, None));
    }
    // Install what was pulled (each a full admission), then switch every
    // product id at once.
    for (source, bytes) in &pulled {
        let admission = Admission::new(trust).allow_downgrade(allow_downgrade);
        super::super::progress::slow_step(format!("checking and compiling {source}"), || {
            station.install_from(host, bytes, source, Some(source), &admission)
        })?;
    }
    let activation = station.apply_desired(trust, &wanted)?;
    Ok((plan, Some(activation.generation)))
}
