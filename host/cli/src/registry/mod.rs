//! OCI registries: signed packages pushed and pulled as CNCF wasm artifacts
//! ([`artifact`]), with the registries plants already run for containers.
//!
//! What the commands share: how a reference is read and which tags are allowed
//! (semver, or `latest` only when asked), where credentials come from
//! ([`credentials`]: `--username`/`--password-stdin`, else the Docker config,
//! each scoped to its registry), plain HTTP only for loopback or a registry
//! named with `--insecure`, timeouts, and the checks every pull makes before
//! anything is written: the manifest's digest against the reference, the
//! layer's digest against the manifest, sizes against their caps.

pub mod artifact;
pub mod credentials;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use self::artifact::{Artifact, MANIFEST_MEDIA_TYPE, MAX_METADATA_BYTES, digest_of};

/// The largest package a pull accepts, in bytes (the host's own cap on a
/// package file).
pub const MAX_PACKAGE_BYTES: u64 = pv_host::package_file::MAX_PACKAGE_BYTES;

/// A reference the command line gave that the policy refuses (a moving tag,
/// not a reference at all). Exit code 2, as any wrong command line.
#[derive(Debug)]
pub struct ReferenceRefused(pub String);

impl std::fmt::Display for ReferenceRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReferenceRefused {}

/// A registry error: unreachable, refusing, or serving something other than
/// what was asked for. Exit code 11.
#[derive(Debug)]
pub struct RegistryError(pub String);

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegistryError {}

fn registry_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(RegistryError(message.into()))
}

/// How to reach registries: the options of `push`, `pull`, `station install
/// REF` and `station sync`.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// User name for the registry of the reference (with --password-stdin);
    /// otherwise credentials come from the Docker config
    /// ($DOCKER_CONFIG/config.json or ~/.docker/config.json, `auths`).
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,

    /// Read the password (or token) for --username from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// Speak plain HTTP to this registry (`HOST[:PORT]`). Repeatable. Without
    /// it only loopback registries are reached over HTTP; every other one over
    /// HTTPS.
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,

    /// Accept a tag that is not a semver version (`latest`, `stable`): a
    /// moving name. References by digest are always accepted.
    #[arg(long)]
    pub allow_latest: bool,

    /// Seconds to wait for a connection, and for each read, before the
    /// registry counts as unreachable.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub registry_timeout: u64,
}

/// A reference, checked: a digest, or a tag that names a version.
pub fn parse_reference(text: &str, allow_latest: bool) -> Result<Reference> {
    let refused = |message: String| anyhow::Error::new(ReferenceRefused(message));
    let reference: Reference = text
        .parse()
        .map_err(|err| refused(format!("`{text}` is not an OCI reference (REGISTRY/REPOSITORY:TAG or @sha256:...): {err}")))?;
    if reference.digest().is_some() {
        return Ok(reference);
    }
    let tag = reference.tag().unwrap_or("latest");
    if semver::Version::parse(tag).is_err() && !allow_latest {
        return Err(refused(format!(
            "`{text}`: tag `{tag}` is not a semver version: a moving tag can change under a line; use a version tag or `@sha256:...` (or pass --allow-latest)"
        )));
    }
    Ok(reference)
}

/// Whether `registry` (`HOST[:PORT]`) is this machine.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A client for the registries `references` name, with their credentials.
pub struct Registry {
    client: Client,
    /// For the manifest, read under [`MAX_METADATA_BYTES`].
    http: reqwest::Client,
    /// Registries spoken to over plain HTTP.
    plain: Vec<String>,
    args: RegistryArgs,
    password: Option<String>,
    runtime: tokio::runtime::Runtime,
}

/// A package pulled and checked against its digests.
pub struct Pulled {
    /// The package's bytes, exactly the layer's.
    pub bytes: Vec<u8>,
    /// `REGISTRY/REPOSITORY@sha256:...`: the immutable reference of what was
    /// pulled (the manifest's digest).
    pub pinned: String,
}

impl Registry {
    /// A client for `references` (plain HTTP for the loopback ones and those
    /// named with --insecure). --username applies to one registry only: every
    /// reference must name the same one.
    pub fn new(args: &RegistryArgs, references: &[&Reference]) -> Result<Registry> {
        // One TLS provider for the process (ring); a second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut plain: Vec<String> = args.insecure.clone();
        plain.extend(references.iter().map(|r| r.resolve_registry().to_owned()).filter(|registry| is_loopback(registry)));
        let timeout = Duration::from_secs(args.registry_timeout.max(1));
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .user_agent(concat!("pv-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot make an HTTP client")?;
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain.clone()),
            connect_timeout: Some(timeout),
            read_timeout: Some(timeout),
            user_agent: concat!("pv-host/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let password = if args.password_stdin {
            let registries: std::collections::BTreeSet<&str> = references.iter().map(|r| r.resolve_registry()).collect();
            if registries.len() > 1 {
                bail!(
                    "--username applies to one registry, and this names {registries:?}: put the credentials of each in the Docker config (`auths`)"
                );
            }
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("cannot read the password from standard input")?;
            Some(password.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            None
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Registry { client: Client::new(config), http, plain, args: args.clone(), password, runtime })
    }

    /// The credentials for `reference`'s registry: --username for it, else
    /// its entry in the Docker config, else anonymous.
    fn auth(&self, reference: &Reference) -> Result<RegistryAuth> {
        if let (Some(user), Some(password)) = (&self.args.username, &self.password) {
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        Ok(match credentials::from_docker_config(reference.resolve_registry())? {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        })
    }

    fn failed(&self, what: &str, reference: &Reference, err: impl std::fmt::Display) -> anyhow::Error {
        registry_error(format!("{what} {reference}: {err}"))
    }

    /// Push a signed package; the immutable `REPOSITORY@sha256:...` it can be
    /// pulled by. The tag, when the reference has one, must be the package's
    /// version.
    pub fn push(&self, reference: &Reference, package: Vec<u8>) -> Result<String> {
        let (artifact, manifest) = Artifact::of_package(package)?;
        if let Some(tag) = reference.tag()
            && reference.digest().is_none()
            && semver::Version::parse(tag).is_ok()
            && tag != manifest.version.to_string()
        {
            return Err(anyhow::Error::new(ReferenceRefused(format!(
                "tag `{tag}` but the package is {} {}: tag it with its version",
                manifest.name, manifest.version
            ))));
        }
        let auth = self.auth(reference)?;
        self.runtime.block_on(async {
            self.client
                .auth(reference, &auth, RegistryOperation::Push)
                .await
                .map_err(|err| self.failed("cannot log in to push", reference, err))?;
            let Artifact { manifest: body, config, layer, layer_digest, config_digest } = artifact;
            self.client
                .push_blob(reference, layer, &layer_digest)
                .await
                .map_err(|err| self.failed("cannot upload the package to", reference, err))?;
            self.client
                .push_blob(reference, config, &config_digest)
                .await
                .map_err(|err| self.failed("cannot upload the config to", reference, err))?;
            let digest = digest_of(&body);
            let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
            self.client
                .push_manifest_raw(reference, body, content_type)
                .await
                .map_err(|err| self.failed("cannot push the manifest to", reference, err))?;
            Ok(format!("{}/{}@{digest}", reference.resolve_registry(), reference.repository()))
        })
    }

    /// Pull the package `reference` names and check it against its digests:
    /// the manifest against the reference's digest (when it has one), the one
    /// layer against the manifest. Nothing is admitted here: the caller checks
    /// the signatures before writing anything.
    pub fn pull(&self, reference: &Reference) -> Result<Pulled> {
        let auth = self.auth(reference)?;
        self.runtime.block_on(async {
            let token = self
                .client
                .auth(reference, &auth, RegistryOperation::Pull)
                .await
                .map_err(|err| self.failed("cannot log in to pull", reference, err))?;
            let body = self.fetch_manifest(reference, &auth, token.as_deref()).await?;
            let digest = digest_of(&body);
            if let Some(expected) = reference.digest()
                && expected != digest
            {
                return Err(registry_error(format!(
                    "{reference}: the registry served a manifest with digest {digest}, not the one asked for: refused"
                )));
            }
            let (_, layer) = artifact::package_layer(&body, MAX_PACKAGE_BYTES).map_err(|err| registry_error(format!("{reference}: {err:#}")))?;
            let mut bytes = CappedBuffer::new(layer.size);
            let descriptor = oci_client::manifest::OciDescriptor {
                media_type: layer.media_type.clone(),
                digest: layer.digest.clone(),
                size: layer.size as i64,
                ..Default::default()
            };
            self.client
                .pull_blob(reference, &descriptor, &mut bytes)
                .await
                .map_err(|err| self.failed("cannot fetch the package of", reference, err))?;
            let bytes = bytes.into_inner();
            if digest_of(&bytes) != layer.digest || bytes.len() as u64 != layer.size {
                return Err(registry_error(format!(
                    "{reference}: the package the registry served does not match its manifest's digest {}: refused",
                    layer.digest
                )));
            }
            // A version tag must name the version inside: a tag moved to
            // another build is refused, not followed.
            if let Some(tag) = reference.tag().filter(|tag| semver::Version::parse(tag).is_ok()) {
                let file = pv_host::package_file::PackageFile::parse(&bytes).map_err(|err| registry_error(format!("{reference}: {err}")))?;
                if let Some(manifest) = file.manifest().map_err(|err| registry_error(format!("{reference}: {err}")))?
                    && manifest.version.to_string() != tag
                {
                    return Err(registry_error(format!(
                        "{reference}: tag `{tag}` holds {} {}: the tag was moved to another build; refused (pull by `@sha256:...` to take what it holds)",
                        manifest.name, manifest.version
                    )));
                }
            }
            let pinned = format!("{}/{}@{digest}", reference.resolve_registry(), reference.repository());
            Ok(Pulled { bytes, pinned })
        })
    }
}

impl Registry {
    /// The manifest `reference` names, read chunk by chunk and refused past
    /// [`MAX_METADATA_BYTES`]: a registry cannot make the host hold more than
    /// that for it, whatever it announces or sends.
    async fn fetch_manifest(&self, reference: &Reference, auth: &RegistryAuth, token: Option<&str>) -> Result<Vec<u8>> {
        let registry = reference.resolve_registry();
        let scheme = if self.plain.iter().any(|plain| plain == registry) { "http" } else { "https" };
        let target = reference.digest().or(reference.tag()).unwrap_or("latest");
        let url = format!("{scheme}://{registry}/v2/{}/manifests/{target}", reference.repository());
        let mut request = self.http.get(&url).header(http::header::ACCEPT, MANIFEST_MEDIA_TYPE);
        request = match (token, auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            _ => request,
        };
        let fetch_failed = |err: reqwest::Error| self.failed("cannot fetch the manifest of", reference, err);
        let mut response = request.send().await.map_err(fetch_failed)?;
        let status = response.status();
        if !status.is_success() {
            return Err(registry_error(format!("cannot fetch the manifest of {reference}: the registry answered {status}")));
        }
        let too_large = |size: u64| {
            registry_error(format!(
                "{reference}: a manifest of {size} bytes or more is not a package's (at most {MAX_METADATA_BYTES})"
            ))
        };
        if let Some(length) = response.content_length().filter(|&length| length > MAX_METADATA_BYTES as u64) {
            return Err(too_large(length));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fetch_failed)? {
            if body.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err(too_large((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An in-memory sink that refuses to grow past the size the manifest gave:
/// a registry cannot make the host allocate more than it announced.
struct CappedBuffer {
    bytes: Vec<u8>,
    cap: u64,
}

impl CappedBuffer {
    fn new(cap: u64) -> Self {
        CappedBuffer { bytes: Vec::with_capacity(usize::try_from(cap.min(MAX_PACKAGE_BYTES)).unwrap_or(0)), cap }
    }

    fn into_inner(self) -> Vec<u8> {
        self.bytes
    }
}

impl tokio::io::AsyncWrite for CappedBuffer {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.bytes.len() as u64 + buf.len() as u64 > self.cap {
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the {} bytes its manifest announced",
                self.cap
            ))));
        }
        self.bytes.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_must_name_versions_unless_allowed() {
        assert!(parse_reference("127.0.0.1:5000/lines/part-counter:1.0.0", false).is_ok());
        let digest = format!("127.0.0.1:5000/lines/part-counter@sha256:{}", "a".repeat(64));
        assert!(parse_reference(&digest, false).is_ok());
        for moving in ["127.0.0.1:5000/lines/part-counter:latest", "127.0.0.1:5000/lines/part-counter"] {
            let err = parse_reference(moving, false).expect_err(moving);
            assert!(err.to_string().contains("--allow-latest"), "{err}");
            assert!(parse_reference(moving, true).is_ok());
        }
    }

    #[test]
    fn only_loopback_registries_are_plain_http_by_default() {
        for local in ["127.0.0.1:5000", "localhost:5000", "[::1]:5000", "localhost"] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in ["registry.plant.example:5000", "10.0.0.7:5000", "docker.io"] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
