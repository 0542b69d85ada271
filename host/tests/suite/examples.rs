//! One test per example algorithm, through the library API. Adding an example
//! without a test of the same name here fails to compile (see the bottom).

use pv_host::sandbox::LogSource;
use pv_host::types::{PixelFormat, Verdict};
use pv_host::{ErrorCode, ErrorKind, Host, Instance, Session};
use pv_test_artifacts::fixtures::{self, ScratchPolarity};
use pv_test_support::frames;

fn instance(path: &str) -> Instance {
    let host = Host::new().expect("host");
    let package = host.load_component_file(path.as_ref()).expect("example loads");
    let mut instance = package.instantiate().expect("example instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

#[test]
fn part_counter() {
    let mut pc = instance(pv_test_artifacts::PART_COUNTER);
    assert_eq!(pc.info().name, "part-counter");
    assert!(pc.info().supported_pids.iter().any(|p| p == "A01"));
    let mut session = Session::new("s1");

    let coins = image::DynamicImage::ImageLuma8(fixtures::load_gray("coins.png"));
    let good = frames::step_with_params(&pc, "A01", coins.clone(), serde_json::json!({ "expected_count": 24 }));
    let pre = pc.pre_execute(&mut session, &good).into_result().expect("lighting is fine");
    assert_eq!(pre.calibration_rects.len(), 1);
    let report = pc.execute(&mut session, &good);
    assert_eq!(report.diagnostics.get("part_count"), Some(&serde_json::json!(24)));
    assert!(report.logs.iter().any(|r| r.source == LogSource::Log && r.message.contains("found 24 of 24")));
    let out = report.into_result().expect("execute");
    assert_eq!(out.verdict, Verdict::Ok);
    assert_eq!(out.position_rects.len(), 24);

    // The same photo delivered as colour gives the same count.
    let rgb = frames::step_with_params(&pc, "A01", image::DynamicImage::ImageRgb8(coins.to_rgb8()), serde_json::json!({}));
    assert_eq!(rgb.image.meta.format, PixelFormat::Rgb8);
    assert_eq!(pc.execute(&mut session, &rgb).into_result().expect("rgb").verdict, Verdict::Ok);

    let (missing, painted) = fixtures::coins_with_missing_coin();
    let ng = frames::step_with_params(
        &pc,
        "A01",
        image::DynamicImage::ImageLuma8(missing),
        serde_json::json!({ "expected_count": 24 }),
    );
    let out = pc.execute(&mut session, &ng).into_result().expect("execute");
    assert_eq!(out.verdict, Verdict::Ng);
    assert!(out.ng_reason.as_deref().is_some_and(|r| r.contains("found 23 of 24")), "{:?}", out.ng_reason);
    let rect = |r: &pv_host::types::Rect| (r.x as u32, r.y as u32, r.width, r.height);
    assert!(out.defect_rects.iter().any(|r| fixtures::overlaps(rect(r), painted)), "{:?}", out.defect_rects);

    // Host-side validation refuses before the guest runs.
    let mut bad_pid = good.clone();
    bad_pid.pid = "Z99".into();
    let err = pc.execute(&mut session, &bad_pid).into_result().expect_err("unsupported pid");
    assert_eq!((err.kind(), err.code()), (ErrorKind::InvalidInput, ErrorCode::InvalidPid));
    let mut bad_image = good.clone();
    bad_image.image.pixels.truncate(100);
    let err = pc.execute(&mut session, &bad_image).into_result().expect_err("inconsistent image");
    assert_eq!((err.kind(), err.code()), (ErrorKind::InvalidInput, ErrorCode::InvalidParams));
    assert!(!pc.is_poisoned());
    pc.teardown().into_result().expect("teardown");
}

#[test]
fn scratch_detector() {
    let mut sd = instance(pv_test_artifacts::SCRATCH_DETECTOR);
    assert_eq!(sd.info().name, "scratch-detector");
    let mut session = Session::new("s1");
    let brick = image::DynamicImage::ImageLuma8(fixtures::load_gray("brick.png"));
    let clean = frames::step_with_params(&sd, "B01", brick, serde_json::json!({}));
    assert_eq!(sd.execute(&mut session, &clean).into_result().expect("execute").verdict, Verdict::Ok);

    for polarity in [ScratchPolarity::Dark, ScratchPolarity::Bright] {
        let (scratched, line) = fixtures::brick_with_scratch(polarity);
        let ng = frames::step_with_params(&sd, "B01", image::DynamicImage::ImageLuma8(scratched), serde_json::json!({}));
        let out = sd.execute(&mut session, &ng).into_result().expect("execute");
        assert_eq!(out.verdict, Verdict::Ng, "{polarity:?}");
        let rect = |r: &pv_host::types::Rect| (r.x as u32, r.y as u32, r.width, r.height);
        assert!(out.defect_rects.iter().any(|r| fixtures::overlaps(rect(r), line)), "{polarity:?}: {:?}", out.defect_rects);
        assert!(out.defect_rects.iter().all(|r| r.score.is_some_and(|s| (0.0..=1.0).contains(&s))));
    }
}

/// The rendered labels and the lines printed on each (`labels/truth.json`).
fn rendered_labels() -> Vec<(std::path::PathBuf, Vec<String>)> {
    let dir = fixtures::examples_dir().join("label-reader/labels");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).expect("truth.json")).expect("truth is JSON");
    let labels = truth.as_array().expect("a list of labels");
    labels
        .iter()
        .map(|label| {
            let lines = label["lines"].as_array().expect("lines").iter().map(|l| l.as_str().expect("text").to_owned());
            (dir.join(label["image"].as_str().expect("image")), lines.collect())
        })
        .collect()
}

#[test]
fn label_reader() {
    let host = Host::new().expect("host");
    let station = pv_test_support::station::station();
    let trust = pv_host::TrustStore::open(&station.trust).expect("trust store");
    let package = host.load_package_file(&station.label_reader, &pv_host::Admission::new(&trust)).expect("admitted");
    let mut reader = package.instantiate().expect("instantiates");
    reader.setup().into_result().expect("setup loads both models");
    assert_eq!(reader.info().name, "label-reader");
    let mut session = Session::new("s1");

    // Every rendered line read exactly, or nearly every: the goal is 95%.
    let (mut lines, mut exact, mut misread) = (0, 0, Vec::new());
    for (path, truth) in rendered_labels() {
        let label = image::open(&path).expect("a rendered label");
        let lot = truth.iter().find(|line| line.starts_with("LOT")).expect("every label has a lot line");
        let pattern = format!("^{}$", lot.replace(' ', r"\s*"));
        let step = frames::step_with_params(&reader, "LBL-1", label, serde_json::json!({ "expected": pattern }));
        let out = reader.execute(&mut session, &step).into_result().expect("execute");
        let debug: serde_json::Value =
            serde_json::from_str(out.debug.as_deref().expect("the lines read are in debug")).expect("JSON");
        let read: Vec<&str> =
            debug["lines"].as_array().expect("lines").iter().map(|l| l["text"].as_str().unwrap_or("")).collect();
        for line in &truth {
            lines += 1;
            if read.contains(&line.as_str()) {
                exact += 1;
            } else {
                misread.push(format!("{}: {line:?} not in {read:?}", path.display()));
            }
        }
        assert_eq!(out.verdict, Verdict::Ok, "{}: read {read:?}, expected {pattern}", path.display());
        assert_eq!(out.position_rects.len(), read.len(), "a position rect per line");
    }
    assert!(exact * 100 >= lines * 95, "{exact} of {lines} lines read exactly:\n{}", misread.join("\n"));

    // A pattern no line matches: NG, each line marked as a defect.
    let (path, truth) = &rendered_labels()[0];
    let step = frames::step_with_params(
        &reader,
        "LBL-1",
        image::open(path).expect("label"),
        serde_json::json!({ "expected": r"LOT\s*000000" }),
    );
    let out = reader.execute(&mut session, &step).into_result().expect("execute");
    assert_eq!(out.verdict, Verdict::Ng);
    assert_eq!(out.defect_rects.len(), truth.len(), "{:?}", out.defect_rects);
    assert!(out.ng_reason.as_deref().is_some_and(|r| r.contains("LOT\\s*000000")), "{:?}", out.ng_reason);

    // Four labels on one frame: more lines than `max_lines` (8), NG before any is
    // read (the recogniser's cost grows with each line), a defect on each region.
    let labels = rendered_labels();
    let mut sheet = image::GrayImage::from_pixel(960, 480, image::Luma([220]));
    let mut lines_on_sheet = 0;
    for (n, (path, truth)) in labels.iter().take(4).enumerate() {
        let label = image::open(path).expect("label").to_luma8();
        let label = image::imageops::crop_imm(&label, 0, 0, label.width().min(480), label.height().min(240)).to_image();
        image::imageops::replace(&mut sheet, &label, (n % 2) as i64 * 480, (n / 2) as i64 * 240);
        lines_on_sheet += truth.len();
    }
    assert!(lines_on_sheet > 8, "the sheet must hold more than the default max_lines");
    let crowded = frames::step_with_params(&reader, "LBL-1", image::DynamicImage::ImageLuma8(sheet), serde_json::json!({}));
    let out = reader.execute(&mut session, &crowded).into_result().expect("execute");
    assert_eq!(out.verdict, Verdict::Ng);
    assert!(out.ng_reason.as_deref().is_some_and(|r| r.contains("more than max_lines (8)")), "{:?}", out.ng_reason);
    assert!(out.defect_rects.len() > 8 && out.defect_rects.len() <= 20, "{:?}", out.defect_rects);
    assert!(out.debug.is_none() && out.position_rects.is_empty(), "nothing was read");

    // A blank frame: NG, one defect over the whole frame.
    let blank = frames::step_with_params(
        &reader,
        "LBL-1",
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(320, 160, image::Luma([235]))),
        serde_json::json!({}),
    );
    let out = reader.execute(&mut session, &blank).into_result().expect("execute");
    assert_eq!((out.verdict, out.defect_rects.len()), (Verdict::Ng, 1));

    // A pattern that is not a regular expression: 1006, and the instance goes on.
    let bad =
        frames::step_with_params(&reader, "LBL-1", image::open(path).expect("label"), serde_json::json!({ "expected": "LOT(" }));
    let err = reader.execute(&mut session, &bad).into_result().expect_err("invalid pattern");
    assert_eq!(err.code(), ErrorCode::InvalidParams, "{err}");
    assert!(!reader.is_poisoned());
}

#[test]
fn the_label_reader_without_its_models_fails_setup_with_1003_naming_the_asset() {
    let host = Host::new().expect("host");
    let package = host.load_component_file(pv_test_artifacts::LABEL_READER.as_ref()).expect("loads");
    let mut reader = package.instantiate().expect("instantiates");
    let err = reader.setup().into_result().expect_err("no models");
    assert_eq!(err.code(), ErrorCode::ModelNotFound, "{err}");
    assert!(err.to_string().contains("det.onnx"), "{err}");
}

/// A model file that sends the engine's parser into an endless loop (rten 0.27
/// reads a protobuf varint of ten continuation bytes forever): natively a hang; in
/// the sandbox, the setup deadline ends it with 1005 and the host goes on.
#[test]
fn a_model_that_hangs_the_parser_is_stopped_by_the_setup_deadline_with_1005() {
    let host = Host::new().expect("host");
    let station = pv_test_support::station::station();
    let trust = pv_host::TrustStore::open(&station.trust).expect("trust store");
    let manifest_path = fixtures::examples_dir().join("label-reader/manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest_path).expect("manifest")).expect("JSON");
    manifest["limits"]["setup_ms"] = 300.into();
    let manifest = pv_host::package_file::Manifest::from_json(&serde_json::to_vec(&manifest).expect("JSON")).expect("valid");
    let component = std::fs::read(pv_test_artifacts::LABEL_READER).expect("built");
    let assets = [("det.onnx".to_owned(), vec![0xff; 64]), ("rec.onnx".to_owned(), vec![0xff; 64])];
    let signed = pv_host::package_file::pack(&component, &manifest, &assets, Some(&pv_test_support::station::vendor_key()))
        .expect("packs");
    let package = host.load_package(&signed, "endless-model", &pv_host::Admission::new(&trust)).expect("admitted");
    let mut reader = package.instantiate().expect("instantiates");
    let err = reader.setup().into_result().expect_err("the parser never returns");
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
}

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports, reason = "the import only proves the test exists")]
        use self::$name as _;
    };
}
pv_test_artifacts::foreach_example!(assert_test_exists);
