//! Every hint that names a command is followed, literally: the command quoted
//! in the error is taken from stderr, its placeholders (`KEY.key`,
//! `manifest.json`, `PKG.wasm`, `COMPONENT.wasm`, `KEY.pub`, `PACKAGE`) filled in, and run; then
//! the command that was refused is run again and must get further.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pv_test_artifacts::fixtures;
use pv_test_support::{pv_host, run};

/// The `pv-host ...` commands quoted in backticks in `stderr`.
fn suggested(stderr: &str) -> Vec<String> {
    stderr.split('`').skip(1).step_by(2).filter(|quoted| quoted.starts_with("pv-host ")).map(str::to_owned).collect()
}

/// Split a suggested command as a shell would: words, `'...'` quoting.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut started) = (String::new(), false, false);
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        Bench { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `pv-host` in the bench's directory with its trust store and station.
    fn pv_host(&self) -> Command {
        let mut cmd = pv_host();
        cmd.current_dir(self.dir.path()).env("PV_HOST_TRUST", self.path("trust")).env("PV_HOST_STATION", self.path("station"));
        cmd
    }

    /// Run `args`; it must fail with `code` in `[..]` and suggest exactly one
    /// command, which is returned.
    fn refused_with_hint(&self, args: &[&str], code: u32) -> String {
        let (exit, stdout, stderr) = run(self.pv_host().args(args));
        assert_ne!(exit, 0, "{args:?} must be refused: {stdout}");
        assert!(stderr.contains(&format!("[{code}]")), "{args:?}: want [{code}] in {stderr}");
        let commands = suggested(&stderr);
        assert_eq!(commands.len(), 1, "{args:?}: one command to run in {stderr}");
        commands[0].clone()
    }

    /// Run a suggested command with its placeholders filled in; it must succeed.
    fn follow(&self, command: &str, fill: &[(&str, &Path)]) {
        let mut args = words(command);
        assert_eq!(args.remove(0), "pv-host", "{command}");
        for arg in &mut args {
            if let Some((_, path)) = fill.iter().find(|(placeholder, _)| arg == placeholder) {
                *arg = path.display().to_string();
            }
        }
        let (exit, stdout, stderr) = run(self.pv_host().args(&args));
        assert_eq!(exit, 0, "following `{command}` ({args:?}) failed:\n{stdout}\n{stderr}");
    }

    fn ok(&self, args: &[&str]) {
        let (exit, stdout, stderr) = run(self.pv_host().args(args));
        assert_eq!(exit, 0, "{args:?}:\n{stdout}\n{stderr}");
    }
}

fn coins() -> String {
    fixtures::image_path("coins.png").display().to_string()
}

fn manifest() -> PathBuf {
    fixtures::examples_dir().join("part-counter/manifest.json")
}

#[test]
fn a_bare_component_is_sent_to_pack_and_a_package_that_is_not_signed_to_sign() {
    let bench = Bench::new();
    std::fs::copy(pv_test_artifacts::PART_COUNTER, bench.path("counter.wasm")).expect("copy the component");
    bench.ok(&["keygen", "--out", "vendor"]);
    bench.ok(&["trust", "add", "vendor.pub"]);
    let run_it =
        |file: &str| ["run", file, "--pid", "A01", "--image"].map(str::to_owned).into_iter().chain([coins()]).collect::<Vec<_>>();
    let fill = [
        ("manifest.json", manifest()),
        ("KEY.key", bench.path("vendor.key")),
        ("PKG.wasm", bench.path("counter.pkg.wasm")),
        ("COMPONENT.wasm", bench.path("counter.wasm")),
    ];
    let fill: Vec<(&str, &Path)> = fill.iter().map(|(placeholder, path)| (*placeholder, path.as_path())).collect();

    // `run` on the bare component says pack, and pack makes a package that runs.
    let args = run_it("counter.wasm");
    let hint = bench.refused_with_hint(&args.iter().map(String::as_str).collect::<Vec<_>>(), 2106);
    assert!(hint.starts_with("pv-host pack "), "{hint}");
    bench.follow(&hint, &fill);
    bench.ok(&run_it("counter.pkg.wasm").iter().map(String::as_str).collect::<Vec<_>>());

    // `sign` on the bare component says pack too, with no advice for another case.
    let (exit, _, stderr) = run(bench.pv_host().args(["sign", "counter.wasm", "--key", "vendor.key"]));
    assert_ne!(exit, 0);
    assert!(stderr.contains("[2102]") && !stderr.contains("intact copy"), "{stderr}");
    let [hint] = suggested(&stderr).try_into().unwrap_or_else(|all| panic!("one command in {all:?}"));
    let fill_other: Vec<(&str, &Path)> = fill
        .iter()
        .map(
            |&(placeholder, path)| {
                if placeholder == "PKG.wasm" { (placeholder, Path::new("again.pkg.wasm")) } else { (placeholder, path) }
            },
        )
        .collect();
    bench.follow(&hint, &fill_other);

    // A package with a manifest but no signature says sign, and signing it lets it run.
    let component = std::fs::read(pv_test_artifacts::PART_COUNTER).expect("component");
    let parsed = pv_host::package_file::Manifest::from_json(&std::fs::read(manifest()).expect("manifest")).expect("manifest");
    let unsigned = pv_host::package_file::pack(&component, &parsed, &[], None).expect("packs unsigned");
    std::fs::write(bench.path("unsigned.pkg.wasm"), unsigned).expect("write");
    let args = run_it("unsigned.pkg.wasm");
    let hint = bench.refused_with_hint(&args.iter().map(String::as_str).collect::<Vec<_>>(), 2106);
    assert!(hint.starts_with("pv-host sign "), "{hint}");
    bench.follow(&hint, &fill);
    bench.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn pack_names_what_it_was_given_and_never_an_output_it_did_not_write() {
    let bench = Bench::new();
    bench.ok(&["keygen", "--out", "vendor"]);
    let mut wrong: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest()).expect("manifest")).expect("JSON");
    wrong["version"] = "9.9.9".into();
    std::fs::write(bench.path("wrong.json"), wrong.to_string()).expect("write");
    let (exit, _, stderr) = run(bench.pv_host().args([
        "pack",
        pv_test_artifacts::PART_COUNTER,
        "--manifest",
        "wrong.json",
        "--key",
        "vendor.key",
        "-o",
        "out.pkg.wasm",
    ]));
    assert_ne!(exit, 0);
    assert!(stderr.contains("[2111]") && stderr.contains("fix the manifest and pack again"), "{stderr}");
    assert!(stderr.contains("wrong.json") && !stderr.contains("out.pkg.wasm"), "names the inputs only: {stderr}");
    assert!(!bench.path("out.pkg.wasm").exists());
    // Fixed as it says (the version left to the code), pack succeeds.
    wrong.as_object_mut().expect("object").remove("version");
    std::fs::write(bench.path("wrong.json"), wrong.to_string()).expect("write");
    bench.ok(&["pack", pv_test_artifacts::PART_COUNTER, "--manifest", "wrong.json", "--key", "vendor.key", "-o", "out.pkg.wasm"]);
}

#[test]
fn trust_store_and_station_hints_lead_on() {
    let bench = Bench::new();
    bench.ok(&["keygen", "--out", "vendor"]);
    let manifest = manifest().display().to_string();
    bench.ok(&["pack", pv_test_artifacts::PART_COUNTER, "--manifest", &manifest, "--key", "vendor.key", "-o", "pc.pkg.wasm"]);

    // No trust store yet: create it as the hint says (trust add ... --trust DIR).
    let hint = bench.refused_with_hint(&["verify", "pc.pkg.wasm"], 2114);
    bench.follow(&hint, &[("KEY.pub", &bench.path("vendor.pub"))]);
    bench.ok(&["verify", "pc.pkg.wasm"]);

    // Signed by a key the store does not know: trust it as the hint says.
    bench.ok(&["keygen", "--out", "stranger"]);
    bench.ok(&[
        "pack",
        pv_test_artifacts::PART_COUNTER,
        "--manifest",
        &manifest,
        "--key",
        "stranger.key",
        "-o",
        "foreign.pkg.wasm",
    ]);
    let hint = bench.refused_with_hint(&["verify", "foreign.pkg.wasm"], 2108);
    bench.follow(&hint, &[("KEY.pub", &bench.path("stranger.pub"))]);
    bench.ok(&["verify", "foreign.pkg.wasm"]);

    // A station: activating what is not installed names the install command.
    let hint = bench.refused_with_hint(&["station", "activate", "part-counter", "1.0.0"], 1006);
    bench.follow(&hint, &[("PACKAGE", &bench.path("pc.pkg.wasm"))]);
    bench.ok(&["station", "activate", "part-counter", "1.0.0"]);
}
