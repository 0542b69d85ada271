//! The trust store on disk: several processes sharing it, and the permissions
//! it insists on. Refusals are checked by code, never by message.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use pv_host::TrustStore;
use pv_host::package_file::{Manifest, RequestedLimits, SUPPORTED_WIT, SecretKey};

/// Environment of a child process: the store it works on and its number.
const CHILD_DIR_ENV: &str = "PV_HOST_TRUST_TEST_DIR";
const CHILD_NUMBER_ENV: &str = "PV_HOST_TRUST_TEST_CHILD";
const CHILDREN: u64 = 4;
const ROUNDS: u64 = 25;

fn manifest(name: &str, version: semver::Version) -> Manifest {
    Manifest {
        name: name.into(),
        version,
        description: "test package".into(),
        pids: vec!["P".into()],
        wit: SUPPORTED_WIT.into(),
        publisher: "pv-host tests".into(),
        limits: RequestedLimits::default(),
        assets: Vec::new(),
        parts: Vec::new(),
    }
}

fn publisher() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

/// The versions child `child` records, in its order: every child records
/// `shared` (a different range each, interleaved) and a package of its own.
fn versions_of(child: u64) -> Vec<(String, semver::Version)> {
    (0..ROUNDS)
        .flat_map(|round| {
            [
                ("shared".to_owned(), semver::Version::new(1, round, child)),
                (format!("own-{child}"), semver::Version::new(0, (round * 7) % ROUNDS, 0)),
            ]
        })
        .collect()
}

/// Run as a child process by the test below (`--ignored --exact`): each child
/// opens the store itself, as separate `pv-host` processes would.
#[test]
#[ignore = "a child process of several_processes_admitting_at_once_lose_no_update"]
fn child_admits_versions() {
    let (Some(dir), Some(child)) = (std::env::var_os(CHILD_DIR_ENV), std::env::var(CHILD_NUMBER_ENV).ok()) else {
        return;
    };
    let child: u64 = child.parse().expect("child number");
    let publisher = publisher().public().id();
    for (name, version) in versions_of(child) {
        // A fresh open each time, as a new process would, to interleave with
        // the other children as much as possible.
        let mut store = TrustStore::open(Path::new(&dir)).expect("the store opens");
        let content = format!("{name}-{version}");
        store.record_admitted(&publisher, &manifest(&name, version), &content).expect("recorded");
        if name == "shared" {
            continue;
        }
        store.revoke(SecretKey::from_seed(&[100 + child as u8; 32]).public().id()).expect("revoked");
    }
}

#[test]
fn several_processes_admitting_at_once_lose_no_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    TrustStore::open_or_create(dir.path()).expect("created").add_key("vendor", publisher().public()).expect("added");
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..CHILDREN)
        .map(|child| {
            Command::new(&exe)
                .args(["--ignored", "--exact", "trust_store::child_admits_versions", "--test-threads", "1"])
                .env(CHILD_DIR_ENV, dir.path())
                .env(CHILD_NUMBER_ENV, child.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a child starts")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("the child ends").success(), "a child failed");
    }

    let store = TrustStore::open(dir.path()).expect("the record is intact");
    let publisher = publisher().public().id();
    assert_eq!(store.admitted_version(&publisher, "shared"), Some(semver::Version::new(1, ROUNDS - 1, CHILDREN - 1)));
    for child in 0..CHILDREN {
        let highest = versions_of(child).into_iter().filter(|(name, _)| name.starts_with("own-")).map(|(_, v)| v).max();
        assert_eq!(store.admitted_version(&publisher, &format!("own-{child}")), highest, "child {child}");
    }
    assert_eq!(store.revoked().count() as u64, CHILDREN, "every child's revocation is kept");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("listed")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind: {leftovers:?}");
}

#[test]
fn a_store_others_can_write_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = TrustStore::open_or_create(dir.path()).expect("created");
    store.add_key("vendor", publisher().public()).expect("added");
    let key_file = dir.path().join("vendor.pub");
    TrustStore::open(dir.path()).expect("a private store opens");

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let err = TrustStore::open(dir.path()).expect_err("a world-writable key is refused");
    assert_eq!(err.code().number(), 2114);
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o664)).expect("chmod");
    assert_eq!(TrustStore::open(dir.path()).expect_err("group-writable too").code().number(), 2114);
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert_eq!(TrustStore::open(dir.path()).expect_err("a world-writable directory").code().number(), 2114);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    TrustStore::open(dir.path()).expect("fixed, it opens again");
}

#[test]
fn a_record_in_the_older_format_still_applies_to_every_publisher() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admitted-versions.json"), br#"{"part-counter": "2.0.0"}"#).expect("written");
    let store = TrustStore::open(dir.path()).expect("opens");
    let anyone = SecretKey::from_seed(&[8; 32]).public().id();
    let older = manifest("part-counter", semver::Version::new(1, 0, 0));
    assert_eq!(store.check_rollback(&anyone, &older, "11", false).expect_err("refused").code().number(), 2112);
    store.record_admitted(&anyone, &manifest("other", semver::Version::new(1, 0, 0)), "22").expect("recorded");
    let reopened = TrustStore::open(dir.path()).expect("rewritten in the new format, still readable");
    assert_eq!(reopened.admitted_version(&anyone, "part-counter"), Some(semver::Version::new(2, 0, 0)));
    assert_eq!(reopened.admitted_version(&anyone, "other"), Some(semver::Version::new(1, 0, 0)));
}
