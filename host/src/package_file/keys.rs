//! ed25519 keys, their ids and files, and the digest a package signature covers.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, TrustCode};

/// Domain separation: a package signature can never be mistaken for an ed25519
/// signature over anything else the same key signs.
const SIGNATURE_DOMAIN: &[u8] = b"procvision package signature v1\0";

/// First line of a public key file.
const PUBLIC_KEY_TAG: &str = "pv-host ed25519 public key";
/// First line of a secret key file.
const SECRET_KEY_TAG: &str = "pv-host ed25519 secret key";

/// What a signature signs: SHA-256 of the domain string and `signed_bytes`.
pub(crate) fn signed_digest(signed_bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(SIGNATURE_DOMAIN);
    hasher.update(signed_bytes);
    hasher.finalize().into()
}

/// A short public key id: the first 8 bytes of the SHA-256 of the public key,
/// shown as 16 hex digits. Names a key in signatures, revocation lists and
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub(crate) [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for KeyId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(text.trim(), &mut id)
            .map_err(|_| Error::untrusted(TrustCode::StoreInvalid, format!("`{text}` is not a key id (16 hex digits)")))?;
        Ok(KeyId(id))
    }
}

/// An ed25519 public key that may verify package signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    /// The key's id.
    pub fn id(&self) -> KeyId {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Whether the key has small order: a signature by such a key can be forged,
    /// so the trust store refuses it.
    pub fn is_weak(&self) -> bool {
        self.0.is_weak()
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A key from its 32 raw bytes; fails when they are not a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| Error::untrusted(TrustCode::StoreInvalid, "the bytes are not an ed25519 public key"))
    }

    /// The text of a `.pub` file: a tag line and the key in hex.
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_KEY_TAG}\n{}\n", hex::encode(self.0.as_bytes()))
    }

    /// Parse the text of a `.pub` file.
    pub fn from_file_text(text: &str) -> Result<Self> {
        let bytes = tagged_hex(text, PUBLIC_KEY_TAG)?;
        PublicKey::from_bytes(&bytes)
    }

    /// Read a `.pub` file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Error::untrusted(TrustCode::StoreInvalid, format!("cannot read public key {}: {err}", path.display()))
        })?;
        PublicKey::from_file_text(&text).map_err(|err| in_file(err, path))
    }

    /// Whether `signature` is this key's signature of `signed_bytes` (strict
    /// verification: no malleable or non-canonical signatures).
    pub(crate) fn verifies(&self, signed_bytes: &[u8], signature: &[u8; 64]) -> bool {
        let signature = Signature::from_bytes(signature);
        self.0.verify_strict(&signed_digest(signed_bytes), &signature).is_ok()
    }
}

/// An ed25519 signing key. Its file is written readable by its owner only.
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|err| Error::host(format!("no randomness for a new key: {err}")))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from a 32-byte seed (for tests and reproducible fixtures).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signature of `signed_bytes`, as a package signature section holds it.
    pub(crate) fn sign(&self, signed_bytes: &[u8]) -> [u8; 64] {
        self.0.sign(&signed_digest(signed_bytes)).to_bytes()
    }

    /// Read a `.key` file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| Error::host(format!("cannot read secret key {}: {err}", path.display())))?;
        let seed = tagged_hex(&text, SECRET_KEY_TAG).map_err(|err| in_file(err, path))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Write the key to `path` (created new, mode 0600 on Unix: never over an
    /// existing file) and its public half to `path` with the extension `.pub`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = format!("{SECRET_KEY_TAG}\n{}\n", hex::encode(self.0.to_bytes()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = |path: &Path, options: &std::fs::OpenOptions, text: &str| {
            use std::io::Write;
            options
                .open(path)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .map_err(|err| Error::host(format!("cannot write {}: {err}", path.display())))
        };
        write(path, &options, &text)?;
        let mut public_options = std::fs::OpenOptions::new();
        public_options.write(true).create_new(true);
        write(&path.with_extension("pub"), &public_options, &self.public().to_file_text())
    }
}

/// The 32 bytes in hex on the line after `tag`.
fn tagged_hex(text: &str, tag: &str) -> Result<[u8; 32]> {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let bad = || Error::untrusted(TrustCode::StoreInvalid, format!("not a `{tag}` file"));
    if lines.next() != Some(tag) {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(lines.next().ok_or_else(bad)?, &mut bytes).map_err(|_| bad())?;
    if lines.next().is_some() {
        return Err(bad());
    }
    Ok(bytes)
}

fn in_file(err: Error, path: &Path) -> Error {
    match err {
        Error::Untrusted { code, message } => Error::untrusted(code, format!("{}: {message}", path.display())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_ids_are_stable() {
        let key = SecretKey::from_seed(&[7; 32]);
        let public = PublicKey::from_file_text(&key.public().to_file_text()).expect("parses");
        assert_eq!(public, key.public());
        assert_eq!(public.id().to_string().parse::<KeyId>().expect("id parses"), public.id());
        assert!(PublicKey::from_file_text("pv-host ed25519 public key\nzz\n").is_err());
        assert!(PublicKey::from_file_text(&key.public().to_file_text().replace("public", "secret")).is_err());
    }

    #[test]
    fn signatures_cover_the_bytes_and_the_domain() {
        let key = SecretKey::from_seed(&[1; 32]);
        let signature = key.sign(b"package bytes");
        assert!(key.public().verifies(b"package bytes", &signature));
        assert!(!key.public().verifies(b"package bytez", &signature));
        assert!(!SecretKey::from_seed(&[2; 32]).public().verifies(b"package bytes", &signature));
        // A plain ed25519 signature of the same bytes is not a package signature.
        let plain = key.0.sign(b"package bytes").to_bytes();
        assert!(!key.public().verifies(b"package bytes", &plain));
    }
}
