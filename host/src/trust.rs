//! The trust store: which keys may sign the packages a line runs, which are
//! revoked, how many must sign, and the highest version admitted per package.
//! Its rules are documented on [`TrustStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::durable::{self, LockFile};
use crate::error::{Error, ErrorCode, Result};
use crate::package_file::{KeyId, Manifest, PackageFile, PublicKey, SignatureSection};

/// Environment variable naming the trust store directory.
pub const TRUST_DIR_ENV: &str = "PV_HOST_TRUST";
/// File of revoked key ids in the trust store directory.
const REVOKED_FILE: &str = "revoked";
/// File of admitted versions in the trust store directory.
const ADMITTED_FILE: &str = "admitted-versions.json";
/// Lock file taken exclusively around every rewrite of a file of the store.
const LOCK_FILE: &str = ".lock";
/// The publisher under which a record keyed by name only (older format) is kept:
/// it applies to every publisher.
const ANY_PUBLISHER: &str = "*";

/// Highest admitted version per publisher key id (hex, or [`ANY_PUBLISHER`]) and
/// package name.
type AdmittedRecord = BTreeMap<String, BTreeMap<String, semver::Version>>;

/// The rollback record as it is written to disk.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmittedFile {
    format: u32,
    admitted: AdmittedRecord,
}

/// The current format of `admitted-versions.json`.
const ADMITTED_FORMAT: u32 = 2;

/// A trusted signer of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key's name in the trust store (its file name without `.pub`).
    pub name: String,
    /// The key's id.
    pub key_id: KeyId,
}

/// What a trust store makes of one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// By a trusted key, and it verifies.
    Trusted {
        /// The key's name in the store.
        name: String,
    },
    /// By a trusted key, and it does not verify: the package was changed.
    Invalid {
        /// The key's name in the store.
        name: String,
    },
    /// By a revoked key.
    Revoked,
    /// By a key the store does not know.
    Unknown,
}

/// What the signatures of a package amount to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Distinct trusted keys whose signatures verify.
    pub trusted: Vec<Signer>,
    /// Keys that signed but are not in the trust store (their signatures cannot
    /// be checked).
    pub unknown: Vec<KeyId>,
    /// Keys the store does not know that signed after the last trusted
    /// signature: the bytes they added are not covered by any trusted signature.
    pub unknown_after_trusted: Vec<KeyId>,
    /// How many distinct trusted signers the policy requires.
    pub required: usize,
}

impl Verification {
    /// Whether enough trusted keys signed, and no unknown key signed after them:
    /// every byte of the package is covered by a trusted signature.
    pub fn is_sufficient(&self) -> bool {
        self.trusted.len() >= self.required && self.unknown_after_trusted.is_empty()
    }

    /// The publisher: the first trusted key that signed (signatures in file
    /// order). The rollback record is kept per publisher.
    pub fn publisher(&self) -> Option<&Signer> {
        self.trusted.first()
    }

    /// An error unless enough trusted keys signed: 2106 unsigned, 2108 only
    /// unknown signers, 2110 too few.
    pub fn require(&self, origin: &str) -> Result<()> {
        if self.is_sufficient() {
            return Ok(());
        }
        if self.trusted.is_empty() && self.unknown.is_empty() {
            return Err(Error::untrusted(
                ErrorCode::Unsigned,
                format!(
                    "{origin} is not signed: sign it with `pv-host sign {origin} --key KEY.key` (or, for development only, run with --allow-unsigned)"
                ),
            ));
        }
        let unknown = self.unknown.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        if !self.trusted.is_empty() && !self.unknown_after_trusted.is_empty() {
            let late = self.unknown_after_trusted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(Error::untrusted(
                ErrorCode::UnknownSigner,
                format!(
                    "{origin} was signed after its last trusted signature by key(s) the trust store does not know ({late}): those bytes are not authenticated; obtain the package as the trusted signer released it, or trust the later signer with `pv-host trust add KEY.pub`"
                ),
            ));
        }
        if self.trusted.is_empty() {
            return Err(Error::untrusted(
                ErrorCode::UnknownSigner,
                format!(
                    "{origin} is signed only by keys the trust store does not know ({unknown}): if you trust the signer, add its public key with `pv-host trust add KEY.pub`"
                ),
            ));
        }
        let names = self.trusted.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        Err(Error::untrusted(
            ErrorCode::TooFewSigners,
            format!(
                "{origin} has {} trusted signer(s) ({names}) but the trust policy requires {}: have it countersigned with `pv-host sign`",
                self.trusted.len(),
                self.required
            ),
        ))
    }
}

/// Trusted keys, revoked key ids, the number of signers required, and the
/// rollback record. The directory layout and the rules it keeps follow.
///
/// On disk it is a directory:
///
/// ```text
/// <trust>/NAME.pub                 a trusted public key (see `pv-host keygen`)
/// <trust>/revoked                  revoked key ids, one per line, `#` comments
/// <trust>/admitted-versions.json   highest version admitted per publisher and package name
/// <trust>/.lock                    taken exclusively while a file of the store is rewritten
/// ```
///
/// **Permissions.** Like OpenSSH's `StrictModes`, a store is used only when the
/// directory and every file in it are owned by the current user or by root and
/// are not writable by group or others; anything else is refused with 2114 (a
/// key another user can replace is not a key the station trusts).
///
/// **Several processes.** Many `pv-host` processes may share one store (one
/// `serve` per package, `verify`, `trust add`). Every change (a revocation, an
/// admitted version) is a read-modify-write under an exclusive lock on `.lock`:
/// the file is read again under the lock, changed, written to a fresh temporary
/// file, flushed to disk and renamed over the old one, and the directory is
/// flushed. A reader sees the old file or the new one; no update is lost.
///
/// **Rollback record.** The highest version admitted is kept per publisher
/// (the first trusted key that signed the package) and package name, so a
/// second trusted publisher's "part-counter 99.0.0" does not block the first
/// publisher's part counter. A record written by an older pv-host (keyed by name
/// only) is kept under the publisher `*` and still applies to every publisher.
///
/// The directory is the `--trust` flag of the CLI, else the `PV_HOST_TRUST`
/// environment variable, else `$XDG_CONFIG_HOME/pv-host/trust` (by default
/// `~/.config/pv-host/trust`): see [`TrustStore::default_dir`].
#[derive(Debug)]
pub struct TrustStore {
    dir: Option<PathBuf>,
    keys: BTreeMap<KeyId, (String, PublicKey)>,
    revoked: BTreeSet<KeyId>,
    required_signers: usize,
    /// The rollback record: loaded at open, re-read from disk under the lock
    /// before every change and refreshed before every rollback check.
    admitted: Mutex<AdmittedRecord>,
}

fn store_error(message: String) -> Error {
    Error::untrusted(ErrorCode::TrustStoreInvalid, message)
}

impl TrustStore {
    /// An empty store kept in memory only (for embedding and tests): nothing is
    /// trusted until [`add_key`](Self::add_key), and admitted versions are
    /// forgotten with it.
    pub fn in_memory() -> Self {
        TrustStore {
            dir: None,
            keys: BTreeMap::new(),
            revoked: BTreeSet::new(),
            required_signers: 1,
            admitted: Mutex::new(BTreeMap::new()),
        }
    }

    /// The directory used when none is given: `$PV_HOST_TRUST`, else
    /// `$XDG_CONFIG_HOME/pv-host/trust`, else `$HOME/.config/pv-host/trust`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        var(TRUST_DIR_ENV)
            .or_else(|| var("XDG_CONFIG_HOME").map(|config| config.join("pv-host").join("trust")))
            .or_else(|| var("HOME").map(|home| home.join(".config").join("pv-host").join("trust")))
    }

    /// Open the store in `dir` (error 2114 when it does not exist or holds a
    /// malformed or weak key).
    pub fn open(dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|err| {
            store_error(format!(
                "cannot open the trust store {}: {err}; create it by adding a key with `pv-host trust add KEY.pub --trust {}`",
                dir.display(),
                dir.display()
            ))
        })?;
        check_permissions(dir)?;
        let mut store = TrustStore { dir: Some(dir.to_owned()), ..TrustStore::in_memory() };
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in entries.filter_map(|entry| entry.ok()) {
            // Another process's replacement in flight: never read, and gone
            // (renamed) at any moment.
            if entry.file_name().to_string_lossy().starts_with(durable::TEMPORARY_PREFIX) {
                continue;
            }
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "pub") {
                check_permissions(&path)?;
                paths.push(path);
            }
        }
        // Every file the store reads, not only keys: a replaceable revocation
        // list or rollback record is as bad as a replaceable key. (Temporary
        // files of a writer in another process come and go; they are never read.)
        for file in [REVOKED_FILE, ADMITTED_FILE] {
            let path = dir.join(file);
            if path.exists() {
                check_permissions(&path)?;
            }
        }
        paths.sort();
        for path in paths {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let key = PublicKey::read(&path)?;
            store.insert(name, key).map_err(|err| store_error(format!("{}: {err}", path.display())))?;
        }
        store.revoked = read_revoked(dir)?;
        store.admitted = Mutex::new(read_admitted(dir)?);
        Ok(store)
    }

    /// Create the directory `dir` if needed and open the store in it.
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|err| store_error(format!("cannot create the trust store {}: {err}", dir.display())))?;
        TrustStore::open(dir)
    }

    /// How many distinct trusted keys must sign a package. Default: 1.
    pub fn with_required_signers(mut self, signers: usize) -> Self {
        self.required_signers = signers.max(1);
        self
    }

    /// The directory, for a store opened from one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The trusted keys: name, key.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.keys.values().map(|(name, key)| (name.as_str(), key))
    }

    /// The revoked key ids.
    pub fn revoked(&self) -> impl Iterator<Item = &KeyId> {
        self.revoked.iter()
    }

    fn insert(&mut self, name: String, key: PublicKey) -> std::result::Result<KeyId, String> {
        if key.is_weak() {
            return Err(format!("key `{name}` is a weak (small-order) ed25519 key: anyone could forge its signatures"));
        }
        let id = key.id();
        if let Some((other, _)) = self.keys.get(&id) {
            return Err(format!("key `{name}` is the same key as `{other}` ({id})"));
        }
        self.keys.insert(id, (name, key));
        Ok(id)
    }

    /// Trust `key` under `name` (written as `NAME.pub` for a store on disk).
    /// Weak (small-order) keys, revoked keys and names that are not plain file
    /// names are refused (2114).
    pub fn add_key(&mut self, name: &str, key: PublicKey) -> Result<KeyId> {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            return Err(store_error(format!("key name `{name}` must be letters, digits, `-`, `_` or `.`")));
        }
        if self.revoked.contains(&key.id()) {
            return Err(store_error(format!("key {} is revoked: it cannot be trusted again", key.id())));
        }
        if self.keys.values().any(|(existing, _)| existing == name) {
            return Err(store_error(format!("the trust store has a key named `{name}` already")));
        }
        let id = self.insert(name.to_owned(), key).map_err(store_error)?;
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{name}.pub"));
            write_new(&path, key.to_file_text().as_bytes())?;
        }
        Ok(id)
    }

    /// Revoke a key id: packages it signed are refused from now on (2109).
    pub fn revoke(&mut self, id: KeyId) -> Result<()> {
        self.revoked.insert(id);
        if let Some(dir) = &self.dir {
            let _lock = StoreLock::exclusive(dir)?;
            // Revocations another process wrote since this store was opened are
            // kept: the file is read again under the lock.
            self.revoked.extend(read_revoked(dir)?);
            let mut text = String::from("# revoked key ids, one per line\n");
            for id in &self.revoked {
                text.push_str(&format!("{id}\n"));
            }
            write_replacing(&dir.join(REVOKED_FILE), text.as_bytes())?;
        }
        Ok(())
    }

    /// Check every signature of `file` (verify first, nothing else runs before).
    /// Refuses a signature by a revoked key (2109) and a signature by a known key
    /// that does not verify (2107); reports who signed. Whether that is enough is
    /// [`Verification::require`].
    pub fn verify(&self, file: &PackageFile<'_>, origin: &str) -> Result<Verification> {
        let mut verification = Verification { required: self.required_signers, ..Verification::default() };
        for signature in file.signatures() {
            let id = signature.key_id;
            match self.signature_status(file, signature) {
                SignatureStatus::Revoked => {
                    return Err(Error::untrusted(
                        ErrorCode::RevokedSigner,
                        format!("{origin} is signed by revoked key {id}: obtain a package signed with a current key"),
                    ));
                }
                SignatureStatus::Invalid { name } => {
                    return Err(Error::untrusted(
                        ErrorCode::BadSignature,
                        format!(
                            "the signature of {origin} by key `{name}` ({id}) does not verify: the package was changed after it was signed; obtain an intact copy"
                        ),
                    ));
                }
                SignatureStatus::Trusted { name } => {
                    if !verification.trusted.iter().any(|s| s.key_id == id) {
                        verification.trusted.push(Signer { name, key_id: id });
                    }
                    // A trusted signature covers every signature before it.
                    verification.unknown_after_trusted.clear();
                }
                SignatureStatus::Unknown => {
                    if !verification.unknown.contains(&id) {
                        verification.unknown.push(id);
                    }
                    if !verification.trusted.is_empty() && !verification.unknown_after_trusted.contains(&id) {
                        verification.unknown_after_trusted.push(id);
                    }
                }
            }
        }
        Ok(verification)
    }

    /// What this store makes of one signature of `file`.
    pub fn signature_status(&self, file: &PackageFile<'_>, signature: &SignatureSection) -> SignatureStatus {
        if self.revoked.contains(&signature.key_id) {
            return SignatureStatus::Revoked;
        }
        match self.keys.get(&signature.key_id) {
            Some((name, key)) if key.verifies(&file.bytes()[..signature.signed_len], &signature.signature) => {
                SignatureStatus::Trusted { name: name.clone() }
            }
            Some((name, _)) => SignatureStatus::Invalid { name: name.clone() },
            None => SignatureStatus::Unknown,
        }
    }

    /// The highest version of package `name` from `publisher` admitted so far
    /// (or recorded before records named their publisher).
    pub fn admitted_version(&self, publisher: &KeyId, name: &str) -> Option<semver::Version> {
        let admitted = self.admitted.lock().ok()?;
        let publisher = publisher.to_string();
        [publisher.as_str(), ANY_PUBLISHER]
            .iter()
            .filter_map(|scope| admitted.get(*scope).and_then(|versions| versions.get(name)))
            .max()
            .cloned()
    }

    /// Refuse a version older than one admitted before from the same publisher
    /// (2112), unless `allow_downgrade`. The record is read again from disk
    /// first, so an admission by another process counts.
    pub fn check_rollback(&self, publisher: &KeyId, manifest: &Manifest, allow_downgrade: bool) -> Result<()> {
        if let Some(dir) = &self.dir {
            let current = read_admitted(dir)?;
            let mut admitted = self.admitted.lock().map_err(|_| Error::host("the version record lock is poisoned"))?;
            merge_admitted(&mut admitted, current);
        }
        match self.admitted_version(publisher, &manifest.name) {
            Some(highest) if manifest.version < highest && !allow_downgrade => Err(Error::untrusted(
                ErrorCode::Downgrade,
                format!(
                    "{} {} is older than version {highest} admitted before from the same publisher ({publisher}): refusing a rollback (pass --allow-downgrade if it is intended)",
                    manifest.name, manifest.version
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Record that `manifest`'s version from `publisher` was admitted (kept if
    /// higher than the record). For a store on disk this is a locked
    /// read-modify-write: concurrent admissions by other processes are merged,
    /// never lost (see [`TrustStore`]).
    pub fn record_admitted(&self, publisher: &KeyId, manifest: &Manifest) -> Result<()> {
        let mut admitted = self.admitted.lock().map_err(|_| Error::host("the version record lock is poisoned"))?;
        let _lock = match &self.dir {
            Some(dir) => {
                let lock = StoreLock::exclusive(dir)?;
                merge_admitted(&mut admitted, read_admitted(dir)?);
                Some(lock)
            }
            None => None,
        };
        let versions = admitted.entry(publisher.to_string()).or_default();
        if versions.get(&manifest.name).is_some_and(|highest| *highest >= manifest.version) {
            return Ok(());
        }
        versions.insert(manifest.name.clone(), manifest.version.clone());
        if let Some(dir) = &self.dir {
            let file = AdmittedFile { format: ADMITTED_FORMAT, admitted: admitted.clone() };
            let json = serde_json::to_vec_pretty(&file).map_err(|err| Error::host(err.to_string()))?;
            write_replacing(&dir.join(ADMITTED_FILE), &json)?;
        }
        Ok(())
    }
}

/// Keep the higher version of every entry of `other` in `record`.
fn merge_admitted(record: &mut AdmittedRecord, other: AdmittedRecord) {
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
fn read_admitted(dir: &Path) -> Result<AdmittedRecord> {
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

/// Read the revoked key ids of the store in `dir` (none when there is no list).
fn read_revoked(dir: &Path) -> Result<BTreeSet<KeyId>> {
    let path = dir.join(REVOKED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|line| !line.is_empty())
            .map(str::parse)
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(err) => Err(store_error(format!("cannot read {}: {err}", path.display()))),
    }
}

/// Refuse a store directory or file that someone other than the current user
/// (or root) owns or may write (2114). See [`TrustStore`].
#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)
        .map_err(|err| store_error(format!("cannot read the trust store entry {}: {err}", path.display())))?;
    let owner = metadata.uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != me && owner != 0 {
        return Err(store_error(format!(
            "{} belongs to user {owner}, not to this user ({me}) or root: another user could change what this station trusts; fix the owner (chown)",
            path.display()
        )));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(store_error(format!(
            "{} is writable by group or others (mode {:o}): anyone could change what this station trusts; run `chmod go-w {}`",
            path.display(),
            metadata.mode() & 0o7777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// An exclusive lock on the store's lock file, released when dropped.
struct StoreLock {
    _held: LockFile,
}

impl StoreLock {
    fn exclusive(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        LockFile::exclusive(&path)
            .map(|held| StoreLock { _held: held })
            .map_err(|err| store_error(format!("cannot lock {}: {err}", path.display())))
    }
}

/// Create `path`, never overwriting.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_new(path, bytes).map_err(|err| store_error(format!("cannot write {}: {err}", path.display())))
}

/// Replace `path` atomically and durably (see [`durable::write_replacing`]).
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_replacing(path, bytes).map_err(|err| store_error(format!("cannot write {}: {err}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package_file::SecretKey;

    #[test]
    fn weak_keys_are_refused() {
        // The identity point: small order, and a valid encoding.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey::from_bytes(&identity).expect("a curve point");
        assert!(weak.is_weak());
        let err = TrustStore::in_memory().add_key("weak", weak).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::TrustStoreInvalid);
    }

    #[test]
    fn a_store_on_disk_keeps_keys_revocations_and_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SecretKey::from_seed(&[3; 32]).public();
        let mut store = TrustStore::open_or_create(dir.path()).expect("created");
        store.add_key("vendor", key).expect("added");
        assert!(store.add_key("vendor", SecretKey::from_seed(&[4; 32]).public()).is_err(), "names are unique");
        let manifest = Manifest::from_json(
            br#"{"name":"a","version":"2.0.0","pids":["P"],"wit":"procvision:algorithm@1.0.0","publisher":"x"}"#,
        )
        .expect("manifest");
        let publisher = key.id();
        store.record_admitted(&publisher, &manifest).expect("recorded");
        store.revoke(SecretKey::from_seed(&[5; 32]).public().id()).expect("revoked");

        let reopened = TrustStore::open(dir.path()).expect("reopened");
        assert_eq!(reopened.keys().map(|(name, k)| (name.to_owned(), *k)).collect::<Vec<_>>(), [("vendor".to_owned(), key)]);
        assert_eq!(reopened.revoked().count(), 1);
        assert_eq!(reopened.admitted_version(&publisher, "a"), Some(semver::Version::new(2, 0, 0)));
        let mut older = manifest.clone();
        older.version = semver::Version::new(1, 9, 0);
        assert_eq!(reopened.check_rollback(&publisher, &older, false).expect_err("rollback").code(), ErrorCode::Downgrade);
        reopened.check_rollback(&publisher, &older, true).expect("allowed when asked");
        let other_publisher = SecretKey::from_seed(&[6; 32]).public().id();
        reopened.check_rollback(&other_publisher, &older, false).expect("another publisher's record does not apply");
    }
}
