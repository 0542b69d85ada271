//! ONNX models inside the guest.

use pv_guest::{Error, Result};
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, Tensor};

/// An ONNX model, parsed and optimised once, run on every call.
///
/// Load it in [`setup`](pv_guest::Algorithm::setup) and keep it in the algorithm's
/// state: parsing and graph optimisation cost milliseconds to tens of milliseconds
/// per model, which a per-call load would pay on every frame. Inputs may have any
/// shape the graph allows (dynamic heights and widths included); no per-shape plan
/// is built.
pub struct Model {
    name: String,
    graph: rten::Model,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Model {
    /// Read the model from the package asset `name` and load it.
    ///
    /// A missing asset is error 1003 naming it; a file that is not a model the
    /// engine can run (not ONNX, or an operator it does not support) is also 1003,
    /// with the engine's reason, which names the operator and the node.
    pub fn from_asset(name: &str) -> Result<Model> {
        let bytes = pv_guest::assets::read(name)?;
        Model::from_bytes(name, bytes)
    }

    /// Load a model from its bytes; `name` is used in error messages. Natively,
    /// this is how tests and benchmarks load the same model from a file.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Model> {
        let graph =
            rten::Model::load(bytes).map_err(|err| Error::model_not_found(format!("model `{name}` cannot be loaded: {err}")))?;
        if graph.input_ids().len() != 1 || graph.output_ids().is_empty() {
            return Err(Error::model_not_found(format!(
                "model `{name}` has {} inputs and {} outputs; Model::run takes models with one input",
                graph.input_ids().len(),
                graph.output_ids().len()
            )));
        }
        Ok(Model { name: name.to_owned(), graph })
    }

    /// The name the model was loaded under (its asset name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A value of the model's ONNX metadata (`metadata_props`), such as the
    /// character list PaddleOCR recognisers carry under `character`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.graph.metadata().get(key)
    }

    /// Run the model on one `[N, C, H, W]` input and return its first output.
    ///
    /// An input the graph refuses (wrong rank, channel count or type) is error
    /// 1006; any other failure inside the engine is 9999. Both name the model.
    pub fn run(&self, input: NdTensor<f32, 4>) -> Result<Tensor<f32>> {
        let shape = input.shape();
        let output = self.graph.run_one(input.into(), None).map_err(|err| {
            let message = format!("model `{}` failed on an input of shape {shape:?}: {err}", self.name);
            match err.kind() {
                rten::RunErrorKind::InvalidInput => Error::invalid_params(message),
                _ => Error::unknown(message),
            }
        })?;
        output
            .into_tensor::<f32>()
            .ok_or_else(|| Error::unknown(format!("model `{}` returned a tensor that is not f32", self.name)))
    }
}
