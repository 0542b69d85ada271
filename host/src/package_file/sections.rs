//! Reading and writing the sections of a package file.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;

use sha2::{Digest, Sha256};
use wasm_encoder::{CustomSection, Section};
use wasmparser::{Chunk, Encoding, Parser, Payload};

use super::keys::{KeyId, SecretKey};
use super::manifest::{AssetEntry, Manifest};
use crate::error::{Error, PackageCode, Result};

/// Name of the manifest section.
pub const MANIFEST_SECTION: &str = "procvision:manifest";
/// Prefix of asset section names; the rest is the asset's name.
pub const ASSET_SECTION_PREFIX: &str = "procvision:asset/";
/// Name of a signature section.
pub const SIGNATURE_SECTION: &str = "procvision:signature";
/// Every package section's name starts with this; the first such section ends
/// the component.
const PACKAGE_SECTION_PREFIX: &str = "procvision:";
/// Format byte that opens a signature section.
const SIGNATURE_FORMAT: u8 = 1;
/// Size of a signature section's contents: format, key id, signature.
const SIGNATURE_CONTENT_LEN: usize = 1 + 8 + 64;

/// One signature of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureSection {
    /// Who signed.
    pub key_id: KeyId,
    pub(crate) signature: [u8; 64],
    /// The signature covers the file's first `signed_len` bytes: everything
    /// before its own section.
    pub signed_len: usize,
}

/// A top-level section of the file, for `pv-host inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    /// `custom <name>` for custom sections, else the kind of section.
    pub name: String,
    /// Offset of its first byte (the section id).
    pub offset: usize,
    /// Its size, header included.
    pub size: usize,
}

/// A package file split into its parts. Parsing checks the layout only: the
/// signatures are checked by the trust store and the manifest is parsed on
/// demand, after them.
#[derive(Debug)]
pub struct PackageFile<'a> {
    bytes: &'a [u8],
    component_end: usize,
    manifest: Option<&'a [u8]>,
    assets: Vec<(String, &'a [u8])>,
    signatures: Vec<SignatureSection>,
    sections: Vec<SectionInfo>,
}

/// A top-level section as the parser saw it.
struct RawSection<'a> {
    custom: Option<(&'a str, &'a [u8])>,
    kind: &'static str,
    range: Range<usize>,
}

/// 2102 for a file that is damaged or laid out wrong: the remedy is a good copy.
fn malformed(message: impl std::fmt::Display) -> Error {
    Error::package(
        PackageCode::Malformed,
        format!("malformed package: {message} (obtain an intact copy, or make it again with `pv-host pack`)"),
    )
}

/// 2102 for an intact file that is the wrong kind of input for what was asked:
/// the message names the remedy itself.
fn wrong_input(message: impl std::fmt::Display) -> Error {
    Error::package(PackageCode::Malformed, message.to_string())
}

impl<'a> PackageFile<'a> {
    /// Split `bytes` into component, manifest, assets and signatures (error 2102
    /// when they are not laid out as a package). A bare component, with no
    /// package sections, parses too: it has no manifest and no signature.
    pub fn parse(bytes: &'a [u8]) -> Result<PackageFile<'a>> {
        let raw = top_level_sections(bytes)?;
        let trailer = raw.iter().position(|s| s.custom.is_some_and(|(name, _)| name.starts_with(PACKAGE_SECTION_PREFIX)));
        let component_end = trailer.map_or(bytes.len(), |i| raw[i].range.start);
        let mut file = PackageFile {
            bytes,
            component_end,
            manifest: None,
            assets: Vec::new(),
            signatures: Vec::new(),
            sections: raw
                .iter()
                .map(|s| SectionInfo {
                    name: s.custom.map_or_else(|| s.kind.to_owned(), |(name, _)| format!("custom {name}")),
                    offset: s.range.start,
                    size: s.range.len(),
                })
                .collect(),
        };
        let mut asset_names = BTreeSet::new();
        for section in trailer.map_or(&raw[..0], |i| &raw[i..]) {
            let at = section.range.start;
            let Some((name, data)) = section.custom else {
                return Err(malformed(format!(
                    "a {} section at byte {at} follows the package sections: the component must come first",
                    section.kind
                )));
            };
            if name == MANIFEST_SECTION {
                if file.manifest.is_some() {
                    return Err(malformed(format!("a second manifest at byte {at}")));
                }
                file.manifest = Some(data);
            } else if file.manifest.is_none() {
                return Err(malformed(format!("section `{name}` at byte {at} comes before the manifest")));
            } else if let Some(asset) = name.strip_prefix(ASSET_SECTION_PREFIX) {
                if !file.signatures.is_empty() {
                    return Err(malformed(format!("asset `{asset}` at byte {at} follows a signature")));
                }
                if !asset_names.insert(asset) {
                    return Err(malformed(format!("asset `{asset}` appears twice")));
                }
                file.assets.push((asset.to_owned(), data));
            } else if name == SIGNATURE_SECTION {
                file.signatures.push(parse_signature(data, at)?);
            } else if name.starts_with(PACKAGE_SECTION_PREFIX) {
                return Err(malformed(format!("unknown package section `{name}` at byte {at}")));
            } else {
                return Err(malformed(format!(
                    "section `{name}` at byte {at} follows the package sections: only assets and signatures may follow the manifest"
                )));
            }
        }
        Ok(file)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The component: every byte before the first package section.
    pub fn component(&self) -> &'a [u8] {
        &self.bytes[..self.component_end]
    }

    /// The manifest's JSON, if the file has one.
    pub fn manifest_json(&self) -> Option<&'a [u8]> {
        self.manifest
    }

    /// The manifest, parsed and checked (error 2105); `None` for a bare
    /// component.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        self.manifest.map(Manifest::from_json).transpose()
    }

    /// The assets, by name, in file order.
    pub fn assets(&self) -> &[(String, &'a [u8])] {
        &self.assets
    }

    /// The signatures, in file order.
    pub fn signatures(&self) -> &[SignatureSection] {
        &self.signatures
    }

    /// Every top-level section.
    pub fn sections(&self) -> &[SectionInfo] {
        &self.sections
    }

    /// The component's top-level imports and exports (interface names), as
    /// `(imports, exports)`; error 2102 when the component cannot be read.
    pub fn interfaces(&self) -> Result<(Vec<String>, Vec<String>)> {
        crate::sandbox::component_interfaces(self.component())
            .map_err(|err| malformed(format!("the component cannot be read: {err}")))
    }

    /// SHA-256 of the whole file, in hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.bytes))
    }

    /// SHA-256 of what the signatures sign, in hex: the component, manifest
    /// and assets, without any signature section (the whole file when it has
    /// none). A countersignature leaves it unchanged; any other change does not.
    pub fn content_sha256(&self) -> String {
        let signed = self.signatures.iter().map(|s| s.signed_len).min().unwrap_or(self.bytes.len());
        hex::encode(Sha256::digest(&self.bytes[..signed.min(self.bytes.len())]))
    }

    /// Check the assets against the manifest's list: same names, sizes and
    /// digests (error 2113).
    pub fn check_assets(&self, manifest: &Manifest) -> Result<()> {
        let mismatch = |message: String| {
            Error::package(PackageCode::AssetMismatch, format!("{message}; pack the package again with its assets"))
        };
        for entry in &manifest.assets {
            let Some((_, data)) = self.assets.iter().find(|(name, _)| *name == entry.name) else {
                return Err(mismatch(format!("asset `{}` is in the manifest but not in the package", entry.name)));
            };
            let found = asset_entry(&entry.name, data);
            if found.size != entry.size {
                return Err(mismatch(format!(
                    "asset `{}` has {} bytes, the manifest says {}",
                    entry.name, found.size, entry.size
                )));
            }
            if found.sha256 != entry.sha256 {
                return Err(mismatch(format!("asset `{}` does not match its sha256 in the manifest", entry.name)));
            }
        }
        if let Some((name, _)) = self.assets.iter().find(|(name, _)| !manifest.assets.iter().any(|e| e.name == *name)) {
            return Err(mismatch(format!("asset `{name}` is in the package but not in the manifest")));
        }
        Ok(())
    }
}

/// The top-level sections of `bytes`, which must be one whole component.
fn top_level_sections(bytes: &[u8]) -> Result<Vec<RawSection<'_>>> {
    if !bytes.starts_with(b"\0asm") {
        return Err(wrong_input(
            "not a WebAssembly file (no `\\0asm` preamble): give a component built for wasm32-wasip2, or a package made from one",
        ));
    }
    let mut parser = Parser::new(0);
    let mut pos = 0;
    let mut sections = Vec::new();
    loop {
        let (consumed, payload) = match parser.parse(&bytes[pos..], true) {
            Ok(Chunk::Parsed { consumed, payload }) => (consumed, payload),
            // Not produced at end of input, but never trust that to stay true.
            Ok(Chunk::NeedMoreData(_)) => return Err(malformed("the file ends inside a section")),
            Err(err) => return Err(malformed(format!("{} (at byte {})", err.message(), err.offset()))),
        };
        let start = pos;
        pos += consumed;
        let kind = match payload {
            Payload::Version { encoding: Encoding::Component, .. } => continue,
            Payload::Version { encoding: Encoding::Module, .. } => {
                return Err(wrong_input(
                    "a core WebAssembly module, not a component: build the algorithm with `cargo build --release --target wasm32-wasip2` (or componentize-py for Python)",
                ));
            }
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                // The parser leaves a nested module to its own parser: step over it,
                // after checking the file really holds it.
                if unchecked_range.end > bytes.len() || unchecked_range.start != pos {
                    return Err(malformed(format!("a nested module at byte {start} runs past the end of the file")));
                }
                pos = unchecked_range.end;
                "module"
            }
            Payload::CustomSection(reader) => {
                sections.push(RawSection { custom: Some((reader.name(), reader.data())), kind: "custom", range: start..pos });
                continue;
            }
            Payload::End(_) => break,
            _ => "component",
        };
        sections.push(RawSection { custom: None, kind, range: start..pos });
    }
    if pos != bytes.len() {
        return Err(malformed(format!("{} bytes follow the end of the component", bytes.len() - pos)));
    }
    Ok(sections)
}

fn parse_signature(data: &[u8], at: usize) -> Result<SignatureSection> {
    if data.len() != SIGNATURE_CONTENT_LEN || data[0] != SIGNATURE_FORMAT {
        return Err(malformed(format!(
            "the signature at byte {at} is not a format-{SIGNATURE_FORMAT} signature of {SIGNATURE_CONTENT_LEN} bytes"
        )));
    }
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&data[1..9]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&data[9..]);
    Ok(SignatureSection { key_id: KeyId(key_id), signature, signed_len: at })
}

fn asset_entry(name: &str, data: &[u8]) -> AssetEntry {
    AssetEntry { name: name.to_owned(), size: data.len() as u64, sha256: hex::encode(Sha256::digest(data)) }
}

fn append_custom(bytes: &mut Vec<u8>, name: &str, data: &[u8]) {
    CustomSection { name: Cow::Borrowed(name), data: Cow::Borrowed(data) }.append_to(bytes);
}

/// Make a package: `component` followed by the manifest, the assets and, with
/// `key`, a first signature. The manifest's asset list is filled in from
/// `assets` (sizes and digests); if the manifest lists assets already, they must
/// be the ones given.
pub fn pack(component: &[u8], manifest: &Manifest, assets: &[(String, Vec<u8>)], key: Option<&SecretKey>) -> Result<Vec<u8>> {
    let parsed = PackageFile::parse(component)?;
    if parsed.manifest.is_some() {
        return Err(wrong_input(
            "this is a package already, not a bare component: pack the component cargo or componentize-py built (`pv-host sign` adds a signature to a package)",
        ));
    }
    let given: BTreeSet<&str> = assets.iter().map(|(name, _)| name.as_str()).collect();
    if given.len() != assets.len() {
        return Err(Error::package(PackageCode::AssetMismatch, "an asset name is given twice"));
    }
    let listed: BTreeSet<&str> = manifest.assets.iter().map(|a| a.name.as_str()).collect();
    if !listed.is_empty() && listed != given {
        return Err(Error::package(
            PackageCode::AssetMismatch,
            format!("the manifest lists assets {listed:?} but {given:?} were given"),
        ));
    }
    let mut manifest = manifest.clone();
    manifest.assets = assets.iter().map(|(name, data)| asset_entry(name, data)).collect();
    let json = manifest.to_json();
    // Check what is written, not only what was read.
    Manifest::from_json(&json)?;
    let mut bytes = component.to_vec();
    append_custom(&mut bytes, MANIFEST_SECTION, &json);
    for (name, data) in assets {
        append_custom(&mut bytes, &format!("{ASSET_SECTION_PREFIX}{name}"), data);
    }
    match key {
        Some(key) => add_signature(&bytes, key),
        None => Ok(bytes),
    }
}

/// Sign a package: append a signature by `key` over every byte of it. Refused
/// when `key` has signed it already, and for a bare component.
pub fn add_signature(package: &[u8], key: &SecretKey) -> Result<Vec<u8>> {
    let parsed = PackageFile::parse(package)?;
    if parsed.manifest.is_none() {
        return Err(wrong_input(
            "a bare component cannot be signed: make a signed package of it with `pv-host pack COMPONENT.wasm --manifest manifest.json --key KEY.key -o PKG.wasm`",
        ));
    }
    let key_id = key.public().id();
    if parsed.signatures.iter().any(|s| s.key_id == key_id) {
        return Err(wrong_input(format!("key {key_id} has signed this package already: nothing to add")));
    }
    let mut content = Vec::with_capacity(SIGNATURE_CONTENT_LEN);
    content.push(SIGNATURE_FORMAT);
    content.extend_from_slice(&key_id.0);
    content.extend_from_slice(&key.sign(package));
    let mut bytes = package.to_vec();
    append_custom(&mut bytes, SIGNATURE_SECTION, &content);
    Ok(bytes)
}
