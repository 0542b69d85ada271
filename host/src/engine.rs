//! The [`Host`]: one wasmtime engine and linker shared by every package it loads.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::InspectionAlgorithm;
use crate::error::{Error, ErrorCode, Result};
use crate::guest_log::DEFAULT_LOG_BYTES_PER_CALL;
use crate::package::Package;
use crate::state::{Assets, HostState};

/// Builder for a [`Host`]; every setting has a documented default.
#[derive(Debug, Clone)]
pub struct HostBuilder {
    log_bytes_per_call: usize,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder { log_bytes_per_call: DEFAULT_LOG_BYTES_PER_CALL }
    }
}

impl HostBuilder {
    /// Cap on the guest log bytes of one call (messages, fields and printed lines);
    /// the rest is dropped with a marker record. Default:
    /// [`DEFAULT_LOG_BYTES_PER_CALL`] (64 KiB).
    pub fn log_bytes_per_call(mut self, bytes: usize) -> Self {
        self.log_bytes_per_call = bytes;
        self
    }

    /// Create the engine and the linker with WASI and the host imports.
    pub fn build(self) -> Result<Host> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|err| Error::host(format!("cannot create the engine: {err:#}")))?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|err| Error::host(format!("cannot link WASI: {err:#}")))?;
        InspectionAlgorithm::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|err| Error::host(format!("cannot link the host imports: {err:#}")))?;
        Ok(Host { inner: Arc::new(HostInner { engine, linker, settings: self }) })
    }
}

/// The host: compiles algorithm components and instantiates them in sandboxed
/// stores. Cheap to clone; clones share the engine.
///
/// ```no_run
/// # fn demo() -> pv_host::Result<()> {
/// let host = pv_host::Host::new()?;
/// let package = host.load_component_file("part_counter.wasm".as_ref())?;
/// let mut instance = package.instantiate()?;
/// println!("{} {}", instance.info().name, instance.info().version);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    linker: Linker<HostState>,
    settings: HostBuilder,
}

impl Host {
    /// A builder to configure the host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// A host with default settings.
    pub fn new() -> Result<Host> {
        HostBuilder::default().build()
    }

    /// Read and compile a bare component file (an unpackaged `.wasm` built for
    /// `wasm32-wasip2`). Error 2001 when the file cannot be read, 2002 when it is
    /// not a valid component, 2003 when it does not fit the contract.
    pub fn load_component_file(&self, path: &Path) -> Result<Package> {
        let bytes = std::fs::read(path).map_err(|err| {
            Error::package(ErrorCode::PackageUnreadable, format!("cannot read package {}: {err}", path.display()))
        })?;
        self.load_component(&bytes, &path.display().to_string())
    }

    /// Compile a bare component from bytes; `origin` names it in messages.
    pub fn load_component(&self, bytes: &[u8], origin: &str) -> Result<Package> {
        self.compile(bytes, origin, Assets::default())
    }

    pub(crate) fn compile(&self, bytes: &[u8], origin: &str, assets: Assets) -> Result<Package> {
        let malformed = |message: String| Error::package(ErrorCode::PackageMalformed, message);
        if !bytes.starts_with(b"\0asm") {
            return Err(malformed(format!("{origin} is not a WebAssembly file")));
        }
        if !wasmparser::Parser::is_component(bytes) {
            return Err(malformed(format!(
                "{origin} is a core WebAssembly module, not a component: build the algorithm for wasm32-wasip2"
            )));
        }
        let component = Component::from_binary(&self.inner.engine, bytes)
            .map_err(|err| malformed(format!("{origin} is not a valid component: {err:#}")))?;
        Package::new(self.clone(), component, origin, assets)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    pub(crate) fn log_bytes_per_call(&self) -> usize {
        self.inner.settings.log_bytes_per_call
    }
}
