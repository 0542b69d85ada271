//! A Python algorithm composed with the vision component at pack time
//! (`examples/vision-probe` + `guest-sdk/vision-component`): what it computes
//! through the component equals pv-vision run natively, the composed package is
//! one component the host links as any other, and the vision code is bounded by
//! the package's memory cap and fuel.

use pv_host::package_file::{Manifest, compose, nested_component_digests, pack};
use pv_host::types::Verdict;
use pv_host::{Admission, ErrorCode, ErrorKind, Host, Instance, Session, TrustStore};
use pv_test_artifacts::fixtures;
use pv_test_support::{composed, frames, station};

/// The probe composed with the vision component, signed and admitted; `None`
/// when componentize-py was not found at build time.
fn composed_probe() -> Option<Instance> {
    let probe = std::fs::read(pv_test_artifacts::PY_VISION_PROBE?).expect("built");
    assert!(composed::imports_vision(&probe));
    let composed = composed::with_vision("vision-probe.wasm", &probe);
    let digests = nested_component_digests(&composed.component).expect("readable");
    assert!(composed.parts.iter().all(|part| digests.contains(&part.sha256)), "both parts are nested as given");
    let manifest_path = fixtures::examples_dir().join("vision-probe/manifest.json");
    let mut manifest = Manifest::from_json(&std::fs::read(manifest_path).expect("manifest")).expect("valid");
    manifest.parts = composed.parts;
    let signed = pack(&composed.component, &manifest, &[], Some(&station::vendor_key())).expect("packs");
    let trust = TrustStore::open(&station::station().trust).expect("trust store");
    let package = Host::new().expect("host").load_package(&signed, "vision-probe", &Admission::new(&trust)).expect("admitted");
    assert_eq!(package.manifest().map(|m| m.parts.len()), Some(2));
    let mut probe = package.instantiate().expect("instantiates");
    probe.setup().into_result().expect("setup");
    Some(probe)
}

/// gray, Gaussian blur 5, Otsu, components of 50 px and more: natively.
fn native_count(gray: &image::GrayImage) -> (u8, usize) {
    let (w, h) = gray.dimensions();
    let plane = ndarray::ArrayView2::from_shape((h as usize, w as usize), gray.as_raw()).expect("gray rows");
    let blurred = pv_vision::ops::gaussian_blur(plane, 5, 0.0).expect("blurs");
    let level = pv_vision::ops::otsu_level(blurred.view());
    let mask = pv_vision::ops::binarize(blurred.view(), level).mapv(|p| p > 0);
    let found = pv_vision::ops::connected_components(mask.view());
    (level, found.components.iter().filter(|c| c.area >= 50).count())
}

#[test]
fn a_composed_python_algorithm_computes_what_pv_vision_computes_natively() {
    let Some(mut probe) = composed_probe() else { return };
    let coins = fixtures::load_gray("coins.png");
    let (level, count) = native_count(&coins);
    let step = frames::step_with_params(
        &probe,
        "COUNT",
        image::DynamicImage::ImageLuma8(coins),
        serde_json::json!({ "expected": count }),
    );
    let out = probe.execute(&mut Session::new("s"), &step).into_result().expect("execute");
    let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
    assert_eq!((debug["otsu"].as_u64(), debug["parts"].as_u64()), (Some(u64::from(level)), Some(count as u64)));
    assert_eq!(out.verdict, Verdict::Ok);
    assert_eq!(out.position_rects.len(), count);
}

#[test]
fn the_vision_component_is_held_to_the_memory_cap_1004_and_the_fuel_1005() {
    let Some(mut probe) = composed_probe() else { return };
    let frame = || image::DynamicImage::ImageLuma8(fixtures::load_gray("coins.png"));
    let huge = frames::step_with_params(&probe, "HUGE", frame(), serde_json::json!({}));
    let err = probe.execute(&mut Session::new("s"), &huge).into_result().expect_err("3.4 GB");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Limit, ErrorCode::OutOfMemory), "{err}");
    let huge_warp = frames::step_with_params(&probe, "HUGE_WARP", frame(), serde_json::json!({}));
    let err = probe.execute(&mut Session::new("s"), &huge_warp).into_result().expect_err("a 400 MB warp");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Limit, ErrorCode::OutOfMemory), "{err}");
    let endless = frames::step_with_params(&probe, "ENDLESS", frame(), serde_json::json!({}));
    let err = probe.execute(&mut Session::new("s"), &endless).into_result().expect_err("never ends");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Limit, ErrorCode::Timeout), "{err}");
}

#[test]
fn the_vision_component_refuses_bad_requests_with_their_codes_and_goes_on() {
    let Some(mut probe) = composed_probe() else { return };
    let frame = image::DynamicImage::ImageLuma8(fixtures::load_gray("coins.png"));
    let step = frames::step_with_params(&probe, "REFUSED", frame, serde_json::json!({}));
    let out = probe.execute(&mut Session::new("s"), &step).into_result().expect("each refusal is caught by the algorithm");
    let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
    assert_eq!(
        debug["codes"],
        serde_json::json!({
            "three_corners": 1006,
            "batch_too_large": 1004,
            "widths_missing": 1006,
            "not_a_map": 1006,
            "index_past_the_axis": 1006,
        }),
        "{debug}"
    );
    assert!(!probe.is_poisoned());
}

#[test]
fn uncomposed_the_probe_is_refused_for_its_vision_import_2104() {
    let Some(path) = pv_test_artifacts::PY_VISION_PROBE else { return };
    let err = Host::new().expect("host").load_component_file(path.as_ref()).expect_err("the host provides no vision");
    assert_eq!(err.code(), ErrorCode::ImportRefused, "{err}");
    assert!(err.to_string().contains("procvision:vision/ops"), "{err}");
    // And a part that provides nothing the algorithm imports is a clear 2102.
    let part_counter = std::fs::read(pv_test_artifacts::PART_COUNTER).expect("built");
    let probe = std::fs::read(path).expect("built");
    let err = compose("vision-probe.wasm", &probe, &[("part_counter.wasm".to_owned(), part_counter)]).expect_err("no plug");
    assert_eq!(err.code(), ErrorCode::PackageMalformed, "{err}");
    assert!(err.to_string().contains("same wit/vision"), "{err}");
}

/// Frames sent from Python to the vision component, call after call, do not
/// pile up in memory. (componentize-py 0.25.1 never frees its copy of a `bytes`
/// argument to an import; `pv_guest.vision` sends frames as latin-1 text, whose
/// copy it frees.)
#[test]
fn frames_sent_to_the_vision_component_do_not_accumulate() {
    let Some(mut probe) = composed_probe() else { return };
    let frame = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(1000, 1000, |x, y| {
        image::Luma([((x * 7 + y * 3) % 251) as u8])
    }));
    let step = frames::step_with_params(&probe, "COUNT", frame, serde_json::json!({ "expected": 0 }));
    let mut session = Session::new("s");
    let mut peak = |probe: &mut Instance| {
        let report = probe.execute(&mut session, &step);
        let peak = report.usage.peak_memory_bytes;
        report.into_result().expect("execute");
        peak
    };
    let settled = (0..3).map(|_| peak(&mut probe)).max().unwrap_or_default();
    let later = (0..30).map(|_| peak(&mut probe)).max().unwrap_or_default();
    // A leak of the frame would add 30 MB; allow one frame of allocator slack.
    assert!(later <= settled + 1_000_000, "peak memory grew from {settled} to {later} bytes over 30 calls");
}
