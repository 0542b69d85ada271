//! A signed package as an OCI artifact, in the CNCF TAG Runtime "Wasm OCI
//! Artifact layout" (the layout wkg, wash, spin and kwctl use): an image
//! manifest whose config has media type `application/vnd.wasm.config.v0+json`
//! and whose one layer, `application/wasm`, is the signed package's bytes,
//! unchanged, so a pulled package verifies exactly as the file does.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use pv_host::package_file::{Manifest, PackageFile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's media type (OCI image manifest).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config's media type in the CNCF wasm layout.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The one layer's media type: a WebAssembly component (here, the signed package).
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// Annotation keys: the OCI pre-defined ones, and the product ids.
pub const TITLE: &str = "org.opencontainers.image.title";
pub const VERSION: &str = "org.opencontainers.image.version";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
pub const VENDOR: &str = "org.opencontainers.image.vendor";
/// The product ids the package lists, comma-separated.
pub const PIDS: &str = "io.procvision.pv-host.pids";

/// The most bytes a manifest or config may have: a few hundred is usual.
pub const MAX_METADATA_BYTES: usize = 1 << 20;

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The image manifest, as written and as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The config blob of the CNCF layout.
#[derive(Debug, Clone, Serialize)]
struct WasmConfig<'a> {
    author: &'a str,
    architecture: &'static str,
    os: &'static str,
    #[serde(rename = "layerDigests")]
    layer_digests: Vec<String>,
    component: ComponentInfo,
}

/// What the component imports and exports (interface names).
#[derive(Debug, Clone, Serialize)]
struct ComponentInfo {
    exports: Vec<String>,
    imports: Vec<String>,
    target: Option<String>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// What a push uploads: the layer (the package), the config and the manifest,
/// each with its bytes.
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub layer_digest: String,
    pub config_digest: String,
}

impl Artifact {
    /// The artifact of a signed package. Refused for a bare component or an
    /// unsigned package: a registry carries what a line can admit.
    pub fn of_package(package: Vec<u8>) -> Result<(Artifact, Manifest)> {
        let file = PackageFile::parse(&package)?;
        let manifest = file.manifest()?.context("a bare component, not a package: make one with `pv-host pack` first")?;
        ensure!(!file.signatures().is_empty(), "the package is not signed: sign it with `pv-host sign` before pushing it");
        let (imports, exports) = file.interfaces()?;
        let layer_digest = digest_of(&package);
        let config = serde_json::to_vec(&WasmConfig {
            author: &manifest.publisher,
            architecture: "wasm",
            os: "wasip2",
            layer_digests: vec![layer_digest.clone()],
            component: ComponentInfo { exports, imports, target: None },
        })?;
        let config_digest = digest_of(&config);
        let annotations = BTreeMap::from([
            (TITLE.to_owned(), manifest.name.clone()),
            (VERSION.to_owned(), manifest.version.to_string()),
            (DESCRIPTION.to_owned(), manifest.description.clone()),
            (VENDOR.to_owned(), manifest.publisher.clone()),
            (PIDS.to_owned(), manifest.pids.join(",")),
        ]);
        let image = ImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
            config: Descriptor {
                media_type: CONFIG_MEDIA_TYPE.to_owned(),
                digest: config_digest.clone(),
                size: config.len() as u64,
            },
            layers: vec![Descriptor {
                media_type: LAYER_MEDIA_TYPE.to_owned(),
                digest: layer_digest.clone(),
                size: package.len() as u64,
            }],
            annotations,
        };
        let manifest_bytes = serde_json::to_vec(&image)?;
        Ok((Artifact { manifest: manifest_bytes, config, layer: package, layer_digest, config_digest }, manifest))
    }
}

/// The one package layer of a pulled manifest, after checking it is this
/// layout: 2102-like refusals say what the registry holds instead.
pub fn package_layer(manifest_bytes: &[u8], max_package_bytes: u64) -> Result<(ImageManifest, Descriptor)> {
    let manifest: ImageManifest =
        serde_json::from_slice(manifest_bytes).context("the registry's manifest is not an OCI image manifest")?;
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        bail!(
            "not a WebAssembly artifact: its config is `{}`, not `{CONFIG_MEDIA_TYPE}` (a container image, or another tool's layout)",
            manifest.config.media_type
        );
    }
    let [layer] = manifest.layers.as_slice() else {
        bail!("the artifact has {} layers; a pv-host package is exactly one `{LAYER_MEDIA_TYPE}` layer", manifest.layers.len());
    };
    ensure!(layer.media_type == LAYER_MEDIA_TYPE, "its layer is `{}`, not `{LAYER_MEDIA_TYPE}`", layer.media_type);
    ensure!(
        layer.size <= max_package_bytes,
        "its layer is {} bytes, over the {max_package_bytes} a package may have",
        layer.size
    );
    ensure!(layer.digest.starts_with("sha256:") && layer.digest.len() == 71, "its layer digest `{}` is not sha256", layer.digest);
    Ok((manifest.clone(), layer.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_image_or_a_many_layer_artifact_is_refused_with_what_it_is() {
        let descriptor = |media_type: &str| Descriptor {
            media_type: media_type.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 10,
        };
        let manifest = |config: &str, layers: Vec<Descriptor>| {
            serde_json::to_vec(&ImageManifest {
                schema_version: 2,
                media_type: None,
                config: descriptor(config),
                layers,
                annotations: BTreeMap::new(),
            })
            .expect("JSON")
        };
        let image = manifest("application/vnd.oci.image.config.v1+json", vec![descriptor(LAYER_MEDIA_TYPE)]);
        assert!(package_layer(&image, 1 << 20).expect_err("an image").to_string().contains("not a WebAssembly artifact"));
        let two = manifest(CONFIG_MEDIA_TYPE, vec![descriptor(LAYER_MEDIA_TYPE), descriptor(LAYER_MEDIA_TYPE)]);
        assert!(package_layer(&two, 1 << 20).expect_err("two layers").to_string().contains("2 layers"));
        let one = manifest(CONFIG_MEDIA_TYPE, vec![descriptor(LAYER_MEDIA_TYPE)]);
        assert!(package_layer(&one, 5).expect_err("too big").to_string().contains("over the 5"));
        assert!(package_layer(&one, 1 << 20).is_ok());
    }
}
