//! Admitting a signed package: verify, then check, then compile. The order of
//! the checks and their codes are documented on [`Admission`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::engine::Host;
use crate::error::{Error, ErrorCode, Result};
use crate::package::Package;
use crate::package_file::{Manifest, PackageFile};
use crate::state::Assets;
use crate::trust::{Signer, TrustStore, Verification};

/// Largest package file the host reads: 1 GiB.
pub const MAX_PACKAGE_BYTES: u64 = 1 << 30;

/// How a package is admitted: against which trust store, and which developer
/// exceptions apply.
///
/// ```no_run
/// use pv_host::{Admission, Host, TrustStore};
///
/// # fn demo() -> pv_host::Result<()> {
/// let trust = TrustStore::open("/etc/pv-host/trust".as_ref())?;
/// let package = Host::new()?.load_package_file("part-counter.pkg.wasm".as_ref(), &Admission::new(&trust))?;
/// println!("signed by {:?}", package.signers());
/// # Ok(()) }
/// ```
///
/// [`Host::load_package_file`] reads the file once and works on those bytes
/// only, in this order; the first failure refuses the package with its code:
///
/// 1. the layout: component, manifest, assets, signatures (2102);
/// 2. the signatures against the trust store: revoked (2109), not verifying
///    (2107), unsigned (2106), unknown signers only (2108), too few (2110);
/// 3. the manifest (2105) and the assets against it (2113);
/// 4. rollback: not older than a version of the same publisher admitted
///    before (2112);
/// 5. the import policy (2104), compilation (2102) and linking (2103), on the
///    component bytes that were verified;
/// 6. the component's `get-info` against the manifest: name, version, PIDs
///    (2111).
///
/// Only then is the version recorded as admitted (unless
/// [`Admission::record`] says not to). Nothing is compiled or run before step 5.
///
/// Every byte of an admitted package is covered by a trusted signature: a
/// signature by a key the store does not know that comes after the last
/// trusted one is refused (2108), since what it added is not authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    trust: Option<&'a TrustStore>,
    allow_unsigned: bool,
    allow_downgrade: bool,
    record: bool,
}

impl<'a> Admission<'a> {
    /// Admit only packages signed by enough keys of `trust`, never older than
    /// an admitted version.
    pub fn new(trust: &'a TrustStore) -> Self {
        Admission { trust: Some(trust), allow_unsigned: false, allow_downgrade: false, record: true }
    }

    /// For development: admit without trusted signatures, bare components
    /// included, logging a loud warning. A signature that does not verify under
    /// a known key, or one by a revoked key, is still refused.
    pub fn unsigned_allowed(trust: Option<&'a TrustStore>) -> Self {
        Admission { trust, allow_unsigned: true, allow_downgrade: false, record: true }
    }

    /// Admit a version older than one admitted before.
    pub fn allow_downgrade(mut self, allow: bool) -> Self {
        self.allow_downgrade = allow;
        self
    }

    /// Whether an admitted version is written to the trust store's rollback
    /// record. Default: yes. Benchmarks and conformance tests check a package
    /// without recording it, so trying a newer version never blocks the one in
    /// production.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }
}

/// Read a package file once, refusing files over [`MAX_PACKAGE_BYTES`] before
/// reading them (2101).
pub fn read_package_file(path: &Path) -> Result<Vec<u8>> {
    let unreadable = |err: std::io::Error| {
        Error::package(ErrorCode::PackageUnreadable, format!("cannot read package {}: {err}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    // `take` bounds the read even if the file grows while it is read.
    file.take(MAX_PACKAGE_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_PACKAGE_BYTES {
        return Err(Error::package(
            ErrorCode::PackageUnreadable,
            format!("package {} is over the {MAX_PACKAGE_BYTES}-byte limit", path.display()),
        ));
    }
    Ok(bytes)
}

impl Host {
    /// Read a package file once and admit it (see [`Admission`] for
    /// the checks and their codes).
    pub fn load_package_file(&self, path: &Path, admission: &Admission<'_>) -> Result<Package> {
        let bytes = read_package_file(path)?;
        self.load_package(&bytes, &path.display().to_string(), admission)
    }

    /// Admit a package from bytes; `origin` names it in messages.
    pub fn load_package(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>) -> Result<Package> {
        self.admit(bytes, origin, admission, true)
    }

    /// Every check of [`load_package`](Self::load_package), compilation and
    /// the `get-info` comparison included, without recording the version as
    /// admitted: for `pv-host verify` and QA.
    pub fn check_package(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>) -> Result<Package> {
        self.admit(bytes, origin, admission, false)
    }

    fn admit(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>, record: bool) -> Result<Package> {
        let admitted = self.admit_checked(bytes, origin, admission, record);
        match &admitted {
            Ok(package) => {
                let signers: Vec<String> = package.signers().iter().map(|s| format!("{} ({})", s.name, s.key_id)).collect();
                let (name, version) =
                    package.manifest().map_or((String::new(), String::new()), |m| (m.name.clone(), m.version.to_string()));
                let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
                crate::audit::package_admitted(origin, &name, &version, &signers, &sha256);
            }
            Err(err) => crate::audit::package_refused(origin, err),
        }
        admitted
    }

    fn admit_checked(&self, bytes: &[u8], origin: &str, admission: &Admission<'_>, record: bool) -> Result<Package> {
        let file = PackageFile::parse(bytes)?;
        let verified = admission.check(&file, origin)?;
        let Some(manifest) = verified.manifest.clone() else {
            // A bare component: only ever admitted as unsigned.
            return self.compile(file.component(), origin, Assets::default(), None, Vec::new());
        };
        let assets: Assets =
            Arc::new(file.assets().iter().map(|(name, data)| (name.clone(), Arc::<[u8]>::from(*data))).collect());
        let package = self
            .compile(file.component(), origin, assets, Some(manifest.clone()), verified.signers.clone())?
            .request_limits(&manifest.limits.to_limits());
        check_info(&package, &manifest, origin)?;
        if let (Some(trust), Some(publisher), true) = (admission.trust, verified.publisher(), record && admission.record) {
            trust.record_admitted(&publisher.key_id, &manifest)?;
        }
        Ok(package)
    }
}

/// What [`Admission::verify`] found: the checks that need no compiler passed.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The manifest; `None` for a bare component admitted unsigned.
    pub manifest: Option<Manifest>,
    /// The trusted keys whose signatures verified (empty when admitted unsigned).
    pub signers: Vec<Signer>,
    /// Keys that signed but are not in the trust store.
    pub unknown_signers: Vec<crate::package_file::KeyId>,
    /// Whether enough trusted keys signed.
    pub trusted: bool,
}

impl Verified {
    /// The publisher, for a trusted package: the first trusted key that signed.
    pub fn publisher(&self) -> Option<&Signer> {
        if self.trusted { self.signers.first() } else { None }
    }
}

impl Admission<'_> {
    /// Steps 1 to 4 of admission, with no compilation: layout, signatures,
    /// manifest, assets and rollback. What `pv-host verify` runs.
    pub fn verify(&self, bytes: &[u8], origin: &str) -> Result<Verified> {
        self.check(&PackageFile::parse(bytes)?, origin)
    }

    fn check(&self, file: &PackageFile<'_>, origin: &str) -> Result<Verified> {
        let verification = match self.trust {
            Some(trust) => trust.verify(file, origin)?,
            None => Verification::default(),
        };
        let trusted = self.trust.is_some() && verification.is_sufficient();
        if !trusted {
            if self.allow_unsigned {
                tracing::warn!(
                    package = origin,
                    "RUNNING AN UNTRUSTED PACKAGE: its signatures were not checked against enough trusted keys (--allow-unsigned); never do this on a production line"
                );
            } else {
                verification.require(origin)?;
            }
        }
        let manifest = file.manifest()?;
        if let Some(manifest) = &manifest {
            file.check_assets(manifest)?;
            // The rollback record is per publisher; a package no trusted key
            // signed (a development run) has none to compare with.
            if let (Some(trust), Some(publisher)) = (self.trust, verification.publisher()) {
                trust.check_rollback(&publisher.key_id, manifest, self.allow_downgrade)?;
            }
        }
        Ok(Verified {
            manifest,
            signers: if trusted { verification.trusted } else { Vec::new() },
            unknown_signers: verification.unknown,
            trusted,
        })
    }
}

/// The manifest must describe the component it ships with (2111).
pub(crate) fn check_info(package: &Package, manifest: &Manifest, origin: &str) -> Result<()> {
    let instance = package.instantiate()?;
    let info = instance.info();
    let disagree = |what: &str, manifest_says: String, component_says: String| {
        Error::package(
            ErrorCode::ManifestMismatch,
            format!(
                "{origin}: the manifest and the component disagree on the {what}: the manifest says {manifest_says}, get-info says {component_says}; fix the manifest and pack again"
            ),
        )
    };
    if info.name != manifest.name {
        return Err(disagree("name", format!("`{}`", manifest.name), format!("`{}`", info.name)));
    }
    if semver::Version::parse(&info.version).ok().as_ref() != Some(&manifest.version) {
        return Err(disagree("version", format!("`{}`", manifest.version), format!("`{}`", info.version)));
    }
    let listed: BTreeSet<&String> = manifest.pids.iter().collect();
    let supported: BTreeSet<&String> = info.supported_pids.iter().collect();
    if listed != supported {
        return Err(disagree("product ids", format!("{listed:?}"), format!("{supported:?}")));
    }
    Ok(())
}

/// Who vouches for a package: its manifest and trusted signers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    pub(crate) manifest: Option<Manifest>,
    pub(crate) signers: Vec<Signer>,
    /// Whether the compiled code came from the compile cache.
    pub(crate) from_cache: bool,
}
