//! `pv-host bench`: percentiles, fuel, memory and throughput of a signed package.

use pv_test_artifacts::fixtures;
use pv_test_support::{pv_host, station};

#[test]
fn bench_reports_percentiles_fuel_memory_and_throughput() {
    let output = pv_host()
        .env("PV_HOST_TRUST", &station::station().trust)
        .args(["bench", station::part_counter(), "--iterations", "5", "--json", "--params", r#"{"expected_count": 24}"#])
        .arg("--image")
        .arg(fixtures::image_path("coins.png"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["iterations"], 5);
    assert!(report["steps_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
    // Two calls per step; both rates come from one division each, so compare with a
    // relative tolerance rather than bit for bit.
    let (calls, steps) = (report["calls_per_second"].as_f64(), report["steps_per_second"].as_f64());
    assert!(
        calls.zip(steps).is_some_and(|(calls, steps)| (calls - 2.0 * steps).abs() <= 1e-9 * calls.abs()),
        "calls_per_second should be twice steps_per_second: {report}"
    );
    for phase in ["pre_execute", "execute"] {
        let latency = &report[phase]["latency_ms"];
        let (p50, p90, p99) = (latency["p50"].as_f64(), latency["p90"].as_f64(), latency["p99"].as_f64());
        assert!(p50 <= p90 && p90 <= p99, "{phase}: {latency}");
        assert!(report[phase]["fuel_per_call"].as_u64().is_some_and(|fuel| fuel > 0), "{report}");
        assert!(report[phase]["peak_memory_bytes"].as_u64().is_some_and(|bytes| bytes > 0), "{report}");
    }
}
