//! The hostile-guest suite: every promise of the sandbox, proven by a guest that
//! tries to break it. Each test names the error code it expects, checks the kind
//! of error (never the message text), and then checks that the host still serves:
//! a good call on the same instance (which restarts after a trap) succeeds.
//!
//! Guests: `examples/hostile` (Rust, one misbehaviour per PID),
//! `examples/hostile-network` (Rust, `std::net`), and WAT components from
//! `wat_guest` for what Rust cannot produce.
//!
//! Tests that could hang run on a watched thread and fail if it does not finish
//! within a generous bound: several times the deadline, never a timing assertion.

use pv_test_support::{frames, wat_guest};

use std::sync::mpsc;
use std::time::Duration;

use pv_host::sandbox::{
    DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL, DEFAULT_LOG_BYTES_PER_CALL, DEFAULT_LOG_RECORDS_PER_CALL, DIAGNOSTICS_DROPPED_KEY,
    ImportPolicy, LOG_FIELD_OVERHEAD, LOG_RECORD_OVERHEAD, LogRecord, LogSource,
};
use pv_host::types::{ExecuteOutput, StepInput, Verdict};
use pv_host::{CallReport, Error, ErrorCode, ErrorKind, Host, Instance, Limits, Package, Phase, Session};

/// A short deadline for the tests that hit it, so the suite stays quick.
const SHORT_DEADLINE: Duration = Duration::from_millis(300);

/// How long a watched test may take before it counts as a hang.
const HANG_BOUND: Duration = Duration::from_secs(60);

/// Run `test` on its own thread and fail if it does not finish within
/// [`HANG_BOUND`]: a guest the sandbox failed to stop shows up as a failure, not
/// as a test run that never ends.
fn watched(test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(HANG_BOUND) {
        Ok(()) => worker.join().expect("the test thread finished"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The test panicked: re-raise its failure.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the guest was not stopped within {HANG_BOUND:?}")
        }
    }
}

fn host(limits: Limits) -> Host {
    Host::builder().limits(limits).build().expect("host")
}

fn rust_hostile(host: &Host) -> Instance {
    set_up(&host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("the hostile guest loads"))
}

fn wat_hostile(host: &Host, setup: wat_guest::Setup) -> Package {
    host.load_component(&wat_guest::component(setup), "wat-hostile.wasm").expect("the WAT guest loads")
}

fn set_up(package: &Package) -> Instance {
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

fn gray(width: u32, height: u32) -> pv_host::types::Image {
    frames::gray(width, height, 128)
}

fn input(pid: &str) -> StepInput {
    input_with_image(pid, gray(16, 16))
}

fn input_with_image(pid: &str, image: pv_host::types::Image) -> StepInput {
    frames::step_input(pid, 1, image)
}

fn execute(instance: &mut Instance, pid: &str) -> CallReport<ExecuteOutput> {
    instance.execute(&mut Session::new("hostile"), &input(pid))
}

/// The error of a call that must fail, checked by kind and code.
fn expect_failure<T: std::fmt::Debug>(report: CallReport<T>, kind: ErrorKind, code: u32) -> Error {
    let err = report.result.expect_err("the call must fail");
    assert_eq!((err.kind(), err.code().number()), (kind, code), "{err}");
    err
}

/// The host still serves: a good call on the same instance succeeds, from a fresh
/// store when the failure poisoned the old one.
fn still_serves(instance: &mut Instance, good_pid: &str) {
    let out = execute(instance, good_pid).into_result().expect("a good call after the attack succeeds");
    assert_eq!(out.verdict, Verdict::Ok);
    assert!(!instance.is_poisoned());
}

// ---- time -------------------------------------------------------------------

#[test]
fn infinite_loop_in_execute_hits_the_deadline_1005() {
    watched(|| {
        let host = host(Limits::default().with_deadline(Phase::Execute, SHORT_DEADLINE));
        let mut guest = rust_hostile(&host);
        let report = execute(&mut guest, "LOOP");
        assert!(report.usage.wall_time >= SHORT_DEADLINE, "stopped before its deadline: {:?}", report.usage);
        expect_failure(report, ErrorKind::Limit, 1005);
        assert!(guest.is_poisoned());
        still_serves(&mut guest, "GOOD");
        assert_eq!(guest.restarts(), 1, "the trap cost one fresh store, with setup re-run");
    });
}

#[test]
fn infinite_loop_exhausts_its_fuel_1005() {
    watched(|| {
        let fuel = 20_000_000;
        let host = host(Limits::default().with_fuel_per_call(Some(fuel)));
        let mut guest = rust_hostile(&host);
        let report = execute(&mut guest, "LOOP");
        assert_eq!(report.usage.fuel_consumed, Some(fuel), "the whole allowance was burnt");
        expect_failure(report, ErrorKind::Limit, 1005);
        still_serves(&mut guest, "GOOD");
    });
}

#[test]
fn infinite_loop_in_the_allocator_during_the_image_copy_1005() {
    watched(|| {
        let host = host(Limits::default().with_deadline(Phase::Execute, SHORT_DEADLINE));
        let mut guest = rust_hostile(&host);
        // The image's pixel buffer is exactly the size the guest's allocator spins on:
        // the hang happens in cabi_realloc, before execute's code runs.
        let (width, height) = wat_guest::SNARE_IMAGE;
        let snare = input_with_image("GOOD", gray(width, height));
        expect_failure(guest.execute(&mut Session::new("s"), &snare), ErrorKind::Limit, 1005);
        still_serves(&mut guest, "GOOD");

        // The same in a WAT guest, whose allocator is the component's own code.
        let wat = wat_hostile(&host, wat_guest::Setup::Ok);
        let mut guest = set_up(&wat);
        assert_eq!(width * height, wat_guest::SNARE_BYTES);
        let snare = input_with_image("GOOD", gray(width, height));
        expect_failure(guest.execute(&mut Session::new("s"), &snare), ErrorKind::Limit, 1005);
        still_serves(&mut guest, "GOOD");
    });
}

#[test]
fn infinite_loop_in_setup_hits_the_setup_deadline_1005() {
    watched(|| {
        let host = host(Limits::default().with_deadline(Phase::Setup, SHORT_DEADLINE));
        let spinning = wat_hostile(&host, wat_guest::Setup::Spin);
        let mut guest = spinning.instantiate().expect("instantiation itself is fine");
        expect_failure(guest.setup(), ErrorKind::Limit, 1005);
        // Its next call restarts and re-runs setup, which spins again: still 1005.
        expect_failure(execute(&mut guest, "GOOD"), ErrorKind::Limit, 1005);
        // The host serves other packages all the while.
        let mut good = set_up(&wat_hostile(&host, wat_guest::Setup::Ok));
        still_serves(&mut good, "GOOD");
    });
}

#[test]
fn bulk_memory_copy_loop_hits_the_deadline_1005() {
    watched(|| {
        // No fuel: each memory.copy moves 16 MiB for one unit of fuel, so the wall
        // clock is what must stop it.
        let limits = Limits::default().with_fuel_per_call(None).with_deadline(Phase::Execute, SHORT_DEADLINE);
        let host = host(limits);
        let mut guest = set_up(&wat_hostile(&host, wat_guest::Setup::Ok));
        let report = execute(&mut guest, "COPY");
        assert_eq!(report.usage.fuel_consumed, None, "fuel metering is off");
        expect_failure(report, ErrorKind::Limit, 1005);
        still_serves(&mut guest, "GOOD");
    });
}

// ---- memory -----------------------------------------------------------------

#[test]
fn memory_bomb_is_refused_at_the_cap_1004() {
    watched(|| {
        let cap = 64 << 20;
        let host = host(Limits::default().with_memory_bytes(cap));
        let mut guest = rust_hostile(&host);
        let report = execute(&mut guest, "MEMORY");
        assert!(report.usage.peak_memory_bytes <= cap, "{:?}", report.usage);
        assert!(report.usage.peak_memory_bytes > cap / 2, "it did grow: {:?}", report.usage);
        expect_failure(report, ErrorKind::Limit, 1004);
        still_serves(&mut guest, "GOOD");
    });
}

#[test]
fn memory_bomb_that_handles_refusal_keeps_its_instance_1004() {
    let host = host(Limits::default().with_memory_bytes(64 << 20));
    let mut guest = rust_hostile(&host);
    expect_failure(execute(&mut guest, "MEMORY_POLITE"), ErrorKind::Algorithm, 1004);
    assert!(!guest.is_poisoned(), "an algorithm error is not a trap");
    still_serves(&mut guest, "GOOD");
    assert_eq!(guest.restarts(), 0);
}

#[test]
fn a_frame_over_the_memory_cap_is_refused_before_the_call_1004() {
    let host = host(Limits::default().with_memory_bytes(16 << 20));
    let mut guest = rust_hostile(&host);
    // 5000 x 4000 gray: 19 MiB of pixels, over the 16 MiB the guest may hold.
    let report = guest.execute(&mut Session::new("big"), &input_with_image("GOOD", gray(5000, 4000)));
    assert_eq!(report.usage.fuel_consumed.unwrap_or_default(), 0, "the guest never ran: {:?}", report.usage);
    let err = expect_failure(report, ErrorKind::Limit, 1004);
    assert!(err.to_string().contains("16 MiB") && err.to_string().contains("memory_mb"), "{err}");
    // Nothing trapped: the same store serves the next frame, no restart.
    still_serves(&mut guest, "GOOD");
    assert_eq!(guest.restarts(), 0);
}

#[test]
fn table_bomb_is_refused_at_the_cap_1004() {
    let host = host(Limits::default().with_table_elements(5_000));
    let mut guest = set_up(&wat_hostile(&host, wat_guest::Setup::Ok));
    expect_failure(execute(&mut guest, "TABLE"), ErrorKind::Limit, 1004);
    still_serves(&mut guest, "GOOD");
}

#[test]
fn unbounded_recursion_is_a_crash_9999() {
    let host = host(Limits::default());
    let mut guest = rust_hostile(&host);
    // Frames on the wasm stack: wasmtime's stack limit.
    expect_failure(execute(&mut guest, "RECURSION"), ErrorKind::Trap, 9999);
    still_serves(&mut guest, "GOOD");
    // Frames in linear memory: the guest's own stack runs off its memory.
    expect_failure(execute(&mut guest, "DEEP_STACK"), ErrorKind::Trap, 9999);
    still_serves(&mut guest, "GOOD");
}

// ---- output -----------------------------------------------------------------

#[test]
fn huge_outputs_are_refused_9999() {
    let host = host(Limits::default());
    let mut guest = rust_hostile(&host);
    for pid in ["RECTS", "STRING"] {
        expect_failure(execute(&mut guest, pid), ErrorKind::Limit, 9999);
        still_serves(&mut guest, "GOOD");
    }
}

#[test]
fn outputs_that_break_the_calling_convention_are_refused_9999() {
    let host = host(Limits::default());
    let mut guest = rust_hostile(&host);
    for pid in ["BAD_UTF8", "BAD_POINTER"] {
        expect_failure(execute(&mut guest, pid), ErrorKind::Trap, 9999);
        still_serves(&mut guest, "GOOD");
    }
    let mut guest = set_up(&wat_hostile(&host, wat_guest::Setup::Ok));
    for pid in ["UTF8", "POINTER", "LIST", "DISCRIMINANT"] {
        expect_failure(execute(&mut guest, pid), ErrorKind::Trap, 9999);
        still_serves(&mut guest, "GOOD");
    }
}

#[test]
fn log_spam_is_cut_at_the_quota_with_a_marker() {
    watched(|| {
        let quota = 64 * 1024;
        let host = host(Limits::default().with_log_bytes_per_call(quota));
        let mut guest = rust_hostile(&host);
        let report = execute(&mut guest, "LOG_SPAM");
        let kept: usize = report.logs.iter().filter(|r| r.source != LogSource::Host).map(|r| r.message.len()).sum();
        assert!(kept <= quota, "kept {kept} bytes");
        let marker = report.logs.last().expect("a marker record");
        assert_eq!(marker.source, LogSource::Host, "the last record says what was dropped");
        assert_eq!(report.into_result().expect("spamming is not an error").verdict, Verdict::Ok);
    });
}

/// What a kept record costs against the log quota, as the README documents it.
fn charged(record: &LogRecord) -> usize {
    LOG_RECORD_OVERHEAD
        + record.message.len()
        + record.fields.iter().map(|(k, v)| LOG_FIELD_OVERHEAD + k.len() + v.len()).sum::<usize>()
}

/// The guest's records of a report are within the default quotas, and the last
/// record is the host's marker.
fn assert_log_within_default_quotas(report: &CallReport<ExecuteOutput>) {
    let (marker, kept) = report.logs.split_last().expect("at least the marker");
    assert_eq!(marker.source, LogSource::Host, "the last record says what was dropped");
    assert!(kept.iter().all(|r| r.source != LogSource::Host), "one marker only");
    assert!(kept.len() <= DEFAULT_LOG_RECORDS_PER_CALL, "kept {} records", kept.len());
    let bytes: usize = kept.iter().map(charged).sum();
    assert!(bytes <= DEFAULT_LOG_BYTES_PER_CALL, "kept {bytes} bytes");
}

#[test]
fn empty_log_records_are_charged_and_capped() {
    watched(|| {
        let mut guest = rust_hostile(&host(Limits::default()));
        let report = execute(&mut guest, "EMPTY_LOG_SPAM");
        assert_log_within_default_quotas(&report);
        let kept = report.logs.len() - 1;
        assert_eq!(kept, DEFAULT_LOG_BYTES_PER_CALL / LOG_RECORD_OVERHEAD, "a million empty records keep the quota's worth");
        assert_eq!(report.into_result().expect("spamming is not an error").verdict, Verdict::Ok);
    });
}

#[test]
fn empty_log_fields_are_charged_and_capped() {
    watched(|| {
        let mut guest = rust_hostile(&host(Limits::default()));
        let report = execute(&mut guest, "EMPTY_FIELDS");
        assert_log_within_default_quotas(&report);
        assert_eq!(report.logs.len(), 1, "no record of 100 000 fields fits: only the marker is kept");
        assert_eq!(report.into_result().expect("spamming is not an error").verdict, Verdict::Ok);
        still_serves(&mut guest, "GOOD");
    });
}

#[test]
fn millions_of_empty_printed_lines_keep_at_most_the_record_quota() {
    watched(|| {
        let mut guest = rust_hostile(&host(Limits::default()));
        let report = execute(&mut guest, "STDOUT_NEWLINES");
        assert_log_within_default_quotas(&report);
        assert!(report.logs.len() > 1, "lines within the quota are kept");
        assert_eq!(report.into_result().expect("printing is not an error").verdict, Verdict::Ok);
    });
}

#[test]
fn empty_diagnostics_are_capped_by_count() {
    watched(|| {
        let mut guest = rust_hostile(&host(Limits::default()));
        let report = execute(&mut guest, "EMPTY_DIAG_SPAM");
        let kept = report.diagnostics.keys().filter(|key| key.as_str() != DIAGNOSTICS_DROPPED_KEY).count();
        assert!(kept > 0 && kept <= DEFAULT_DIAGNOSTICS_ENTRIES_PER_CALL, "kept {kept} entries");
        assert!(report.diagnostics.contains_key(DIAGNOSTICS_DROPPED_KEY), "the drop is reported");
        assert_eq!(report.into_result().expect("spamming is not an error").verdict, Verdict::Ok);
    });
}

#[test]
fn json_values_over_the_caps_are_refused_before_they_are_parsed() {
    watched(|| {
        let mut guest = rust_hostile(&host(Limits::default()));
        let mut session = Session::new("big");
        let report = guest.execute(&mut session, &input("BIG_JSON"));
        assert!(!report.diagnostics.contains_key("big"), "a 15 MiB diagnostic is over the 1 MiB quota");
        assert!(report.diagnostics.contains_key(DIAGNOSTICS_DROPPED_KEY), "the drop is reported");
        let out = report.into_result().expect("a refused set is not a trap");
        let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
        assert_eq!(debug["set_refused"], serde_json::Value::Bool(true), "the session refuses 15 MiB");
        assert_eq!(session.stored_bytes(), 0, "nothing was stored");
    });
}

#[test]
fn diagnostics_spam_is_cut_at_the_quota_with_a_marker() {
    watched(|| {
        let quota = 256 * 1024;
        let host = host(Limits::default().with_diagnostics_bytes_per_call(quota));
        let mut guest = rust_hostile(&host);
        let report = execute(&mut guest, "DIAG_SPAM");
        let kept: usize = report
            .diagnostics
            .iter()
            .filter(|(key, _)| key.as_str() != DIAGNOSTICS_DROPPED_KEY)
            .map(|(key, value)| key.len() + value.to_string().len())
            .sum();
        assert!(kept <= quota, "kept {kept} bytes");
        assert!(report.diagnostics.contains_key(DIAGNOSTICS_DROPPED_KEY), "the drop is reported");
        assert_eq!(report.into_result().expect("spamming is not an error").verdict, Verdict::Ok);
        still_serves(&mut guest, "GOOD");
    });
}

#[test]
fn a_session_bomb_is_refused_at_the_cap_and_the_session_stays_whole() {
    watched(|| {
        let cap = 20 * 1024;
        let host = host(Limits::default().with_session_bytes(cap));
        let mut guest = rust_hostile(&host);
        let mut session = Session::new("bomb");
        let out = guest.execute(&mut session, &input("SESSION_BOMB")).into_result().expect("a refused set is not a trap");
        let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
        let stored = debug["stored"].as_u64().expect("a count") as usize;
        assert!(stored > 0, "values under the cap are stored");
        assert_eq!(session.values().len(), stored, "every accepted value was committed, no refused one");
        assert!(session.stored_bytes() <= cap, "{} bytes stored", session.stored_bytes());
        still_serves(&mut guest, "GOOD");
    });
}

// ---- isolation --------------------------------------------------------------

#[test]
fn the_network_guest_loads_but_every_socket_call_fails() {
    // The default policy links wasi:sockets (CPython needs the imports) to an
    // implementation that denies everything: the guest's connect fails, its
    // error is its own, and no byte leaves the sandbox.
    let mut guest =
        set_up(&Host::new().expect("host").load_component_file(pv_test_artifacts::HOSTILE_NETWORK.as_ref()).expect("loads"));
    expect_failure(execute(&mut guest, "A01"), ErrorKind::Algorithm, 9999);
}

#[test]
fn the_strict_policy_refuses_the_network_guest_at_load_2104() {
    let strict = Host::builder().import_policy(ImportPolicy::strict()).build().expect("host");
    let err = strict.load_component_file(pv_test_artifacts::HOSTILE_NETWORK.as_ref()).expect_err("refused at load");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Policy, ErrorCode::ImportRefused));
    let Error::ImportsRefused { imports, .. } = &err else { panic!("{err:?}") };
    assert!(imports.iter().any(|name| name.starts_with("wasi:sockets/tcp@")), "{imports:?}");
    assert!(imports.iter().all(|name| name.starts_with("wasi:sockets/")), "{imports:?}");
}

#[test]
fn files_environment_and_arguments_are_empty() {
    let mut guest = rust_hostile(&host(Limits::default()));
    let out = execute(&mut guest, "SNOOP").into_result().expect("snooping is not an error");
    assert_eq!(out.verdict, Verdict::Ok, "the guest found {:?}", out.ng_reason);
}

#[test]
fn a_panic_is_a_crash_9999_that_leaks_nothing_of_the_host() {
    let mut guest = rust_hostile(&host(Limits::default()));
    let report = execute(&mut guest, "PANIC");
    assert!(report.logs.iter().any(|r| r.source == LogSource::Stderr), "the panic message is in the guest's log");
    let err = expect_failure(report, ErrorKind::Trap, 9999);
    let text = err.to_string();
    assert!(!text.contains('\n') && !text.contains("backtrace") && !text.contains(".rs"), "{text}");
    still_serves(&mut guest, "GOOD");
}

// ---- reports ----------------------------------------------------------------

#[test]
fn every_call_reports_fuel_memory_and_time() {
    let mut guest = rust_hostile(&host(Limits::default()));
    let report = execute(&mut guest, "GOOD");
    assert!(report.usage.fuel_consumed.is_some_and(|fuel| fuel > 0), "{:?}", report.usage);
    assert!(report.usage.peak_memory_bytes >= 64 * 1024, "{:?}", report.usage);
    assert!(report.usage.wall_time > Duration::ZERO);
    report.into_result().expect("good");

    let failed = execute(&mut guest, "PANIC");
    assert!(failed.usage.fuel_consumed.is_some_and(|fuel| fuel > 0), "failures report usage too");
}

#[test]
fn a_package_is_granted_at_most_the_host_policy() {
    let host = host(Limits::default().with_memory_bytes(32 << 20));
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let greedy = package.request_limits(&Limits::default().with_memory_bytes(1 << 30));
    assert_eq!(greedy.limits().memory_bytes(), 32 << 20);
    let modest = package.request_limits(&Limits::default().with_memory_bytes(16 << 20));
    let mut guest = set_up(&modest);
    assert_eq!(guest.limits().memory_bytes(), 16 << 20);
    let report = execute(&mut guest, "MEMORY");
    assert!(report.usage.peak_memory_bytes <= 16 << 20, "{:?}", report.usage);
    expect_failure(report, ErrorKind::Limit, 1004);
}

// ---- parameter patterns -----------------------------------------------------

#[test]
fn guest_declared_patterns_over_the_caps_refuse_the_package_2115() {
    watched(|| {
        let host = host(Limits::default());
        let cases: [(&str, Vec<String>); 4] = [
            ("invalid", vec!["(".into()]),
            ("long", vec!["a".repeat(100_000)]),
            // Short patterns that compile to megabytes.
            ("big once compiled", vec![r"\w{50}\w{50}".into(), r"[\w\d]{1000}".into()]),
            ("many", (0..300).map(|n| format!("x{n}[a-z]+")).collect()),
        ];
        for (what, patterns) in cases {
            let package = host
                .load_component(&wat_guest::component_with_patterns(wat_guest::Setup::Ok, &patterns), "patterns.wasm")
                .expect("the component compiles");
            let err = package.instantiate().expect_err("refused when get-info is read");
            assert_eq!((err.kind(), err.code()), (ErrorKind::Package, ErrorCode::PatternRefused), "{what}: {err}");
        }

        // Admission reads get-info: a signed package with such a pattern is refused there.
        let component = wat_guest::component_with_patterns(wat_guest::Setup::Ok, &["(".to_owned()]);
        let manifest = pv_host::package_file::Manifest {
            name: "wat-hostile".into(),
            version: "1.0.0".parse().expect("semver"),
            description: "patterns".into(),
            pids: wat_guest::PIDS.iter().map(|p| p.to_string()).collect(),
            wit: pv_host::package_file::SUPPORTED_WIT.into(),
            publisher: "pv-host tests".into(),
            limits: pv_host::package_file::RequestedLimits::default(),
            assets: Vec::new(),
            parts: Vec::new(),
        };
        let key = pv_host::package_file::SecretKey::from_seed(&[5; 32]);
        let bytes = pv_host::package_file::pack(&component, &manifest, &[], Some(&key)).expect("packs");
        let mut trust = pv_host::TrustStore::in_memory();
        trust.add_key("tests", key.public()).expect("trusted");
        let err = host.load_package(&bytes, "patterns.pkg", &pv_host::Admission::new(&trust)).expect_err("refused");
        assert_eq!((err.kind(), err.code()), (ErrorKind::Package, ErrorCode::PatternRefused), "{err}");

        // Patterns within the caps are compiled once and checked on every call.
        let patterns = vec!["[A-Z]{2}[0-9]+".to_owned(); 3];
        let package = host
            .load_component(&wat_guest::component_with_patterns(wat_guest::Setup::Ok, &patterns), "patterns.wasm")
            .expect("compiles");
        let guest = set_up(&package);
        let json = |value: &str| serde_json::json!({ "p0": value }).as_object().cloned().expect("an object");
        guest.params_from_json(1, &json("AB12")).expect("matches");
        let err = guest.params_from_json(1, &json("ab")).expect_err("does not match");
        assert_eq!(err.code(), ErrorCode::InvalidParams);
        // The package checks with the same compiled patterns, for a caller that
        // holds no instance (serve converts a call's params there).
        let step = guest.step(1).expect("step 1").clone();
        package.params_from_json(guest.info(), &step, &json("CD3")).expect("matches");
        let err = package.params_from_json(guest.info(), &step, &json("cd")).expect_err("does not match");
        assert_eq!(err.code(), ErrorCode::InvalidParams);
    });
}

// ---- counts a component needs -------------------------------------------------

#[test]
fn a_component_over_the_hosts_counts_is_refused_at_load_with_2116_before_compiling() {
    let needs = host(Limits::default()).load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads").needs();
    assert!(needs.core_instances >= 2, "{needs:?}");
    let instances = usize::try_from(needs.core_instances).expect("small") - 1;
    let tight = host(Limits::default().with_counts(instances, 4, 16));
    let err = tight.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect_err("one core instance short");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Policy, ErrorCode::LimitTooLow));
    let Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
    assert_eq!((limit, needed, allowed), ("core instances", needs.core_instances, instances as u64));

    let few_elements = host(Limits::default().with_table_elements(needs.table_elements - 1));
    let err = few_elements.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect_err("one element short");
    let Error::LimitTooLow { limit, .. } = err else { panic!("{err:?}") };
    assert_eq!(limit, "table elements");
}

#[test]
fn a_package_granted_less_than_it_needs_is_refused_at_instantiation_with_2116() {
    let package = host(Limits::default()).load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let needs = package.needs();
    let starved = package.request_limits(&Limits::default().with_counts(1, 4, 16));
    let err = starved.instantiate().expect_err("one core instance granted");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Policy, ErrorCode::LimitTooLow));
    let Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
    assert_eq!((limit, needed, allowed), ("core instances", needs.core_instances, 1));
    // Asking for what it needs (within the host's caps) is enough.
    let fed =
        package.request_limits(&Limits::default().with_counts(usize::try_from(needs.core_instances).expect("small"), 4, 16));
    set_up(&fed);
}

/// The chain of causes of an error, outermost first.
fn causes(err: &Error) -> Vec<String> {
    let mut chain = Vec::new();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        chain.push(inner.to_string());
        cause = inner.source();
    }
    chain
}

#[test]
fn wasmtime_errors_stay_reachable_through_source() {
    let host = host(Limits::default());
    // A trap: the classified error, with wasmtime's own as its cause.
    let mut guest = rust_hostile(&host);
    let err = expect_failure(execute(&mut guest, "RECURSION"), ErrorKind::Trap, 9999);
    assert!(!causes(&err).is_empty(), "a trap keeps wasmtime's error as its source: {err:?}");
    // A component that does not fit the contract: the linker's refusal is the cause.
    let empty_component = wat::parse_str("(component)").expect("WAT");
    let err = host.load_component(&empty_component, "empty.wasm").expect_err("an empty component has no exports");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Package, ErrorCode::ContractMismatch));
    assert!(!causes(&err).is_empty(), "the linker's error is the source: {err:?}");
    // Bytes the compiler refuses: its error is the cause.
    let broken = wat::parse_str("(component (core module (func (result i32) (i64.const 0))))").expect("WAT");
    let err = host.load_component(&broken, "broken.wasm").expect_err("an ill-typed module does not compile");
    assert_eq!(err.code(), ErrorCode::PackageMalformed);
    assert!(!causes(&err).is_empty(), "the compiler's error is the source: {err:?}");
}
