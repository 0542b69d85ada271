//! What a restarted instance does when its `setup` fails: the instance stays
//! poisoned, and no call ever reaches a guest that was not set up.
//!
//! The hostile guest's `setup` fails at random (1003, about one time in two) when
//! its package ships the `flaky-setup` asset; the test restarts an instance until
//! a restart's setup fails, which a few tries make certain in practice.

use pv_host::package_file::{Manifest, RequestedLimits, SUPPORTED_WIT, SecretKey, pack};
use pv_host::types::{Image, ImageMeta, PixelFormat, StepInput};
use pv_host::{Admission, ErrorCode, ErrorKind, Host, Instance, Package, Session, TrustStore};

/// The hostile guest, packed with the asset that makes its setup flaky.
fn flaky_package(host: &Host) -> Package {
    let component = std::fs::read(pv_test_artifacts::HOSTILE).expect("hostile guest");
    let info =
        host.load_component(&component, "hostile.wasm").expect("loads").instantiate().expect("instantiates").info().clone();
    let manifest = Manifest {
        name: info.name,
        version: info.version.parse().expect("semver"),
        description: "flaky setup".into(),
        pids: info.supported_pids,
        wit: SUPPORTED_WIT.into(),
        publisher: "pv-host tests".into(),
        limits: RequestedLimits::default(),
        assets: Vec::new(),
        parts: Vec::new(),
    };
    let key = SecretKey::from_seed(&[9; 32]);
    let bytes = pack(&component, &manifest, &[("flaky-setup".into(), b"on".to_vec())], Some(&key)).expect("packs");
    let mut trust = TrustStore::in_memory();
    trust.add_key("tests", key.public()).expect("trusted");
    host.load_package(&bytes, "flaky.pkg", &Admission::new(&trust)).expect("admitted")
}

fn execute(instance: &mut Instance, pid: &str) -> pv_host::Result<pv_host::types::ExecuteOutput> {
    let input = StepInput {
        step_index: 1,
        pid: pid.into(),
        step_desc: String::new(),
        params: Vec::new(),
        image: Image {
            meta: ImageMeta { width: 4, height: 4, format: PixelFormat::Gray8, timestamp_ms: 0, camera_id: "t".into() },
            pixels: vec![0; 16],
        },
        guide_image: None,
        guide_info: Vec::new(),
    };
    instance.execute(&mut Session::new("restart"), &input).into_result()
}

#[test]
fn an_instance_whose_setup_fails_after_a_restart_is_not_live() {
    let host = Host::new().expect("host");
    let package = flaky_package(&host);
    for _ in 0..200 {
        let mut instance = package.instantiate().expect("instantiates");
        if instance.setup().into_result().is_err() {
            continue; // the first setup failed: not the case under test
        }
        let crash = execute(&mut instance, "PANIC").expect_err("a crash");
        assert_eq!(crash.kind(), ErrorKind::Trap);
        let err = match execute(&mut instance, "GOOD") {
            Ok(_) => continue, // the restart's setup succeeded this time
            Err(err) => err,
        };
        // The restart's setup failed: that is the error, and the instance is not live.
        assert_eq!((err.kind(), err.code()), (ErrorKind::Algorithm, ErrorCode::ModelNotFound), "{err}");
        assert!(instance.is_poisoned(), "an instance whose setup failed must not stay live");
        // Every later call restarts and sets up again first: it succeeds, or fails
        // with setup's error, never reaches a guest without setup (9999).
        for _ in 0..64 {
            match execute(&mut instance, "GOOD") {
                Ok(_) => {
                    assert!(!instance.is_poisoned());
                    return;
                }
                Err(err) => assert_eq!(err.code(), ErrorCode::ModelNotFound, "{err}"),
            }
        }
        panic!("setup failed 64 times in a row");
    }
    panic!("no restart's setup failed in 200 tries");
}
