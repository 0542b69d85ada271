//! Scratch detector: finds thin bright or dark line defects on a textured surface
//! (bricks, brushed metal, moulded plastic) and says NG with a rectangle per scratch.
//!
//! A scratch is narrower than the texture's own structures: a grey-level opening
//! (for bright lines) or closing (for dark lines) slightly wider than `max_width`
//! erases it while keeping the texture, so the difference to the original isolates
//! thin features; those that are long and elongated enough are scratches.
//!
//! The image processing lives in [`vision`], free of SDK types, so it is tested and
//! benchmarked natively too.

pub mod vision;

use pv_guest::{Algorithm, AlgorithmInfo, ExecuteOutput, ParamSpec, Rect, Result, Step, StepInput};

use crate::vision::{Scratch, ScratchParams};

/// Most scratches reported; the host's default cap on defect rectangles.
const MAX_REPORTED: usize = 20;

/// The exported algorithm.
pub struct ScratchDetector;

fn params_of(input: &StepInput) -> Result<ScratchParams> {
    Ok(ScratchParams {
        max_width: input.params.u32("max_width")?,
        min_length: input.params.u32("min_length")?,
        // The schema bounds min_contrast to 1..=255.
        min_contrast: u8::try_from(input.params.u32("min_contrast")?).unwrap_or(u8::MAX),
    })
}

fn rect_of(scratch: &Scratch) -> Rect {
    let kind = if scratch.bright { "bright" } else { "dark" };
    // Contrast is in grey levels; 64 levels above the surface is a certain scratch.
    let score = (scratch.contrast / 64.0).clamp(0.0, 1.0);
    Rect::new(scratch.x as i32, scratch.y as i32, scratch.width, scratch.height)
        .labelled(format!("{kind} scratch, {:.0} px", scratch.length))
        .scored(score)
}

impl Algorithm for ScratchDetector {
    fn info() -> AlgorithmInfo {
        let defaults = ScratchParams::default();
        AlgorithmInfo::new("scratch-detector", env!("CARGO_PKG_VERSION"))
            .description("Finds thin bright or dark scratches on a textured surface")
            .pids(["B01", "B02"])
            .step(
                Step::new(1, "find scratches")
                    .description("NG with one rectangle per scratch")
                    .param(
                        ParamSpec::int_in("max_width", 1, 31)
                            .default(defaults.max_width)
                            .describe("widest line counted as a scratch, in pixels; wider lines are texture"),
                    )
                    .param(
                        ParamSpec::int_in("min_length", 2, 100_000)
                            .default(defaults.min_length)
                            .describe("shortest scratch reported, in pixels"),
                    )
                    .param(
                        ParamSpec::int_in("min_contrast", 1, 255)
                            .default(u32::from(defaults.min_contrast))
                            .describe("grey levels a scratch must differ from the surface around it"),
                    ),
            )
    }

    fn setup() -> Result<Self> {
        Ok(ScratchDetector)
    }

    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
        let params = params_of(input)?;
        let luma = input.image.luma()?;
        let mut scratches = vision::find_scratches(luma.view(), &params);
        pv_guest::diagnostics::publish("scratch_count", &scratches.len());
        if scratches.is_empty() {
            return Ok(ExecuteOutput::ok().debug(serde_json::json!({ "scratches": 0 })));
        }
        scratches.sort_by(|a, b| b.length.total_cmp(&a.length));
        let total = scratches.len();
        let longest = scratches[0].length;
        pv_guest::info!("found {total} scratch(es)"; "longest_px" => format!("{longest:.0}"));
        let mut reason = format!("found {total} scratch(es), longest {longest:.0} px");
        if total > MAX_REPORTED {
            reason.push_str(&format!("; the {MAX_REPORTED} longest are marked"));
        }
        let debug = serde_json::json!({
            "scratches": total,
            "lengths": scratches.iter().map(|s| s.length.round()).collect::<Vec<_>>(),
        });
        Ok(ExecuteOutput::ng(reason).defects(scratches.iter().take(MAX_REPORTED).map(rect_of)).debug(debug))
    }
}

pv_guest::export_algorithm!(ScratchDetector);
