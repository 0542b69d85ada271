//! A small algorithm written in WebAssembly text whose name, version and
//! product ids are chosen by the test, and whose every `execute` answers OK with
//! `{"version":"<its version>"}` as its debug output: two versions of one
//! package that the manifest-against-`get-info` check accepts and whose
//! answers tell which version gave them.
//!
//! (The example algorithms take their version from their crate at build time,
//! so packing the part counter's component under another manifest version is
//! refused with 2111, as it should be.)

use pv_host::package_file::{Manifest, RequestedLimits, SUPPORTED_WIT, SecretKey, pack};

use crate::wat::{HEAP_BASE, IFACE, Module, RETURN_AREA, StaticData};

/// The component: `get-info` says `name`, `version`, `pids`, one step without
/// params; `execute` answers OK with the version in its debug output.
pub fn component(name: &str, version: &str, pids: &[&str]) -> Vec<u8> {
    let mut data = StaticData::default();
    let name = data.raw(name.as_bytes());
    let version_string = data.raw(version.as_bytes());
    let debug = data.raw(format!("{{\"version\":\"{version}\"}}").as_bytes());
    let step_name = data.raw(b"report version");
    let pid_strings: Vec<(u32, u32)> = pids.iter().map(|pid| data.raw(pid.as_bytes())).collect();
    let pid_list = data.words(&pid_strings.iter().flat_map(|&(p, l)| [p, l]).collect::<Vec<_>>());
    // step-spec { index, name, description, params }
    let step = data.words(&[1, step_name.0, step_name.1, 0, 0, 0, 0]);
    // algorithm-info { name, version, description, supported-pids, steps }
    let info = data.words(&[name.0, name.1, version_string.0, version_string.1, 0, 0, pid_list, pids.len() as u32, step, 1]);
    assert!(data.address() < HEAP_BASE, "the static data overlaps the heap");

    let execute = format!(
        r#"  ;; result<execute-output, _> at RETURN_AREA: 0 tag, 4 verdict (OK), 36 debug
  ;; option tag, 40/44 the debug string.
  (func (export "{IFACE}#execute") (param $input i32) (result i32)
    (drop (call $clear))
    ;; The heap is reset on every call: nothing the host copied in is kept.
    (global.set $heap (i32.const {HEAP_BASE}))
    (i32.store8 offset=36 (i32.const {RETURN_AREA}) (i32.const 1))
    (i32.store offset=40 (i32.const {RETURN_AREA}) (i32.const {debug_ptr}))
    (i32.store offset=44 (i32.const {RETURN_AREA}) (i32.const {debug_len}))
    (i32.const {RETURN_AREA}))"#,
        debug_ptr = debug.0,
        debug_len = debug.1,
    );
    Module {
        pages: 1,
        declarations: "",
        heap_base: HEAP_BASE,
        data: &data,
        realloc_prelude: "",
        info,
        setup: "",
        execute: &execute,
    }
    .component()
}

/// The manifest that goes with [`component`].
pub fn manifest(name: &str, version: &str, pids: &[&str]) -> Manifest {
    Manifest {
        name: name.into(),
        version: version.parse().expect("a semver version"),
        description: "reports its version".into(),
        pids: pids.iter().map(|pid| (*pid).to_owned()).collect(),
        wit: SUPPORTED_WIT.into(),
        publisher: "pv-host tests".into(),
        limits: RequestedLimits::default(),
        assets: Vec::new(),
        parts: Vec::new(),
    }
}

/// The package of [`component`] signed with `key`.
pub fn package(name: &str, version: &str, pids: &[&str], key: &SecretKey) -> Vec<u8> {
    pack(&component(name, version, pids), &manifest(name, version, pids), &[], Some(key)).expect("packs")
}
