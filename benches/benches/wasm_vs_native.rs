//! B6: each example algorithm's kernel compiled to wasm and run in the sandbox,
//! against the same Rust code compiled natively.
//!
//! The wasm side is the whole warm `execute` on the sample photograph through
//! the host (image copy, the kernel, the output); the native side calls the
//! kernel the component calls (`part_counter::vision::segment_parts` on
//! coins.png, `scratch_detector::vision::find_scratches` on brick.png). The
//! sandbox is timed with its default bounds (fuel and deadlines on) and with
//! them off, to show how much of the gap is the bounds. Goal: at most 1.5x.
//!
//! Run with `cargo bench -p pv-benches --bench wasm_vs_native`.

use criterion::{Criterion, criterion_group};
use ndarray::ArrayView2;
use pv_benches::compare::{Goal, Side, report};
use pv_benches::{execute_ok, ready_instance, step_input};
use pv_host::{Host, Limits, Session};
use pv_test_artifacts::fixtures;

/// A kernel of an example: its component, PID and params, its photograph, and
/// the same code natively.
struct Kernel {
    name: &'static str,
    component: &'static str,
    pid: &'static str,
    params: serde_json::Value,
    photo: &'static str,
    native: fn(ArrayView2<u8>) -> usize,
}

fn kernels() -> [Kernel; 2] {
    [
        Kernel {
            name: "part-counter",
            component: pv_test_artifacts::PART_COUNTER,
            pid: "A01",
            params: serde_json::json!({ "expected_count": 24 }),
            photo: "coins.png",
            native: |image| part_counter::vision::segment_parts(image, 40).len(),
        },
        Kernel {
            name: "scratch-detector",
            component: pv_test_artifacts::SCRATCH_DETECTOR,
            pid: "B01",
            params: serde_json::json!({}),
            photo: "brick.png",
            native: |image| {
                scratch_detector::vision::find_scratches(image, &scratch_detector::vision::ScratchParams::default()).len()
            },
        },
    ]
}

fn wasm_vs_native(c: &mut Criterion) {
    let bounded = Host::new().expect("host");
    let unbounded = Host::builder().limits(Limits::default().with_fuel_per_call(None).without_deadlines()).build().expect("host");
    for kernel in kernels() {
        let photo = fixtures::load_gray(kernel.photo);
        let view = ArrayView2::from_shape((photo.height() as usize, photo.width() as usize), photo.as_raw())
            .expect("a grey image is rows of pixels");
        let mut session = Session::new("bench");
        let mut instances = [&bounded, &unbounded].map(|host| {
            let instance = ready_instance(host, kernel.component);
            let input = step_input(&instance, kernel.pid, image::DynamicImage::ImageLuma8(photo.clone()), kernel.params.clone());
            (instance, input)
        });

        let (wasm, wasm_unbounded, native) = (Side::default(), Side::default(), Side::default());
        let mut group = c.benchmark_group(format!("B6 {} on {}", kernel.name, kernel.photo));
        let [(bounded_instance, bounded_input), (unbounded_instance, unbounded_input)] = &mut instances;
        group.bench_function("wasm, fuel and deadlines on", |b| {
            wasm.iter(b, || execute_ok(bounded_instance, &mut session, bounded_input))
        });
        group.bench_function("wasm, fuel and deadlines off", |b| {
            wasm_unbounded.iter(b, || execute_ok(unbounded_instance, &mut session, unbounded_input))
        });
        group.bench_function("native", |b| native.iter(b, || (kernel.native)(view)));
        group.finish();
        let label = format!("B6 {} kernel", kernel.name);
        report(&label, ("wasm", &wasm), ("native", &native), Goal::AtMostTimes(1.5));
        report(&format!("{label} (bounds off)"), ("wasm", &wasm_unbounded), ("native", &native), Goal::AtMostTimes(1.5));
    }
}

criterion_group!(benches, wasm_vs_native);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
