//! The signed single-file package: a component followed by pv-host's sections.
//!
//! ```text
//! \0asm 0d 00 01 00        component preamble
//! ... component sections   the algorithm, as `cargo build --target wasm32-wasip2` made it
//! custom "procvision:manifest"          JSON, see [`Manifest`]
//! custom "procvision:asset/<name>"      zero or more, raw bytes
//! custom "procvision:signature"         one or more, see below
//! ```
//!
//! Each signature section holds a format byte (1), the signer's 8-byte
//! [`KeyId`] and a 64-byte ed25519 signature over the SHA-256 of a fixed domain
//! string followed by **every byte of the file before that section**, preamble
//! included. A second signer (site QA after the publisher, say) signs the file
//! with the first signature in it. Nothing may follow the last signature.
//!
//! Sections are read with `wasmparser` ([`PackageFile::parse`]) and written with
//! `wasm-encoder` ([`pack`], [`add_signature`]); the parser never allocates what a
//! section header claims, it slices the bytes it was given.
//!
//! [`Manifest`]: crate::package_file::Manifest

mod compose;
mod keys;
mod manifest;
mod read;
mod sections;

pub use compose::{Composed, VISION_INTERFACE_PREFIX, compose, nested_component_digests};
pub use keys::{KeyId, PublicKey, SecretKey};
pub use manifest::{AssetEntry, Manifest, PartEntry, RequestedLimits, SUPPORTED_WIT};
pub(crate) use read::read_package_file_no_follow;
pub use read::{MAX_PACKAGE_BYTES, read_package_file};
pub use sections::{
    ASSET_SECTION_PREFIX, MANIFEST_SECTION, PackageFile, SIGNATURE_SECTION, SectionInfo, SignatureSection, add_signature, pack,
};
