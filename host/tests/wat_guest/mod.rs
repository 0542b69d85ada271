//! Hostile components written in WebAssembly text, for what Rust cannot (or will
//! not) produce: a table bomb, a bulk `memory.copy` loop, outputs that break the
//! canonical ABI (invalid UTF-8, pointers outside memory, bad discriminants), a
//! setup that never returns.
//!
//! A core module is written here with the exports the `inspection-algorithm` world
//! asks for and its static data laid out by [`StaticData`]; `wit-component`, given
//! the world from `wit/`, wraps it into a component.

use std::fmt::Write as _;

#[path = "../wit_world/mod.rs"]
mod wit_world;

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

/// Where the static data starts, and where the bump allocator starts.
const DATA_BASE: u32 = 1024;
const HEAP_BASE: u32 = 16 * 1024;
/// The return area every export writes its result into.
const RETURN_AREA: u32 = 512;

/// Static data with canonical-ABI layouts, placed from [`DATA_BASE`].
struct StaticData {
    bytes: Vec<u8>,
}

impl StaticData {
    fn address(&self) -> u32 {
        DATA_BASE + self.bytes.len() as u32
    }

    fn align4(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// Raw bytes; returns (pointer, length).
    fn raw(&mut self, bytes: &[u8]) -> (u32, u32) {
        let ptr = self.address();
        self.bytes.extend_from_slice(bytes);
        (ptr, bytes.len() as u32)
    }

    fn align8(&mut self) {
        while !self.bytes.len().is_multiple_of(8) {
            self.bytes.push(0);
        }
    }

    /// A `list<param-spec>` of text params named `p0`, `p1`... whose rules are
    /// `patterns`; returns (pointer, length).
    fn text_params(&mut self, patterns: &[String]) -> (u32, u32) {
        let strings: Vec<((u32, u32), (u32, u32))> = patterns
            .iter()
            .enumerate()
            .map(|(i, pattern)| (self.raw(format!("p{i}").as_bytes()), self.raw(pattern.as_bytes())))
            .collect();
        // param-spec: 120 bytes, 8-aligned: name 0, description 8, kind 16 (the
        // discriminant; text = 3, its text-rule at 24: min-length 24, max-length
        // 32, pattern 40 (tag), 44 (ptr), 48 (len)), required 56, default 64.
        self.align8();
        let ptr = self.address();
        for (name, pattern) in strings {
            let mut spec = [0u8; 120];
            spec[0..4].copy_from_slice(&name.0.to_le_bytes());
            spec[4..8].copy_from_slice(&name.1.to_le_bytes());
            spec[16] = 3;
            spec[40] = 1;
            spec[44..48].copy_from_slice(&pattern.0.to_le_bytes());
            spec[48..52].copy_from_slice(&pattern.1.to_le_bytes());
            self.bytes.extend_from_slice(&spec);
        }
        (ptr, patterns.len() as u32)
    }

    /// Little-endian u32 words, 4-aligned; returns the pointer.
    fn words(&mut self, words: &[u32]) -> u32 {
        self.align4();
        let ptr = self.address();
        for word in words {
            self.bytes.extend_from_slice(&word.to_le_bytes());
        }
        ptr
    }

    /// The `(data ...)` segment.
    fn segment(&self) -> String {
        let mut escaped = String::new();
        for byte in &self.bytes {
            write!(escaped, "\\{byte:02x}").expect("writing to a String");
        }
        format!("(data (i32.const {DATA_BASE}) \"{escaped}\")")
    }
}

/// The component: `setup` behaves as asked, `execute` by the first letter of the PID.
pub fn component(setup: Setup) -> Vec<u8> {
    component_with_patterns(setup, &[])
}

/// [`component`], with step 1 declaring one text param per pattern (`p0`,
/// `p1`...), each with that pattern as its rule.
pub fn component_with_patterns(setup: Setup, patterns: &[String]) -> Vec<u8> {
    let mut data = StaticData { bytes: Vec::new() };
    let name = data.raw(b"wat-hostile");
    let version = data.raw(b"1.0.0");
    let step_name = data.raw(b"misbehave");
    let pid_strings: Vec<(u32, u32)> = PIDS.iter().map(|pid| data.raw(pid.as_bytes())).collect();
    let invalid_utf8 = data.raw(&[0xC3, 0x28, 0xFF, 0xFE]);
    let pid_list = data.words(&pid_strings.iter().flat_map(|&(p, l)| [p, l]).collect::<Vec<_>>());
    let params = data.text_params(patterns);
    // step-spec { index, name, description, params }
    let step = data.words(&[1, step_name.0, step_name.1, 0, 0, params.0, params.1]);
    // algorithm-info { name, version, description, supported-pids, steps }
    let info = data.words(&[name.0, name.1, version.0, version.1, 0, 0, pid_list, PIDS.len() as u32, step, 1]);
    // The heap starts after the static data, which big patterns make big.
    let heap_base = HEAP_BASE.max(data.address().next_multiple_of(65_536));
    let pages = heap_base / 65_536 + 1;

    let iface = "procvision:algorithm/algorithm@1.0.0";
    let setup_body = match setup {
        Setup::Ok => "",
        Setup::Spin => "(loop $spin (br $spin))",
    };
    let wat = format!(
        r#"(module
  (memory (export "memory") {pages})
  (table $table 1 funcref)
  (global $heap (mut i32) (i32.const {heap_base}))
  {segment}

  ;; A bump allocator that never frees, and spins on the snare size.
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (if (i32.eq (local.get $size) (i32.const {SNARE_BYTES})) (then (loop $spin (br $spin))))
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

  ;; Every result starts as OK with empty fields.
  (func $clear (result i32)
    (memory.fill (i32.const {RETURN_AREA}) (i32.const 0) (i32.const 64))
    (i32.const {RETURN_AREA}))

  (func (export "{iface}#get-info") (result i32) (i32.const {info}))
  (func (export "{iface}#setup") (result i32) {setup_body} (call $clear))
  (func (export "{iface}#teardown"))
  (func (export "{iface}#reset") (result i32) (call $clear))
  (func (export "{iface}#on-step-start") (param i32 i32 i32) (result i32) (call $clear))
  (func (export "{iface}#on-step-finish") (param i32 i32 i32 i32) (result i32) (call $clear))
  (func (export "{iface}#pre-execute") (param i32) (result i32) (call $clear))

  ;; result<execute-output, _> at RETURN_AREA: 0 tag, 4 verdict, 8 ng-reason tag,
  ;; 12/16 ng-reason string, 20/24 defect rects, 28/32 position rects, 36.. debug.
  (func (export "{iface}#execute") (param $input i32) (result i32)
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
    (i32.const {RETURN_AREA}))
)"#,
        segment = data.segment(),
        utf8_ptr = invalid_utf8.0,
        utf8_len = invalid_utf8.1,
    );
    wit_world::encode_component(&wat)
}
