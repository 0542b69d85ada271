//! The rollback record: the highest version admitted per publisher and
//! package name, with the digest of what that version contained, as kept in
//! `admitted-versions.json`.

use std::collections::BTreeMap;
use std::path::Path;

use super::store_error;
use crate::error::Result;

/// File of admitted versions in the trust store directory.
pub(super) const ADMITTED_FILE: &str = "admitted-versions.json";

/// The publisher under which a record keyed by name only (older format) is kept:
/// it applies to every publisher.
pub(super) const ANY_PUBLISHER: &str = "*";

/// What the record keeps for one package name: the highest version admitted,
/// and the SHA-256 of that version's signed content (component, manifest and
/// assets; signatures left out, so a countersignature changes nothing) when it
/// is known. A version names one build: the same name and version with other
/// content is refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "AdmittedOnDisk", into = "AdmittedOnDisk")]
pub struct Admitted {
    /// The highest version admitted.
    pub version: semver::Version,
    /// The digest of its signed content, hex; `None` in records written before
    /// digests were kept.
    pub content_sha256: Option<String>,
}

/// An entry as written: a bare version string (format 2), or the version with
/// its digest (format 3).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum AdmittedOnDisk {
    Version(semver::Version),
    WithContent {
        version: semver::Version,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_sha256: Option<String>,
    },
}

impl From<AdmittedOnDisk> for Admitted {
    fn from(entry: AdmittedOnDisk) -> Self {
        match entry {
            AdmittedOnDisk::Version(version) => Admitted { version, content_sha256: None },
            AdmittedOnDisk::WithContent { version, content_sha256 } => Admitted { version, content_sha256 },
        }
    }
}

impl From<Admitted> for AdmittedOnDisk {
    fn from(entry: Admitted) -> Self {
        AdmittedOnDisk::WithContent { version: entry.version, content_sha256: entry.content_sha256 }
    }
}

impl Admitted {
    /// Whether `other` should replace this entry: a higher version, or the same
    /// version with the digest this entry lacks.
    pub(super) fn superseded_by(&self, other: &Admitted) -> bool {
        other.version > self.version
            || (other.version == self.version && self.content_sha256.is_none() && other.content_sha256.is_some())
    }
}

/// The admitted entry per publisher key id (hex, or [`ANY_PUBLISHER`]) and
/// package name.
pub(super) type AdmittedRecord = BTreeMap<String, BTreeMap<String, Admitted>>;

/// The rollback record as it is written to disk.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdmittedFile {
    pub(super) format: u32,
    pub(super) admitted: AdmittedRecord,
}

/// The format of `admitted-versions.json` this pv-host writes (3: entries
/// with digests); it reads format 2 (versions only) too.
pub(super) const ADMITTED_FORMAT: u32 = 3;

/// Keep the higher version of every entry of `other` in `record` (and a
/// digest where only one side has it).
pub(super) fn merge_admitted(record: &mut AdmittedRecord, other: AdmittedRecord) {
    for (publisher, entries) in other {
        let mine = record.entry(publisher).or_default();
        for (name, entry) in entries {
            if mine.get(&name).is_none_or(|existing| existing.superseded_by(&entry)) {
                mine.insert(name, entry);
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
        if !(2..=ADMITTED_FORMAT).contains(&file.format) {
            return Err(store_error(format!(
                "{} has format {}, this pv-host reads format {ADMITTED_FORMAT}",
                path.display(),
                file.format
            )));
        }
        return Ok(file.admitted);
    }
    let by_name: BTreeMap<String, Admitted> = serde_json::from_value(value).map_err(invalid)?;
    Ok(BTreeMap::from([(ANY_PUBLISHER.to_owned(), by_name)]))
}
