//! The runner: host-owned sessions across steps, the instance pool, bounded
//! concurrency and queue (busy, 3001), cancellation, recycling and metrics.
//!
//! Tests that wait for the runner to reach a state poll it with a generous
//! bound; none asserts how long anything took.

use pv_test_support::frames;

use std::time::Duration;

use pv_host::runner::Isolation;
use pv_host::types::{StepInput, Verdict};
use pv_host::{ErrorKind, Host, Limits, Phase, Runner, RunnerConfig};
use serde_json::json;

/// Long enough that a looping guest is still running while a test arranges the
/// queue around it, however loaded the machine; the loop then ends with 1005.
const LOOP_DEADLINE: Duration = Duration::from_millis(5000);

/// How long a test waits for the runner to reach a state before failing.
const WAIT_BOUND: Duration = Duration::from_secs(60);

fn runner(config: RunnerConfig) -> Runner {
    let limits = Limits::default().with_deadline(Phase::Execute, LOOP_DEADLINE);
    let host = Host::builder().limits(limits).build().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    Runner::new(package, config)
}

fn input(pid: &str, step: u32) -> StepInput {
    frames::step_input(pid, step, frames::gray(8, 8, 0))
}

/// Wait until `condition` holds, polling; fail after [`WAIT_BOUND`].
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT_BOUND;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "the runner never reached: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn a_three_step_flow_shares_the_session_and_a_trap_in_step_3_rolls_back() {
    let runner = runner(RunnerConfig::default().with_instances(1));
    runner.begin_session("part-1", json!({ "operator": "ana" })).expect("begins");

    runner.execute_blocking("part-1", input("FLOW", 1)).into_result().expect("step 1");
    let step2 = runner.execute_blocking("part-1", input("FLOW", 2)).into_result().expect("step 2");
    let read: serde_json::Value = serde_json::from_str(step2.debug.as_deref().expect("debug")).expect("JSON");
    assert_eq!(read["read"], json!([1]), "step 2 read what step 1 stored");
    assert_eq!(runner.session("part-1").expect("open").get("trail"), Some(&json!([1, 2])));

    let err = runner.execute_blocking("part-1", input("FLOW", 3)).result.expect_err("step 3 panics");
    assert_eq!((err.kind(), err.code().number()), (ErrorKind::Trap, 9999));
    assert_eq!(runner.session("part-1").expect("open").get("trail"), Some(&json!([1, 2])), "as step 2 left it");

    // The trapped instance was replaced; the next call succeeds on a fresh one.
    let out = runner.execute_blocking("part-1", input("GOOD", 1)).into_result().expect("after the trap");
    assert_eq!(out.verdict, Verdict::Ok);
    let metrics = runner.metrics();
    assert_eq!((metrics.calls, metrics.traps, metrics.instance_recycles), (4, 1, 1));
    assert_eq!(metrics.errors_by_code.get(&9999), Some(&1));
    assert_eq!(metrics.latency_ms_buckets.iter().sum::<u64>(), 4);

    assert!(runner.end_session("part-1"));
    assert!(runner.session("part-1").is_none(), "ending a session drops its state");
    let err = runner.execute_blocking("part-1", input("GOOD", 1)).result.expect_err("no such session");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn the_context_is_read_only_and_reset_runs() {
    let runner = runner(RunnerConfig::default().with_instances(1));
    runner.begin_session("p", json!({ "product": "X1" })).expect("begins");
    assert!(runner.begin_session("p", json!({})).is_err(), "one session per id");
    assert_eq!(runner.session("p").expect("open").context()["product"], "X1");
    runner.reset_blocking("p").into_result().expect("reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_calls_than_instances_all_complete() {
    let runner = runner(RunnerConfig::default().with_instances(2).with_queue(16));
    let mut calls = Vec::new();
    for i in 0..10 {
        let runner = runner.clone();
        let id = format!("part-{i}");
        runner.begin_session(&id, json!({})).expect("begins");
        calls.push(tokio::spawn(async move { runner.execute(&id, input("GOOD", 1)).await.into_result() }));
    }
    for call in calls {
        assert_eq!(call.await.expect("joined").expect("completes").verdict, Verdict::Ok);
    }
    assert_eq!(runner.metrics().calls, 10);
    assert_eq!(runner.in_flight(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_answers_busy_and_dropped_calls_leave_the_runner_usable() {
    let runner = runner(RunnerConfig::default().with_instances(1).with_queue(1));
    for id in ["a", "b", "c", "d"] {
        runner.begin_session(id, json!({})).expect("begins");
    }
    // A holds the only instance, B waits in the queue.
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.execute("a", input("LOOP", 1)).await }
    });
    wait_until("one call running", || runner.in_flight().0 == 1).await;
    let queued = tokio::spawn({
        let runner = runner.clone();
        async move { runner.execute("b", input("GOOD", 1)).await }
    });
    wait_until("one call queued", || runner.in_flight().1 == 1).await;

    // C finds the queue full: busy at once.
    let err = runner.execute("c", input("GOOD", 1)).await.result.expect_err("busy");
    assert_eq!((err.kind(), err.code().number()), (ErrorKind::Busy, 3001));
    assert_eq!(runner.metrics().busy, 1);

    // Drop the queued call: its place frees up.
    queued.abort();
    let _ = queued.await;
    wait_until("the dropped call left the queue", || runner.in_flight().1 == 0).await;
    // Drop the running call too: the guest is stopped by its deadline on its own
    // thread and the instance's slot comes back.
    running.abort();
    let _ = running.await;
    wait_until("the dropped call's slot came back", || runner.in_flight() == (0, 0)).await;

    let out = runner.execute("d", input("GOOD", 1)).await.into_result().expect("usable after drops");
    assert_eq!(out.verdict, Verdict::Ok);
    let metrics = runner.metrics();
    assert_eq!(metrics.errors_by_code.get(&1005), Some(&1), "the loop ended with its deadline");
    assert_eq!(metrics.instance_recycles, 1);
}

#[test]
fn per_session_isolation_gives_each_session_its_own_instance() {
    let runner = runner(RunnerConfig::default().with_instances(2).with_isolation(Isolation::PerSession));
    runner.begin_session("x", json!({})).expect("begins");
    runner.begin_session("y", json!({})).expect("begins");
    let calls = |id: &str| {
        let out = runner.execute_blocking(id, input("COUNT", 1)).into_result().expect("COUNT");
        let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
        debug["calls"].as_u64().expect("count")
    };
    assert_eq!((calls("x"), calls("x"), calls("y")), (1, 2, 1), "y's instance saw none of x's calls");
    assert!(runner.end_session("x"));
}

#[test]
fn a_pooled_host_serves_recycles_and_caps_memory() {
    let limits = Limits::default().with_memory_bytes(64 << 20);
    let host = Host::builder().limits(limits).pooled_instances(Some(4)).build().expect("a pooled host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let runner = Runner::new(package, RunnerConfig::default().with_instances(2));
    runner.begin_session("p", json!({})).expect("begins");
    let err = runner.execute_blocking("p", input("MEMORY", 1)).result.expect_err("the bomb is refused");
    assert_eq!((err.kind(), err.code().number()), (ErrorKind::Limit, 1004));
    for _ in 0..6 {
        runner.execute_blocking("p", input("GOOD", 1)).into_result().expect("served from the pool");
    }
    assert_eq!(runner.metrics().instance_recycles, 1);
}

#[test]
fn hosts_pool_by_default_and_a_full_pool_is_busy_not_broken() {
    let host = Host::new().expect("a default host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let slots = usize::try_from(pv_host::sandbox::default_pooled_instances()).expect("fits");
    let mut live: Vec<_> = (0..slots).map(|_| package.instantiate().expect("a pool slot")).collect();
    let err = package.instantiate().expect_err("every slot is taken");
    assert_eq!((err.kind(), err.code().number()), (ErrorKind::Busy, 3001), "{err}");
    assert!(err.to_string().contains("pooled_instances"), "says what to do: {err}");
    live.pop();
    let mut instance = package.instantiate().expect("a freed slot is reused");
    instance.setup().into_result().expect("and the instance works");
}
