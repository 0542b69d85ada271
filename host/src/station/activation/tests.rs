//! The journal: changes killed half-way, recovery, records.

use super::*;

fn reference(version: &str) -> PackageRef {
    PackageRef { name: "p".into(), version: version.parse().expect("version"), sha256: version.into() }
}

/// The change from {A: 1, B: 1} to {A: 2, B: 2} with histories, stopped
/// after every number of its writes: readers see the new mapping at once
/// (the journal is the commit point), and recovery leaves it on disk.
#[test]
fn a_change_killed_after_any_write_reads_as_done_and_recovers() {
    let (one, two) = (reference("1.0.0"), reference("2.0.0"));
    let change = |to: &PackageRef, from: Option<&PackageRef>| {
        let mut change = Change::default();
        for pid in ["A", "../B"] {
            change.set_active(pid, Some(to.clone()));
            change.set_history(pid, from.into_iter().cloned().collect());
        }
        change
    };
    // 2 active records, 2 histories and the generation.
    for steps in 0..=5 {
        let dir = tempfile::tempdir().expect("tempdir");
        change(&one, None).commit(dir.path(), &Mapping::default()).expect("first change");
        let old = read_mapping(dir.path()).expect("read");
        change(&two, Some(&one)).commit_until(dir.path(), &old, steps).expect("stopped");
        let new = read_mapping(dir.path()).expect("read");
        assert_eq!(new.generation, old.generation + 1, "after {steps} writes");
        assert_eq!(new.active.values().collect::<Vec<_>>(), [&two, &two], "after {steps} writes");
        assert_eq!(new.history["../B"], std::slice::from_ref(&one));
        assert_eq!(journal_pending(dir.path()), steps < 5);
        recover(dir.path()).expect("recovered");
        assert!(!journal_pending(dir.path()));
        assert_eq!(read_mapping(dir.path()).expect("read"), new, "after {steps} writes");
        assert_eq!(read_generation_file(dir.path()).expect("generation"), new.generation);
    }
}

/// A change killed after its journal, its files or its audit line comes
/// back with its line in the trail exactly once.
#[test]
fn recovery_appends_the_audit_line_exactly_once() {
    for steps in [0, 3, usize::MAX] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut change = Change::default();
        change.set_active("A", Some(reference("1.0.0")));
        change.audit(AuditEntry::new("activate", "p", &"1.0.0".parse().expect("version"), "1.0.0"));
        change.commit_until(dir.path(), &Mapping::default(), steps).expect("committed");
        let pending = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap_or_default();
        recover(dir.path()).expect("recovered");
        if !pending.is_empty() {
            // Killed after the line, before the journal's removal.
            std::fs::write(dir.path().join(JOURNAL_FILE), &pending).expect("journal back");
            recover(dir.path()).expect("recovered again");
        }
        let trail = crate::station::audit::read(dir.path()).expect("trail");
        assert_eq!(trail.len(), 1, "after {steps} writes: {trail:?}");
    }
}

#[test]
fn an_oversized_record_is_an_error_not_an_allocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(ACTIVE_DIR)).expect("dir");
    let file = std::fs::File::create(dir.path().join(ACTIVE_DIR).join("A.json")).expect("file");
    // Sparse: the size, not the bytes on disk, is what counts.
    file.set_len(MAX_RECORD_BYTES + 1).expect("grown");
    let err = read_mapping(dir.path()).expect_err("refused");
    assert_eq!(err.kind(), crate::ErrorKind::Host);
}

#[test]
fn pid_files_are_plain_names_and_distinct() {
    assert_eq!(pid_file("A01"), "A01.json");
    assert_eq!(pid_file("../x"), "%2E.%2Fx.json");
    assert_eq!(pid_file("a/b"), "a%2Fb.json");
    assert_ne!(pid_file("a%2Fb"), pid_file("a/b"));
    let long = "\u{00e9}".repeat(64);
    assert!(pid_file(&long).starts_with('~') && pid_file(&long).len() < 80);
    assert!(check_relative(&format!("{ACTIVE_DIR}/{}", pid_file("../../etc"))).is_ok());
    assert!(check_relative("active/../../x.json").is_err());
    assert!(check_relative("packages/x.json").is_err());
}
