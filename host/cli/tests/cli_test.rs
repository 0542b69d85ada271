//! `pv-host test`: the reports it writes are well-formed, and its exit code says
//! pass or fail.

use std::path::PathBuf;

use pv_test_artifacts::fixtures;
use pv_test_support::{pv_host, station};

fn cases(example: &str) -> PathBuf {
    fixtures::examples_dir().join(example).join("cases.toml")
}

#[test]
fn reports_are_well_formed_and_the_cli_exit_code_says_pass_or_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (json, xml, html) = (dir.path().join("r.json"), dir.path().join("r.xml"), dir.path().join("r.html"));
    let images = fixtures::images_dir();
    let output = pv_host()
        .env("PV_HOST_TRUST", &station::station().trust)
        .args(["test", station::part_counter(), "--cases"])
        .arg(cases("part-counter"))
        .arg("--images")
        .arg(&images)
        .args([
            "--report".as_ref(),
            json.as_os_str(),
            "--report".as_ref(),
            xml.as_os_str(),
            "--report".as_ref(),
            html.as_os_str(),
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json report")).expect("JSON");
    let checks = report["checks"].as_array().expect("checks").len();
    assert_eq!(report["passed"], true);

    // JUnit: parses back, one test case per check.
    let text = std::fs::read_to_string(&xml).expect("xml report");
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut testcases = 0;
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"testcase" => testcases += 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(testcases, checks);

    // HTML: one thumbnail per image run (4 photographs, 1 step) and per golden case (3).
    let page = std::fs::read_to_string(&html).expect("html report");
    assert_eq!(page.matches("class=\"thumbnail\"").count(), 4 + 3);
    assert!(!page.contains("src=\"http"), "self-contained");

    // A failing package: exit 1.
    let output =
        pv_host().args(["test", pv_test_artifacts::HOSTILE, "--pid", "COUNT", "--trust"]).arg(dir.path()).output().expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
}

/// A package that reads models from its assets gets them under the harness too,
/// and the label reader passes its golden cases on the rendered labels.
#[test]
fn the_label_reader_passes_its_golden_cases() {
    let output = pv_host()
        .env("PV_HOST_TRUST", &station::station().trust)
        .args(["test", station::label_reader(), "--json", "--cases"])
        .arg(cases("label-reader"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    let checks = report["checks"].as_array().expect("checks");
    let golden: Vec<&serde_json::Value> =
        checks.iter().filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("golden."))).collect();
    assert_eq!(golden.len(), 9, "{golden:?}");
    assert!(golden.iter().all(|c| c["status"] == "PASS"), "{golden:?}");
    let setup = checks.iter().find(|c| c["name"] == "behaviour.determinism").expect("determinism checked");
    assert_eq!(setup["status"], "PASS", "the models load from the package's assets: {setup}");
}
