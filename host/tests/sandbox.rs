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

mod wat_guest;

use std::sync::mpsc;
use std::time::Duration;

use pv_host::types::{ExecuteOutput, PixelFormat, StepInput, Verdict};
use pv_host::{
    CallReport, DIAGNOSTICS_DROPPED_KEY, Error, ErrorCode, ErrorKind, Host, ImportPolicy, Instance, Limits, LogSource, Package,
    Phase, Session,
};

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
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the guest was not stopped within {HANG_BOUND:?}"),
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
    pv_host::types::Image {
        meta: pv_host::types::ImageMeta { width, height, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: "test".into() },
        pixels: vec![128; (width * height) as usize],
    }
}

fn input(pid: &str) -> StepInput {
    input_with_image(pid, gray(16, 16))
}

fn input_with_image(pid: &str, image: pv_host::types::Image) -> StepInput {
    StepInput {
        step_index: 1,
        pid: pid.into(),
        step_desc: String::new(),
        params: Vec::new(),
        image,
        guide_image: None,
        guide_info: Vec::new(),
    }
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
fn the_network_guest_is_refused_at_load_2004() {
    let err =
        Host::new().expect("host").load_component_file(pv_test_artifacts::HOSTILE_NETWORK.as_ref()).expect_err("refused at load");
    assert_eq!((err.kind(), err.code()), (ErrorKind::Policy, ErrorCode::ImportRefused));
    let Error::ImportsRefused { imports, .. } = &err else { panic!("{err:?}") };
    assert!(imports.iter().any(|name| name.starts_with("wasi:sockets/tcp@")), "{imports:?}");
    assert!(imports.iter().all(|name| name.starts_with("wasi:sockets/")), "{imports:?}");

    // A host whose policy allows sockets gets past the policy; WASI still denies
    // every connection at run time.
    let permissive = Host::builder().import_policy(ImportPolicy::default().allow("wasi:sockets/*")).build().expect("host");
    let mut guest = set_up(&permissive.load_component_file(pv_test_artifacts::HOSTILE_NETWORK.as_ref()).expect("loads"));
    expect_failure(execute(&mut guest, "A01"), ErrorKind::Algorithm, 9999);
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
