//! Python algorithms, built by test-artifacts with componentize-py: the SDK
//! example (OK and NG, packed, signed, run, passing `pv-host test` with golden
//! cases), an algorithm written against `wit/` alone, the sandbox's promises for
//! a hostile Python guest, and the limits a CPython component meets.
//!
//! Where componentize-py was not found at build time (the build prints a cargo
//! warning) the Python guests do not exist and these tests say so and return.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use pv_host::params::params_from_json;
use pv_host::types::{StepInput, Verdict};
use pv_host::{Error, ErrorCode, ErrorKind, Host, Instance, Limits, Package, Session};
use pv_test_artifacts::fixtures;
use pv_test_support::{composed, frames, pv_host_trusting};
use serde_json::Value;

/// The guest's path, or `None` (and a note on stderr) when it was not built.
fn guest(path: Option<&'static str>) -> Option<&'static str> {
    if path.is_none() {
        eprintln!("componentize-py was not found when the test artifacts were built: Python guest tests skipped");
    }
    path
}

/// One compile cache for every test of the file and every command they run: a
/// CPython component takes seconds of CPU to compile, so each compiles once.
fn cache_dir() -> &'static Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().expect("tempdir")).path()
}

/// One host and one compiled package per guest for the whole file.
fn package(path: &'static str) -> Package {
    static HOST: OnceLock<Host> = OnceLock::new();
    static PACKAGES: OnceLock<std::sync::Mutex<Vec<(&'static str, Package)>>> = OnceLock::new();
    let host = HOST.get_or_init(|| {
        let cache = pv_host::CompileCache::open(cache_dir()).expect("a compile cache");
        Host::builder().compile_cache(Some(cache)).build().expect("host")
    });
    let mut packages = PACKAGES.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, package)) = packages.iter().find(|(p, _)| *p == path) {
        return package.clone();
    }
    let bytes = std::fs::read(path).expect("the Python guest is built");
    let package = if composed::imports_vision(&bytes) {
        host.load_component(&composed::with_vision(path, &bytes).component, path)
    } else {
        host.load_component(&bytes, path)
    }
    .expect("the Python guest loads");
    packages.push((path, package.clone()));
    package
}

fn instance(path: &'static str) -> Instance {
    let mut instance = package(path).instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

fn coins() -> image::DynamicImage {
    image::DynamicImage::ImageLuma8(fixtures::load_gray("coins.png"))
}

/// `pv-host` with the trust store in `dir` and the shared compile cache.
fn pv_host_in(dir: &Path) -> Command {
    let mut cmd = pv_host_trusting(&dir.join("trust"));
    cmd.env("PV_HOST_CACHE", cache_dir());
    cmd
}

/// Run a command that must exit with `code`; its stdout.
fn expect_exit(cmd: &mut Command, code: i32) -> String {
    let output = cmd.output().expect("run pv-host");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(code), "stdout: {stdout}\nstderr: {stderr}");
    stdout.into_owned()
}

fn examples() -> PathBuf {
    fixtures::examples_dir()
}

#[test]
fn the_sdk_and_the_examples_pure_python_parts_pass_their_unit_tests() {
    if guest(pv_test_artifacts::PY_TRAY_PRESENCE).is_none() {
        return;
    }
    let root = fixtures::examples_dir().join("..");
    for dir in ["guest-sdk/python/tests", "examples/tray-presence"] {
        let output = std::process::Command::new("python3")
            .args(["-B", "-m", "unittest", "discover", "-s"])
            .arg(root.join(dir))
            .output()
            .expect("python3 runs (componentize-py needs it)");
        assert!(output.status.success(), "{dir}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn the_python_example_is_ok_on_the_full_tray_and_marks_the_empty_slot_of_the_doctored_one() {
    let Some(path) = guest(pv_test_artifacts::PY_TRAY_PRESENCE) else { return };
    let mut tray = instance(path);
    assert_eq!(tray.info().name, "tray-presence");
    let mut session = Session::new("s1");

    let good = frames::step_with_params(&tray, "T01", coins(), serde_json::json!({}));
    let pre = tray.pre_execute(&mut session, &good).into_result().expect("lighting is fine");
    assert!(pre.message.starts_with("lighting ok"), "{}", pre.message);
    let report = tray.execute(&mut session, &good);
    assert_eq!(report.diagnostics.get("parts"), Some(&serde_json::json!(24)));
    assert!(report.logs.iter().any(|r| r.message.contains("found 24 parts of 24")), "{:?}", report.logs);
    let out = report.into_result().expect("execute");
    assert_eq!(out.verdict, Verdict::Ok);
    assert_eq!(out.position_rects.len(), 24);

    let (missing, painted) = fixtures::coins_with_missing_coin();
    let doctored = frames::step_with_params(&tray, "T01", image::DynamicImage::ImageLuma8(missing), serde_json::json!({}));
    let out = tray.execute(&mut session, &doctored).into_result().expect("execute");
    assert_eq!(out.verdict, Verdict::Ng);
    assert_eq!(out.ng_reason.as_deref(), Some("1 of 24 parts missing"));
    let [defect] = out.defect_rects.as_slice() else { panic!("one empty slot: {:?}", out.defect_rects) };
    let found = (defect.x as u32, defect.y as u32, defect.width, defect.height);
    assert!(fixtures::iou(found, painted) >= 0.5, "{found:?} against the painted {painted:?}");
    assert_eq!(defect.label.as_deref(), Some("empty slot"));

    // Colour frames are converted by the SDK; declared params are checked by the host.
    let rgb = frames::step_with_params(&tray, "T01", image::DynamicImage::ImageRgb8(coins().to_rgb8()), serde_json::json!({}));
    assert_eq!(tray.execute(&mut session, &rgb).into_result().expect("rgb").verdict, Verdict::Ok);
    let step = tray.step(1).expect("step 1");
    let err = params_from_json(step, serde_json::json!({ "rows": 0 }).as_object().expect("object"))
        .and_then(|params| tray.check_input(&StepInput { params, ..good.clone() }))
        .expect_err("rows below its minimum");
    assert_eq!(err.code(), ErrorCode::InvalidParams);
}

#[test]
fn the_python_example_packs_signs_runs_and_passes_pv_host_test_with_golden_cases() {
    let Some(path) = guest(pv_test_artifacts::PY_TRAY_PRESENCE) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    expect_exit(pv_host_in(dir).args(["keygen", "--out"]).arg(dir.join("vendor")), 0);
    expect_exit(pv_host_in(dir).args(["trust", "add"]).arg(dir.join("vendor.pub")), 0);
    let package = dir.join("tray-presence.pkg.wasm");
    expect_exit(
        pv_host_in(dir)
            .args(["pack", path, "--compose", pv_test_artifacts::PV_VISION_COMPONENT, "--manifest"])
            .arg(examples().join("tray-presence/manifest.json"))
            .arg("--key")
            .arg(dir.join("vendor.key"))
            .arg("-o")
            .arg(&package),
        0,
    );

    // The composed package names its two parts, each found inside the component.
    let stdout = expect_exit(pv_host_in(dir).arg("inspect").arg(&package).arg("--json"), 0);
    let inspected: Value = serde_json::from_str(&stdout).expect("JSON");
    let parts = inspected["parts"].as_array().expect("parts");
    let names: Vec<&str> = parts.iter().filter_map(|part| part["name"].as_str()).collect();
    assert_eq!(names, ["tray-presence.wasm", "pv_vision_component.wasm"], "{inspected}");
    assert!(parts.iter().all(|part| part["inside"] == true), "{inspected}");

    // Run twice: the second load comes from the compile cache.
    for _ in 0..2 {
        let stdout = expect_exit(
            pv_host_in(dir)
                .arg("run")
                .arg(&package)
                .args(["--pid", "T01", "--json", "--image"])
                .arg(fixtures::image_path("coins.png")),
            0,
        );
        let json: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(json["data"]["result_status"], "OK", "{json}");
    }

    // The example's golden cases, plus the doctored tray (made by the fixtures).
    let (missing, painted) = fixtures::coins_with_missing_coin();
    missing.save(dir.join("coins-missing.png")).expect("write the doctored image");
    let mut cases = std::fs::read_to_string(examples().join("tray-presence/cases.toml")).expect("cases");
    cases = cases.replace("\"../images/", &format!("\"{}/", fixtures::images_dir().display()));
    cases.push_str(&format!(
        "\n[[case]]\nname = \"a coin painted over leaves an empty slot\"\nimage = \"coins-missing.png\"\npid = \"T01\"\nverdict = \"NG\"\ndefects = [{{ x = {}, y = {}, width = {}, height = {} }}]\n",
        painted.0, painted.1, painted.2, painted.3
    ));
    std::fs::write(dir.join("cases.toml"), cases).expect("write cases");
    let report = dir.join("report.json");
    expect_exit(
        pv_host_in(dir)
            .arg("test")
            .arg(&package)
            .arg("--images")
            .arg(fixtures::images_dir())
            .arg("--cases")
            .arg(dir.join("cases.toml"))
            .arg("--report")
            .arg(&report),
        0,
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON report");
    let golden = report.to_string();
    assert!(golden.contains("a coin painted over leaves an empty slot"), "{golden}");
}

#[test]
fn a_python_algorithm_written_against_wit_alone_runs_under_pv_host_run_on_coins() {
    let Some(path) = guest(pv_test_artifacts::PY_BRIGHTNESS_BARE) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = expect_exit(
        pv_host_in(dir.path())
            .args(["run", path, "--allow-unsigned", "--pid", "A01", "--json", "--image"])
            .arg(fixtures::image_path("coins.png")),
        0,
    );
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["data"]["result_status"], "OK", "{json}");
    let mean = json["data"]["debug"]["mean"].as_f64().expect("a mean in the debug JSON");
    assert!((40.0..=220.0).contains(&mean), "{mean}");

    // Its own error, through the generated `Err`.
    let stdout = expect_exit(
        pv_host_in(dir.path())
            .args([
                "run",
                path,
                "--allow-unsigned",
                "--pid",
                "A01",
                "--json",
                "--params",
                r#"{"min_mean": 200, "max_mean": 100}"#,
            ])
            .arg("--image")
            .arg(fixtures::image_path("coins.png")),
        4,
    );
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["error_code"], "1006", "{json}");
}

/// Attempts of one PID of the hostile guest, each with the errors that count as
/// the sandbox's denial.
type Attempts = &'static [(&'static str, &'static [&'static str])];

#[test]
fn a_python_guest_gets_no_network_no_files_no_environment() {
    let Some(path) = guest(pv_test_artifacts::PY_HOSTILE) else { return };
    let mut hostile = instance(path);
    let mut session = Session::new("s1");
    // What each attempt must have failed with: the sandbox's denials, not a
    // missing module or a typo in the guest.
    let denials: &[(&str, Attempts)] = &[
        (
            "SOCKET",
            &[
                ("tcp", &["gaierror", "PermissionError"]),
                ("tcp_raw", &["PermissionError"]),
                ("udp", &["PermissionError"]),
                ("dns", &["gaierror"]),
                ("listen", &["PermissionError"]),
            ],
        ),
        (
            "FILES",
            &[
                ("passwd", &["FileNotFoundError"]),
                ("root", &["FileNotFoundError"]),
                ("cwd", &["FileNotFoundError"]),
                ("write", &["FileNotFoundError"]),
            ],
        ),
        ("ENV", &[("environ", &["nothing ({})"]), ("process", &["OSError"])]),
    ];
    for (pid, expected) in denials {
        let out = hostile
            .execute(&mut session, &frames::step_with_params(&hostile, pid, coins(), serde_json::json!({})))
            .into_result()
            .expect(pid);
        let debug: Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("debug JSON");
        assert_eq!(out.verdict, Verdict::Ok, "{pid}: {debug}");
        let attempts = debug["attempts"].as_object().expect("attempts");
        assert_eq!(attempts.len(), expected.len(), "{pid}: {debug}");
        for (name, allowed) in *expected {
            let outcome = &attempts[*name];
            assert_eq!(outcome[0], "denied", "{pid}/{name}: {outcome}");
            let why = outcome[1].as_str().expect("a reason");
            assert!(allowed.iter().any(|a| why.starts_with(a)), "{pid}/{name}: {why}");
        }
    }
}

#[test]
fn a_cpython_component_fits_the_default_limits_and_a_tight_cap_is_refused_with_2116_before_compiling() {
    let Some(path) = guest(pv_test_artifacts::PY_BRIGHTNESS_BARE) else { return };
    let needs = package(path).needs();
    assert!(needs.core_instances > 8 && needs.table_elements > 1000, "a CPython component: {needs:?}");
    let defaults = Limits::default();
    let (instances, memories, tables) = defaults.counts();
    assert!(needs.core_instances * 2 <= instances as u64, "headroom for --stub-wasi builds: {needs:?}");
    assert!(needs.memories <= memories as u64 && needs.tables <= tables as u64, "{needs:?}");
    assert!(needs.table_elements * 3 <= defaults.table_elements(), "{needs:?}");

    let tight = Host::builder().limits(Limits::default().with_counts(8, 4, 16)).build().expect("host");
    let err = tight.load_component_file(path.as_ref()).expect_err("8 core instances are too few");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Policy, ErrorCode::LimitTooLow));
    let Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
    // Refused from its bytes, before compilation: wasmtime's own check would
    // have come after it, as a 2102 that names no limit.
    assert_eq!((limit, needed, allowed), ("core instances", needs.core_instances, 8));
}

/// What a label reader read on a frame: the verdict and, per line, the text and
/// the corners (from the debug JSON both label readers write).
fn reading(instance: &mut Instance, session: &mut Session, frame: image::DynamicImage) -> (Verdict, Vec<(String, Value)>) {
    let step = frames::step_with_params(instance, "LBL-1", frame, serde_json::json!({}));
    let out = instance.execute(session, &step).into_result().expect("execute");
    let lines = out
        .debug
        .as_deref()
        .map(|debug| serde_json::from_str::<Value>(debug).expect("debug JSON"))
        .and_then(|debug| debug["lines"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|line| (line["text"].as_str().unwrap_or_default().to_owned(), line["corners"].clone()))
        .collect();
    (out.verdict, lines)
}

#[test]
fn the_python_label_reader_reads_what_the_rust_one_reads_and_passes_pv_host_test_with_its_golden_cases() {
    let Some(path) = guest(pv_test_artifacts::PY_LABEL_READER) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    expect_exit(pv_host_in(dir).args(["keygen", "--out"]).arg(dir.join("vendor")), 0);
    expect_exit(pv_host_in(dir).args(["trust", "add"]).arg(dir.join("vendor.pub")), 0);
    let models = Path::new(pv_test_artifacts::LABEL_READER_MODELS);
    let package = dir.join("python-label-reader.pkg.wasm");
    expect_exit(
        pv_host_in(dir)
            .args(["pack", path, "--compose", pv_test_artifacts::PV_VISION_COMPONENT, "--manifest"])
            .arg(examples().join("python-label-reader/manifest.json"))
            .arg("--asset")
            .arg(format!("det.onnx={}", models.join("det.onnx").display()))
            .arg("--asset")
            .arg(format!("rec.onnx={}", models.join("rec.onnx").display()))
            .arg("--key")
            .arg(dir.join("vendor.key"))
            .arg("-o")
            .arg(&package),
        0,
    );

    // The Rust label reader's golden cases, as they are.
    let report = dir.join("report.json");
    expect_exit(
        pv_host_in(dir)
            .arg("test")
            .arg(&package)
            .arg("--cases")
            .arg(examples().join("label-reader/cases.toml"))
            .arg("--report")
            .arg(&report),
        0,
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON report");
    assert!(report.to_string().contains("label-001 LOT 461763"), "{report}");

    // The same lines, text and corners, as the Rust reader on every rendered
    // label and on every sample photograph (where neither finds a label).
    let host = Host::builder()
        .compile_cache(Some(pv_host::CompileCache::open(cache_dir()).expect("a compile cache")))
        .build()
        .expect("host");
    let load = |file: &Path, trust: &Path| {
        let trust = pv_host::TrustStore::open(trust).expect("trust store");
        let mut instance = host
            .load_package_file(file, &pv_host::Admission::new(&trust))
            .expect("admitted")
            .instantiate()
            .expect("instantiates");
        instance.setup().into_result().expect("setup loads both models");
        instance
    };
    let station = pv_test_support::station::station();
    let mut rust = load(&station.label_reader, &station.trust);
    let mut python = load(&package, &dir.join("trust"));
    let mut session = Session::new("s1");
    let labels = std::fs::read_dir(examples().join("label-reader/labels")).expect("labels");
    let mut frames_read: Vec<PathBuf> = labels.filter_map(|entry| Some(entry.ok()?.path())).collect();
    frames_read.retain(|path| path.extension().is_some_and(|ext| ext == "png"));
    frames_read.sort();
    let rendered = frames_read.len();
    frames_read.extend(["coins.png", "brick.png", "rocket.jpg"].map(fixtures::image_path));
    for path in &frames_read {
        let frame = image::open(path).expect("an image");
        let expected = reading(&mut rust, &mut session, frame.clone());
        let found = reading(&mut python, &mut session, frame);
        assert_eq!(found, expected, "{}", path.display());
    }
    assert!(rendered >= 12, "the rendered labels: {frames_read:?}");
}
