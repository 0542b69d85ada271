//! What the changes and the listing of a station return (each serialisable for
//! `--json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::activation::PackageRef;

/// What [`StationDir::install`](super::StationDir::install) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// The package installed.
    pub package: PackageRef,
    /// The product ids its manifest lists.
    pub pids: Vec<String>,
    /// Where it is stored.
    pub path: PathBuf,
    /// Whether the same bytes were installed already (nothing was written).
    pub already_installed: bool,
}

/// One installed version, as [`StationDir::list`](super::StationDir::list) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledVersion {
    /// The package.
    pub package: PackageRef,
    /// The product ids its manifest lists.
    pub pids: Vec<String>,
    /// Its publisher, as the manifest says.
    pub publisher: String,
    /// The product ids it is active for.
    pub active_for: Vec<String>,
}

/// What is installed and active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// Every installed version, by name then version.
    pub installed: Vec<InstalledVersion>,
    /// The version active per product id.
    pub active: BTreeMap<String, PackageRef>,
    /// The registry reference (`REGISTRY/REPOSITORY@sha256:...`) each active
    /// version was synced from, for the product ids `station sync` set.
    pub sources: BTreeMap<String, String>,
    /// Earlier versions per product id, oldest first (what rollback goes back to).
    pub history: BTreeMap<String, Vec<PackageRef>>,
    /// The generation of the mapping: bumped by every change.
    pub generation: u64,
}

/// One product id's change of version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// The product id.
    pub pid: String,
    /// What served it before (`None`: nothing).
    pub from: Option<PackageRef>,
    /// What serves it now.
    pub to: PackageRef,
}

/// What an activation or rollback changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activation {
    /// One entry per product id named; `from == Some(to)` when it was active already.
    pub switches: Vec<Switch>,
    /// The generation of the mapping after the change.
    pub generation: u64,
}

/// One product id of a desired state ([`StationDir::apply_desired`](super::StationDir::apply_desired)):
/// the installed version that must serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredPid {
    /// The product id.
    pub pid: String,
    /// The package's name.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// The registry reference it was pulled by (`REPO@sha256:...`), recorded
    /// in the active record and the audit trail.
    pub source: Option<String>,
}
