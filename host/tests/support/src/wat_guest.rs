//! Hostile components written in WebAssembly text, for what Rust cannot (or will
//! not) produce: a table bomb, a bulk `memory.copy` loop, outputs that break the
//! canonical ABI (invalid UTF-8, pointers outside memory, bad discriminants), a
//! setup that never returns.
//!
//! A core module is written here with the exports the `inspection-algorithm` world
//! asks for and its static data laid out by [`StaticData`]; `wit-component`, given
//! the world from `wit/`, wraps it into a component.

use crate::wat::{HEAP_BASE, IFACE, Module, RETURN_AREA, StaticData};

/// What `setup` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Returns OK.
    Ok,
    /// Spins forever.
    Spin,
}

/// The product ids the WAT guest supports; the first byte picks the behaviour of
/// `execute`.
pub const PIDS: [&str; 7] = ["GOOD", "TABLE", "COPY", "UTF8", "POINTER", "LIST", "DISCRIMINANT"];

/// Allocation size that makes `cabi_realloc` spin (same as the Rust hostile guest).
pub const SNARE_BYTES: u32 = 65_402;
/// A gray image whose pixels are [`SNARE_BYTES`] long.
pub const SNARE_IMAGE: (u32, u32) = (1234, 53);

/// A `list<param-spec>` of text params named `p0`, `p1`... whose rules are
/// `patterns`; returns (pointer, length).
fn text_params(data: &mut StaticData, patterns: &[String]) -> (u32, u32) {
    let strings: Vec<((u32, u32), (u32, u32))> = patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| (data.raw(format!("p{i}").as_bytes()), data.raw(pattern.as_bytes())))
        .collect();
    // param-spec: 120 bytes, 8-aligned: name 0, description 8, kind 16 (the
    // discriminant; text = 3, its text-rule at 24: min-length 24, max-length
    // 32, pattern 40 (tag), 44 (ptr), 48 (len)), required 56, default 64.
    data.align(8);
    let ptr = data.address();
    for (name, pattern) in strings {
        let mut spec = [0u8; 120];
        spec[0..4].copy_from_slice(&name.0.to_le_bytes());
        spec[4..8].copy_from_slice(&name.1.to_le_bytes());
        spec[16] = 3;
        spec[40] = 1;
        spec[44..48].copy_from_slice(&pattern.0.to_le_bytes());
        spec[48..52].copy_from_slice(&pattern.1.to_le_bytes());
        data.raw(&spec);
    }
    (ptr, patterns.len() as u32)
}

/// The component: `setup` behaves as asked, `execute` by the first letter of the PID.
pub fn component(setup: Setup) -> Vec<u8> {
    component_with_patterns(setup, &[])
}

/// [`component`], with step 1 declaring one text param per pattern (`p0`,
/// `p1`...), each with that pattern as its rule.
pub fn component_with_patterns(setup: Setup, patterns: &[String]) -> Vec<u8> {
    let mut data = StaticData::default();
    let name = data.raw(b"wat-hostile");
    let version = data.raw(b"1.0.0");
    let step_name = data.raw(b"misbehave");
    let pid_strings: Vec<(u32, u32)> = PIDS.iter().map(|pid| data.raw(pid.as_bytes())).collect();
    let invalid_utf8 = data.raw(&[0xC3, 0x28, 0xFF, 0xFE]);
    let pid_list = data.words(&pid_strings.iter().flat_map(|&(p, l)| [p, l]).collect::<Vec<_>>());
    let params = text_params(&mut data, patterns);
    // step-spec { index, name, description, params }
    let step = data.words(&[1, step_name.0, step_name.1, 0, 0, params.0, params.1]);
    // algorithm-info { name, version, description, supported-pids, steps }
    let info = data.words(&[name.0, name.1, version.0, version.1, 0, 0, pid_list, PIDS.len() as u32, step, 1]);
    // The heap starts after the static data, which big patterns make big.
    let heap_base = HEAP_BASE.max(data.address().next_multiple_of(65_536));
    let pages = heap_base / 65_536 + 1;

    let setup = match setup {
        Setup::Ok => "",
        Setup::Spin => "(loop $spin (br $spin))",
    };
    let execute = format!(
        r#"  ;; result<execute-output, _> at RETURN_AREA: 0 tag, 4 verdict, 8 ng-reason tag,
  ;; 12/16 ng-reason string, 20/24 defect rects, 28/32 position rects, 36.. debug.
  (func (export "{IFACE}#execute") (param $input i32) (result i32)
    (local $letter i32)
    (drop (call $clear))
    ;; step-input: 0 step-index, 4/8 pid string.
    (local.set $letter (i32.load8_u (i32.load offset=4 (local.get $input))))
    (block $done
      ;; T: grow the table until refused, then trap.
      (if (i32.eq (local.get $letter) (i32.const 84)) (then
        (loop $grow
          (br_if $grow (i32.ne (table.grow $table (ref.null func) (i32.const 1000)) (i32.const -1))))
        unreachable))
      ;; C: copy 16 MiB back and forth forever.
      (if (i32.eq (local.get $letter) (i32.const 67)) (then
        (drop (memory.grow (i32.const 1024)))
        (loop $copy
          (memory.copy (i32.const 0x2000000) (i32.const 0x10000) (i32.const 0x1000000))
          (br $copy))))
      ;; U: NG with a reason that is not UTF-8.
      (if (i32.eq (local.get $letter) (i32.const 85)) (then
        (i32.store8 offset=4 (i32.const {RETURN_AREA}) (i32.const 1))
        (i32.store8 offset=8 (i32.const {RETURN_AREA}) (i32.const 1))
        (i32.store offset=12 (i32.const {RETURN_AREA}) (i32.const {utf8_ptr}))
        (i32.store offset=16 (i32.const {RETURN_AREA}) (i32.const {utf8_len}))
        (br $done)))
      ;; P: NG with a reason that points past the end of memory.
      (if (i32.eq (local.get $letter) (i32.const 80)) (then
        (i32.store8 offset=4 (i32.const {RETURN_AREA}) (i32.const 1))
        (i32.store8 offset=8 (i32.const {RETURN_AREA}) (i32.const 1))
        (i32.store offset=12 (i32.const {RETURN_AREA}) (i32.const 0xFFFFFF00))
        (i32.store offset=16 (i32.const {RETURN_AREA}) (i32.const 4096))
        (br $done)))
      ;; L: a million defect rects starting past the end of memory.
      (if (i32.eq (local.get $letter) (i32.const 76)) (then
        (i32.store8 offset=4 (i32.const {RETURN_AREA}) (i32.const 1))
        (i32.store offset=20 (i32.const {RETURN_AREA}) (i32.const 0x7FFF0000))
        (i32.store offset=24 (i32.const {RETURN_AREA}) (i32.const 1000000))
        (br $done)))
      ;; D: a verdict that is neither OK nor NG.
      (if (i32.eq (local.get $letter) (i32.const 68)) (then
        (i32.store8 offset=4 (i32.const {RETURN_AREA}) (i32.const 7))
        (br $done))))
    (i32.const {RETURN_AREA}))"#,
        utf8_ptr = invalid_utf8.0,
        utf8_len = invalid_utf8.1,
    );
    Module {
        pages,
        declarations: "(table $table 1 funcref)",
        heap_base,
        data: &data,
        // The snare: an allocation of this size spins.
        realloc_prelude: &format!("(if (i32.eq (local.get $size) (i32.const {SNARE_BYTES})) (then (loop $spin (br $spin))))"),
        info,
        setup,
        execute: &execute,
    }
    .component()
}
