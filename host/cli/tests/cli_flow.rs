//! `pv-host run` over several steps of one part, and the run's observability:
//! metrics, the JSON log format and the audit trail.

use std::path::Path;

use assert_cmd::Command;
use pv_test_artifacts::fixtures;
use pv_test_support::{pv_host_trusting, run};
use serde_json::Value;

/// `pv-host run` of the hostile guest on the coins: a bare component, so these
/// runs are a developer's.
fn run_hostile() -> Command {
    let mut cmd = pv_host_trusting(Path::new("/nonexistent"));
    cmd.arg("run").arg(pv_test_artifacts::HOSTILE);
    cmd.arg("--allow-unsigned").arg("--image").arg(fixtures::image_path("coins.png"));
    cmd
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
}

#[test]
fn steps_share_one_session_and_stop_at_the_first_error() {
    let (code, stdout, stderr) = run(run_hostile().args(["--pid", "FLOW", "--steps", "1,2,3", "--json"]));
    assert_eq!(code, 5, "step 3 crashes: {stdout}{stderr}");
    let steps = json_of(&stdout)["steps"].as_array().cloned().expect("one result per step");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["data"]["result_status"], "OK");
    assert_eq!(steps[1]["data"]["debug"]["read"], serde_json::json!([1]), "step 2 read what step 1 stored");
    assert_eq!((steps[2]["status"].as_str(), steps[2]["error_code"].as_str()), (Some("ERROR"), Some("9999")));
}

#[test]
fn a_flow_file_sets_each_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = dir.path().join("flow.json");
    std::fs::write(&flow, r#"[{"step": 1, "pid": "FLOW"}, {"step": 2, "pid": "FLOW"}, {"step": 1, "pid": "GOOD"}]"#)
        .expect("write flow");
    let (code, stdout, stderr) = run(run_hostile().args(["--pid", "GOOD", "--flow"]).arg(&flow));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout.matches("verdict: OK").count(), 3, "{stdout}");
    assert!(stdout.contains("pid FLOW | step 2"), "{stdout}");

    std::fs::write(&flow, r#"[{"step": 1, "colour": "red"}]"#).expect("write flow");
    let (code, _, stderr) = run(run_hostile().args(["--pid", "GOOD", "--flow"]).arg(&flow));
    assert_eq!(code, 3, "a bad flow file is refused input: {stderr}");
    assert!(stderr.contains("[1006]"), "{stderr}");
}

#[test]
fn metrics_count_the_runs_calls() {
    let (code, stdout, _) = run(run_hostile().args(["--pid", "GOOD", "--json", "--metrics"]));
    assert_eq!(code, 0);
    let metrics = json_of(&stdout)["metrics"].clone();
    assert_eq!(metrics["calls"], 2, "pre-execute and execute: {metrics}");
    assert!(metrics["fuel_consumed"].as_u64().is_some_and(|fuel| fuel > 0), "{metrics}");
    assert_eq!(metrics["latency_ms_buckets"].as_array().map(|b| b.iter().filter_map(Value::as_u64).sum::<u64>()), Some(2));
}

fn audit_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("an audit log")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}")))
        .collect()
}

#[test]
fn the_audit_log_records_limit_hits_and_refusals_as_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let (code, _, _) = run(run_hostile().args(["--pid", "LOOP", "--timeout-ms", "1000", "--audit-log"]).arg(&audit));
    assert_eq!(code, 5);
    let records = audit_records(&audit);
    let hit = records.iter().find(|r| r["fields"]["event"] == "limit_hit").expect("a limit_hit record");
    assert_eq!(hit["fields"]["code"], 1005);
    assert_eq!(hit["target"], "audit");

    // An unsigned package without --allow-unsigned: refused, and audited.
    let mut refused = pv_host_trusting(dir.path());
    refused.args(["run", pv_test_artifacts::HOSTILE]);
    refused.args(["--pid", "GOOD", "--image"]).arg(fixtures::image_path("coins.png")).arg("--audit-log").arg(&audit);
    let (code, _, stderr) = run(&mut refused);
    assert_eq!(code, 8, "{stderr}");
    let records = audit_records(&audit);
    let refusal = records.iter().find(|r| r["fields"]["event"] == "package_refused").expect("a package_refused record");
    assert_eq!(refusal["fields"]["code"], 2106);
}

#[test]
fn the_json_log_format_writes_json_lines() {
    let (code, _, stderr) = run(run_hostile().args(["--pid", "GOOD", "--log-format", "json"]));
    assert_eq!(code, 0);
    let warning = stderr.lines().find(|l| l.contains("UNTRUSTED")).expect("the unsigned warning");
    let record: Value = serde_json::from_str(warning).expect("a JSON record");
    assert_eq!(record["level"], "WARN");
}
