//! {{name}}: an inspection algorithm for pv-host.
//!
//! It checks that a frame is bright enough: OK when its mean grey level is at
//! least `min_mean`, NG with the whole frame as the defect otherwise. Replace
//! the check with yours; the shape stays: `info` describes the steps and their
//! params, `setup` loads what every call needs, `execute` gives the verdict.

use pv_guest::{Algorithm, AlgorithmInfo, ExecuteOutput, ParamSpec, Rect, Result, Step, StepInput};
use serde_json::json;

/// The product ids this algorithm inspects. `pv-host pack` copies them into the
/// package's manifest: this is the one place they are written.
const PIDS: [&str; {{pid_count}}] = [{{pid_list}}];

/// The algorithm. Per-part state belongs in the session (`pv_guest::session`),
/// not here: the host may run one part's steps on different instances.
pub struct {{type_name}};

impl Algorithm for {{type_name}} {
    fn info() -> AlgorithmInfo {
        AlgorithmInfo::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .description("Checks that the frame is bright enough")
            .pids(PIDS)
            .step(
                Step::new(1, "check brightness").description("OK when the mean grey level is at least min_mean").param(
                    // Every param needs a default: `pv-host test` runs each step
                    // with the defaults.
                    ParamSpec::int_in("min_mean", 0, 255).default(40).describe("darkest acceptable mean grey level"),
                ),
            )
    }

    fn setup() -> Result<Self> {
        // Load models and tables once here: `pv_guest::assets::read("model.onnx")`.
        Ok({{type_name}})
    }

    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
        let luma = input.image.luma()?; // [row, column], any pixel format
        let mean = luma.iter().map(|&p| f64::from(p)).sum::<f64>() / luma.len().max(1) as f64;
        let min_mean = input.params.int("min_mean")?;
        pv_guest::debug!("mean grey {mean:.1}"; "min_mean" => min_mean);
        pv_guest::diagnostics::publish("mean", &mean);
        if mean < min_mean as f64 {
            let whole = Rect::new(0, 0, input.image.width(), input.image.height()).labelled("too dark");
            return Ok(ExecuteOutput::ng(format!("too dark: mean grey {mean:.0}, need {min_mean}")).defect(whole));
        }
        Ok(ExecuteOutput::ok().debug(json!({ "mean": mean })))
    }
}

pv_guest::export_algorithm!({{type_name}});
