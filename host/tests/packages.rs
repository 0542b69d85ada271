//! Signed packages: what is admitted, and every way a package can be refused,
//! each with its code. Refusals are checked by kind and code, never by message.

#![allow(unsafe_code, reason = "the allocation probe below implements `GlobalAlloc`, which is unsafe by nature")]

use pv_test_support::wat_guest;

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;

use pv_host::package_file::{Manifest, PackageFile, RequestedLimits, SUPPORTED_WIT, SecretKey, add_signature, pack};
use pv_host::types::Verdict;
use pv_host::{Admission, ErrorKind, Host, Session, TrustStore};
use wasm_encoder::{CustomSection, Section};

// ---- fixtures ---------------------------------------------------------------

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

fn vendor() -> SecretKey {
    key(1)
}

fn site_qa() -> SecretKey {
    key(2)
}

fn trust_of(keys: &[(&str, &SecretKey)]) -> TrustStore {
    let mut trust = TrustStore::in_memory();
    for (name, key) in keys {
        trust.add_key(name, key.public()).expect("a strong key is trusted");
    }
    trust
}

fn manifest(name: &str, version: &str, pids: &[&str]) -> Manifest {
    Manifest {
        name: name.into(),
        version: version.parse().expect("semver"),
        description: "test package".into(),
        pids: pids.iter().map(|p| p.to_string()).collect(),
        wit: SUPPORTED_WIT.into(),
        publisher: "pv-host tests".into(),
        limits: RequestedLimits::default(),
        assets: Vec::new(),
        parts: Vec::new(),
    }
}

fn wat_manifest() -> Manifest {
    manifest("wat-hostile", "1.0.0", &wat_guest::PIDS)
}

/// The smallest real algorithm: the WAT guest, with one asset, signed by the
/// vendor.
fn small_package() -> Vec<u8> {
    let component = wat_guest::component(wat_guest::Setup::Ok);
    pack(&component, &wat_manifest(), &[("probe.txt".into(), b"probe".to_vec())], Some(&vendor())).expect("packs")
}

/// A manifest that matches the hostile guest: its product ids as its
/// `get-info` lists them (read from the component, so a new one needs no edit here).
fn hostile_manifest() -> Manifest {
    let package = Host::new().expect("host").load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("hostile guest");
    let info = package.instantiate().expect("instantiates").info().clone();
    let pids: Vec<&str> = info.supported_pids.iter().map(String::as_str).collect();
    manifest("hostile", &info.version, &pids)
}

fn refusal(result: pv_host::Result<impl std::fmt::Debug>) -> (ErrorKind, u32) {
    let err = result.expect_err("the package must be refused");
    (err.kind(), err.code().number())
}

fn custom(name: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    CustomSection { name: Cow::Borrowed(name), data: Cow::Borrowed(data) }.append_to(&mut bytes);
    bytes
}

// ---- admitted ---------------------------------------------------------------

#[test]
fn a_signed_package_is_admitted_and_its_guest_reads_its_asset() {
    let component = std::fs::read(pv_test_artifacts::HOSTILE).expect("hostile guest");
    let mut wanted = hostile_manifest();
    wanted.limits = RequestedLimits { memory_mb: Some(64), ..Default::default() };
    let bytes =
        pack(&component, &wanted, &[("probe.txt".into(), b"signed asset text".to_vec())], Some(&vendor())).expect("packs");
    let trust = trust_of(&[("vendor", &vendor())]);
    let package = Host::new().expect("host").load_package(&bytes, "hostile.pkg", &Admission::new(&trust)).expect("admitted");

    assert_eq!(package.signers().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["vendor"]);
    assert_eq!(package.manifest().expect("a manifest").name, "hostile");
    assert_eq!(package.limits().memory_bytes(), 64 << 20, "the manifest asked for less than the policy");

    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    let input = pv_host::types::StepInput {
        step_index: 1,
        pid: "ASSET".into(),
        step_desc: String::new(),
        params: Vec::new(),
        image: pv_host::types::Image {
            meta: pv_host::types::ImageMeta {
                width: 2,
                height: 2,
                format: pv_host::types::PixelFormat::Gray8,
                timestamp_ms: 0,
                camera_id: String::new(),
            },
            pixels: vec![0; 4],
        },
        guide_image: None,
        guide_info: Vec::new(),
    };
    let out = instance.execute(&mut Session::new("s"), &input).into_result().expect("runs");
    assert_eq!((out.verdict, out.ng_reason.as_deref()), (Verdict::Ng, Some("signed asset text")));
}

#[test]
fn a_package_countersigned_by_site_qa_meets_a_two_signer_policy() {
    let once = small_package();
    let twice = add_signature(&once, &site_qa()).expect("countersigned");
    let trust = trust_of(&[("vendor", &vendor()), ("qa", &site_qa())]).with_required_signers(2);
    assert_eq!(refusal(Admission::new(&trust).verify(&once, "once")), (ErrorKind::Trust, 2110));
    let verified = Admission::new(&trust).verify(&twice, "twice").expect("two trusted signers");
    assert_eq!(verified.signers.len(), 2);
    Host::new().expect("host").load_package(&twice, "twice", &Admission::new(&trust)).expect("admitted");
    // The same key twice is one signer, and `sign` refuses to do it.
    assert_eq!(refusal(add_signature(&twice, &vendor())), (ErrorKind::Package, 2102));
}

#[test]
fn a_signature_by_an_unknown_key_after_the_trusted_one_is_refused() {
    // Policy: every byte of an admitted package is covered by a trusted
    // signature. A stranger's signature appended after the vendor's changed the
    // file after the trusted signature: refused.
    let trust = trust_of(&[("vendor", &vendor())]);
    let appended = add_signature(&small_package(), &key(9)).expect("countersigned by a stranger");
    assert_eq!(refusal(Admission::new(&trust).verify(&appended, "appended")), (ErrorKind::Trust, 2108));
    assert_eq!(
        refusal(Host::new().expect("host").load_package(&appended, "appended", &Admission::new(&trust))),
        (ErrorKind::Trust, 2108)
    );
    // A stranger's signature before the vendor's is covered by the vendor's.
    let component = wat_guest::component(wat_guest::Setup::Ok);
    let stranger_first = pack(&component, &wat_manifest(), &[], Some(&key(9))).expect("packs");
    let vendor_last = add_signature(&stranger_first, &vendor()).expect("countersigned");
    let verified = Admission::new(&trust).verify(&vendor_last, "vendor last").expect("covered by the vendor");
    assert_eq!(verified.signers.len(), 1);
}

#[test]
fn an_unsigned_package_runs_only_when_allowed() {
    let unsigned = pack(&wat_guest::component(wat_guest::Setup::Ok), &wat_manifest(), &[], None).expect("packs");
    let trust = trust_of(&[("vendor", &vendor())]);
    let host = Host::new().expect("host");
    assert_eq!(refusal(host.load_package(&unsigned, "unsigned", &Admission::new(&trust))), (ErrorKind::Trust, 2106));
    let package = host.load_package(&unsigned, "unsigned", &Admission::unsigned_allowed(Some(&trust))).expect("allowed");
    assert!(package.signers().is_empty());
    // A bare component too.
    let bare = wat_guest::component(wat_guest::Setup::Ok);
    assert_eq!(refusal(host.load_package(&bare, "bare", &Admission::new(&trust))), (ErrorKind::Trust, 2106));
    host.load_package(&bare, "bare", &Admission::unsigned_allowed(None)).expect("allowed");
}

// ---- refused: every byte is covered -----------------------------------------

#[test]
fn every_single_bit_flip_is_refused() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    let admission = Admission::new(&trust);
    admission.verify(&bytes, "intact").expect("the intact package verifies");
    let mut flipped = bytes.clone();
    for bit in 0..bytes.len() * 8 {
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(admission.verify(&flipped, "flipped").is_err(), "flipping bit {bit} of {} went unnoticed", bytes.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    let admission = Admission::new(&trust);
    for len in 0..bytes.len() {
        assert!(admission.verify(&bytes[..len], "truncated").is_err(), "truncating to {len} bytes went unnoticed");
    }
}

#[test]
fn sections_after_the_signature_and_moved_or_duplicated_signatures_are_refused() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    let verify = |bytes: &[u8]| refusal(Admission::new(&trust).verify(bytes, "tampered"));
    let file = PackageFile::parse(&bytes).expect("parses");
    let signature_at = file.signatures()[0].signed_len;
    let signature = bytes[signature_at..].to_vec();

    let appended = [bytes.clone(), custom("notes", b"appended")].concat();
    assert_eq!(verify(&appended), (ErrorKind::Package, 2102), "a section after the signature");
    let appended_asset = [bytes.clone(), custom("procvision:asset/extra", b"x")].concat();
    assert_eq!(verify(&appended_asset), (ErrorKind::Package, 2102), "an asset after the signature");
    let garbage = [bytes.clone(), vec![0]].concat();
    assert_eq!(verify(&garbage), (ErrorKind::Package, 2102), "a stray byte after the signature");

    let duplicated = [bytes.clone(), signature.clone()].concat();
    assert_eq!(verify(&duplicated), (ErrorKind::Trust, 2107), "the signature twice");

    // Moved before the asset: the asset then follows a signature.
    let asset_at = file.sections().iter().find(|s| s.name == "custom procvision:asset/probe.txt").expect("asset").offset;
    let moved = [&bytes[..asset_at], &signature[..], &bytes[asset_at..signature_at]].concat();
    assert_eq!(verify(&moved), (ErrorKind::Package, 2102), "the signature moved before an asset");
    // Moved before the manifest.
    let manifest_at = file.component().len();
    let moved = [&bytes[..manifest_at], &signature[..], &bytes[manifest_at..signature_at]].concat();
    assert_eq!(verify(&moved), (ErrorKind::Package, 2102), "the signature moved before the manifest");

    // The preamble says core module instead of component.
    let mut module = bytes.clone();
    module[4..8].copy_from_slice(&[1, 0, 0, 0]);
    assert_eq!(verify(&module), (ErrorKind::Package, 2102), "a core module preamble");
}

#[test]
fn a_tampered_asset_is_refused() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    // The manifest and the section name mention `probe` too; the asset's bytes
    // come last, just before the signature.
    let at = bytes.windows(5).rposition(|w| w == b"probe").expect("the asset bytes");
    let mut tampered = bytes.clone();
    tampered[at] = b'P';
    assert_eq!(refusal(Admission::new(&trust).verify(&tampered, "tampered")), (ErrorKind::Trust, 2107));

    // Re-signed by the vendor, an asset that does not match the manifest is still
    // refused: the manifest lists its size and digest.
    let component = wat_guest::component(wat_guest::Setup::Ok);
    let mut listed = wat_manifest();
    listed.assets = vec![pv_host::package_file::AssetEntry { name: "probe.txt".into(), size: 5, sha256: "0".repeat(64) }];
    let forged =
        [component, custom("procvision:manifest", &listed.to_json()), custom("procvision:asset/probe.txt", b"probe")].concat();
    let forged = add_signature(&forged, &vendor()).expect("signed");
    assert_eq!(refusal(Admission::new(&trust).verify(&forged, "forged")), (ErrorKind::Package, 2113));
}

// ---- refused: who signed ----------------------------------------------------

#[test]
fn untrusted_and_revoked_signers_are_refused() {
    let bytes = small_package();
    let stranger = trust_of(&[("someone-else", &key(9))]);
    assert_eq!(refusal(Admission::new(&stranger).verify(&bytes, "pkg")), (ErrorKind::Trust, 2108));

    let mut revoked = trust_of(&[("vendor", &vendor())]);
    revoked.revoke(vendor().public().id()).expect("revoked");
    assert_eq!(refusal(Admission::new(&revoked).verify(&bytes, "pkg")), (ErrorKind::Trust, 2109));
    // A revoked key cannot be trusted again.
    let mut store = TrustStore::in_memory();
    store.revoke(vendor().public().id()).expect("revoked");
    assert_eq!(refusal(store.add_key("vendor", vendor().public())), (ErrorKind::Trust, 2114));
}

#[test]
fn an_older_version_after_a_newer_one_is_refused_unless_allowed() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    let host = Host::new().expect("host");
    let publisher = vendor().public().id();
    host.load_package(&bytes, "pkg", &Admission::new(&trust)).expect("admitted");
    assert_eq!(trust.admitted_version(&publisher, "wat-hostile"), Some(semver::Version::new(1, 0, 0)));

    let newer = manifest("wat-hostile", "1.1.0", &wat_guest::PIDS);
    trust.record_admitted(&publisher, &newer, "newer").expect("recorded");
    assert_eq!(refusal(host.load_package(&bytes, "pkg", &Admission::new(&trust))), (ErrorKind::Trust, 2112));
    host.load_package(&bytes, "pkg", &Admission::new(&trust).allow_downgrade(true)).expect("a downgrade when asked");
    assert_eq!(
        trust.admitted_version(&publisher, "wat-hostile"),
        Some(semver::Version::new(1, 1, 0)),
        "the record never goes down"
    );
}

#[test]
fn another_publishers_newer_version_does_not_block_a_package() {
    // A second trusted publisher ships a package of the same name at 99.0.0:
    // the first publisher's 1.0.0 is still admitted (the record is per publisher).
    let bytes = small_package();
    let rival = key(7);
    let trust = trust_of(&[("vendor", &vendor()), ("rival", &rival)]);
    let host = Host::new().expect("host");
    trust.record_admitted(&rival.public().id(), &manifest("wat-hostile", "99.0.0", &wat_guest::PIDS), "rival").expect("recorded");
    host.load_package(&bytes, "pkg", &Admission::new(&trust)).expect("the genuine publisher's package is admitted");
    assert_eq!(trust.admitted_version(&vendor().public().id(), "wat-hostile"), Some(semver::Version::new(1, 0, 0)));
}

#[test]
fn checking_without_recording_leaves_the_rollback_record_alone() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    let host = Host::new().expect("host");
    host.load_package(&bytes, "pkg", &Admission::new(&trust).record(false)).expect("admitted");
    assert_eq!(trust.admitted_version(&vendor().public().id(), "wat-hostile"), None);
}

#[test]
fn a_manifest_that_disagrees_with_get_info_is_refused() {
    let component = wat_guest::component(wat_guest::Setup::Ok);
    let trust = trust_of(&[("vendor", &vendor())]);
    let host = Host::new().expect("host");
    for wrong in [
        manifest("another-name", "1.0.0", &wat_guest::PIDS),
        manifest("wat-hostile", "1.0.1", &wat_guest::PIDS),
        manifest("wat-hostile", "1.0.0", &["GOOD"]),
    ] {
        let bytes = pack(&component, &wrong, &[], Some(&vendor())).expect("packs");
        assert_eq!(refusal(host.load_package(&bytes, "pkg", &Admission::new(&trust))), (ErrorKind::Package, 2111));
        assert_eq!(trust.admitted_version(&vendor().public().id(), &wrong.name), None, "a refused package is not recorded");
    }
}

// ---- refused: hostile headers -----------------------------------------------

thread_local! {
    /// The largest single allocation this thread made since the last reset.
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, noting each thread's largest allocation.
struct AllocationProbe;

// SAFETY: forwards every call unchanged to the system allocator; the thread-local
// bookkeeping allocates nothing.
unsafe impl GlobalAlloc for AllocationProbe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST_ALLOCATION.try_with(|largest| largest.set(largest.get().max(layout.size())));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static PROBE: AllocationProbe = AllocationProbe;

#[test]
fn a_section_claiming_gigabytes_is_refused_without_allocating_it() {
    let bytes = small_package();
    let trust = trust_of(&[("vendor", &vendor())]);
    // A custom section header that claims 4 GiB - 16 bytes, after the package and
    // in place of its manifest.
    let huge_header = [0u8, 0xF0, 0xFF, 0xFF, 0xFF, 0x0F, 4, b'h', b'u', b'g', b'e'];
    let component_len = PackageFile::parse(&bytes).expect("parses").component().len();
    for tampered in [[bytes.clone(), huge_header.to_vec()].concat(), [&bytes[..component_len], &huge_header[..]].concat()] {
        LARGEST_ALLOCATION.with(|largest| largest.set(0));
        assert_eq!(refusal(Admission::new(&trust).verify(&tampered, "huge")), (ErrorKind::Package, 2102));
        let largest = LARGEST_ALLOCATION.with(Cell::get);
        assert!(largest < 1 << 20, "refusing it allocated {largest} bytes at once");
    }
}
