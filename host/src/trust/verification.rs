//! What the signatures of a package amount to against a trust store.

use crate::error::{Error, Result, TrustCode};
use crate::package_file::KeyId;

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
    /// unknown signers, 2110 too few. `bare` says the file is a component with
    /// no manifest: its remedy is `pv-host pack`, not `pv-host sign`.
    pub fn require(&self, origin: &str, bare: bool) -> Result<()> {
        if self.is_sufficient() {
            return Ok(());
        }
        if self.trusted.is_empty() && self.unknown.is_empty() {
            // Only `run`, `bench` and `serve` take --allow-unsigned.
            let development = "for a development run only, `run` takes --allow-unsigned";
            let message = if bare {
                format!(
                    "{origin} is a bare component, not a signed package: make one with `pv-host pack '{origin}' --manifest manifest.json --key KEY.key -o PKG.wasm` ({development})"
                )
            } else {
                format!("{origin} is not signed: sign it with `pv-host sign '{origin}' --key KEY.key` ({development})")
            };
            return Err(Error::untrusted(TrustCode::Unsigned, message));
        }
        let unknown = self.unknown.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        if !self.trusted.is_empty() && !self.unknown_after_trusted.is_empty() {
            let late = self.unknown_after_trusted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(Error::untrusted(
                TrustCode::UnknownSigner,
                format!(
                    "{origin} was signed after its last trusted signature by key(s) the trust store does not know ({late}): those bytes are not authenticated; obtain the package as the trusted signer released it, or trust the later signer with `pv-host trust add KEY.pub`"
                ),
            ));
        }
        if self.trusted.is_empty() {
            return Err(Error::untrusted(
                TrustCode::UnknownSigner,
                format!(
                    "{origin} is signed only by keys the trust store does not know ({unknown}): if you trust the signer, add its public key with `pv-host trust add KEY.pub`"
                ),
            ));
        }
        let names = self.trusted.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        Err(Error::untrusted(
            TrustCode::TooFewSigners,
            format!(
                "{origin} has {} trusted signer(s) ({names}) but the trust policy requires {}: have it countersigned with `pv-host sign`",
                self.trusted.len(),
                self.required
            ),
        ))
    }
}
