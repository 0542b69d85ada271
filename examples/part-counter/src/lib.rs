//! Part counter: counts bright parts (coins, screws, caps) on a darker tray and
//! says NG when parts are missing, extra, or of implausible size.
//!
//! - pre-execute checks the lighting (mean intensity within `min_mean..=max_mean`)
//!   and reports the bounding box of the parts as a calibration rectangle;
//! - execute segments the frame (background subtraction, Otsu threshold, connected
//!   components), counts the blobs whose area is plausible for a part, and marks
//!   blobs of implausible size and, when the layout is regular, the gap where a
//!   part is missing.
//!
//! The image processing lives in [`vision`], free of SDK types, so it is tested and
//! benchmarked natively too.

pub mod vision;

use pv_guest::{Algorithm, AlgorithmInfo, Error, ExecuteOutput, ParamSpec, PreExecuteOutput, Rect, Result, Step, StepInput};

use crate::vision::{Blob, BoxPx};

/// Smallest blob kept at all; anything smaller is sensor noise, not a part.
const NOISE_AREA: u32 = 40;
/// Default smallest part area in pixels (the smallest coin of the sample tray is
/// about half of that of a typical one).
const DEFAULT_MIN_PART_AREA: i64 = 300;
/// Default largest part area in pixels.
const DEFAULT_MAX_PART_AREA: i64 = 6000;

/// Most defect rectangles reported: the host's default cap. The reason still
/// counts every problem.
const MAX_DEFECTS: usize = 20;

/// Most position rectangles reported: the host's default cap.
const MAX_POSITIONS: usize = 1000;

/// The exported algorithm.
pub struct PartCounter;

/// Blobs of one frame sorted into parts and rejects.
struct Census {
    parts: Vec<Blob>,
    implausible: Vec<Blob>,
}

impl Census {
    fn take(input: &StepInput) -> Result<Census> {
        let min_area = input.params.u32("min_area")?;
        let max_area = input.params.u32("max_area")?;
        if min_area > max_area {
            return Err(Error::invalid_params(format!("min_area {min_area} is larger than max_area {max_area}")));
        }
        let luma = input.image.luma()?;
        let (parts, implausible) = vision::segment_parts(luma.view(), NOISE_AREA)
            .into_iter()
            .partition(|blob| (min_area..=max_area).contains(&blob.area));
        Ok(Census { parts, implausible })
    }
}

fn rect_of_blob(blob: &Blob) -> Rect {
    rect_of_box(BoxPx { x: blob.x, y: blob.y, width: blob.width, height: blob.height })
}

fn rect_of_box(b: BoxPx) -> Rect {
    // Image sizes are capped far below i32::MAX by the host.
    Rect::new(b.x as i32, b.y as i32, b.width, b.height)
}

/// The version this build reports: the crate's, unless the build sets
/// `PV_EXAMPLE_VERSION` (how the tests make a second version of the same
/// algorithm to install and switch to while a line runs).
const VERSION: &str = match option_env!("PV_EXAMPLE_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

impl Algorithm for PartCounter {
    fn info() -> AlgorithmInfo {
        AlgorithmInfo::new("part-counter", VERSION)
            .description("Counts bright parts on a dark tray; NG when parts are missing, extra or misshapen")
            .pids(["A01", "A02"])
            .step(
                Step::new(1, "count parts")
                    .description("check the lighting, then count the parts and locate missing ones")
                    .param(ParamSpec::int_in("expected_count", 1, 10_000).default(24).describe("parts on a good tray"))
                    .param(
                        ParamSpec::int_in("min_area", 1, 10_000_000)
                            .default(DEFAULT_MIN_PART_AREA)
                            .describe("smallest area of a part, in pixels"),
                    )
                    .param(
                        ParamSpec::int_in("max_area", 1, 10_000_000)
                            .default(DEFAULT_MAX_PART_AREA)
                            .describe("largest area of a part, in pixels"),
                    )
                    .param(ParamSpec::int_in("min_mean", 0, 255).default(40).describe("darkest acceptable mean intensity"))
                    .param(ParamSpec::int_in("max_mean", 0, 255).default(220).describe("brightest acceptable mean intensity")),
            )
    }

    fn setup() -> Result<Self> {
        Ok(PartCounter)
    }

    fn pre_execute(&mut self, input: &StepInput) -> Result<PreExecuteOutput> {
        let luma = input.image.luma()?;
        let mean = vision::mean_intensity(luma.view());
        let (min_mean, max_mean) = (input.params.int("min_mean")?, input.params.int("max_mean")?);
        if mean < min_mean as f64 || mean > max_mean as f64 {
            return Err(Error::image(format!(
                "lighting out of range: mean intensity {mean:.1}, expected {min_mean}..={max_mean}; check the lamp and exposure"
            )));
        }
        let census = Census::take(input)?;
        let mut out = PreExecuteOutput::new(format!("lighting ok (mean {mean:.1}), {} parts in view", census.parts.len()))
            .debug(serde_json::json!({ "mean_intensity": mean }));
        if let Some(bounds) = census.parts.iter().map(rect_of_blob).reduce(|a, b| a.union(&b)) {
            out = out.calibration(bounds.labelled("parts"));
        }
        Ok(out)
    }

    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
        let expected = input.params.u32("expected_count")? as usize;
        let Census { parts, implausible } = Census::take(input)?;
        let found = parts.len();
        pv_guest::diagnostics::publish("part_count", &found);
        pv_guest::info!("found {found} of {expected} parts"; "implausible" => implausible.len());

        let positions = parts.iter().take(MAX_POSITIONS).map(|b| rect_of_blob(b).labelled("part"));
        let debug = serde_json::json!({
            "version": VERSION,
            "found": found,
            "expected": expected,
            "part_areas": parts.iter().map(|b| b.area).collect::<Vec<_>>(),
            "implausible_areas": implausible.iter().map(|b| b.area).collect::<Vec<_>>(),
        });
        if found == expected && implausible.is_empty() {
            return Ok(ExecuteOutput::ok().positions(positions).debug(debug));
        }

        let mut defects: Vec<Rect> =
            implausible.iter().map(|b| rect_of_blob(b).labelled(format!("implausible size ({} px)", b.area))).collect();
        if found < expected {
            defects.extend(vision::find_missing(&parts, expected).into_iter().map(|b| rect_of_box(b).labelled("missing part")));
        }
        if defects.is_empty() {
            // Extra parts of plausible size, or missing ones in an irregular layout:
            // the whole populated area is the defect.
            if let Some(bounds) = parts.iter().map(rect_of_blob).reduce(|a, b| a.union(&b)) {
                defects.push(bounds.labelled("wrong part count"));
            } else {
                defects.push(Rect::new(0, 0, input.image.width(), input.image.height()).labelled("no parts"));
            }
        }
        defects.truncate(MAX_DEFECTS);
        let mut reason = format!("found {found} of {expected} parts");
        if !implausible.is_empty() {
            reason.push_str(&format!(" and {} blob(s) of implausible size", implausible.len()));
        }
        Ok(ExecuteOutput::ng(reason).defects(defects).positions(positions).debug(debug))
    }
}

pv_guest::export_algorithm!(PartCounter);
