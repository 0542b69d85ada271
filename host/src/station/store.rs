//! Where installed packages live: `packages/<name>/<version>.pkg.wasm`, each
//! name-version written once, through a flushed temporary file renamed into
//! place without ever replacing a file that is there.

use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Error, Result, StationCode};

/// The directory of installed packages inside a station.
pub(crate) const PACKAGES_DIR: &str = "packages";
/// The file name suffix of an installed package.
const PACKAGE_SUFFIX: &str = ".pkg.wasm";

/// Where `name` `version` is stored. Names are checked by the manifest (lowercase
/// letters, digits, `-`, `_`, `.`, starting with a letter or digit) and semver
/// versions use letters, digits, `.`, `-` and `+`: both are plain file names.
pub(crate) fn package_path(station: &Path, name: &str, version: &semver::Version) -> PathBuf {
    station.join(PACKAGES_DIR).join(name).join(format!("{version}{PACKAGE_SUFFIX}"))
}

/// Refuse a directory of the station that someone other than the current
/// user (or root) owns or may write (2005): whoever can write it could put an
/// older signed version (or a FIFO) in place and activate it, around the
/// trust store's rollback record. A directory not there yet is fine (it is
/// created private); a symbolic link is judged by what it points to.
#[cfg(unix)]
pub(crate) fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_error("read", path, &err)),
    };
    let Some(problem) = durable::access_problem(metadata.uid(), metadata.mode(), true, 0o022) else {
        return Ok(());
    };
    Err(Error::station(
        StationCode::InstallFailed,
        format!("the station directory {} {problem}: anyone who can write it can change what the line runs", path.display()),
    ))
}

#[cfg(not(unix))]
pub(crate) fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// Check every directory on the way to `name`'s packages: the station, its
/// `packages` and `packages/<name>` (see [`check_permissions`]).
pub(crate) fn check_package_dirs(station: &Path, name: &str) -> Result<()> {
    let packages = station.join(PACKAGES_DIR);
    for dir in [station.to_owned(), packages.clone(), packages.join(name)] {
        check_permissions(&dir)?;
    }
    Ok(())
}

/// Whether `name` can name a directory of the store (a name read back from a
/// record is checked again: records are files anyone with access could edit).
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// The installed versions of every package: (name, version, path), sorted.
pub(crate) fn installed(station: &Path) -> Result<Vec<(String, semver::Version, PathBuf)>> {
    let root = station.join(PACKAGES_DIR);
    let mut found = Vec::new();
    let names = match std::fs::read_dir(&root) {
        Ok(names) => names,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(err) => return Err(io_error("read", &root, &err)),
    };
    for entry in names {
        let entry = entry.map_err(|err| io_error("read", &root, &err))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !plain_name(&name) || !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        check_permissions(&entry.path())?;
        let versions = std::fs::read_dir(entry.path()).map_err(|err| io_error("read", &entry.path(), &err))?;
        for version in versions {
            let version = version.map_err(|err| io_error("read", &entry.path(), &err))?;
            let file = version.file_name().to_string_lossy().into_owned();
            // Temporary files start with a dot and never parse as a version.
            let Some(parsed) = file.strip_suffix(PACKAGE_SUFFIX).and_then(|v| semver::Version::parse(v).ok()) else {
                continue;
            };
            found.push((name.clone(), parsed, version.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Store `bytes` as `path`, atomically, never replacing a file. Called under the
/// station's exclusive lock: a temporary file left beside it by a process that
/// died half-way is removed first (no other writer can be using it).
pub(crate) fn store_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let created = !dir.exists();
    crate::station::create_dirs(dir).map_err(|err| Error::station(StationCode::InstallFailed, err.to_string()))?;
    check_permissions(dir)?;
    if created && let Some(parent) = dir.parent() {
        durable::sync_dir(parent).map_err(|err| install_error("flush", parent, &err))?;
    }
    remove_stale_temporaries(dir);
    durable::write_new_durably(path, bytes).map_err(|err| install_error("write", path, &err))
}

/// Remove an installed package and, when it was the last version, its name's
/// directory.
pub(crate) fn remove(path: &Path) -> Result<()> {
    durable::remove_durably(path).map_err(|err| io_error("remove", path, &err))?;
    if let Some(dir) = path.parent() {
        remove_stale_temporaries(dir);
        // Fails while other versions are there, which is what is wanted.
        if std::fs::remove_dir(dir).is_ok()
            && let Some(parent) = dir.parent()
        {
            let _ = durable::sync_dir(parent);
        }
    }
    Ok(())
}

/// Remove temporary files a killed writer left in `dir` (best effort: a file
/// that cannot be removed is only clutter, never read as a package).
pub(crate) fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(durable::TEMPORARY_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn install_error(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::station(StationCode::InstallFailed, format!("cannot {what} {}: {err}", path.display()))
}

pub(crate) fn io_error(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::host(format!("cannot {what} {}: {err}", path.display()))
}
