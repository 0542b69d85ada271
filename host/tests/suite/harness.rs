//! `pv_host::harness`: the good examples pass every check,
//! each hostile behaviour fails exactly the checks it should, wrong golden cases
//! are reported with the IoU found, and the reports are well-formed.

use pv_test_support::station;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pv_host::harness::{Harness, Status, TestReport};
use pv_host::{Admission, Host, Limits, TrustStore};
use pv_test_artifacts::fixtures;

fn cases(example: &str) -> PathBuf {
    fixtures::examples_dir().join(example).join("cases.toml")
}

/// Deadline for runs of the hostile guest, which loops on purpose. Every call
/// that should pass must finish within it, also on a loaded 2-core machine: a
/// generous margin, so no check passes or fails by luck.
const HOSTILE_DEADLINE: Duration = Duration::from_millis(1000);

fn harness_run(
    package: &Path,
    trust: &TrustStore,
    pid: Option<&str>,
    configure: impl FnOnce(Harness<'_>) -> Harness<'_>,
) -> TestReport {
    let limits = match pid {
        Some(_) => Limits::default().with_all_deadlines(HOSTILE_DEADLINE),
        None => Limits::default(),
    };
    let host = Host::builder().limits(limits).build().expect("host");
    let harness = Harness::new(host, package, Admission::new(trust)).expect("a readable package");
    configure(harness.with_pid(pid.map(str::to_owned))).run(&mut |_| {})
}

fn failures(report: &TestReport) -> BTreeSet<String> {
    report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.name.clone()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn the_good_examples_pass_every_check() {
    let trust = TrustStore::open(&station::station().trust).expect("station trust");
    for (package, example) in [(station::part_counter(), "part-counter"), (station::scratch_detector(), "scratch-detector")] {
        let report = harness_run(package.as_ref(), &trust, None, |h| {
            h.with_images(&fixtures::images_dir()).expect("images").with_cases(&cases(example)).expect("cases")
        });
        assert!(
            report.passed(),
            "{example}: {:#?}",
            report.checks.iter().filter(|c| c.status != Status::Pass).collect::<Vec<_>>()
        );
        assert!(report.check("golden.case[clean brick]").is_some() || example == "part-counter");
        assert!(report.checks.len() > 15, "{example}: the whole battery ran");
    }
}

#[test]
fn each_hostile_behaviour_fails_exactly_its_checks() {
    let trust = TrustStore::in_memory();
    let hostile = Path::new(pv_test_artifacts::HOSTILE);
    // A bare component: unsigned and without a manifest, whatever it does.
    let package_failures = ["package.signature", "package.manifest"];
    let crash_failures = [
        "behaviour.determinism",
        "behaviour.session_isolation",
        "behaviour.robustness.black",
        "behaviour.robustness.1x1",
        "behaviour.robustness.large",
        "behaviour.robustness.gray",
        "behaviour.robustness.colour",
    ];
    let cases: [(&str, Vec<&str>); 5] = [
        ("GOOD", vec![]),
        // Keeps a counter of its own: its answers depend on earlier calls.
        ("COUNT", vec!["behaviour.determinism", "behaviour.session_isolation"]),
        ("PANIC", crash_failures.to_vec()),
        ("LOOP", crash_failures.to_vec()),
        ("OUTSIDE_RECT", crash_failures.to_vec()),
    ];
    for (pid, expected) in cases {
        let report = harness_run(hostile, &trust, Some(pid), |h| h);
        let mut want = set(&package_failures);
        want.extend(expected.iter().map(|n| n.to_string()));
        assert_eq!(failures(&report), want, "{pid}");
    }
}

#[test]
fn a_wrong_golden_case_is_reported_with_the_iou_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cases.toml");
    let coins = fixtures::image_path("coins.png");
    std::fs::write(
        &file,
        format!(
            "[[case]]\nname = \"wrong verdict\"\nimage = {coins:?}\npid = \"A01\"\nparams = {{ expected_count = 25 }}\nverdict = \"OK\"\n\n\
             [[case]]\nname = \"shifted rect\"\nimage = {coins:?}\npid = \"A01\"\nparams = {{ expected_count = 25 }}\nverdict = \"NG\"\n\
             defects = [{{ x = 218, y = 16, width = 363, height = 273 }}]\n"
        ),
    )
    .expect("write cases");
    let trust = TrustStore::open(&station::station().trust).expect("station trust");
    let report = harness_run(station::part_counter().as_ref(), &trust, None, |h| h.with_cases(&file).expect("cases"));
    let verdict = report.check("golden.case[wrong verdict]").expect("the case ran");
    assert_eq!(verdict.status, Status::Fail);
    assert!(verdict.reason.contains("verdict NG, expected OK"), "{}", verdict.reason);
    let shifted = report.check("golden.case[shifted rect]").expect("the case ran");
    assert_eq!(shifted.status, Status::Fail);
    assert!(shifted.reason.contains("best IoU 0.2"), "the IoU found is reported: {}", shifted.reason);
}

/// An algorithm that cannot set up (the label reader packed without its
/// models: 1003) fails `behaviour.setup`, and the checks that need a set-up
/// instance are skipped rather than passed on "a proper error".
#[test]
fn a_package_that_cannot_set_up_fails_the_setup_check_and_passes_no_robustness_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = fixtures::examples_dir().join("label-reader/manifest.json");
    let manifest = pv_host::package_file::Manifest::from_json(&std::fs::read(manifest).expect("manifest")).expect("valid");
    let component = std::fs::read(pv_test_artifacts::LABEL_READER).expect("built");
    let signed =
        pv_host::package_file::pack(&component, &manifest, &[], Some(&station::vendor_key())).expect("packs without assets");
    let path = dir.path().join("no-models.pkg.wasm");
    std::fs::write(&path, signed).expect("write");
    let trust = TrustStore::open(&station::station().trust).expect("station trust");
    let report = harness_run(&path, &trust, None, |h| h);
    let setup = report.check("behaviour.setup").expect("a setup check");
    assert_eq!(setup.status, Status::Fail, "{setup:?}");
    assert!(setup.reason.contains("1003") && setup.reason.contains("det.onnx"), "{}", setup.reason);
    assert!(
        report.checks.iter().all(|c| !c.name.starts_with("behaviour.robustness")),
        "nothing ran without setup: {:?}",
        report.checks.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    assert!(!report.passed());
}
