//! The signing workflow through the `pv-host` binary, as the README gives it:
//! keygen, trust add, pack, verify, inspect, run, sign; and each refusal with
//! its platform code and exit code.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pv_test_artifacts::fixtures;
use serde_json::Value;

/// Exit code of a refused package (2xxx that are about the package itself).
const EXIT_PACKAGE: i32 = 6;
/// Exit code of an untrusted package.
const EXIT_UNTRUSTED: i32 = 8;

fn pv_host(trust: &Path) -> Command {
    let mut cmd = Command::cargo_bin("pv-host").expect("the pv-host binary is built for integration tests");
    cmd.env_remove("PV_HOST_LOG").env("PV_HOST_TRUST", trust);
    cmd
}

/// Run and return (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> (i32, String, String) {
    let output = cmd.output().expect("run pv-host");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

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
        pv_host(&self.trust())
    }

    fn keygen(&self, name: &str) -> PathBuf {
        ok(self.cmd().args(["keygen", "--out"]).arg(self.path(name)));
        self.path(&format!("{name}.key"))
    }

    fn manifest(&self, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let original = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/part-counter/manifest.json");
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
    refused(shop.cmd().arg("verify").arg(shop.path("pc.pkg.wasm")).args(["--required-signers", "2"]), 2010, EXIT_UNTRUSTED);
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
    refused(&mut bare, 2006, EXIT_UNTRUSTED);
    let (code, stdout, stderr) = run(bare.arg("--allow-unsigned"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("RUNNING AN UNTRUSTED PACKAGE"), "a loud warning: {stderr}");

    // One byte changed.
    let mut tampered = package.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    shop.write("tampered.wasm", &tampered);
    refused(&mut shop.run_coins("tampered.wasm"), 2007, EXIT_UNTRUSTED);
    refused(shop.run_coins("tampered.wasm").arg("--allow-unsigned"), 2007, EXIT_UNTRUSTED);

    // Signed by a key this station does not know.
    let stranger = shop.keygen("stranger");
    let mut foreign = shop.pack(&stranger, &shop.manifest(|_| {}), "foreign.wasm");
    ok(&mut foreign);
    refused(&mut shop.run_coins("foreign.wasm"), 2008, EXIT_UNTRUSTED);

    // Malformed: not a package at all, and garbage after the signature.
    shop.write("garbage.wasm", b"\0asm\x0d\0\x01\0garbage");
    refused(&mut shop.run_coins("garbage.wasm"), 2002, EXIT_PACKAGE);
    shop.write("trailing.wasm", &[package.as_slice(), b"\0"].concat());
    refused(&mut shop.run_coins("trailing.wasm"), 2002, EXIT_PACKAGE);

    // An invalid manifest, and one that disagrees with get-info: pack refuses both.
    let typo = shop.manifest(|m| m["publsher"] = "typo".into());
    refused(&mut shop.pack(&key, &typo, "typo.wasm"), 2005, EXIT_PACKAGE);
    let wrong_version = shop.manifest(|m| m["version"] = "9.9.9".into());
    refused(&mut shop.pack(&key, &wrong_version, "wrong.wasm"), 2011, EXIT_PACKAGE);

    // Rollback: once 1.1.0 was admitted here, 1.0.0 is refused unless allowed.
    ok(&mut shop.run_coins("pc.pkg.wasm"));
    let record = shop.trust().join("admitted-versions.json");
    let admitted: Value = serde_json::from_slice(&std::fs::read(&record).expect("a version record")).expect("JSON");
    assert_eq!(admitted["part-counter"], "1.0.0");
    std::fs::write(&record, r#"{"part-counter": "1.1.0"}"#).expect("write record");
    refused(&mut shop.run_coins("pc.pkg.wasm"), 2012, EXIT_UNTRUSTED);
    ok(shop.run_coins("pc.pkg.wasm").arg("--allow-downgrade"));

    // Revoked.
    let id = ok(shop.cmd().arg("inspect").arg(shop.path("pc.pkg.wasm")).arg("--json"));
    let id: Value = serde_json::from_str(&id).expect("JSON");
    ok(shop.cmd().args(["trust", "revoke", id["signatures"][0]["key_id"].as_str().expect("key id")]));
    refused(&mut shop.run_coins("pc.pkg.wasm"), 2009, EXIT_UNTRUSTED);
    refused(shop.run_coins("pc.pkg.wasm").arg("--allow-unsigned"), 2009, EXIT_UNTRUSTED);

    // A weak key is refused when added.
    let mut identity = String::from("pv-host ed25519 public key\n01");
    identity.push_str(&"00".repeat(31));
    shop.write("weak.pub", identity.as_bytes());
    refused(shop.cmd().args(["trust", "add"]).arg(shop.path("weak.pub")), 2014, EXIT_UNTRUSTED);
}
