//! The signing workflow through the `pv-host` binary, as the README gives it:
//! keygen, trust add, pack, verify, inspect, run, sign; and each refusal with
//! its platform code and exit code.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pv_test_artifacts::fixtures;
use pv_test_support::{pv_host_trusting, run};
use serde_json::Value;

/// Exit code of a refused package (2xxx that are about the package itself).
const EXIT_PACKAGE: i32 = 6;
/// Exit code of an untrusted package.
const EXIT_UNTRUSTED: i32 = 8;

/// A command that must succeed; its stdout.
fn ok(cmd: &mut Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// A command that must be refused with `platform_code` and `exit_code`.
fn refused(cmd: &mut Command, platform_code: u32, exit_code: i32) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, exit_code, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains(&format!("[{platform_code}]")), "want [{platform_code}] in: {stderr}");
    assert_eq!(stderr.trim().lines().filter(|l| l.starts_with("error:")).count(), 1, "one error line: {stderr}");
    stderr
}

struct Workshop {
    dir: tempfile::TempDir,
}

impl Workshop {
    fn new() -> Self {
        Workshop { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn trust(&self) -> PathBuf {
        self.path("trust")
    }

    fn cmd(&self) -> Command {
        pv_host_trusting(&self.trust())
    }

    fn keygen(&self, name: &str) -> PathBuf {
        ok(self.cmd().args(["keygen", "--out"]).arg(self.path(name)));
        self.path(&format!("{name}.key"))
    }

    fn manifest(&self, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let original = fixtures::examples_dir().join("part-counter/manifest.json");
        let mut json: Value = serde_json::from_slice(&std::fs::read(original).expect("manifest")).expect("JSON");
        edit(&mut json);
        let path = self.path("manifest.json");
        std::fs::write(&path, json.to_string()).expect("write manifest");
        path
    }

    fn pack(&self, key: &Path, manifest: &Path, out: &str) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["pack", pv_test_artifacts::PART_COUNTER, "--manifest"])
            .arg(manifest)
            .arg("--asset")
            .arg(format!("notes.txt={}", self.write("notes.txt", b"calibrated 2026-11-01").display()))
            .arg("--key")
            .arg(key)
            .arg("-o")
            .arg(self.path(out));
        cmd
    }

    /// The key id of the first signature of package `name`.
    fn signer(&self, name: &str) -> String {
        let report: Value =
            serde_json::from_str(&ok(self.cmd().arg("inspect").arg(self.path(name)).arg("--json"))).expect("JSON");
        report["signatures"][0]["key_id"].as_str().expect("a key id").to_owned()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn run_coins(&self, package: &str) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["run"]).arg(self.path(package)).args(["--pid", "A01", "--image"]).arg(fixtures::image_path("coins.png"));
        cmd
    }
}

#[test]
fn keygen_pack_verify_inspect_run_and_countersign() {
    let shop = Workshop::new();
    let key = shop.keygen("vendor");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the secret key is readable by its owner only");
    }
    let (code, _, stderr) = run(shop.cmd().args(["keygen", "--out"]).arg(shop.path("vendor")));
    assert_ne!(code, 0, "keygen never overwrites a key: {stderr}");

    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("vendor.pub")));
    let listed = ok(shop.cmd().args(["trust", "list"]));
    assert!(listed.contains("vendor"), "{listed}");

    let manifest = shop.manifest(|_| {});
    ok(&mut shop.pack(&key, &manifest, "pc.pkg.wasm"));
    let verified = ok(shop.cmd().arg("verify").arg(shop.path("pc.pkg.wasm")));
    assert!(verified.starts_with("OK: part-counter 1.0.0"), "{verified}");

    let inspected: Value = serde_json::from_str(&ok(shop
        .cmd()
        .arg("inspect")
        .arg(shop.path("pc.pkg.wasm"))
        .arg("--json")
        .arg("--trust")
        .arg(shop.trust())))
    .expect("inspect --json prints JSON");
    assert_eq!(inspected["manifest"]["name"], "part-counter");
    assert_eq!(inspected["assets"][0]["name"], "notes.txt");
    assert_eq!(inspected["assets"][0]["size"], 21);
    assert_eq!(inspected["signatures"][0]["status"], "trusted (vendor)");
    let imports = inspected["component"]["imports"].as_array().expect("imports");
    assert!(imports.iter().any(|i| i.as_str().is_some_and(|i| i.starts_with("procvision:algorithm/log@"))), "{imports:?}");
    assert_eq!(inspected["sha256"].as_str().map(str::len), Some(64));
    let text = ok(shop.cmd().arg("inspect").arg(shop.path("pc.pkg.wasm")));
    assert!(text.contains("signatures 1"), "{text}");

    let out = ok(shop.run_coins("pc.pkg.wasm").args(["--params", r#"{"expected_count": 24}"#]));
    assert!(out.contains("verdict: OK"), "{out}");

    // Site QA countersigns; a station that wants two signers admits it then.
    let qa = shop.keygen("qa");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("qa.pub")));
    refused(shop.cmd().arg("verify").arg(shop.path("pc.pkg.wasm")).args(["--required-signers", "2"]), 2110, EXIT_UNTRUSTED);
    ok(shop.cmd().arg("sign").arg(shop.path("pc.pkg.wasm")).arg("--key").arg(&qa));
    ok(shop.cmd().arg("verify").arg(shop.path("pc.pkg.wasm")).args(["--required-signers", "2"]));
}

#[test]
fn each_refusal_has_its_code() {
    let shop = Workshop::new();
    let key = shop.keygen("vendor");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("vendor.pub")));
    ok(&mut shop.pack(&key, &shop.manifest(|_| {}), "pc.pkg.wasm"));
    let package = std::fs::read(shop.path("pc.pkg.wasm")).expect("package");

    // Unsigned: the bare component.
    let mut bare = shop.cmd();
    bare.args(["run", pv_test_artifacts::PART_COUNTER, "--pid", "A01", "--image"]).arg(fixtures::image_path("coins.png"));
    refused(&mut bare, 2106, EXIT_UNTRUSTED);
    let (code, stdout, stderr) = run(bare.arg("--allow-unsigned"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("RUNNING AN UNTRUSTED PACKAGE"), "a loud warning: {stderr}");

    // One byte changed.
    let mut tampered = package.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    shop.write("tampered.wasm", &tampered);
    refused(&mut shop.run_coins("tampered.wasm"), 2107, EXIT_UNTRUSTED);
    refused(shop.run_coins("tampered.wasm").arg("--allow-unsigned"), 2107, EXIT_UNTRUSTED);

    // Signed by a key this station does not know.
    let stranger = shop.keygen("stranger");
    let mut foreign = shop.pack(&stranger, &shop.manifest(|_| {}), "foreign.wasm");
    ok(&mut foreign);
    refused(&mut shop.run_coins("foreign.wasm"), 2108, EXIT_UNTRUSTED);

    // Malformed: not a package at all, and garbage after the signature.
    shop.write("garbage.wasm", b"\0asm\x0d\0\x01\0garbage");
    refused(&mut shop.run_coins("garbage.wasm"), 2102, EXIT_PACKAGE);
    shop.write("trailing.wasm", &[package.as_slice(), b"\0"].concat());
    refused(&mut shop.run_coins("trailing.wasm"), 2102, EXIT_PACKAGE);

    // An invalid manifest, and one that disagrees with get-info: pack refuses both.
    let typo = shop.manifest(|m| m["publsher"] = "typo".into());
    refused(&mut shop.pack(&key, &typo, "typo.wasm"), 2105, EXIT_PACKAGE);
    let wrong_version = shop.manifest(|m| m["version"] = "9.9.9".into());
    refused(&mut shop.pack(&key, &wrong_version, "wrong.wasm"), 2111, EXIT_PACKAGE);

    // Rollback: once 1.1.0 was admitted here, 1.0.0 is refused unless allowed.
    ok(&mut shop.run_coins("pc.pkg.wasm"));
    let record = shop.trust().join("admitted-versions.json");
    let admitted: Value = serde_json::from_slice(&std::fs::read(&record).expect("a version record")).expect("JSON");
    let publisher = shop.signer("pc.pkg.wasm");
    let entry = &admitted["admitted"][&publisher]["part-counter"];
    assert_eq!(entry["version"], "1.0.0", "{admitted}");
    assert_eq!(entry["content_sha256"].as_str().map(str::len), Some(64), "{admitted}");

    // The same name and version with other content (another description): a
    // version names one build, so it is refused; a countersignature is no
    // other content.
    ok(&mut shop.pack(&key, &shop.manifest(|m| m["description"] = "rebuilt".into()), "same-version.pkg.wasm"));
    let stderr = refused(&mut shop.run_coins("same-version.pkg.wasm"), 2112, EXIT_UNTRUSTED);
    assert!(stderr.contains("a version names one build"), "{stderr}");
    let qa = shop.keygen("qa");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("qa.pub")));
    ok(shop.cmd().arg("sign").arg(shop.path("pc.pkg.wasm")).arg("--key").arg(&qa).arg("-o").arg(shop.path("countersigned.wasm")));
    ok(&mut shop.run_coins("countersigned.wasm"));

    let newer = serde_json::json!({"format": 2, "admitted": {(publisher.as_str()): {"part-counter": "1.1.0"}}});
    std::fs::write(&record, newer.to_string()).expect("write record");
    refused(&mut shop.run_coins("pc.pkg.wasm"), 2112, EXIT_UNTRUSTED);
    ok(shop.run_coins("pc.pkg.wasm").arg("--allow-downgrade"));

    // Revoked.
    let id = ok(shop.cmd().arg("inspect").arg(shop.path("pc.pkg.wasm")).arg("--json"));
    let id: Value = serde_json::from_str(&id).expect("JSON");
    ok(shop.cmd().args(["trust", "revoke", id["signatures"][0]["key_id"].as_str().expect("key id")]));
    refused(&mut shop.run_coins("pc.pkg.wasm"), 2109, EXIT_UNTRUSTED);
    refused(shop.run_coins("pc.pkg.wasm").arg("--allow-unsigned"), 2109, EXIT_UNTRUSTED);

    // A weak key is refused when added.
    let mut identity = String::from("pv-host ed25519 public key\n01");
    identity.push_str(&"00".repeat(31));
    shop.write("weak.pub", identity.as_bytes());
    refused(shop.cmd().args(["trust", "add"]).arg(shop.path("weak.pub")), 2114, EXIT_UNTRUSTED);
}

#[test]
fn only_putting_a_package_into_service_records_its_version() {
    let shop = Workshop::new();
    let key = shop.keygen("vendor");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("vendor.pub")));
    ok(&mut shop.pack(&key, &shop.manifest(|_| {}), "pc.pkg.wasm"));
    let record = shop.trust().join("admitted-versions.json");
    let coins = fixtures::image_path("coins.png");

    ok(shop.cmd().arg("verify").arg(shop.path("pc.pkg.wasm")));
    ok(shop.cmd().arg("bench").arg(shop.path("pc.pkg.wasm")).args(["--iterations", "1", "--image"]).arg(&coins));
    let (code, stdout, stderr) = run(shop.cmd().arg("test").arg(shop.path("pc.pkg.wasm")).arg("--timeout-ms").arg("20000"));
    assert!(code == 0 || code == 1, "the harness ran: {stdout}{stderr}");
    assert!(!record.exists(), "verify, bench and test only try a package: nothing is recorded");

    ok(&mut shop.run_coins("pc.pkg.wasm"));
    assert!(record.exists(), "run puts the package into service: its version is recorded");
}

#[test]
fn a_trust_store_that_cannot_be_read_is_an_error_even_for_development_runs() {
    let shop = Workshop::new();
    let key = shop.keygen("vendor");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("vendor.pub")));
    ok(&mut shop.pack(&key, &shop.manifest(|_| {}), "pc.pkg.wasm"));
    let publisher = shop.signer("pc.pkg.wasm");
    ok(shop.cmd().args(["trust", "revoke", &publisher]));
    // One junk key file makes the store unreadable; --allow-unsigned must not
    // then run the package as if there were no store (and no revocation).
    std::fs::write(shop.trust().join("junk.pub"), "not a key").expect("write");
    refused(shop.run_coins("pc.pkg.wasm").arg("--allow-unsigned"), 2114, EXIT_UNTRUSTED);
    std::fs::remove_file(shop.trust().join("junk.pub")).expect("removed");
    refused(shop.run_coins("pc.pkg.wasm").arg("--allow-unsigned"), 2109, EXIT_UNTRUSTED);
}

#[test]
fn every_reporting_command_speaks_json() {
    let shop = Workshop::new();
    let json = |cmd: &mut Command| -> Value { serde_json::from_str(&ok(cmd)).expect("one JSON document on stdout") };
    let keygen = json(shop.cmd().args(["keygen", "--json", "--out"]).arg(shop.path("vendor")));
    let key_id = keygen["key_id"].as_str().expect("key id").to_owned();
    assert!(keygen["secret_key"].as_str().is_some_and(|p| p.ends_with("vendor.key")), "{keygen}");
    let added = json(shop.cmd().args(["trust", "add", "--json"]).arg(shop.path("vendor.pub")));
    assert_eq!(added["key_id"], key_id.as_str());
    let packed = json(shop.pack(&shop.path("vendor.key"), &shop.manifest(|_| {}), "pc.pkg.wasm").arg("--json"));
    assert_eq!((packed["name"].as_str(), packed["key_id"].as_str()), (Some("part-counter"), Some(key_id.as_str())));
    let qa = shop.keygen("qa");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("qa.pub")));
    let signed = json(shop.cmd().arg("sign").arg(shop.path("pc.pkg.wasm")).arg("--key").arg(&qa).arg("--json"));
    assert_eq!(signed["signatures"], 2);
    let verified = json(shop.cmd().arg("verify").arg(shop.path("pc.pkg.wasm")).arg("--json"));
    assert_eq!(verified["status"], "OK");
    assert_eq!(verified["signers"][0]["key_id"], key_id.as_str());
    let listed = json(shop.cmd().args(["trust", "list", "--json"]));
    assert_eq!(listed["trusted"].as_array().map(Vec::len), Some(2));
    let report = json(shop.cmd().arg("test").arg(shop.path("pc.pkg.wasm")).arg("--json").args(["--timeout-ms", "20000"]));
    assert!(report["checks"].as_array().is_some_and(|checks| !checks.is_empty()), "{report}");

    // A refusal with --json: the error as JSON on stdout, its line on stderr.
    let mut tampered = std::fs::read(shop.path("pc.pkg.wasm")).expect("package");
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    shop.write("tampered.wasm", &tampered);
    let (code, stdout, stderr) = run(shop.cmd().arg("verify").arg(shop.path("tampered.wasm")).arg("--json"));
    assert_eq!(code, EXIT_UNTRUSTED, "{stderr}");
    let error: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!((error["status"].as_str(), error["error_code"].as_str()), (Some("ERROR"), Some("2107")));
}

#[test]
fn the_command_line_itself_is_consistent() {
    let shop = Workshop::new();
    let (code, _, stderr) = run(shop.cmd().args(["--log", "warn,=[", "trust", "list"]));
    assert_eq!(code, 2, "an invalid --log filter is a usage error: {stderr}");
    let version = ok(shop.cmd().arg("--version"));
    assert!(version.contains("wasmtime 48.") && version.contains("procvision:algorithm@"), "{version}");
    let completions = ok(shop.cmd().args(["completions", "bash"]));
    assert!(completions.contains("pv-host") && completions.contains("--timeout-ms"), "a bash completion script");
    let man = ok(shop.cmd().arg("man"));
    assert!(man.starts_with(".ie") || man.contains(".TH"), "a roff page");
    let pages = ok(shop.cmd().args(["man", "--out"]).arg(shop.path("man")));
    assert!(pages.lines().any(|line| line.ends_with("pv-host-run.1")), "{pages}");
    // Every command that runs a guest takes the same limit flags.
    for command in ["run", "test", "serve", "bench"] {
        let help = ok(shop.cmd().args([command, "--help"]));
        for flag in ["--fuel", "--no-fuel", "--timeout-ms", "--memory-mb", "--log-bytes", "--output-bytes"] {
            assert!(help.contains(flag), "`{command}` takes {flag}");
        }
    }
    for command in ["run", "serve", "bench", "test", "verify"] {
        assert!(ok(shop.cmd().args([command, "--help"])).contains("--allow-downgrade"), "`{command}` takes --allow-downgrade");
    }
}

#[test]
fn text_from_a_package_never_reaches_the_terminal_raw() {
    let shop = Workshop::new();
    let key = shop.keygen("vendor");
    ok(shop.cmd().args(["trust", "add"]).arg(shop.path("vendor.pub")));
    // An escape sequence that would retitle the window and clear the screen.
    let manifest = shop.manifest(|m| m["description"] = "counts\u{1b}]0;owned\u{7}\u{1b}[2J parts".into());
    ok(&mut shop.pack(&key, &manifest, "pc.pkg.wasm"));
    let text = ok(shop.cmd().arg("inspect").arg(shop.path("pc.pkg.wasm")));
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "no raw control characters: {text:?}");
    assert!(text.contains("\\u{1b}"), "shown escaped: {text}");
}
