//! Reading a package file from disk, bounded before a byte is read.

use std::path::Path;

use crate::durable;
use crate::error::{Error, PackageCode, Result};

/// Largest package file the host reads: 1 GiB.
pub const MAX_PACKAGE_BYTES: u64 = 1 << 30;

/// Read a package file once (2101 when it cannot be): only a regular file
/// (a FIFO or a device is refused, checked on the open handle, without
/// waiting on it), and one over [`MAX_PACKAGE_BYTES`] is refused by its size
/// before a byte is read. A symbolic link is followed: a user may name a
/// package through one.
pub fn read_package_file(path: &Path) -> Result<Vec<u8>> {
    read(path, true)
}

/// [`read_package_file`] without following a symbolic link in the last
/// place: for files in a directory the host manages (a station's packages),
/// where a link is never what was written.
pub(crate) fn read_package_file_no_follow(path: &Path) -> Result<Vec<u8>> {
    read(path, false)
}

fn read(path: &Path, follow: bool) -> Result<Vec<u8>> {
    durable::read_regular(path, follow, MAX_PACKAGE_BYTES).map_err(|err| {
        let message = if err.kind() == std::io::ErrorKind::FileTooLarge {
            format!("package {} is over the {MAX_PACKAGE_BYTES}-byte limit", path.display())
        } else {
            format!("cannot read package {}: {err}", path.display())
        };
        Error::package(PackageCode::Unreadable, message)
    })
}
