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
    // Every rect is in a legend, the golden case's expected defect included.
    assert!(page.contains("expected defect: (18, 16, 363x273)"), "the expected rect is listed");
    renders_in_a_browser(&html);

    // A failing package: exit 1.
    let output =
        pv_host().args(["test", pv_test_artifacts::HOSTILE, "--pid", "COUNT", "--trust"]).arg(dir.path()).output().expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
}

/// The HTML report in Debian's Chromium, headless: the page renders (a
/// screenshot that is not blank and shows the thumbnails' mark colours) with no
/// console message (the page has no script: any message is a fault). `.ci/run`
/// installs chromium; elsewhere the check is skipped with a note.
fn renders_in_a_browser(html: &std::path::Path) {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| std::process::Command::new(name).arg("--version").output().is_ok_and(|out| out.status.success()));
    let Some(browser) = browser else {
        assert!(std::env::var_os("CI").is_none(), "chromium is missing: .ci/run installs it");
        eprintln!("chromium not found: the HTML report was not opened in a browser");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let shot = dir.path().join("report.png");
    let output = std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed: {log}");
    let console: Vec<&str> = log.lines().filter(|line| line.contains("CONSOLE") || line.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let page = image::open(&shot).expect("a screenshot").to_rgb8();
    let colours: std::collections::HashSet<[u8; 3]> = page.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 256, "a blank page: {} colours", colours.len());
    // The thumbnails are there: the defect red and the position green of the marks.
    for mark in [pv_host::annotate::Mark::Defect, pv_host::annotate::Mark::Position] {
        assert!(page.pixels().any(|p| *p == mark.color()), "no {} mark on the page", mark.name());
    }
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
