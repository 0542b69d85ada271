//! `pv-host new`: a project made in a directory outside the repository builds,
//! packs and passes `pv-host test` by the commands its own README gives, run as
//! they are written (only `pv-host` is this build's binary).

use std::path::{Path, PathBuf};
use std::process::Command;

use pv_test_support::{pv_host, pv_host_binary, run};

/// The commands of the README's first ```sh block.
fn readme_commands(project: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(project.join("README.md")).expect("the project has a README");
    let block = readme.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a ```sh block");
    block.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect()
}

/// Run one README command in `project` with `sh`, `pv-host` being this build's
/// binary, and none of the variables `cargo test` set for this test.
fn follow(project: &Path, command: &str) {
    let bin_dir = pv_host_binary().parent().expect("the binary's directory").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let mut shell = Command::new("sh");
    shell.args(["-c", command]).current_dir(project).env("PATH", path);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if (name.starts_with("CARGO_") && name != "CARGO_HOME") || name.starts_with("RUSTUP_TOOLCHAIN") || name == "RUSTFLAGS" {
            shell.env_remove(&name);
        }
    }
    shell.env_remove("PV_HOST_LOG");
    let output = shell.output().expect("sh runs");
    assert!(
        output.status.success(),
        "`{command}` failed in {}:\n{}\n{}",
        project.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `target/new-projects` of this workspace.
fn shared_target() -> PathBuf {
    let exe = pv_host_binary();
    // <target>/<profile>/pv-host
    exe.ancestors().nth(2).expect("the target directory").join("new-projects")
}

fn new_project(dir: &Path, args: &[&str]) -> PathBuf {
    let (code, stdout, stderr) = run(pv_host().args(["new"]).args(args).arg("--dir").arg(dir));
    assert_eq!(code, 0, "{stdout}{stderr}");
    dir.join(args[0])
}

#[test]
fn a_new_rust_project_builds_packs_and_passes_pv_host_test_as_generated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = new_project(dir.path(), &["bright-check", "--pid", "A01", "--pid", "A02"]);
    // The project's target/ is a directory shared by the test runs, so the
    // SDK's dependencies compile once per machine, not once per run.
    std::fs::create_dir_all(shared_target()).expect("the shared target directory");
    std::os::unix::fs::symlink(shared_target(), project.join("target")).expect("link target/");
    let commands = readme_commands(&project);
    assert_eq!(commands.len(), 3, "{commands:?}");
    for command in &commands {
        follow(&project, command);
    }
    // What pack took from the code: the name, Cargo.toml's version, the PIDs.
    let (code, stdout, stderr) = run(pv_host().arg("inspect").arg(project.join("bright-check.pkg.wasm")).arg("--json"));
    assert_eq!(code, 0, "{stderr}");
    let inspected: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(inspected["manifest"]["version"], "0.1.0", "{inspected}");
    assert_eq!(inspected["manifest"]["pids"], serde_json::json!(["A01", "A02"]), "{inspected}");
    assert!(project.join("report.html").is_file());
    // The guest flags the repository sets came along.
    let config = std::fs::read_to_string(project.join(".cargo/config.toml")).expect("config");
    assert!(config.contains("+simd128") && config.contains("wasm32-wasip2"), "{config}");
}

#[test]
fn a_new_python_project_builds_packs_and_passes_pv_host_test_as_generated() {
    if pv_test_artifacts::PY_BRIGHTNESS_BARE.is_none() {
        eprintln!("componentize-py was not found when the test artifacts were built: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let project = new_project(dir.path(), &["dim-check", "--lang", "python"]);
    let commands = readme_commands(&project);
    assert_eq!(commands.len(), 3, "{commands:?}");
    for command in &commands {
        follow(&project, command);
    }
    assert!(project.join("dim-check.pkg.wasm").is_file() && project.join("report.html").is_file());
}

#[test]
fn new_refuses_a_bad_name_and_never_writes_over_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run(pv_host().args(["new", "Bad Name", "--dir"]).arg(dir.path()));
    assert_ne!(code, 0);
    assert!(stderr.contains("lowercase"), "{stderr}");
    std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
    std::fs::write(dir.path().join("taken/keep.txt"), "mine").expect("write");
    let (code, _, stderr) = run(pv_host().args(["new", "taken", "--dir"]).arg(dir.path()));
    assert_ne!(code, 0);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("taken/keep.txt")).expect("kept"), "mine");
    assert_eq!(std::fs::read_dir(dir.path().join("taken")).expect("dir").count(), 1, "nothing added");
}
