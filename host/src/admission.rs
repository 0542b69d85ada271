//! Admitting a signed package: the checks that need no compiler (layout,
//! signatures, manifest, assets, rollback). [`Host::load_package`](crate::Host::load_package)
//! runs them, then compiles; the order of every check and its code is
//! documented on [`Admission`].

use crate::error::Result;
use crate::package_file::{KeyId, Manifest, PackageFile};
use crate::trust::{Signer, TrustStore, Verification};

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
/// [`Host::load_package_file`](crate::Host::load_package_file) reads the file once and works on those bytes
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

/// What [`Admission::verify`] found: the checks that need no compiler passed.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The manifest; `None` for a bare component admitted unsigned.
    pub manifest: Option<Manifest>,
    /// The trusted keys whose signatures verified (empty when admitted unsigned).
    pub signers: Vec<Signer>,
    /// Keys that signed but are not in the trust store.
    pub unknown_signers: Vec<KeyId>,
    /// Whether enough trusted keys signed.
    pub trusted: bool,
    /// The digest of the signed content ([`PackageFile::content_sha256`]),
    /// which the rollback record keeps with the version.
    pub content_sha256: String,
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

    pub(crate) fn check(&self, file: &PackageFile<'_>, origin: &str) -> Result<Verified> {
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
                verification.require(origin, file.manifest_json().is_none())?;
            }
        }
        let manifest = file.manifest()?;
        if let Some(manifest) = &manifest {
            file.check_assets(manifest)?;
            // The rollback record is per publisher; a package no trusted key
            // signed (a development run) has none to compare with.
            if let (Some(trust), Some(publisher)) = (self.trust, verification.publisher()) {
                trust.check_rollback(&publisher.key_id, manifest, &file.content_sha256(), self.allow_downgrade)?;
            }
        }
        Ok(Verified {
            manifest,
            signers: if trusted { verification.trusted } else { Vec::new() },
            unknown_signers: verification.unknown,
            trusted,
            content_sha256: file.content_sha256(),
        })
    }

    /// Record an admitted version in the trust store's rollback record, unless
    /// this admission says not to or no trusted publisher signed it.
    pub(crate) fn record_admitted(&self, verified: &Verified, manifest: &Manifest) -> Result<()> {
        match verified.publisher() {
            Some(publisher) => self.record_publisher(publisher, manifest, &verified.content_sha256),
            None => Ok(()),
        }
    }

    /// Record `manifest`'s version as admitted from `publisher` (the first
    /// trusted signer), unless this admission says not to: for a caller that
    /// admitted with [`record(false)`](Admission::record) and records once the
    /// package is where it belongs (a station's install, once it is stored).
    pub(crate) fn record_publisher(&self, publisher: &Signer, manifest: &Manifest, content_sha256: &str) -> Result<()> {
        match (self.trust, self.record) {
            (Some(trust), true) => trust.record_admitted(&publisher.key_id, manifest, content_sha256),
            _ => Ok(()),
        }
    }
}
