//! A small algorithm written in WebAssembly text whose name, version and
//! product ids are chosen by the test, and whose every `execute` answers OK with
//! `{"version":"<its version>"}` as its debug output: two versions of one
//! package that the manifest-against-`get-info` check accepts and whose
//! answers tell which version gave them.
//!
//! (The example algorithms take their version from their crate at build time,
//! so packing the part counter's component under another manifest version is
//! refused with 2111, as it should be.)

#![allow(dead_code, reason = "each test binary uses a part of this module")]

use std::fmt::Write as _;

#[path = "../wit_world/mod.rs"]
mod wit_world;

use pv_host::package_file::{Manifest, RequestedLimits, SUPPORTED_WIT, SecretKey, pack};

/// Where the static data starts, and where the bump allocator starts.
const DATA_BASE: u32 = 1024;
const HEAP_BASE: u32 = 16 * 1024;
/// The return area every export writes its result into.
const RETURN_AREA: u32 = 512;

struct StaticData {
    bytes: Vec<u8>,
}

impl StaticData {
    fn address(&self) -> u32 {
        DATA_BASE + self.bytes.len() as u32
    }

    fn raw(&mut self, bytes: &[u8]) -> (u32, u32) {
        let ptr = self.address();
        self.bytes.extend_from_slice(bytes);
        (ptr, bytes.len() as u32)
    }

    fn words(&mut self, words: &[u32]) -> u32 {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        let ptr = self.address();
        for word in words {
            self.bytes.extend_from_slice(&word.to_le_bytes());
        }
        ptr
    }

    fn segment(&self) -> String {
        let mut escaped = String::new();
        for byte in &self.bytes {
            write!(escaped, "\\{byte:02x}").expect("writing to a String");
        }
        format!("(data (i32.const {DATA_BASE}) \"{escaped}\")")
    }
}

/// The component: `get-info` says `name`, `version`, `pids`, one step without
/// params; `execute` answers OK with the version in its debug output.
pub fn component(name: &str, version: &str, pids: &[&str]) -> Vec<u8> {
    let mut data = StaticData { bytes: Vec::new() };
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

    let iface = "procvision:algorithm/algorithm@1.0.0";
    let wat = format!(
        r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const {HEAP_BASE}))
  {segment}

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
               (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.const 1)) (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (local.get $ptr))

  (func $clear (result i32)
    (memory.fill (i32.const {RETURN_AREA}) (i32.const 0) (i32.const 64))
    (i32.const {RETURN_AREA}))

  (func (export "{iface}#get-info") (result i32) (i32.const {info}))
  (func (export "{iface}#setup") (result i32) (call $clear))
  (func (export "{iface}#teardown"))
  (func (export "{iface}#reset") (result i32) (call $clear))
  (func (export "{iface}#on-step-start") (param i32 i32 i32) (result i32) (call $clear))
  (func (export "{iface}#on-step-finish") (param i32 i32 i32 i32) (result i32) (call $clear))
  (func (export "{iface}#pre-execute") (param i32) (result i32) (call $clear))

  ;; result<execute-output, _> at RETURN_AREA: 0 tag, 4 verdict (OK), 36 debug
  ;; option tag, 40/44 the debug string.
  (func (export "{iface}#execute") (param $input i32) (result i32)
    (drop (call $clear))
    ;; The heap is reset on every call: nothing the host copied in is kept.
    (global.set $heap (i32.const {HEAP_BASE}))
    (i32.store8 offset=36 (i32.const {RETURN_AREA}) (i32.const 1))
    (i32.store offset=40 (i32.const {RETURN_AREA}) (i32.const {debug_ptr}))
    (i32.store offset=44 (i32.const {RETURN_AREA}) (i32.const {debug_len}))
    (i32.const {RETURN_AREA}))
)"#,
        segment = data.segment(),
        debug_ptr = debug.0,
        debug_len = debug.1,
    );
    wit_world::encode_component(&wat)
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
    }
}

/// The package of [`component`] signed with `key`.
pub fn package(name: &str, version: &str, pids: &[&str], key: &SecretKey) -> Vec<u8> {
    pack(&component(name, version, pids), &manifest(name, version, pids), &[], Some(key)).expect("packs")
}
