//! Python guests built against `wit/vision`, composed with the vision component
//! as `pv-host pack --compose` composes them.

use pv_host::package_file::{Composed, PackageFile, VISION_INTERFACE_PREFIX, compose};

/// Whether the component imports the vision interface (and must be composed to run).
pub fn imports_vision(component: &[u8]) -> bool {
    PackageFile::parse(component)
        .and_then(|file| file.interfaces())
        .is_ok_and(|(imports, _)| imports.iter().any(|name| name.starts_with(VISION_INTERFACE_PREFIX)))
}

/// `component` (named `name`) composed with the vision component the test
/// artifacts built.
pub fn with_vision(name: &str, component: &[u8]) -> Composed {
    // The part is named by its file name, as `pv-host pack` names it.
    let name = std::path::Path::new(name).file_name().and_then(|file| file.to_str()).unwrap_or(name);
    let vision = std::fs::read(pv_test_artifacts::PV_VISION_COMPONENT).expect("the vision component is built");
    compose(name, component, &[("pv_vision_component.wasm".to_owned(), vision)]).expect("composes with the vision component")
}
