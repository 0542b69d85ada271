//! Reading a package file from disk, bounded before a byte is read.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, PackageCode, Result};

/// Largest package file the host reads: 1 GiB.
pub const MAX_PACKAGE_BYTES: u64 = 1 << 30;

/// Read a package file once, refusing files over [`MAX_PACKAGE_BYTES`] before
/// reading them (2101).
pub fn read_package_file(path: &Path) -> Result<Vec<u8>> {
    let unreadable =
        |err: std::io::Error| Error::package(PackageCode::Unreadable, format!("cannot read package {}: {err}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    // `take` bounds the read even if the file grows while it is read.
    file.take(MAX_PACKAGE_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_PACKAGE_BYTES {
        return Err(Error::package(
            PackageCode::Unreadable,
            format!("package {} is over the {MAX_PACKAGE_BYTES}-byte limit", path.display()),
        ));
    }
    Ok(bytes)
}
