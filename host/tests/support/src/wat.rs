//! What the WAT test guests share: their static data laid out with the
//! canonical ABI ([`StaticData`]), the core module every one of them is (a bump
//! allocator, results written to one return area, the interface's exports), and
//! the last step, the module given the `inspection-algorithm` world of `wit/` and
//! encoded as a component ([`encode_component`]).

use std::fmt::Write as _;

/// Where the static data starts.
pub const DATA_BASE: u32 = 1024;
/// Where the bump allocator starts, unless the static data reaches past it.
pub const HEAP_BASE: u32 = 16 * 1024;
/// The return area every export writes its result into.
pub const RETURN_AREA: u32 = 512;
/// The interface the guests export.
pub const IFACE: &str = "procvision:algorithm/algorithm@1.0.0";

/// Static data with canonical-ABI layouts, placed from [`DATA_BASE`].
#[derive(Default)]
pub struct StaticData {
    bytes: Vec<u8>,
}

impl StaticData {
    /// Where the next byte goes.
    pub fn address(&self) -> u32 {
        DATA_BASE + self.bytes.len() as u32
    }

    /// Pad to a multiple of `alignment` bytes.
    pub fn align(&mut self, alignment: usize) {
        while !self.bytes.len().is_multiple_of(alignment) {
            self.bytes.push(0);
        }
    }

    /// Raw bytes; returns (pointer, length).
    pub fn raw(&mut self, bytes: &[u8]) -> (u32, u32) {
        let ptr = self.address();
        self.bytes.extend_from_slice(bytes);
        (ptr, bytes.len() as u32)
    }

    /// Little-endian u32 words, 4-aligned; returns the pointer.
    pub fn words(&mut self, words: &[u32]) -> u32 {
        self.align(4);
        let ptr = self.address();
        for word in words {
            self.bytes.extend_from_slice(&word.to_le_bytes());
        }
        ptr
    }

    /// The `(data ...)` segment.
    pub fn segment(&self) -> String {
        let mut escaped = String::new();
        for byte in &self.bytes {
            write!(escaped, "\\{byte:02x}").expect("writing to a String");
        }
        format!("(data (i32.const {DATA_BASE}) \"{escaped}\")")
    }
}

/// A test guest's core module: what differs from one guest to another.
pub struct Module<'a> {
    /// Linear memory, in 64 KiB pages.
    pub pages: u32,
    /// Declarations beside the memory (a table, say).
    pub declarations: &'a str,
    /// Where the bump allocator starts.
    pub heap_base: u32,
    /// The static data.
    pub data: &'a StaticData,
    /// The first instructions of `cabi_realloc` (`$size` is the allocation's size).
    pub realloc_prelude: &'a str,
    /// The address of the `algorithm-info` `get-info` returns.
    pub info: u32,
    /// What `setup` does before it answers OK.
    pub setup: &'a str,
    /// The `execute` export, whole.
    pub execute: &'a str,
}

impl Module<'_> {
    /// The module in WAT.
    pub fn wat(&self) -> String {
        let Module { pages, declarations, heap_base, data, realloc_prelude, info, setup, execute } = self;
        let segment = data.segment();
        format!(
            r#"(module
  (memory (export "memory") {pages})
  {declarations}
  (global $heap (mut i32) (i32.const {heap_base}))
  {segment}

  ;; A bump allocator that never frees.
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    {realloc_prelude}
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

  (func (export "{IFACE}#get-info") (result i32) (i32.const {info}))
  (func (export "{IFACE}#setup") (result i32) {setup} (call $clear))
  (func (export "{IFACE}#teardown"))
  (func (export "{IFACE}#reset") (result i32) (call $clear))
  (func (export "{IFACE}#on-step-start") (param i32 i32 i32) (result i32) (call $clear))
  (func (export "{IFACE}#on-step-finish") (param i32 i32 i32 i32) (result i32) (call $clear))
  (func (export "{IFACE}#pre-execute") (param i32) (result i32) (call $clear))

{execute}
)"#
        )
    }

    /// The module, encoded as a component.
    pub fn component(&self) -> Vec<u8> {
        encode_component(&self.wat())
    }
}

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
