//! Registry credentials from the Docker config, as `docker login` writes them:
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, its `auths`
//! object keyed by registry (`host:port`, optionally with a scheme and a path,
//! as Docker Hub's `https://index.docker.io/v1/`). Each entry applies to its own
//! registry only. Credential helpers (`credsStore`, `credHelpers`) are not run:
//! a registry that only has one is named in a warning, and `--username` with
//! `--password-stdin` is the way to give it credentials.

use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine as _;

/// The most bytes of Docker config read (a config is a few KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Where the Docker config is, if anywhere.
fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json")),
    }
}

/// `https://host:port/v1/` -> `host:port`; Docker Hub's names -> `docker.io`.
fn registry_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

/// The user and password the Docker config holds for `registry`, if any.
pub fn from_docker_config(registry: &str) -> Result<Option<(String, String)>> {
    let Some(path) = config_path() else { return Ok(None) };
    let text = match std::fs::File::open(&path) {
        Ok(file) => {
            use std::io::Read;
            let mut text = String::new();
            file.take(MAX_CONFIG_BYTES).read_to_string(&mut text).with_context(|| format!("cannot read {}", path.display()))?;
            text
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let wanted = registry_key(registry);
    let entry = config["auths"]
        .as_object()
        .and_then(|auths| auths.iter().find(|(key, _)| registry_key(key) == wanted))
        .map(|(_, entry)| entry);
    let Some(entry) = entry else {
        let helper =
            config["credHelpers"].as_object().is_some_and(|helpers| helpers.keys().any(|key| registry_key(key) == wanted));
        if helper || config["credsStore"].is_string() {
            tracing::warn!(registry, config = %path.display(), "the Docker config sends this registry to a credential helper, which pv-host does not run: pass --username and --password-stdin");
        }
        return Ok(None);
    };
    if let (Some(user), Some(password)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Ok(Some((user.to_owned(), password.to_owned())));
    }
    let Some(encoded) = entry["auth"].as_str() else { return Ok(None) };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .with_context(|| format!("{}: the `auth` of {registry} is not base64", path.display()))?;
    let decoded =
        String::from_utf8(decoded).with_context(|| format!("{}: the `auth` of {registry} is not text", path.display()))?;
    let (user, password) = decoded
        .split_once(':')
        .with_context(|| format!("{}: the `auth` of {registry} is not `user:password`", path.display()))?;
    Ok(Some((user.to_owned(), password.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_keys_match_with_or_without_scheme_and_path() {
        assert_eq!(registry_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_key("https://Registry.Plant.example:5000/v2/"), "registry.plant.example:5000");
    }
}
