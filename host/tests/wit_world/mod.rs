//! The WAT test guests' last step, shared by `wat_guest` and `versioned_guest`:
//! a core module in WAT, given the `inspection-algorithm` world of `wit/` and
//! encoded as a component.

/// Parse `wat`, embed the contract's world and encode the component.
pub fn encode_component(wat: &str) -> Vec<u8> {
    let mut module = wat::parse_str(wat).expect("the WAT guest parses");
    let mut resolve = wit_parser::Resolve::default();
    let wit_dir = pv_test_artifacts::fixtures::examples_dir().join("../wit");
    let (package, _) = resolve.push_path(&wit_dir).expect("the WIT package parses");
    let world = resolve.select_world(&[package], Some("inspection-algorithm")).expect("the world exists");
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)
        .expect("the world embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("the module fits the world")
        .validate(true)
        .encode()
        .expect("the component encodes")
}
