//! Frames filled in place (`Instance::execute_in_place`, `InPlace`): the guest
//! receives exactly the bytes the fill wrote, a bad size is refused with its
//! code before the fill runs, a failing fill is a 1002 that the guest never
//! sees, and the guest's memory cap holds for a frame it cannot take.

use pv_test_support::frames;

use std::sync::atomic::{AtomicBool, Ordering};

use pv_host::types::{ExecuteOutput, Image, ImageMeta, PixelFormat, StepInput};
use pv_host::{ErrorKind, Host, InPlace, Instance, Limits, Session};

fn hostile(limits: Limits) -> Instance {
    let host = Host::builder().limits(limits).build().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

fn meta(width: u32, height: u32, format: PixelFormat) -> ImageMeta {
    ImageMeta { width, height, format, timestamp_ms: 7, camera_id: "cam".into() }
}

/// A step input whose image has `meta` and `pixels` (empty for a frame filled in place).
fn input(pid: &str, meta: ImageMeta, pixels: Vec<u8>) -> StepInput {
    frames::step_input(pid, 1, Image { meta, pixels })
}

/// Bytes no allocator would leave behind by chance.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) as u8) ^ seed ^ ((i >> 11) as u8)).collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// What the `DIGEST` guest says it received: (length, hash) of the image and the guide image.
fn digests(out: &ExecuteOutput) -> ((u64, String), Option<(u64, String)>) {
    let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("a debug")).expect("JSON");
    let digest = |value: &serde_json::Value| {
        (value["len"].as_u64().expect("a length"), value["fnv1a"].as_str().expect("a hash").to_owned())
    };
    (digest(&debug["image"]), (!debug["guide"].is_null()).then(|| digest(&debug["guide"])))
}

fn expect_code<T: std::fmt::Debug>(result: pv_host::Result<T>, kind: ErrorKind, code: u32) {
    let err = result.expect_err("the call must fail");
    assert_eq!((err.kind(), err.code().number()), (kind, code), "{err}");
}

#[test]
fn the_guest_sees_exactly_the_bytes_the_fill_wrote() {
    let mut guest = hostile(Limits::default());
    let mut session = Session::new("in-place");
    for (width, height, format) in [(1920, 1200, PixelFormat::Rgb8), (17, 3, PixelFormat::Gray8), (5, 7, PixelFormat::Rgba8)] {
        let len = (width * height) as usize * pv_host::image::channels(format);
        let frame = pattern(len, width as u8);
        let request = input("DIGEST", meta(width, height, format), Vec::new());
        let out = guest
            .execute_in_place(&mut session, &request, |pixels| {
                assert_eq!(pixels.len(), len, "the slice has the frame's length");
                pixels.copy_from_slice(&frame);
                Ok(())
            })
            .into_result()
            .expect("the call succeeds");
        assert_eq!(digests(&out).0, (len as u64, fnv1a(&frame).to_string()));
        // The same bytes carried in a Vec give the same digest.
        let carried = guest.execute(&mut session, &input("DIGEST", meta(width, height, format), frame.clone()));
        assert_eq!(digests(&carried.into_result().expect("carried")).0, digests(&out).0);
    }
}

#[test]
fn both_images_can_be_filled_in_place_or_one_of_them() {
    let mut guest = hostile(Limits::default());
    let mut session = Session::new("in-place");
    let (image, guide) = (pattern(64 * 48, 1), pattern(64 * 48 * 3, 2));
    let mut request = input("DIGEST", meta(64, 48, PixelFormat::Gray8), Vec::new());
    request.guide_image = Some(Image { meta: meta(64, 48, PixelFormat::Bgr8), pixels: Vec::new() });
    let in_place = InPlace::image(|pixels| {
        pixels.copy_from_slice(&image);
        Ok(())
    })
    .with_guide_image(|pixels| {
        pixels.copy_from_slice(&guide);
        Ok(())
    });
    let out = guest.execute_with(&mut session, &request, in_place).into_result().expect("both in place");
    let expected = ((image.len() as u64, fnv1a(&image).to_string()), Some((guide.len() as u64, fnv1a(&guide).to_string())));
    assert_eq!(digests(&out), expected);

    // The guide image carried in its pixels, the current one filled.
    request.guide_image = Some(Image { meta: meta(64, 48, PixelFormat::Bgr8), pixels: guide.clone() });
    let out = guest
        .execute_in_place(&mut session, &request, |pixels| {
            pixels.copy_from_slice(&image);
            Ok(())
        })
        .into_result()
        .expect("one in place");
    assert_eq!(digests(&out), expected);
}

#[test]
fn bad_sizes_are_refused_with_1006_before_the_fill_runs() {
    let mut guest = hostile(Limits::default());
    let mut session = Session::new("in-place");
    let max = pv_host::image::MAX_IMAGE_DIMENSION;
    let cases = [
        // Pixels given as well as a fill.
        input("GOOD", meta(4, 4, PixelFormat::Gray8), vec![0; 16]),
        input("GOOD", meta(0, 4, PixelFormat::Gray8), Vec::new()),
        input("GOOD", meta(4, 0, PixelFormat::Rgb8), Vec::new()),
        input("GOOD", meta(max + 1, 1, PixelFormat::Gray8), Vec::new()),
        // Each side within the cap, the whole over the 256 MiB image limit.
        input("GOOD", meta(max, max, PixelFormat::Rgba8), Vec::new()),
    ];
    for request in cases {
        let filled = AtomicBool::new(false);
        let report = guest.execute_in_place(&mut session, &request, |_| {
            filled.store(true, Ordering::SeqCst);
            Ok(())
        });
        expect_code(report.result, ErrorKind::InvalidInput, 1006);
        assert!(!filled.load(Ordering::SeqCst), "the fill ran for a refused input");
    }
    // A guide image filled in place that the input does not have.
    let request = input("GOOD", meta(4, 4, PixelFormat::Gray8), Vec::new());
    let in_place = InPlace::image(|_| Ok(())).with_guide_image(|_| Ok(()));
    expect_code(guest.execute_with(&mut session, &request, in_place).result, ErrorKind::InvalidInput, 1006);
    // Other input checks still apply: an unknown product id is 1001.
    let request = input("NOT_A_PID", meta(4, 4, PixelFormat::Gray8), Vec::new());
    expect_code(guest.execute_in_place(&mut session, &request, |_| Ok(())).result, ErrorKind::InvalidInput, 1001);
    assert!(!guest.is_poisoned(), "refused inputs never reach the guest");
}

#[test]
fn a_failing_fill_is_1002_and_the_instance_serves_on() {
    let mut guest = hostile(Limits::default());
    let mut session = Session::new("in-place");
    let request = input("COUNT", meta(640, 480, PixelFormat::Gray8), Vec::new());
    let report = guest.execute_in_place(&mut session, &request, |pixels| {
        pixels[..10].fill(1);
        Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the camera stopped"))
    });
    expect_code(report.result, ErrorKind::InvalidInput, 1002);
    // The guest was never called: its first call after the failure is its first.
    let out = guest
        .execute_in_place(&mut session, &request, |pixels| {
            pixels.fill(9);
            Ok(())
        })
        .into_result()
        .expect("the next call succeeds");
    let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
    assert_eq!(debug["calls"], 1, "{debug}");
}

#[test]
fn a_frame_over_the_guests_memory_cap_fails_with_1004_before_the_fill_runs() {
    let cap = 32 << 20;
    let mut guest = hostile(Limits::default().with_memory_bytes(cap));
    let mut session = Session::new("in-place");
    // 48 MiB of RGB: within the host's image limit, over the guest's memory.
    let request = input("GOOD", meta(4096, 4096, PixelFormat::Rgb8), Vec::new());
    let filled = AtomicBool::new(false);
    let report = guest.execute_in_place(&mut session, &request, |_| {
        filled.store(true, Ordering::SeqCst);
        Ok(())
    });
    assert!(report.usage.peak_memory_bytes <= cap, "{:?}", report.usage);
    expect_code(report.result, ErrorKind::Limit, 1004);
    assert!(!filled.load(Ordering::SeqCst), "the fill ran without a block to write");
    // A frame that fits still goes through, from a fresh store.
    let request = input("GOOD", meta(1920, 1200, PixelFormat::Rgb8), Vec::new());
    guest
        .execute_in_place(&mut session, &request, |pixels| {
            pixels.fill(3);
            Ok(())
        })
        .into_result()
        .expect("a frame that fits");
}
