//! Warm `execute` of each example algorithm on its sample photograph, through the
//! whole host path: input validation, image copy into the guest, the algorithm,
//! lifting the output.

use criterion::{Criterion, criterion_group, criterion_main};
use pv_benches::{execute_ok, ready_instance, step_input};
use pv_host::{Host, Session};
use pv_test_artifacts::fixtures;

fn examples(c: &mut Criterion) {
    let host = Host::new().expect("host");
    let mut group = c.benchmark_group("execute");

    let mut counter = ready_instance(&host, pv_test_artifacts::PART_COUNTER);
    let coins = image::DynamicImage::ImageLuma8(fixtures::load_gray("coins.png"));
    let input = step_input(&counter, "A01", coins, serde_json::json!({ "expected_count": 24 }));
    let mut session = Session::new("bench");
    group.bench_function("part-counter/coins.png", |b| b.iter(|| execute_ok(&mut counter, &mut session, &input)));

    let mut detector = ready_instance(&host, pv_test_artifacts::SCRATCH_DETECTOR);
    let brick = image::DynamicImage::ImageLuma8(fixtures::load_gray("brick.png"));
    let input = step_input(&detector, "B01", brick, serde_json::json!({}));
    group.bench_function("scratch-detector/brick.png", |b| b.iter(|| execute_ok(&mut detector, &mut session, &input)));

    group.finish();
}

criterion_group!(benches, examples);
criterion_main!(benches);
