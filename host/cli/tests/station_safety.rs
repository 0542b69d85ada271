//! Station mode against a hostile or stuck environment: FIFOs, links and
//! devices in place of station files, a lock another process keeps, an audit
//! trail that cannot be written, package directories others can write. Every
//! operation here fails with a code (or carries on) instead of waiting
//! forever; the waits below are hang guards, never speed claims.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use pv_host::station::{Station, StationDir};
use pv_host::{Admission, ErrorCode, ErrorKind, Host, RunnerConfig};
use pv_test_support::{Setup, run_json};
use serde_json::Value;

/// How long an operation may take before the test calls it hung (a guard
/// against hanging the suite, never a timing check).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The product id of the versioned test package.
const PID: &str = "V";

/// Exit codes of the binary.
const EXIT_PACKAGE: i32 = 6;
const EXIT_HOST: i32 = 7;
const EXIT_STATION: i32 = 9;
const EXIT_BUSY: i32 = 10;

/// A station with `versions` of the versioned package installed (the first
/// active), and the package file of a version.
trait Installed {
    fn versioned_file(&self, version: &str) -> PathBuf;
    fn installed(&self, versions: &[&str]) -> StationDir;
}

impl Installed for Setup {
    fn versioned_file(&self, version: &str) -> PathBuf {
        self.versioned("versioned", version, &[PID])
    }

    fn installed(&self, versions: &[&str]) -> StationDir {
        let dir = self.open();
        let trust = self.trust();
        for version in versions {
            dir.install_file(&host(), &self.versioned_file(version), &Admission::new(&trust)).expect("installed");
        }
        dir.activate(&trust, "versioned", &version(versions[0]), None).expect("activated");
        dir
    }
}

fn host() -> Host {
    Host::builder().pooled_instances(None).build().expect("host")
}

fn version(text: &str) -> semver::Version {
    text.parse().expect("a version")
}

/// Run `work` on a thread of its own; its result, or a failure naming what
/// hung when it has not returned within [`HANG_GUARD`].
fn guarded<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver.recv_timeout(HANG_GUARD).unwrap_or_else(|_| panic!("{what} hung"))
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Hold the lock `path` from this process (a lock is per open file, so the
/// library's own open conflicts with it) until the result is dropped.
fn hold_lock(path: &Path) -> std::fs::File {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).expect("lock file");
    file.lock().expect("locked");
    file
}

/// `pv-host --no-cache station … --json` on the setup's station, a lock
/// waited for 300 ms, the run bounded by [`HANG_GUARD`].
fn station_cli(setup: &Setup) -> assert_cmd::Command {
    let mut cmd = setup.pv_host();
    cmd.env("PV_HOST_LOCK_TIMEOUT_MS", "300").timeout(HANG_GUARD).args(["--no-cache", "station", "--json"]);
    cmd
}

fn refused_json(cmd: &mut assert_cmd::Command, code: ErrorCode, exit: i32) -> String {
    let (status, json) = run_json(cmd);
    assert_eq!((status, json["error_code"].as_str()), (exit, Some(code.number().to_string().as_str())), "{json}");
    json["message"].as_str().expect("a message").to_owned()
}

#[test]
fn fifos_in_place_of_station_files_are_refused_without_waiting() {
    let setup = Setup::new();
    let dir = setup.installed(&["1.0.0"]);
    let station = setup.station();
    for file in ["journal.json", "active/V.json", "generation"] {
        let path = station.join(file);
        let saved = station.join("saved");
        if path.exists() {
            std::fs::rename(&path, &saved).expect("moved away");
        }
        mkfifo(&path);
        let listed = guarded(file, {
            let dir = dir.clone();
            move || dir.list().map(|_| ())
        });
        let err = listed.expect_err("a FIFO is not a station record");
        assert_eq!(err.kind(), ErrorKind::Host, "{file}: {err}");
        std::fs::remove_file(&path).expect("fifo removed");
        if saved.exists() {
            std::fs::rename(&saved, &path).expect("moved back");
        }
    }
    // A FIFO or a device as an installed package.
    let package_dir = station.join("packages/versioned");
    mkfifo(&package_dir.join("8.0.0.pkg.wasm"));
    let err = guarded("a FIFO package", {
        let dir = dir.clone();
        move || dir.list().map(|_| ())
    })
    .expect_err("a FIFO is not a package");
    assert_eq!(err.code(), ErrorCode::PackageUnreadable, "{err}");
    std::fs::remove_file(package_dir.join("8.0.0.pkg.wasm")).expect("removed");
    dir.list().expect("the station lists again");
}

#[test]
fn a_package_linked_to_dev_zero_is_refused_before_it_is_read() {
    let setup = Setup::new();
    let dir = setup.installed(&["1.0.0"]);
    let link = setup.station().join("packages/versioned/9.0.0.pkg.wasm");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("link");
    let err = dir.list().expect_err("a link is not an installed package");
    assert_eq!(err.code(), ErrorCode::PackageUnreadable, "{err}");
    let err = dir.activate(&setup.trust(), "versioned", &version("9.0.0"), None).expect_err("refused");
    assert_eq!(err.code(), ErrorCode::PackageUnreadable, "{err}");
    refused_json(station_cli(&setup).arg("list"), ErrorCode::PackageUnreadable, EXIT_PACKAGE);

    // A package named through a link is still read, but only a regular file,
    // and only one within the size limit, judged before reading.
    let regular = setup.dir.path().join("files/link.pkg.wasm");
    std::os::unix::fs::symlink(setup.versioned_file("1.0.0"), &regular).expect("link");
    pv_host::package_file::read_package_file(&regular).expect("a link to a package is followed");
    let device = setup.dir.path().join("files/zero.pkg.wasm");
    std::os::unix::fs::symlink("/dev/zero", &device).expect("link");
    let err = pv_host::package_file::read_package_file(&device).expect_err("a device is not a package");
    assert_eq!(err.code(), ErrorCode::PackageUnreadable, "{err}");
    let fifo = setup.dir.path().join("files/fifo.pkg.wasm");
    mkfifo(&fifo);
    let err = guarded("reading a FIFO package", move || pv_host::package_file::read_package_file(&fifo))
        .expect_err("a FIFO is not a package");
    assert_eq!(err.code(), ErrorCode::PackageUnreadable, "{err}");
    let sparse = setup.dir.path().join("files/huge.pkg.wasm");
    std::fs::File::create(&sparse).and_then(|f| f.set_len(pv_host::package_file::MAX_PACKAGE_BYTES + 1)).expect("sparse");
    let err = pv_host::package_file::read_package_file(&sparse).expect_err("over the limit");
    assert_eq!(err.code(), ErrorCode::PackageUnreadable, "{err}");
}

#[test]
fn the_watcher_survives_a_fifo_and_never_holds_up_shutdown() {
    let setup = Setup::new();
    let dir = setup.installed(&["1.0.0", "2.0.0"]);
    let station = Arc::new(Station::open(&setup.station(), host(), setup.trust(), RunnerConfig::default()).expect("opens"));
    let watcher = station.watch(Duration::from_millis(10));
    let generation = setup.station().join("generation");
    let saved = setup.station().join("generation.saved");
    std::fs::rename(&generation, &saved).expect("moved away");
    mkfifo(&generation);
    let err = guarded("a refresh", {
        let station = Arc::clone(&station);
        move || station.refresh()
    })
    .expect_err("a FIFO is not the generation");
    assert_eq!(err.kind(), ErrorKind::Host, "{err}");
    // The watcher keeps polling the FIFO meanwhile; a later activation is seen.
    std::thread::sleep(Duration::from_millis(100));
    std::fs::remove_file(&generation).expect("fifo removed");
    std::fs::rename(&saved, &generation).expect("moved back");
    dir.activate(&setup.trust(), "versioned", &version("2.0.0"), None).expect("activated");
    let started = Instant::now();
    while station.route(PID).expect("routed").package().version != version("2.0.0") {
        assert!(started.elapsed() < HANG_GUARD, "the watcher never saw the activation");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Stopping the watcher while a refresh waits on the station's lock.
    let _held = hold_lock(&setup.station().join(".lock"));
    std::fs::write(&generation, "999\n").expect("a change to look at");
    std::thread::sleep(Duration::from_millis(100));
    guarded("dropping the watcher", move || drop(watcher));
}

#[test]
fn a_held_station_lock_fails_every_command_with_busy() {
    let setup = Setup::new();
    setup.installed(&["1.0.0"]);
    let package = setup.versioned_file("2.0.0");
    let _held = hold_lock(&setup.station().join(".lock"));
    for args in [vec!["list"], vec!["activate", "versioned", "1.0.0"], vec!["rollback", PID]] {
        let message = refused_json(station_cli(&setup).args(&args), ErrorCode::Busy, EXIT_BUSY);
        assert!(message.contains(".lock"), "{args:?}: {message}");
    }
    let message = refused_json(station_cli(&setup).arg("install").arg(&package), ErrorCode::Busy, EXIT_BUSY);
    assert!(message.contains(".lock"), "{message}");

    // The library's station: its open fails rather than serving nothing.
    pv_host::set_lock_timeout(Duration::from_millis(300));
    let station = setup.station();
    let trust = setup.trust();
    let opened =
        guarded("opening the station", move || Station::open(&station, host(), trust, RunnerConfig::default()).map(drop));
    assert_eq!(opened.expect_err("busy").code(), ErrorCode::Busy);
}

#[test]
fn a_held_trust_store_lock_fails_an_install_with_busy() {
    let setup = Setup::new();
    setup.open();
    let package = setup.versioned_file("1.0.0");
    let _held = hold_lock(&setup.trust_dir().join(".lock"));
    let message = refused_json(station_cli(&setup).arg("install").arg(&package), ErrorCode::Busy, EXIT_BUSY);
    assert!(message.contains(".lock"), "{message}");
}

fn audit_lines(setup: &Setup) -> Vec<Value> {
    std::fs::read_to_string(setup.station().join("audit.jsonl"))
        .expect("the trail")
        .lines()
        .map(|line| serde_json::from_str(line).expect("an entry"))
        .collect()
}

#[test]
fn a_change_whose_audit_line_cannot_be_written_is_not_made() {
    let setup = Setup::new();
    let dir = setup.installed(&["1.0.0", "2.0.0"]);
    let trail = setup.station().join("audit.jsonl");
    let before = audit_lines(&setup);
    let generation = dir.list().expect("listed").generation;
    let saved = setup.station().join("audit.saved");
    std::fs::rename(&trail, &saved).expect("moved away");
    for kind in ["directory", "fifo"] {
        if kind == "directory" {
            std::fs::create_dir(&trail).expect("dir");
        } else {
            mkfifo(&trail);
        }
        refused_json(station_cli(&setup).args(["activate", "versioned", "2.0.0"]), ErrorCode::Unknown, EXIT_HOST);
        refused_json(station_cli(&setup).args(["deactivate", PID]), ErrorCode::Unknown, EXIT_HOST);
        refused_json(station_cli(&setup).arg("install").arg(setup.versioned_file("3.0.0")), ErrorCode::Unknown, EXIT_HOST);
        let listing = dir.list().expect("listed");
        assert_eq!(listing.generation, generation, "{kind}: nothing was committed");
        assert_eq!(listing.active[PID].version, version("1.0.0"), "{kind}");
        assert_eq!(listing.installed.len(), 2, "{kind}: the install was not kept");
        if kind == "directory" {
            std::fs::remove_dir(&trail).expect("removed");
        } else {
            std::fs::remove_file(&trail).expect("removed");
        }
    }
    std::fs::rename(&saved, &trail).expect("moved back");
    let json = run_json(station_cli(&setup).args(["activate", "versioned", "2.0.0"])).1;
    assert_eq!(json["status"], "OK", "{json}");
    let after = audit_lines(&setup);
    assert_eq!(after.len(), before.len() + 1, "one line for the one change");
    assert_eq!(
        (after[before.len()]["event"].as_str(), after[before.len()]["version"].as_str()),
        (Some("activate"), Some("2.0.0"))
    );
    assert!(!setup.station().join("journal.json").exists());
}

#[test]
fn a_package_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let dir = setup.installed(&["1.0.0", "2.0.0"]);
    let packages = setup.station().join("packages/versioned");
    for mode in [0o777, 0o775] {
        std::fs::set_permissions(&packages, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let err = dir.activate(&setup.trust(), "versioned", &version("2.0.0"), None).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InstallFailed, "{err}");
        assert_eq!(dir.list().expect_err("refused").code(), ErrorCode::InstallFailed);
        refused_json(station_cli(&setup).arg("list"), ErrorCode::InstallFailed, EXIT_STATION);
        refused_json(
            station_cli(&setup).arg("install").arg(setup.versioned_file("3.0.0")),
            ErrorCode::InstallFailed,
            EXIT_STATION,
        );
    }
    std::fs::set_permissions(&packages, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir.activate(&setup.trust(), "versioned", &version("2.0.0"), None).expect("activated");
}
