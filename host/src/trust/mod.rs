//! The trust store: which keys may sign the packages a line runs, which are
//! revoked, how many must sign, and the highest version admitted per package.
//! Its rules are documented on [`TrustStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod files;
mod rollback;
mod verification;

use self::files::{REVOKED_FILE, StoreLock, check_permissions, read_revoked, write_new, write_replacing};
pub use self::rollback::Admitted;
use self::rollback::{
    ADMITTED_FILE, ADMITTED_FORMAT, ANY_PUBLISHER, AdmittedFile, AdmittedRecord, merge_admitted, read_admitted,
};
pub use self::verification::{SignatureStatus, Signer, Verification};
use crate::error::{Error, Result, TrustCode};
use crate::package_file::{KeyId, Manifest, PackageFile, PublicKey, SignatureSection};

/// Environment variable naming the trust store directory.
pub const TRUST_DIR_ENV: &str = "PV_HOST_TRUST";
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

pub(super) fn store_error(message: String) -> Error {
    Error::untrusted(TrustCode::StoreInvalid, message)
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
            if entry.file_name().to_string_lossy().starts_with(crate::durable::TEMPORARY_PREFIX) {
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
                        TrustCode::RevokedSigner,
                        format!("{origin} is signed by revoked key {id}: obtain a package signed with a current key"),
                    ));
                }
                SignatureStatus::Invalid { name } => {
                    return Err(Error::untrusted(
                        TrustCode::BadSignature,
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
        self.admitted_entry(publisher, name).map(|entry| entry.version)
    }

    /// What the record holds for package `name` from `publisher`: the highest
    /// version admitted and, when known, the digest of its signed content.
    pub fn admitted_entry(&self, publisher: &KeyId, name: &str) -> Option<Admitted> {
        let admitted = self.admitted.lock().ok()?;
        let publisher = publisher.to_string();
        [publisher.as_str(), ANY_PUBLISHER]
            .iter()
            .filter_map(|scope| admitted.get(*scope).and_then(|entries| entries.get(name)))
            .fold(None, |best: Option<&Admitted>, entry| match best {
                Some(best) if !best.superseded_by(entry) => Some(best),
                _ => Some(entry),
            })
            .cloned()
    }

    /// Refuse a version older than one admitted before from the same publisher
    /// (2112), and the same version with other content than was admitted
    /// under it (2112: a version names one build), unless `allow_downgrade`.
    /// `content_sha256` is the package's [`PackageFile::content_sha256`]. The
    /// record is read again from disk first, so an admission by another
    /// process counts.
    pub fn check_rollback(
        &self,
        publisher: &KeyId,
        manifest: &Manifest,
        content_sha256: &str,
        allow_downgrade: bool,
    ) -> Result<()> {
        if let Some(dir) = &self.dir {
            let current = read_admitted(dir)?;
            let mut admitted = self.admitted.lock().map_err(|_| Error::host("the version record lock is poisoned"))?;
            merge_admitted(&mut admitted, current);
        }
        let Some(entry) = self.admitted_entry(publisher, &manifest.name) else { return Ok(()) };
        let (name, version) = (&manifest.name, &manifest.version);
        if *version < entry.version && !allow_downgrade {
            return Err(Error::untrusted(
                TrustCode::Downgrade,
                format!(
                    "{name} {version} is older than version {} admitted before from the same publisher ({publisher}): refusing a rollback (pass --allow-downgrade if it is intended)",
                    entry.version
                ),
            ));
        }
        if *version == entry.version {
            match entry.content_sha256 {
                Some(admitted) if admitted != content_sha256 && !allow_downgrade => {
                    return Err(Error::untrusted(
                        TrustCode::Downgrade,
                        format!(
                            "{name} {version} was admitted before from the same publisher ({publisher}) with other contents (sha256 {}..., this one {}...): a version names one build; give this build a new version (or pass --allow-downgrade if the swap is intended)",
                            &admitted[..admitted.len().min(12)],
                            &content_sha256[..content_sha256.len().min(12)]
                        ),
                    ));
                }
                None => tracing::warn!(
                    package = %name,
                    %version,
                    "this version was admitted before, but the record holds no digest of it (written by an older pv-host): whether this is the same build cannot be told; the digest is recorded from now on"
                ),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Record that `manifest`'s version from `publisher`, with signed content
    /// `content_sha256`, was admitted (kept if higher than the record, or if
    /// the record has this version without a digest). For a store on disk this
    /// is a locked read-modify-write: concurrent admissions by other processes
    /// are merged, never lost (see [`TrustStore`]).
    pub fn record_admitted(&self, publisher: &KeyId, manifest: &Manifest, content_sha256: &str) -> Result<()> {
        let mut admitted = self.admitted.lock().map_err(|_| Error::host("the version record lock is poisoned"))?;
        let _lock = match &self.dir {
            Some(dir) => {
                let lock = StoreLock::exclusive(dir)?;
                merge_admitted(&mut admitted, read_admitted(dir)?);
                Some(lock)
            }
            None => None,
        };
        let entries = admitted.entry(publisher.to_string()).or_default();
        let entry = Admitted { version: manifest.version.clone(), content_sha256: Some(content_sha256.to_owned()) };
        if entries.get(&manifest.name).is_some_and(|existing| !existing.superseded_by(&entry)) {
            return Ok(());
        }
        entries.insert(manifest.name.clone(), entry);
        if let Some(dir) = &self.dir {
            let file = AdmittedFile { format: ADMITTED_FORMAT, admitted: admitted.clone() };
            let json = serde_json::to_vec_pretty(&file).map_err(|err| Error::host(err.to_string()))?;
            write_replacing(&dir.join(ADMITTED_FILE), &json)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
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
        store.record_admitted(&publisher, &manifest, "aa").expect("recorded");
        store.revoke(SecretKey::from_seed(&[5; 32]).public().id()).expect("revoked");

        let reopened = TrustStore::open(dir.path()).expect("reopened");
        assert_eq!(reopened.keys().map(|(name, k)| (name.to_owned(), *k)).collect::<Vec<_>>(), [("vendor".to_owned(), key)]);
        assert_eq!(reopened.revoked().count(), 1);
        assert_eq!(reopened.admitted_version(&publisher, "a"), Some(semver::Version::new(2, 0, 0)));
        let mut older = manifest.clone();
        older.version = semver::Version::new(1, 9, 0);
        assert_eq!(reopened.check_rollback(&publisher, &older, "bb", false).expect_err("rollback").code(), ErrorCode::Downgrade);
        reopened.check_rollback(&publisher, &older, "bb", true).expect("allowed when asked");
        let other_publisher = SecretKey::from_seed(&[6; 32]).public().id();
        reopened.check_rollback(&other_publisher, &older, "bb", false).expect("another publisher's record does not apply");
        // The same version: the same content passes, other content is refused.
        reopened.check_rollback(&publisher, &manifest, "aa", false).expect("the build admitted before");
        let err = reopened.check_rollback(&publisher, &manifest, "bb", false).expect_err("other bytes, same version");
        assert_eq!(err.code(), ErrorCode::Downgrade);
        assert!(err.to_string().contains("a version names one build"), "{err}");
        reopened.check_rollback(&publisher, &manifest, "bb", true).expect("allowed when asked");
    }

    #[test]
    fn a_format_2_record_is_read_and_its_digest_filled_in_on_the_next_admission() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SecretKey::from_seed(&[7; 32]).public();
        let publisher = key.id().to_string();
        let old = serde_json::json!({ "format": 2, "admitted": { (publisher.as_str()): { "a": "2.0.0" } } });
        std::fs::write(dir.path().join("admitted-versions.json"), old.to_string()).expect("write");
        let store = TrustStore::open(dir.path()).expect("opens a format 2 record");
        let manifest = Manifest::from_json(
            br#"{"name":"a","version":"2.0.0","pids":["P"],"wit":"procvision:algorithm@1.0.0","publisher":"x"}"#,
        )
        .expect("manifest");
        store.check_rollback(&key.id(), &manifest, "cc", false).expect("no digest to compare: a warning only");
        store.record_admitted(&key.id(), &manifest, "cc").expect("recorded");
        let entry = TrustStore::open(dir.path()).expect("reopened").admitted_entry(&key.id(), "a").expect("an entry");
        assert_eq!(entry.content_sha256.as_deref(), Some("cc"));
        assert_eq!(entry.version, semver::Version::new(2, 0, 0));
    }
}
