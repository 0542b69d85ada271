//! Host-side validation: inputs the host refuses never reach the guest, and
//! outputs that break a rule are refused with their code and commit nothing to
//! the session. Errors are matched by kind and code.

use pv_test_support::frames;

use pv_host::types::{Image, ImageMeta, Param, ParamValue, StepInput, Verdict};
use pv_host::{ErrorKind, Host, Instance, Session};

fn hostile() -> Instance {
    let package = Host::new().expect("host").load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    instance
}

fn input(pid: &str) -> StepInput {
    frames::step_input(pid, 1, frames::gray(32, 24, 0))
}

/// How many times the guest's `execute` has run, as it counts them itself.
fn guest_calls(instance: &mut Instance) -> u64 {
    let out = instance.execute(&mut Session::new("count"), &input("COUNT")).into_result().expect("COUNT runs");
    let debug: serde_json::Value = serde_json::from_str(out.debug.as_deref().expect("debug")).expect("JSON");
    debug["calls"].as_u64().expect("a count")
}

#[test]
fn refused_inputs_never_reach_the_guest() {
    let mut guest = hostile();
    let before = guest_calls(&mut guest);
    let mut inconsistent = input("GOOD");
    inconsistent.image.pixels.pop();
    let mut guide_too_big = input("GOOD");
    guide_too_big.guide_image =
        Some(Image { meta: ImageMeta { width: 1 << 20, height: 1 << 20, ..frames::gray(1, 1, 0).meta }, pixels: Vec::new() });
    let mut unknown_param = input("GOOD");
    unknown_param.params = vec![Param { name: "nope".into(), value: ParamValue::Int(1) }];
    let cases = [
        ("unsupported pid", input("NOT_A_PID"), 1001),
        ("empty pid", input(""), 1001),
        ("no such step", StepInput { step_index: 9, ..input("GOOD") }, 1006),
        ("step 0", StepInput { step_index: 0, ..input("GOOD") }, 1006),
        ("zero-size image", StepInput { image: frames::gray(0, 0, 0), ..input("GOOD") }, 1006),
        ("pixels do not fit the meta", inconsistent, 1006),
        ("absurd guide image", guide_too_big, 1006),
        ("undeclared param", unknown_param, 1006),
    ];
    for (name, bad, code) in cases {
        let err = guest.execute(&mut Session::new("s"), &bad).result.expect_err(name);
        assert_eq!((err.kind(), err.code().number()), (ErrorKind::InvalidInput, code), "{name}: {err}");
        let err = guest.pre_execute(&mut Session::new("s"), &bad).result.expect_err(name);
        assert_eq!(err.code().number(), code, "{name} (pre-execute)");
    }
    assert_eq!(guest_calls(&mut guest), before + 1, "only the COUNT calls reached the guest");
}

#[test]
fn invalid_outputs_are_refused_and_commit_nothing() {
    let mut guest = hostile();
    let mut session = Session::new("part-1");
    session.set("kept", serde_json::json!(1));
    let before = session.clone();

    let err = guest.execute(&mut session, &input("OUTSIDE_RECT")).result.expect_err("a rect outside the image");
    assert_eq!((err.kind(), err.code().number()), (ErrorKind::InvalidOutput, 1007), "{err}");
    assert_eq!(session, before, "the guest's session write was not committed");

    let err = guest.execute(&mut session, &input("NG_WITHOUT_DEFECT")).result.expect_err("NG needs a defect");
    assert_eq!((err.kind(), err.code().number()), (ErrorKind::InvalidOutput, 9999), "{err}");

    // An invalid output is the algorithm's mistake, not a crash: the instance
    // keeps serving.
    assert!(!guest.is_poisoned());
    let out = guest.execute(&mut session, &input("GOOD")).into_result().expect("a good call");
    assert_eq!(out.verdict, Verdict::Ok);
}
