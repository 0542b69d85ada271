//! B3: what getting a 1920x1200 RGB frame into the guest costs, against a plain
//! `memcpy` of the same bytes into memory that is already resident.
//!
//! Ingress is measured as what the frame adds to a call: the trivial
//! algorithm's warm `execute` with the frame, less the same call with a 1x1
//! image. It covers the host's input checks, the guest's allocation and the
//! copy into its linear memory (which stays resident between calls: wasm
//! memory never shrinks and the guest's allocator reuses the block). Goal: at
//! most 1.5x the memcpy.
//!
//! For an embedder whose frame is in a camera buffer, two ways in are timed
//! too: the buffer copied into the input's `Vec` and then the call (two copies),
//! and `Instance::execute_in_place`, which fills the guest's block straight
//! from the buffer (one copy).
//!
//! Run with `cargo bench -p pv-benches --bench image_ingress`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report_times};
use pv_benches::{execute_ok, ready_instance, rgb_frame, step_input};
use pv_host::{Host, Session};

const FRAME: (u32, u32) = (1920, 1200);

fn image_ingress(c: &mut Criterion) {
    let host = Host::new().expect("host");
    let mut instance = ready_instance(&host, pv_test_artifacts::HOSTILE);
    let frame = rgb_frame(FRAME.0, FRAME.1);
    let with_frame = step_input(&instance, "GOOD", frame.clone(), serde_json::json!({}));
    let with_pixel = step_input(&instance, "GOOD", rgb_frame(1, 1), serde_json::json!({}));
    let mut session = Session::new("bench");
    let source = frame.into_bytes();
    // Touched once here, so the copy below never faults a page in.
    let mut resident = vec![1u8; source.len()];

    let (call_with_frame, call_with_pixel, memcpy) = (Side::default(), Side::default(), Side::default());
    let (camera_via_vec, camera_in_place) = (Side::default(), Side::default());
    // The camera's buffer, and the input the in-place call takes (meta, no pixels).
    let camera = source.clone();
    let mut without_pixels = with_frame.clone();
    without_pixels.image.pixels = Vec::new();
    let mut group = c.benchmark_group(format!("B3 image ingress {}x{} RGB", FRAME.0, FRAME.1));
    group.bench_function("call with the frame", |b| {
        call_with_frame.iter(b, || execute_ok(&mut instance, &mut session, &with_frame))
    });
    group.bench_function("call with a 1x1 image", |b| {
        call_with_pixel.iter(b, || execute_ok(&mut instance, &mut session, &with_pixel))
    });
    group.bench_function("memcpy into resident memory", |b| {
        memcpy.iter(b, || {
            black_box(&mut resident).copy_from_slice(black_box(&source));
        })
    });
    group.bench_function("camera buffer copied into the input, then the call", |b| {
        camera_via_vec.iter(b, || {
            let mut input = without_pixels.clone();
            input.image.pixels = camera.clone();
            execute_ok(&mut instance, &mut session, &input)
        })
    });
    group.bench_function("camera buffer filled in place", |b| {
        camera_in_place.iter(b, || {
            let report = instance.execute_in_place(&mut session, &without_pixels, |pixels| {
                pixels.copy_from_slice(&camera);
                Ok(())
            });
            if let Err(err) = report.result {
                panic!("execute_in_place failed during the benchmark: {err}");
            }
        })
    });
    group.finish();

    if let (Some(via_vec), Some(in_place)) = (camera_via_vec.median(), camera_in_place.median()) {
        report_times(
            &format!("B3 camera frame to the guest, {}x{} RGB, in place vs via a Vec", FRAME.0, FRAME.1),
            ("in place", in_place),
            ("via a Vec", via_vec),
            Goal::AtMostTimes(1.0),
        );
    }

    if let (Some(with_frame), Some(with_pixel), Some(memcpy)) =
        (call_with_frame.median(), call_with_pixel.median(), memcpy.median())
    {
        let ingress = with_frame.saturating_sub(with_pixel);
        report_times(
            &format!("B3 image ingress, {}x{} RGB", FRAME.0, FRAME.1),
            ("ingress", ingress),
            ("memcpy", memcpy),
            Goal::AtMostTimes(1.5),
        );
    }
}

criterion_group!(benches, image_ingress);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
