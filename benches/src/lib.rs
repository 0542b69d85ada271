//! Shared set-up for the criterion benchmarks in `benches/`.
//!
//! Each benchmark compares variants side by side on the real sample photographs
//! (see `examples/images/`) and the example algorithms built by
//! `pv-test-artifacts`, and prints the ratio against its goal ([`compare`]).
//! The subprocess model the sandbox replaces is played by `subprocess-adapter`
//! (`src/bin/`), a minimal Rust process driven through [`subprocess`], on the platform's frames
//! (`pv_test_support::frame`). Run them
//! all with `cargo bench` at the workspace root; `docs/PERFORMANCE.md` has the results.

pub mod compare;
pub mod subprocess;

use image::DynamicImage;
use pv_host::params::params_from_json;
use pv_host::types::StepInput;
use pv_host::{Host, Instance, Session, image::from_dynamic};

/// An instance of the example algorithm at `path`, set up and ready to execute.
///
/// # Panics
///
/// When the example does not load or set up: a benchmark cannot go on without it.
pub fn ready_instance(host: &Host, path: &str) -> Instance {
    let bytes = std::fs::read(path).expect("the example is built");
    // A Python algorithm on the vision component runs composed, as pv-host pack makes it.
    let package = if pv_test_support::composed::imports_vision(&bytes) {
        host.load_component(&pv_test_support::composed::with_vision(path, &bytes).component, path)
    } else {
        host.load_component(&bytes, path)
    }
    .expect("the example loads");
    let mut instance = package.instantiate().expect("the example instantiates");
    instance.setup().into_result().expect("the example sets up");
    instance
}

/// An instance of the signed package at `package`, admitted against the trust
/// store at `trust` as a station admits it (without moving its rollback
/// record), set up and ready to execute: [`ready_instance`] for a package,
/// assets and all.
///
/// # Panics
///
/// When the package is not admitted or does not set up.
pub fn ready_package(host: &Host, package: &std::path::Path, trust: &std::path::Path) -> Instance {
    let trust = pv_host::TrustStore::open(trust).expect("the trust store opens");
    let admission = pv_host::Admission::new(&trust).record(false);
    let package = host.load_package_file(package, &admission).expect("the signed package is admitted");
    let mut instance = package.instantiate().expect("the package instantiates");
    instance.setup().into_result().expect("the package sets up");
    instance
}

/// A step-1 input for `instance` with the given PID, image and JSON params.
///
/// # Panics
///
/// When the params do not fit the step's schema.
pub fn step_input(instance: &Instance, pid: &str, image: DynamicImage, params: serde_json::Value) -> StepInput {
    let step = instance.step(1).expect("the example has a step 1");
    let params = params.as_object().cloned().unwrap_or_default();
    StepInput {
        step_index: 1,
        pid: pid.into(),
        step_desc: String::new(),
        params: params_from_json(step, &params).expect("the params fit the schema"),
        image: from_dynamic(image, None),
        guide_image: None,
        guide_info: Vec::new(),
    }
}

/// Run `execute` once and check it succeeded, so a benchmark never times an error path.
///
/// # Panics
///
/// When the call fails.
pub fn execute_ok(instance: &mut Instance, session: &mut Session, input: &StepInput) {
    if let Err(err) = instance.execute(session, input).result {
        panic!("execute failed during the benchmark: {err}");
    }
}

/// Whether this is a real benchmark run (`cargo bench`), not `cargo test`
/// running each benchmark once to see that it works: summaries and ratios are
/// printed only then.
pub fn is_benchmark_run() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test")
}

/// Whether this is a benchmark run with no filter (`cargo bench -- <filter>`
/// passes one): summaries that time every variant again run only then.
pub fn is_full_benchmark_run() -> bool {
    is_benchmark_run() && std::env::args().skip(1).all(|arg| arg.starts_with("--"))
}

/// A `width` x `height` grey frame of the brick photograph (scaled), the size
/// of a station camera's frame.
pub fn gray_frame(width: u32, height: u32) -> image::GrayImage {
    let brick = pv_test_artifacts::fixtures::load_gray("brick.png");
    image::imageops::resize(&brick, width, height, image::imageops::FilterType::Triangle)
}

/// [`gray_frame`] as RGB, as a colour camera delivers it.
pub fn rgb_frame(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(DynamicImage::ImageLuma8(gray_frame(width, height)).to_rgb8())
}
