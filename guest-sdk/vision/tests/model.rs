//! `Model` on tiny ONNX files (tests/models, made by make_models.py): loading,
//! metadata, running, and the errors a vendor sees for a model the engine cannot
//! run.

use pv_guest::ErrorCode;
use pv_vision::Model;
use pv_vision::tensors::*;

fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models").join(name)).expect("test model")
}

#[test]
fn a_model_runs_on_any_input_size_and_exposes_its_metadata() {
    let model = Model::from_bytes("add-one.onnx", model_bytes("add-one.onnx")).expect("loads");
    assert_eq!(model.name(), "add-one.onnx");
    assert_eq!(model.metadata("character"), Some("a\nb"));
    assert_eq!(model.metadata("absent"), None);
    for (height, width) in [(2, 3), (5, 1)] {
        let input = NdTensor::from_fn([1, 3, height, width], |[_, c, y, x]| (c + y + x) as f32);
        let output = model.run(input).expect("runs");
        assert_eq!(output.shape(), [1, 3, height, width]);
        assert_eq!(output[[0, 2, height - 1, width - 1]], (2 + height - 1 + width - 1) as f32 + 1.0);
    }
}

#[test]
fn an_unsupported_operator_is_a_1003_naming_it() {
    let err = Model::from_bytes("odd.onnx", model_bytes("unsupported-op.onnx")).expect_err("unknown operator");
    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    let message = err.message();
    assert!(message.contains("odd.onnx") && message.contains("GridWarp3D"), "{message}");
}

#[test]
fn bytes_that_are_not_a_model_are_a_1003() {
    // Not 0xff bytes: rten 0.27 reads a varint of ten continuation bytes forever
    // (inside pv-host the setup deadline ends that; see the host's examples suite).
    let err = Model::from_bytes("noise.onnx", b"this is not a model, only some text".repeat(4)).expect_err("not ONNX");
    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    assert!(err.message().contains("noise.onnx"), "{}", err.message());
}

#[test]
fn an_input_of_the_wrong_rank_or_channels_is_a_1006() {
    let model = Model::from_bytes("add-one.onnx", model_bytes("add-one.onnx")).expect("loads");
    let err = model.run(NdTensor::zeros([1, 4, 2, 2])).expect_err("four channels");
    assert_eq!(err.code(), ErrorCode::InvalidParams, "{err}");
}
