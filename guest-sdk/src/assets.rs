//! Read-only files shipped inside the package: model weights, templates, lookup tables.
//!
//! ```no_run
//! # fn demo() -> pv_guest::Result<()> {
//! let template = pv_guest::assets::read("template.png")?;
//! # Ok(()) }
//! ```

use crate::bindings::procvision::algorithm::assets as host;
use crate::error::{Error, Result};

/// Names of the assets in the package.
pub fn names() -> Vec<String> {
    host::names()
}

/// The bytes of the named asset; error 1003 when it is missing or too large to read.
pub fn read(name: &str) -> Result<Vec<u8>> {
    host::read(name).map_err(|err| match err {
        host::AssetError::NotFound => Error::model_not_found(format!("asset `{name}` is not in the package")),
        host::AssetError::TooLarge => Error::model_not_found(format!("asset `{name}` is larger than the host lets a call read")),
    })
}
