//! Composition at pack time: an algorithm that imports `procvision:vision/ops`
//! (a Python algorithm built against `wit/vision`) and the component that
//! exports it, made into one component with `wac-graph`.
//!
//! The import is then resolved inside the package: the host links nothing new,
//! and the vision code runs in the algorithm's own store, under its fuel,
//! deadline and memory cap (all memories of a store count against the one cap).
//! Imports both parts make of the host (WASI, `procvision:algorithm/assets`)
//! become one import of the composition. The manifest records each part's digest
//! ([`PartEntry`]); the signature covers the composed whole.

use sha2::{Digest, Sha256};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, PlugError};

use super::manifest::PartEntry;
use crate::error::{Error, PackageCode, Result};

/// The interface packages a part may provide: what the composed algorithm
/// imports that the host does not.
pub const VISION_INTERFACE_PREFIX: &str = "procvision:vision/";

/// A composition: the component to pack, and what it was made of (the algorithm
/// first, then each part, in the order given).
#[derive(Debug, Clone)]
pub struct Composed {
    /// The composed component.
    pub component: Vec<u8>,
    /// Each input component, named by the caller, with its size and digest.
    pub parts: Vec<PartEntry>,
}

fn malformed(message: String) -> Error {
    Error::package(PackageCode::Malformed, message)
}

fn entry(name: &str, bytes: &[u8]) -> PartEntry {
    PartEntry { name: name.to_owned(), size: bytes.len() as u64, sha256: hex::encode(Sha256::digest(bytes)) }
}

/// Compose `algorithm` (named `algorithm_name`) with `parts` (`(name, bytes)`):
/// every export of a part that the algorithm imports is wired into it, and the
/// result exports what the algorithm exports. 2102 when a component cannot be
/// read, or when a part provides nothing the algorithm imports (most often: the
/// two were built against different versions of `wit/vision`).
pub fn compose(algorithm_name: &str, algorithm: &[u8], parts: &[(String, Vec<u8>)]) -> Result<Composed> {
    if parts.is_empty() {
        return Err(malformed("nothing to compose: give the component that provides the algorithm's imports".into()));
    }
    let mut graph = CompositionGraph::new();
    let mut register = |label: String, name: &str, bytes: &[u8]| {
        let package = Package::from_bytes(&label, None, bytes.to_vec(), graph.types_mut())
            .map_err(|err| malformed(format!("`{name}` is not a component that can be composed: {err:#}")))?;
        graph.register_package(package).map_err(|err| malformed(format!("`{name}` cannot be composed: {err:#}")))
    };
    let socket = register("pv:algorithm".to_owned(), algorithm_name, algorithm)?;
    let mut plugs = Vec::with_capacity(parts.len());
    for (index, (name, bytes)) in parts.iter().enumerate() {
        plugs.push(register(format!("pv:part{index}"), name, bytes)?);
    }
    wac_graph::plug(&mut graph, plugs, socket).map_err(|err| match err {
        PlugError::NoPlugHappened => malformed(format!(
            "`{algorithm_name}` imports nothing that {} export{}: build both against the same wit/vision",
            parts.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", "),
            if parts.len() == 1 { "s" } else { "" }
        )),
        other => malformed(format!("`{algorithm_name}` cannot be composed with its parts: {other:#}")),
    })?;
    let component = graph
        .encode(EncodeOptions::default())
        .map_err(|err| malformed(format!("the composition of `{algorithm_name}` cannot be encoded: {err:#}")))?;
    let mut entries = vec![entry(algorithm_name, algorithm)];
    entries.extend(parts.iter().map(|(name, bytes)| entry(name, bytes)));
    Ok(Composed { component, parts: entries })
}

/// The SHA-256 (hex) of each component nested at the top level of `component`,
/// in order: for a composition, the parts as they were given, so `pv-host
/// inspect` can show that each part the manifest lists is really inside.
pub fn nested_component_digests(component: &[u8]) -> Result<Vec<String>> {
    let mut digests = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|err| malformed(format!("the component cannot be read: {err}")))?;
        if let wasmparser::Payload::ComponentSection { unchecked_range, .. } = payload {
            let nested =
                component.get(unchecked_range).ok_or_else(|| malformed("a nested component lies outside the file".to_owned()))?;
            digests.push(hex::encode(Sha256::digest(nested)));
        }
    }
    Ok(digests)
}
