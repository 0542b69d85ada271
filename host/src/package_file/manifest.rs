//! The `procvision:manifest` section: what a package says it is.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, PackageCode, Result};
use crate::phase::Phase;
use crate::sandbox::Limits;

/// The WIT contract this host implements; a manifest must name it or an older
/// minor version of it.
pub const SUPPORTED_WIT: &str = "procvision:algorithm@1.0.0";

/// Largest manifest accepted: it is metadata, not data.
const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// The manifest of a package, as JSON in its `procvision:manifest` section.
/// Unknown fields are refused, so a typo is an error, not a silently ignored
/// setting.
///
/// ```
/// use pv_host::package_file::Manifest;
///
/// let manifest = Manifest::from_json(br#"{
///     "name": "part-counter",
///     "version": "1.2.0",
///     "description": "Counts screws on a board",
///     "pids": ["A01", "A02"],
///     "wit": "procvision:algorithm@1.0.0",
///     "publisher": "ACME Vision",
///     "limits": { "memory_mb": 128, "execute_ms": 5000 }
/// }"#).unwrap();
/// assert_eq!(manifest.version.to_string(), "1.2.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The algorithm's name: lowercase letters, digits, `-`, `_` and `.`, at most
    /// 64 characters; must equal the name its `get-info` returns.
    pub name: String,
    /// Its version (semver); must equal the version its `get-info` returns.
    pub version: semver::Version,
    /// What it inspects.
    #[serde(default)]
    pub description: String,
    /// The product ids it supports: non-empty, unique; must be the set its
    /// `get-info` returns.
    pub pids: Vec<String>,
    /// The WIT contract it was built against, e.g. `procvision:algorithm@1.0.0`.
    pub wit: String,
    /// Who publishes it.
    pub publisher: String,
    /// Limits it asks for; the host grants at most its own policy.
    #[serde(default, skip_serializing_if = "RequestedLimits::is_empty")]
    pub limits: RequestedLimits,
    /// The assets it ships, with their sizes and digests. `pv-host pack` fills
    /// this in from the files it is given.
    #[serde(default)]
    pub assets: Vec<AssetEntry>,
    /// The components its component was composed from (`pv-host pack
    /// --compose`): the algorithm first, then each part. Filled in by pack; empty
    /// for a component packed as it was built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartEntry>,
}

/// Limits a manifest may ask for; each is optional and capped by the host's
/// policy (see [`Limits::capped_by`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    /// Fuel per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_per_call: Option<u64>,
    /// Linear memory, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Setup deadline, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ms: Option<u64>,
    /// Pre-execute deadline, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_execute_ms: Option<u64>,
    /// Execute deadline, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_ms: Option<u64>,
    /// Hook deadline, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_ms: Option<u64>,
    /// Guest log bytes per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes_per_call: Option<usize>,
    /// Output bytes per transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes_per_call: Option<usize>,
    /// Core instances the component may create (a componentize-py component
    /// built with `--stub-wasi` makes 38).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_instances: Option<usize>,
    /// Linear memories the component may define.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memories: Option<usize>,
    /// Tables the component may define.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<usize>,
    /// Table elements, all tables together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_elements: Option<u64>,
}

/// One asset a package ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetEntry {
    /// Its name, as the guest asks for it: 1 to 128 characters of letters, digits,
    /// `-`, `_`, `.` and `/`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, 64 lowercase hex digits.
    pub sha256: String,
}

/// A component a package's component was composed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartEntry {
    /// The file it came from (its name only): 1 to 128 letters, digits, `-`,
    /// `_` and `.`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, 64 lowercase hex digits.
    pub sha256: String,
}

impl RequestedLimits {
    fn is_empty(&self) -> bool {
        *self == RequestedLimits::default()
    }

    /// The limits asked for, on top of the defaults (which the host's policy caps
    /// anyway).
    pub fn to_limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(fuel) = self.fuel_per_call {
            limits = limits.with_fuel_per_call(Some(fuel));
        }
        if let Some(mib) = self.memory_mb {
            limits = limits.with_memory_bytes(mib.saturating_mul(1 << 20));
        }
        for (phase, ms) in [
            (Phase::Setup, self.setup_ms),
            (Phase::PreExecute, self.pre_execute_ms),
            (Phase::Execute, self.execute_ms),
            (Phase::Info, self.hook_ms), // one deadline for every hook,
        ] {
            if let Some(ms) = ms {
                limits = limits.with_deadline(phase, Duration::from_millis(ms));
            }
        }
        if let Some(bytes) = self.log_bytes_per_call {
            limits = limits.with_log_bytes_per_call(bytes);
        }
        if let Some(bytes) = self.output_bytes_per_call {
            limits = limits.with_output_bytes_per_call(bytes);
        }
        if self.core_instances.is_some() || self.memories.is_some() || self.tables.is_some() {
            let (instances, memories, tables) = limits.counts();
            limits = limits.with_counts(
                self.core_instances.unwrap_or(instances),
                self.memories.unwrap_or(memories),
                self.tables.unwrap_or(tables),
            );
        }
        if let Some(elements) = self.table_elements {
            limits = limits.with_table_elements(elements);
        }
        limits
    }

    fn check(&self) -> std::result::Result<(), String> {
        let positive = [
            ("fuel_per_call", self.fuel_per_call),
            ("memory_mb", self.memory_mb),
            ("setup_ms", self.setup_ms),
            ("pre_execute_ms", self.pre_execute_ms),
            ("execute_ms", self.execute_ms),
            ("hook_ms", self.hook_ms),
            ("log_bytes_per_call", self.log_bytes_per_call.map(|n| n as u64)),
            ("output_bytes_per_call", self.output_bytes_per_call.map(|n| n as u64)),
            ("core_instances", self.core_instances.map(|n| n as u64)),
            ("memories", self.memories.map(|n| n as u64)),
            ("tables", self.tables.map(|n| n as u64)),
            ("table_elements", self.table_elements),
        ];
        match positive.iter().find(|(_, value)| *value == Some(0)) {
            Some((name, _)) => Err(format!("limits.{name} must be positive")),
            None => Ok(()),
        }
    }
}

impl Manifest {
    /// Parse and check a manifest (error 2105 with the reason).
    pub fn from_json(json: &[u8]) -> Result<Manifest> {
        let invalid = |reason: String| {
            Error::package(PackageCode::InvalidManifest, format!("invalid manifest: {reason}; fix the manifest and pack again"))
        };
        if json.len() > MAX_MANIFEST_BYTES {
            return Err(invalid(format!("{} bytes, over the {MAX_MANIFEST_BYTES}-byte cap", json.len())));
        }
        // Through a Value: serde would also take a struct as an array of its
        // fields, and a manifest is a JSON object, nothing else.
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|err| invalid(err.to_string()))?;
        if !value.is_object() {
            return Err(invalid("it must be a JSON object".into()));
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|err| invalid(err.to_string()))?;
        manifest.check().map_err(invalid)?;
        Ok(manifest)
    }

    /// The manifest as the JSON a package stores.
    pub fn to_json(&self) -> Vec<u8> {
        // A manifest is plain data: serialising it cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    fn check(&self) -> std::result::Result<(), String> {
        if !valid_name(&self.name, 64, false) {
            return Err(format!(
                "name `{}` must be 1 to 64 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit",
                self.name
            ));
        }
        if self.pids.is_empty() {
            return Err("pids must list at least one product id".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for pid in &self.pids {
            if pid.is_empty() || pid.len() > 64 || pid.chars().any(char::is_control) {
                return Err(format!("product id `{pid}` must be 1 to 64 printable characters"));
            }
            if !seen.insert(pid) {
                return Err(format!("product id `{pid}` is listed twice"));
            }
        }
        check_wit(&self.wit)?;
        if self.publisher.trim().is_empty() {
            return Err("publisher must not be empty".into());
        }
        self.limits.check()?;
        let mut names = std::collections::BTreeSet::new();
        for asset in &self.assets {
            if !valid_name(&asset.name, 128, true) {
                return Err(format!("asset name `{}` must be 1 to 128 letters, digits, `-`, `_`, `.` or `/`", asset.name));
            }
            if !names.insert(&asset.name) {
                return Err(format!("asset `{}` is listed twice", asset.name));
            }
            if !is_sha256_hex(&asset.sha256) {
                return Err(format!("asset `{}` sha256 must be 64 lowercase hex digits", asset.name));
            }
        }
        for part in &self.parts {
            if !valid_name(&part.name, 128, true) || part.name.contains('/') {
                return Err(format!("part name `{}` must be 1 to 128 letters, digits, `-`, `_` or `.`", part.name));
            }
            if !is_sha256_hex(&part.sha256) {
                return Err(format!("part `{}` sha256 must be 64 lowercase hex digits", part.name));
            }
        }
        Ok(())
    }
}

fn is_sha256_hex(digest: &str) -> bool {
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_name(name: &str, max: usize, asset: bool) -> bool {
    let allowed = |c: char| {
        c.is_ascii_digit()
            || matches!(c, '-' | '_' | '.')
            || if asset { c.is_ascii_alphabetic() || c == '/' } else { c.is_ascii_lowercase() }
    };
    !name.is_empty()
        && name.len() <= max
        && name.chars().all(allowed)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !name.split('/').any(|part| part.is_empty() || part == "..")
}

fn check_wit(wit: &str) -> std::result::Result<(), String> {
    let unsupported = || format!("wit `{wit}` is not supported: this host implements {SUPPORTED_WIT}");
    let (package, version) = wit.split_once('@').ok_or_else(unsupported)?;
    let (supported_package, supported_version) = SUPPORTED_WIT.split_once('@').ok_or_else(unsupported)?;
    let version = semver::Version::parse(version).map_err(|_| unsupported())?;
    let supported = semver::Version::parse(supported_version).map_err(|_| unsupported())?;
    // Same package and major version, and nothing newer than the host knows.
    if package != supported_package || version.major != supported.major || version > supported {
        return Err(unsupported());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::ErrorKind;

    const GOOD: &str =
        r#"{"name":"part-counter","version":"1.2.0","pids":["A01"],"wit":"procvision:algorithm@1.0.0","publisher":"ACME"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut json: serde_json::Value = serde_json::from_str(GOOD).expect("json");
        json[field] = serde_json::from_str(value).expect("value json");
        json.to_string()
    }

    fn without(field: &str) -> String {
        let mut json: serde_json::Value = serde_json::from_str(GOOD).expect("json");
        json.as_object_mut().expect("object").remove(field);
        json.to_string()
    }

    /// Golden messages: each malformed manifest is refused with 2105 and a reason
    /// that names what is wrong.
    #[test]
    fn malformed_manifests_are_refused_with_their_reason() {
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "expected ident at line 1 column 2"),
            ("[]".into(), "it must be a JSON object"),
            (r#"["a","1.0.0","",["P"],"procvision:algorithm@1.0.0","x",{},[]]"#.into(), "it must be a JSON object"),
            (with("colour", "\"red\""), "unknown field `colour`"),
            (without("name"), "missing field `name`"),
            (without("publisher"), "missing field `publisher`"),
            (with("name", "\"Part Counter\""), "name `Part Counter` must be 1 to 64 lowercase letters"),
            (with("name", "\"\""), "name `` must be 1 to 64"),
            (with("version", "\"1.2\""), "unexpected end of input while parsing minor version number"),
            (with("version", "12"), "invalid type: integer `12`, expected semver version"),
            (with("pids", "[]"), "pids must list at least one product id"),
            (with("pids", r#"["A01","A01"]"#), "product id `A01` is listed twice"),
            (with("pids", r#"[""]"#), "product id `` must be 1 to 64 printable characters"),
            (with("wit", "\"procvision:algorithm@2.0.0\""), "wit `procvision:algorithm@2.0.0` is not supported"),
            (with("wit", "\"procvision:algorithm@1.1.0\""), "wit `procvision:algorithm@1.1.0` is not supported"),
            (with("wit", "\"other:thing@1.0.0\""), "wit `other:thing@1.0.0` is not supported"),
            (with("publisher", "\" \""), "publisher must not be empty"),
            (with("limits", r#"{"memory_mb":0}"#), "limits.memory_mb must be positive"),
            (with("limits", r#"{"core_instances":0}"#), "limits.core_instances must be positive"),
            (with("limits", r#"{"memory":1}"#), "unknown field `memory`"),
            (with("limits", r#"{"fuel_per_call":-1}"#), "invalid value: integer `-1`, expected u64"),
            (with("assets", r#"[{"name":"../x","size":1,"sha256":"00"}]"#), "asset name `../x` must be"),
            (
                with("assets", r#"[{"name":"m.bin","size":1,"sha256":"XYZ"}]"#),
                "asset `m.bin` sha256 must be 64 lowercase hex digits",
            ),
            (with("assets", r#"[{"name":"m.bin","size":1}]"#), "missing field `sha256`"),
        ];
        for (json, expected) in cases {
            let err = Manifest::from_json(json.as_bytes()).expect_err(&json);
            assert_eq!((err.kind(), err.code()), (ErrorKind::Package, ErrorCode::InvalidManifest), "{json}");
            let message = err.to_string();
            assert!(message.starts_with("invalid manifest: "), "{message}");
            assert!(message.contains(expected), "{json}\n  gave: {message}\n  want: {expected}");
        }
        let huge = format!(r#"{{"description":"{}"}}"#, "x".repeat(MAX_MANIFEST_BYTES));
        assert!(Manifest::from_json(huge.as_bytes()).expect_err("too big").to_string().contains("over the 65536-byte cap"));
    }

    #[test]
    fn a_good_manifest_round_trips_and_older_minor_wit_is_accepted() {
        let manifest = Manifest::from_json(GOOD.as_bytes()).expect("valid");
        assert_eq!(Manifest::from_json(&manifest.to_json()).expect("round trip"), manifest);
        Manifest::from_json(with("wit", "\"procvision:algorithm@1.0.0\"").as_bytes()).expect("same version");
    }

    #[test]
    fn requested_limits_become_limits() {
        let requested = RequestedLimits {
            memory_mb: Some(64),
            execute_ms: Some(2000),
            core_instances: Some(300),
            table_elements: Some(40_000),
            ..Default::default()
        };
        let limits = requested.to_limits();
        assert_eq!(limits.memory_bytes(), 64 << 20);
        assert_eq!(limits.counts(), (300, crate::sandbox::DEFAULT_MEMORIES, crate::sandbox::DEFAULT_TABLES));
        assert_eq!(limits.table_elements(), 40_000);
        assert_eq!(limits.deadline(Phase::Execute), Some(Duration::from_secs(2)));
        assert_eq!(limits.deadline(Phase::Setup), Limits::default().deadline(Phase::Setup));
    }
}
