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
    group.finish();

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
