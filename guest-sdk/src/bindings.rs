//! Bindings generated from the WIT contract in `wit/`.
//!
//! Algorithm authors do not use these directly: the crate root re-exports the types
//! they need and [`export_algorithm!`](crate::export_algorithm) wires the exports.

wit_bindgen::generate!({
    path: "../wit",
    world: "inspection-algorithm",
    // The export macro is invoked from the author's crate through
    // `pv_guest::export_algorithm!`, so it must be public and must find the
    // generated types through this crate's path, not the caller's.
    pub_export_macro: true,
    export_macro_name: "__export_inspection_algorithm",
    default_bindings_module: "pv_guest::__private::bindings",
    runtime_path: "pv_guest::__private::wit_bindgen::rt",
    additional_derives: [PartialEq],
});
