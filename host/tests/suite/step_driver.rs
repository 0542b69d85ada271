//! The one step driver every path uses (runner, `pv-host run`, the harness,
//! `serve` through the runner): the order of the calls and what a step commits.
//!
//! The hostile guest's `HOOKS` product id writes to the session from both step
//! hooks; its step 1 succeeds and its step 2 fails.

use pv_test_support::frames;

use pv_host::types::{StepInput, StepOutcome};
use pv_host::{ErrorCode, Host, Instance, Session, StepCalls, StepDriver};
use serde_json::json;

fn instance() -> Instance {
    let host = Host::new().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("the hostile guest loads");
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

fn input(pid: &str, step_index: u32) -> StepInput {
    frames::step_input(pid, step_index, frames::gray(8, 8, 0))
}

#[test]
fn a_step_runs_its_hooks_around_its_phases_and_commits_them_together() {
    let mut instance = instance();
    let mut session = Session::new("part");
    let step = StepDriver::new(StepCalls::PreExecuteThenExecute).run(&mut instance, &mut session, &input("HOOKS", 1));
    assert_eq!(step.outcome, StepOutcome::Ok);
    assert!(step.pre_execute.expect("pre-execute ran").result.is_ok());
    assert!(step.execute.expect("execute ran").result.is_ok());
    assert_eq!(session.get("on-step-start"), Some(&json!(1)));
    assert_eq!(session.get("on-step-finish"), Some(&json!("1:StepOutcome::Ok")), "on-step-finish saw the step's outcome");
}

#[test]
fn a_failing_step_leaves_the_session_as_it_was_hooks_included() {
    let mut instance = instance();
    let mut session = Session::new("part");
    session.set("before", json!("kept"));
    let before = session.clone();
    let step = StepDriver::new(StepCalls::PreExecuteThenExecute).run(&mut instance, &mut session, &input("HOOKS", 2));
    assert_eq!(step.outcome, StepOutcome::Error);
    assert_eq!(step.execute.expect("execute ran").result.expect_err("step 2 fails").code(), ErrorCode::InvalidParams);
    assert_eq!(session.values(), before.values(), "nothing the hooks wrote survives a failed step");
}

#[test]
fn without_hooks_only_the_phases_run() {
    let mut instance = instance();
    let mut session = Session::new("part");
    let step = StepDriver::new(StepCalls::Execute).with_hooks(false).run(&mut instance, &mut session, &input("HOOKS", 1));
    assert_eq!(step.outcome, StepOutcome::Ok);
    assert!(step.pre_execute.is_none(), "an execute-only step runs no pre-execute");
    assert!(step.execute.expect("execute ran").result.is_ok());
    assert_eq!(session.get("on-step-start"), None);
    assert_eq!(session.get("on-step-finish"), None);
}

#[test]
fn a_refused_input_reaches_no_hook_and_no_phase() {
    let mut instance = instance();
    let mut session = Session::new("part");
    let step = StepDriver::new(StepCalls::PreExecute).run(&mut instance, &mut session, &input("NOT_A_PID", 1));
    assert_eq!(step.outcome, StepOutcome::Error);
    let refused = step.pre_execute.expect("the refusal is reported where the first phase would be");
    assert_eq!(refused.result.expect_err("refused").code(), ErrorCode::InvalidPid);
    assert!(refused.usage.fuel_consumed.is_none(), "the guest was not called");
    assert!(step.execute.is_none());
    assert!(session.values().is_empty());
}
