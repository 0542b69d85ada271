//! The rollback record: the highest version admitted per publisher and
//! package name, as kept in `admitted-versions.json`.

use std::collections::BTreeMap;
use std::path::Path;

use super::store_error;
use crate::error::Result;

/// File of admitted versions in the trust store directory.
pub(super) const ADMITTED_FILE: &str = "admitted-versions.json";

/// The publisher under which a record keyed by name only (older format) is kept:
/// it applies to every publisher.
pub(super) const ANY_PUBLISHER: &str = "*";

/// Highest admitted version per publisher key id (hex, or [`ANY_PUBLISHER`]) and
/// package name.
pub(super) type AdmittedRecord = BTreeMap<String, BTreeMap<String, semver::Version>>;

/// The rollback record as it is written to disk.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdmittedFile {
    pub(super) format: u32,
    pub(super) admitted: AdmittedRecord,
}

/// The current format of `admitted-versions.json`.
pub(super) const ADMITTED_FORMAT: u32 = 2;

/// Keep the higher version of every entry of `other` in `record`.
pub(super) fn merge_admitted(record: &mut AdmittedRecord, other: AdmittedRecord) {
    for (publisher, versions) in other {
        let mine = record.entry(publisher).or_default();
        for (name, version) in versions {
            match mine.get(&name) {
                Some(existing) if *existing >= version => {}
                _ => {
                    mine.insert(name, version);
                }
            }
        }
    }
}

/// Read the rollback record of the store in `dir` (empty when there is none). A
/// record in the older format (a map of name to version) is kept under
/// [`ANY_PUBLISHER`].
pub(super) fn read_admitted(dir: &Path) -> Result<AdmittedRecord> {
    let path = dir.join(ADMITTED_FILE);
    let json = match std::fs::read(&path) {
        Ok(json) => json,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(AdmittedRecord::new()),
        Err(err) => return Err(store_error(format!("cannot read {}: {err}", path.display()))),
    };
    let invalid = |err: serde_json::Error| store_error(format!("{} is not a version record: {err}", path.display()));
    let value: serde_json::Value = serde_json::from_slice(&json).map_err(invalid)?;
    if value.get("format").is_some() {
        let file: AdmittedFile = serde_json::from_value(value).map_err(invalid)?;
        if file.format != ADMITTED_FORMAT {
            return Err(store_error(format!(
                "{} has format {}, this pv-host reads format {ADMITTED_FORMAT}",
                path.display(),
                file.format
            )));
        }
        return Ok(file.admitted);
    }
    let by_name: BTreeMap<String, semver::Version> = serde_json::from_value(value).map_err(invalid)?;
    Ok(BTreeMap::from([(ANY_PUBLISHER.to_owned(), by_name)]))
}
