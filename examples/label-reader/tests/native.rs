//! The reading pipeline natively, on the rendered labels: the models, the
//! pre- and post-processing, the decoding, without the sandbox. The same code runs
//! in the component (`host/tests/suite/examples.rs::label_reader`).

use label_reader::reader::Reader;
use pv_guest::PixelFormat;
use pv_vision::Model;

fn reader() -> Reader {
    let models = std::path::Path::new(pv_test_artifacts::LABEL_READER_MODELS);
    let load = |name: &str| Model::from_bytes(name, std::fs::read(models.join(name)).expect("fetched model")).expect("loads");
    Reader::new(load("det.onnx"), load("rec.onnx")).expect("a PaddleOCR recogniser")
}

#[test]
fn rendered_labels_are_read_line_by_line() {
    let reader = reader();
    let dir = pv_test_artifacts::fixtures::examples_dir().join("label-reader/labels");
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("truth.json")).expect("truth")).expect("JSON");
    let (mut lines, mut exact) = (0, 0);
    let mut report = Vec::new();
    for label in truth.as_array().expect("labels") {
        let image = image::open(dir.join(label["image"].as_str().expect("image"))).expect("png").to_rgb8();
        let (width, height) = (image.width() as usize, image.height() as usize);
        let view = ndarray::ArrayView3::from_shape((height, width, 3), image.as_raw()).expect("rgb rows");
        let read = reader.read(view, PixelFormat::Rgb8).expect("reads");
        let texts: Vec<&str> = read.iter().filter(|l| l.score >= 0.5).map(|l| l.text.as_str()).collect();
        for line in label["lines"].as_array().expect("lines") {
            lines += 1;
            if texts.contains(&line.as_str().expect("text")) {
                exact += 1;
            } else {
                report.push(format!("{}: {line} not in {texts:?}", label["image"]));
            }
        }
    }
    assert!(exact * 100 >= lines * 95, "{exact} of {lines} lines exact:\n{}", report.join("\n"));
}
