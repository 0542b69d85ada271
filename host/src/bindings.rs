//! Host bindings generated from the WIT contract in `wit/`.

#[allow(
    missing_docs,
    reason = "the generated items carry the WIT comments as docs where the WIT has them; the few helpers it adds have none"
)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "inspection-algorithm",
        additional_derives: [PartialEq],
    });
}

pub(crate) use generated::*;

/// The contract's data types, as the host sees them.
pub mod types {
    pub use super::generated::procvision::algorithm::log::Level as LogLevel;
    pub use super::generated::procvision::algorithm::types::*;
}
