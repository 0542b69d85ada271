//! B10: Python algorithms on the vision component, against Rust ones.
//!
//! **Tray presence, on a full camera frame.**
//! `examples/tray-presence` (Python; its pixel work in the vision component,
//! composed into it as `pv-host pack --compose` does) against the same check
//! with its pixel work in pure Python on 4x4 tiles, as it was before
//! (`benches/python/tray-presence-pure`), and against the Rust part counter
//! (`examples/part-counter`, background subtraction and labelling at full
//! resolution). Each is the whole warm `execute` through the host on a
//! 1920x1200 gray frame (coins.png scaled up), with the default bounds. Goal: the
//! Python algorithm within 2x of the Rust one.
//!
//! **Label reader.** `examples/python-label-reader` (Python: the PP-OCRv4 steps
//! written out, detection and recognition and every pixel in the vision
//! component) against `examples/label-reader` (Rust), both signed packages with
//! the same two models as assets, reading the twelve rendered labels
//! (`examples/label-reader/labels`) one after the other on one warm instance
//! each. Both must read the same text on every label (checked before timing).
//! Goal: the Python reader within 1.3x of the Rust one.
//!
//! Run with `cargo bench -p pv-benches --bench python_vision`; the Python sides
//! need componentize-py (`pip install componentize-py==0.25.1`) when the test
//! artifacts are built, and are left out, with a note, without it.

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, format_duration, report};
use pv_benches::{execute_ok, ready_instance, step_input};
use pv_host::types::StepInput;
use pv_host::{Host, Instance, Session};
use pv_test_artifacts::fixtures;

/// The frame: coins.png scaled to a common camera size.
const FRAME: (u32, u32) = (1920, 1200);

fn frame() -> image::DynamicImage {
    let coins = fixtures::load_gray("coins.png");
    image::DynamicImage::ImageLuma8(image::imageops::resize(&coins, FRAME.0, FRAME.1, image::imageops::FilterType::Triangle))
}

fn python_vision(c: &mut Criterion) {
    let (Some(vision), Some(pure)) = (pv_test_artifacts::PY_TRAY_PRESENCE, pv_test_artifacts::PY_TRAY_PRESENCE_PURE) else {
        eprintln!("B10: componentize-py was not found when the test artifacts were built: skipped");
        return;
    };
    let host = Host::new().expect("host");
    let mut session = Session::new("bench");
    // The coins are 5x larger on the scaled frame: parts of 2500 px and more.
    let tray_params = serde_json::json!({ "min_area": 2500 });
    let mut sides = [
        ("tray-presence, vision component", vision, "T01", tray_params.clone(), Side::default()),
        ("tray-presence, pure Python", pure, "T01", tray_params, Side::new(10)),
        (
            "part-counter (Rust)",
            pv_test_artifacts::PART_COUNTER,
            "A01",
            serde_json::json!({ "expected_count": 24 }),
            Side::default(),
        ),
    ]
    .map(|(name, path, pid, params, side)| {
        let instance = ready_instance(&host, path);
        let input = step_input(&instance, pid, frame(), params);
        (name, instance, input, side)
    });
    let mut group = c.benchmark_group("B10 execute on 1920x1200");
    for (name, instance, input, side) in &mut sides {
        if name.contains("pure") {
            // About two seconds a call: ten samples.
            group.sample_size(10);
        }
        group.bench_function(*name, |b| side.iter(b, || execute_ok(instance, &mut session, input)));
    }
    group.finish();
    let [(vision_name, _, _, vision), (pure_name, _, _, pure), (rust_name, _, _, rust)] = &sides;
    report(
        "B10 tray-presence on the vision component vs the Rust part counter",
        (vision_name, vision),
        (rust_name, rust),
        Goal::AtMostTimes(2.0),
    );
    // Context, with no goal of its own: what the vision component saves.
    if let (true, Some(ours), Some(theirs)) = (pv_benches::is_benchmark_run(), vision.median(), pure.median()) {
        println!(
            "B10 {vision_name} {} against {pure_name} {}: {:.1}x faster",
            format_duration(ours),
            format_duration(theirs),
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}

/// The rendered labels, as frames.
fn labels() -> Vec<image::DynamicImage> {
    let dir = fixtures::examples_dir().join("label-reader/labels");
    let mut paths: Vec<_> =
        std::fs::read_dir(&dir).expect("the rendered labels").filter_map(|entry| Some(entry.ok()?.path())).collect();
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "png"));
    paths.sort();
    paths.iter().map(|path| image::open(path).expect("a rendered label")).collect()
}

/// The text a label reader put in its debug output.
fn lines_read(instance: &mut Instance, session: &mut Session, input: &StepInput) -> Vec<String> {
    let output = instance.execute(session, input).into_result().expect("the label reader reads");
    let debug: serde_json::Value = serde_json::from_str(output.debug.as_deref().unwrap_or("{}")).expect("debug JSON");
    let lines = debug["lines"].as_array().cloned().unwrap_or_default();
    lines.iter().map(|line| line["text"].as_str().unwrap_or_default().to_owned()).collect()
}

fn label_readers(c: &mut Criterion) {
    let station = pv_test_support::station::station();
    let Some(python) = &station.python_label_reader else {
        eprintln!("B10 label reader: componentize-py was not found when the test artifacts were built: skipped");
        return;
    };
    let host = Host::new().expect("host");
    let mut session = Session::new("bench");
    let mut sides = [("label reader, Python on the vision component", python), ("label reader, Rust", &station.label_reader)]
        .map(|(name, package)| {
            let instance = pv_benches::ready_package(&host, package, &station.trust);
            let inputs: Vec<StepInput> =
                labels().into_iter().map(|label| step_input(&instance, "LBL-1", label, serde_json::json!({}))).collect();
            (name, instance, inputs, Side::new(10))
        });
    // The same text on every label, or the comparison means nothing.
    for index in 0..sides[0].2.len() {
        let [(_, python, python_inputs, _), (_, rust, rust_inputs, _)] = &mut sides;
        let (ours, theirs) =
            (lines_read(python, &mut session, &python_inputs[index]), lines_read(rust, &mut session, &rust_inputs[index]));
        assert_eq!(ours, theirs, "label {}: the two readers read different text", index + 1);
    }
    let mut group = c.benchmark_group("B10 twelve labels read");
    group.sample_size(10);
    for (name, instance, inputs, side) in &mut sides {
        group.bench_function(*name, |b| {
            side.iter(b, || {
                for input in inputs.iter() {
                    execute_ok(instance, &mut session, input);
                }
            })
        });
    }
    group.finish();
    let [(python_name, _, _, python), (rust_name, _, _, rust)] = &sides;
    report("B10 label reader in Python vs in Rust", (python_name, python), (rust_name, rust), Goal::AtMostTimes(1.3));
}

criterion_group!(benches, python_vision, label_readers);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
