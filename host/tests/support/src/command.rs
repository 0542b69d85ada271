//! The `pv-host` binary, run by the tests.

use std::path::{Path, PathBuf};

/// Where the `pv-host` binary is (built beside the test binaries).
pub fn pv_host_binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("pv-host")
}

/// `pv-host`, to run and check, with `PV_HOST_LOG` unset: the caller adds its
/// trust store, station, cache and arguments.
pub fn pv_host() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(pv_host_binary());
    cmd.env_remove("PV_HOST_LOG");
    cmd
}

/// [`pv_host`] admitting what the trust store at `trust` trusts.
pub fn pv_host_trusting(trust: &Path) -> assert_cmd::Command {
    let mut cmd = pv_host();
    cmd.env("PV_HOST_TRUST", trust);
    cmd
}

/// `pv-host` as a process to spawn (a server, a child to kill), with
/// `PV_HOST_LOG` unset.
pub fn pv_host_process() -> std::process::Command {
    let mut command = std::process::Command::new(pv_host_binary());
    command.env_remove("PV_HOST_LOG");
    command
}

/// Run `cmd`; (exit code, stdout, stderr).
///
/// # Panics
///
/// When it cannot run or ends without an exit code (a signal).
pub fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let output = cmd.output().expect("run pv-host");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Run `cmd`; (exit code, stdout as JSON).
///
/// # Panics
///
/// When it cannot run, ends without an exit code (a signal, a hang killed by
/// a timeout), or its output is not JSON.
pub fn run_json(cmd: &mut assert_cmd::Command) -> (i32, serde_json::Value) {
    let (code, stdout, stderr) = run(cmd);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}\n{stderr}"));
    (code, json)
}

/// Peak resident memory of the process `pid` so far, in KiB (`VmHWM`, Linux):
/// it only ever grows, so the last reading is the peak up to then.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
