//! End-to-end tests of `pv-host run` on the real sample photographs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pv_test_artifacts::fixtures::{self, ScratchPolarity};
use pv_test_support::{pv_host_binary, pv_host_trusting, station};
use serde_json::Value;

/// `pv-host` trusting the test station's key, and nothing else.
fn pv_host_trusting_station() -> Command {
    pv_host_trusting(&station::station().trust)
}

fn save_png(dir: &Path, name: &str, image: &image::GrayImage) -> PathBuf {
    let path = dir.join(name);
    image.save(&path).expect("write test image");
    path
}

fn run_json(package: &str, pid: &str, image: &Path, params: &str) -> (i32, Value) {
    run_json_with(package, pid, image, params, &[])
}

fn run_json_with(package: &str, pid: &str, image: &Path, params: &str, flags: &[&str]) -> (i32, Value) {
    let output = pv_host_trusting_station()
        .args(["run", package, "--pid", pid, "--params", params, "--json", "--image"])
        .arg(image)
        .args(flags)
        .output()
        .expect("run pv-host");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {stdout}"));
    (output.status.code().expect("exit code"), json)
}

fn rect_of(value: &Value) -> (u32, u32, u32, u32) {
    let field = |name: &str| value[name].as_u64().unwrap_or_else(|| panic!("rect field {name} in {value}")) as u32;
    (field("x"), field("y"), field("width"), field("height"))
}

#[test]
fn coins_with_all_24_parts_is_ok() {
    let output = pv_host_trusting_station()
        .args(["run", station::part_counter(), "--pid", "A01", "--params", r#"{"expected_count": 24}"#])
        .arg("--image")
        .arg(fixtures::image_path("coins.png"))
        .output()
        .expect("run pv-host");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("verdict: OK"), "{stdout}");
    assert!(stdout.contains("lighting ok"), "{stdout}");
}

#[test]
fn coins_with_a_coin_painted_over_is_ng_and_names_23() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (image, painted) = fixtures::coins_with_missing_coin();
    let path = save_png(dir.path(), "coins-missing.png", &image);
    let (code, json) = run_json(station::part_counter(), "A01", &path, r#"{"expected_count": 24}"#);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["status"], "OK");
    assert_eq!(json["data"]["result_status"], "NG");
    let reason = json["data"]["ng_reason"].as_str().expect("ng_reason");
    assert!(reason.contains("found 23 of 24"), "{reason}");
    let defects = json["data"]["defect_rects"].as_array().expect("defect rects");
    assert!(
        defects.iter().any(|d| fixtures::overlaps(rect_of(d), painted)),
        "no defect rect overlaps the painted coin {painted:?}: {defects:?}"
    );
}

#[test]
fn brick_is_ok_and_brick_with_a_scratch_is_ng_with_a_rect_on_it() {
    let (code, json) = run_json(station::scratch_detector(), "B01", &fixtures::image_path("brick.png"), "{}");
    assert_eq!((code, &json["data"]["result_status"]), (0, &Value::from("OK")), "{json}");

    let dir = tempfile::tempdir().expect("tempdir");
    for polarity in [ScratchPolarity::Dark, ScratchPolarity::Bright] {
        let (image, scratch) = fixtures::brick_with_scratch(polarity);
        let path = save_png(dir.path(), "brick-scratch.png", &image);
        let (code, json) = run_json(station::scratch_detector(), "B01", &path, "{}");
        assert_eq!(code, 1, "{polarity:?}: {json}");
        assert_eq!(json["data"]["result_status"], "NG");
        let defects = json["data"]["defect_rects"].as_array().expect("defect rects");
        assert!(
            defects.iter().any(|d| fixtures::overlaps(rect_of(d), scratch)),
            "{polarity:?}: no defect rect overlaps the scratch {scratch:?}: {defects:?}"
        );
    }
}

#[test]
fn json_output_has_the_platform_fields() {
    let (code, json) = run_json(station::part_counter(), "A01", &fixtures::image_path("coins.png"), r#"{"expected_count": 24}"#);
    assert_eq!(code, 0, "{json}");
    for field in ["status", "message", "error_code"] {
        assert!(json.get(field).is_some(), "missing {field}: {json}");
    }
    assert_eq!(json["error_code"], Value::Null);
    let data = &json["data"];
    for field in ["result_status", "ng_reason", "defect_rects", "position_rects", "debug"] {
        assert!(data.get(field).is_some(), "missing data.{field}: {json}");
    }
    assert_eq!(data["position_rects"].as_array().map(Vec::len), Some(24));
    assert_eq!(data["debug"]["found"], 24);
    assert!(json["timings_ms"]["execute"].as_f64().is_some());
    assert_eq!(json["diagnostics"]["part_count"], 24);
    for phase in ["setup", "pre_execute", "execute"] {
        let usage = &json["resources"][phase];
        assert!(usage["wall_ms"].as_f64().is_some(), "{phase}: {json}");
        assert!(usage["peak_memory_bytes"].as_u64().is_some_and(|bytes| bytes > 0), "{phase}: {json}");
        assert!(usage["fuel_consumed"].as_u64().is_some(), "{phase}: {json}");
    }
}

#[test]
fn a_hostile_package_gets_its_classified_error_and_exit_code() {
    let coins = fixtures::image_path("coins.png");
    let coins = coins.to_str().expect("UTF-8 path");
    // (PID, extra flags, platform code): each exits 5, "crashed or hit a limit".
    // The hostile guest is a bare component: it runs as a developer's would.
    let cases: [(&str, &[&str], &str); 4] = [
        ("LOOP", &["--allow-unsigned", "--timeout-ms", "1000"], "1005"),
        ("LOOP", &["--allow-unsigned", "--fuel", "1000000"], "1005"),
        ("MEMORY", &["--allow-unsigned", "--memory-mb", "32"], "1004"),
        ("PANIC", &["--allow-unsigned"], "9999"),
    ];
    for (pid, flags, code) in cases {
        let output = pv_host_trusting_station()
            .args(["run", pv_test_artifacts::HOSTILE, "--pid", pid, "--image", coins])
            .args(flags)
            .output()
            .expect("run pv-host");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(5), "{pid} {flags:?}: {stdout}");
        assert!(stdout.contains(&format!("verdict: ERROR {code}")), "{pid} {flags:?}: {stdout}");

        let (exit, json) = run_json_with(pv_test_artifacts::HOSTILE, pid, coins.as_ref(), "{}", flags);
        assert_eq!(exit, 5);
        assert_eq!(json["error_code"], code, "{json}");
        assert!(json["resources"]["execute"]["wall_ms"].as_f64().is_some(), "{json}");
    }
}

#[test]
fn a_package_that_wants_the_network_gets_none() {
    let output = pv_host_trusting_station()
        .args(["run", pv_test_artifacts::HOSTILE_NETWORK, "--allow-unsigned", "--json", "--pid", "A01", "--image"])
        .arg(fixtures::image_path("coins.png"))
        .output()
        .expect("run pv-host");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Loaded (its socket imports are linked to a deny-everything implementation),
    // then its connect fails: the algorithm's own error, exit code 4.
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"));
    assert_eq!(json["error_code"], "9999", "{json}");
}

#[test]
fn colour_jpeg_input_is_decoded_and_converted() {
    let (code, json) = run_json(station::scratch_detector(), "B01", &fixtures::image_path("rocket.jpg"), "{}");
    assert!(code == 0 || code == 1, "{json}");
    assert_eq!(json["status"], "OK");
}

#[test]
fn annotate_writes_a_png_of_the_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (image, _) = fixtures::coins_with_missing_coin();
    let input = save_png(dir.path(), "in.png", &image);
    let out = dir.path().join("annotated.png");
    pv_host_trusting_station()
        .args(["run", station::part_counter(), "--pid", "A01", "--image"])
        .arg(&input)
        .arg("--annotate")
        .arg(&out)
        .assert()
        .code(1);
    let annotated = image::open(&out).expect("annotated PNG decodes").into_rgb8();
    assert_eq!(annotated.dimensions(), image.dimensions());
    // Defects are drawn in red on a gray photo: some pixel must be strongly red.
    assert!(annotated.pixels().any(|p| p[0] > 200 && p[1] < 80 && p[2] < 80), "no red mark drawn");
}

/// Runs a bad command line and checks the exit code, the platform code in the
/// one-line error, and that nothing panicked.
fn assert_refused(args: &[&str], exit_code: i32, platform_code: &str) {
    let output = pv_host_trusting_station().args(args).output().expect("run pv-host");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(exit_code), "{args:?}: {stderr}");
    assert!(stderr.contains(&format!("[{platform_code}]")), "{args:?}: expected code {platform_code} in: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: expected one line: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

#[test]
fn bad_inputs_get_one_line_errors_and_documented_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let coins = fixtures::image_path("coins.png");
    let coins = coins.to_str().expect("utf-8 path");
    let pc = station::part_counter();

    let missing = dir.path().join("missing.wasm");
    assert_refused(&["run", missing.to_str().expect("path"), "--pid", "A01", "--image", coins], 6, "2101");

    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, b"this is not webassembly").expect("write");
    assert_refused(&["run", not_wasm.to_str().expect("path"), "--pid", "A01", "--image", coins], 6, "2102");

    let core_module = dir.path().join("module.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").expect("write");
    assert_refused(&["run", core_module.to_str().expect("path"), "--pid", "A01", "--image", coins], 6, "2102");

    let not_image = dir.path().join("frame.png");
    std::fs::write(&not_image, b"not a png").expect("write");
    assert_refused(&["run", pc, "--pid", "A01", "--image", not_image.to_str().expect("path")], 3, "1002");
    assert_refused(&["run", pc, "--pid", "A01", "--image", "/nonexistent/frame.png"], 3, "1002");

    assert_refused(&["run", pc, "--pid", "", "--image", coins], 3, "1001");
    assert_refused(&["run", pc, "--pid", "Z99", "--image", coins], 3, "1001");
    assert_refused(&["run", pc, "--pid", "A01", "--image", coins, "--params", "{not json"], 3, "1006");
    assert_refused(&["run", pc, "--pid", "A01", "--image", coins, "--params", "[1, 2]"], 3, "1006");
    assert_refused(&["run", pc, "--pid", "A01", "--image", coins, "--params", r#"{"expected_count": -3}"#], 3, "1006");
    assert_refused(&["run", pc, "--pid", "A01", "--image", coins, "--step", "7"], 3, "1006");
}

#[test]
fn json_mode_reports_errors_as_json() {
    let coins = fixtures::image_path("coins.png");
    let (code, json) = run_json(station::part_counter(), "Z99", &coins, "{}");
    assert_eq!(code, 3);
    assert_eq!(json["status"], "ERROR");
    assert_eq!(json["error_code"], "1001");
}

#[test]
fn lighting_out_of_range_is_a_readable_algorithm_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dark = image::GrayImage::from_pixel(120, 90, image::Luma([5]));
    let path = save_png(dir.path(), "dark.png", &dark);
    let (code, json) = run_json(station::part_counter(), "A01", &path, "{}");
    assert_eq!(code, 4, "{json}");
    assert_eq!(json["error_code"], "1002");
    let message = json["message"].as_str().expect("message");
    assert!(message.contains("lighting out of range"), "{message}");
}

#[test]
fn a_host_out_of_address_space_is_a_host_failure_not_the_guests() {
    // A 1.5 GB address-space limit: enough to start and compile, not for the
    // 4 GiB reservation of the guest's memory at instantiation.
    let command = "ulimit -v 1500000 && exec \"$0\" run \"$1\" --pid A01 --json --image \"$2\"";
    let output = std::process::Command::new("sh")
        .args(["-c", command])
        .arg(pv_host_binary())
        .arg(station::part_counter())
        .arg(fixtures::image_path("coins.png"))
        .env_remove("PV_HOST_LOG")
        .env("PV_HOST_TRUST", &station::station().trust)
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {stdout}"));
    // 9999 and exit 7 (pv-host itself failed), not 2103 (the package broke the contract).
    assert_eq!((output.status.code(), json["error_code"].as_str()), (Some(7), Some("9999")), "{json}");
}

#[test]
fn a_component_refused_with_2116_at_a_count_cap_loads_with_that_flag_raised() {
    let coins = fixtures::image_path("coins.png");
    let coins = coins.to_str().expect("UTF-8 path");
    let host = pv_host::Host::builder().pooled_instances(None).build().expect("host");
    let needs = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads").needs();
    let flags = [
        ("--core-instances", needs.core_instances),
        ("--memories", needs.memories),
        ("--tables", needs.tables),
        ("--table-elements", needs.table_elements),
    ];
    for (flag, needed) in flags {
        assert!(needed >= 1, "{flag}: {needs:?}");
        let run = |cap: u64| {
            pv_host_trusting_station()
                .args(["run", pv_test_artifacts::HOSTILE, "--allow-unsigned", "--pid", "GOOD", "--image", coins])
                .args([flag, &cap.to_string()])
                .output()
                .expect("run pv-host")
        };
        if needed > 1 {
            let short = run(needed - 1);
            let stderr = String::from_utf8_lossy(&short.stderr);
            assert_ne!(short.status.code(), Some(0), "{flag} {}: {stderr}", needed - 1);
            assert!(stderr.contains("[2116]") && stderr.contains(flag), "{flag} {}: {stderr}", needed - 1);
        }
        let raised = run(needed);
        let stdout = String::from_utf8_lossy(&raised.stdout);
        assert_eq!(raised.status.code(), Some(0), "{flag} {needed}: {stdout}{}", String::from_utf8_lossy(&raised.stderr));
        assert!(stdout.contains("verdict: OK"), "{flag} {needed}: {stdout}");
    }
}
