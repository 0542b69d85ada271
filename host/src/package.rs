//! A compiled algorithm, ready to be instantiated.

use std::sync::Arc;

use wasmtime::component::Component;

use crate::bindings::InspectionAlgorithmPre;
use crate::engine::Host;
use crate::error::{Error, ErrorCode, Result};
use crate::instance::Instance;
use crate::state::Assets;

/// A compiled, linked algorithm. Instantiating it is cheap (the imports are
/// resolved once, here); each [`Instance`] is an isolated sandbox of its own.
/// Cheap to clone.
#[derive(Clone)]
pub struct Package {
    inner: Arc<PackageInner>,
}

struct PackageInner {
    host: Host,
    pre: InspectionAlgorithmPre<crate::state::HostState>,
    origin: String,
    assets: Assets,
}

impl Package {
    pub(crate) fn new(host: Host, component: Component, origin: &str, assets: Assets) -> Result<Package> {
        let contract = |err: wasmtime::Error| {
            Error::package(
                ErrorCode::ContractMismatch,
                format!("{origin} does not implement procvision:algorithm@1.0.0: {err:#}"),
            )
        };
        let instance_pre = host.linker().instantiate_pre(&component).map_err(contract)?;
        let pre = InspectionAlgorithmPre::new(instance_pre).map_err(contract)?;
        Ok(Package { inner: Arc::new(PackageInner { host, pre, origin: origin.to_owned(), assets }) })
    }

    /// Where the package came from (its path), for messages.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// Names of the assets shipped in the package.
    pub fn asset_names(&self) -> impl Iterator<Item = &str> {
        self.inner.assets.keys().map(String::as_str)
    }

    /// Create a fresh instance in a store of its own and ask it for its
    /// [`info`](Instance::info). `setup` is not called yet.
    pub fn instantiate(&self) -> Result<Instance> {
        Instance::new(self.inner.host.engine(), &self.inner.pre, self.inner.assets.clone(), self.inner.host.log_bytes_per_call())
    }
}
