//! What each fuzz target checks, as plain functions: the libFuzzer targets in
//! `fuzz_targets/` call them, and so does the bounded smoke run that CI does with
//! `cargo test` (`host/tests/fuzz_smoke.rs`), which needs no nightly toolchain.
//!
//! Every function panics when the property it checks is broken, and only then.

use pv_host::image::{check_image, decode_image};
use pv_host::package_file::{PackageFile, SecretKey};
use pv_host::{Admission, ErrorCode, TrustStore};

/// Untrusted frames: any bytes given to the image decoder give an image whose
/// meta fits its pixels, or a 1002 error; never a panic or an unbounded
/// allocation.
pub fn image_bytes(data: &[u8]) {
    match decode_image(data, None) {
        Ok(image) => check_image(&image).expect("a decoded image is consistent"),
        Err(err) => assert_eq!(err.code(), ErrorCode::ImageLoadFailed, "{err}"),
    }
}

/// The key the package seeds are signed with; the trust store of
/// [`package_bytes`] trusts it and nothing else.
pub fn seed_key() -> SecretKey {
    SecretKey::from_seed(&[7; 32])
}

/// Untrusted package files: parsing and verifying any bytes either admits them
/// (then the trusted key signed them and nothing follows the last signature) or
/// refuses them with a package or trust code; never a panic, a hang or an
/// allocation of what a header claims.
pub fn package_bytes(data: &[u8]) {
    let mut trust = TrustStore::in_memory();
    trust.add_key("seed", seed_key().public()).expect("a strong key");
    match Admission::new(&trust).verify(data, "fuzzed") {
        Ok(verified) => {
            let file = PackageFile::parse(data).expect("an admitted file parses");
            let signatures = file.signatures();
            assert!(signatures.iter().any(|s| s.key_id == seed_key().public().id()), "signed by the trusted key");
            let last = signatures.last().expect("an admitted file is signed");
            assert!(verified.trusted && verified.manifest.is_some());
            // Nothing follows the last signature: 1 id byte, 1 size byte, name
            // length byte, the name, 73 content bytes.
            assert_eq!(last.signed_len + 3 + pv_host::package_file::SIGNATURE_SECTION.len() + 73, data.len());
        }
        Err(err) => {
            let code = err.code().number();
            assert!(code == 2102 || (2105..=2113).contains(&code), "a refusal has a package or trust code, not {code}: {err}");
        }
    }
}

/// Untrusted protocol input: any bytes split into frames and parsed as
/// messages give frames no longer than their prefix says, a refusal of any
/// prefix over the cap (before reading on), and a message or a 1000 error for
/// every frame; never a panic.
pub fn protocol_bytes(data: &[u8]) {
    use pv_host::serve::frame::{Split, split_frame};
    use pv_host::serve::protocol::parse_request;

    const CAP: usize = 1 << 20;
    let mut rest = data;
    loop {
        match split_frame(rest, CAP) {
            Split::Frame(payload, used) => {
                assert_eq!(used, payload.len() + 4);
                let _ = parse_request(payload);
                rest = &rest[used..];
            }
            Split::TooLarge(len) => {
                assert!(len > CAP as u64);
                break;
            }
            Split::Incomplete => break,
        }
    }
}

/// Untrusted `.npy` files from the shared-memory directory: the bounded
/// header reader either refuses the preamble (a header over the cap among
/// them, before anything is read) or parses the header into at most a few
/// dimensions, or refuses it; never a panic, and never more work than the
/// header's length.
pub fn npy_bytes(data: &[u8]) {
    use pv_host::serve::npy::{MAX_NPY_HEADER_BYTES, npy_header_len, parse_npy_header};

    let Ok((start, len)) = npy_header_len(data) else {
        return;
    };
    assert!(len <= MAX_NPY_HEADER_BYTES, "a header over the cap passed: {len}");
    assert!(start == 10 || start == 12);
    let Some(header) = data.get(start..start + len) else {
        return;
    };
    if let Ok(layout) = parse_npy_header(header) {
        assert!(layout.shape.len() <= 8, "{:?}", layout.shape);
    }
}
