//! Label reader: reads the printed text on a part label (lot number, date code,
//! serial number) and checks it against a pattern.
//!
//! The reading is PP-OCRv4 (PaddleOCR's mobile detector and recogniser, as
//! RapidOCR ships them), run inside the sandbox with [`pv_vision`]: the two ONNX
//! models are package assets, loaded once in `setup`. The step is OK when one line
//! matches the `expected` regular expression, NG otherwise, with a defect rectangle
//! on every line that does not match (or on the whole frame when nothing was read).
//!
//! The pipeline ([`reader`], [`detect`], [`recognize`]) is free of host calls but
//! the asset reads, so it also runs natively, on models read from files.

pub mod detect;
pub mod reader;
pub mod recognize;

use std::collections::HashMap;

use pv_guest::{Algorithm, AlgorithmInfo, Error, ExecuteOutput, ParamSpec, Rect, Result, Step, StepInput};
use regex::Regex;
use serde_json::json;

use crate::reader::{Line, Reader};

/// The pattern a label must contain unless the step says otherwise.
pub const DEFAULT_EXPECTED: &str = r"LOT\s*\d{6}";
/// Lines read with less confidence than this are ignored (PaddleOCR's `text_score`).
pub const DEFAULT_MIN_SCORE: f64 = 0.5;
/// Lines read at most unless the step says otherwise. Reading costs about 2.3
/// Gfuel a line (a 320 px wide line; more for longer ones), on top of about 19
/// Gfuel to find the lines on a 960 px frame: with 8, a full 960 px frame stays
/// well within the host's default fuel per call (50 G).
pub const DEFAULT_MAX_LINES: i64 = 8;
/// The most lines a step may ask to read: each unmatched line is a defect rect,
/// and the platform takes at most 20 a result.
pub const MAX_LINES: i64 = 20;
/// Compiled patterns kept, at most: a station uses a handful; the bound keeps a
/// stream of distinct patterns from growing the instance's memory.
const PATTERN_CACHE: usize = 16;
/// The compiled size of a pattern, at most (regex's own limit is 10 MiB).
const PATTERN_BYTES: usize = 1 << 20;

/// The exported algorithm: the models, and the patterns compiled so far.
pub struct LabelReader {
    reader: Reader,
    patterns: HashMap<String, Regex>,
}

impl LabelReader {
    fn pattern(&mut self, source: &str) -> Result<&Regex> {
        if !self.patterns.contains_key(source) {
            let compiled = regex::RegexBuilder::new(source)
                .size_limit(PATTERN_BYTES)
                .build()
                .map_err(|err| Error::invalid_params(format!("`expected` is not a valid regular expression: {err}")))?;
            if self.patterns.len() >= PATTERN_CACHE {
                self.patterns.clear();
            }
            self.patterns.insert(source.to_owned(), compiled);
        }
        self.patterns.get(source).ok_or_else(|| Error::unknown("a compiled pattern went missing"))
    }
}

fn position(line: &Line) -> Rect {
    let (x, y, width, height) = line.bounds();
    Rect::new(x, y, width, height).labelled(line.text.clone()).scored(line.score.clamp(0.0, 1.0))
}

impl Algorithm for LabelReader {
    fn info() -> AlgorithmInfo {
        AlgorithmInfo::new("label-reader", env!("CARGO_PKG_VERSION"))
            .description("Reads the printed text on a part label (PP-OCRv4) and checks it against a pattern")
            .pids(["LBL-1", "LBL-2"])
            .step(
                Step::new(1, "read label")
                    .description("OK when a line of the label matches `expected`; every line read is a position rect")
                    .param(
                        ParamSpec::text("expected")
                            .length(Some(1), Some(512))
                            .default(DEFAULT_EXPECTED)
                            .describe("regular expression a line must contain, e.g. LOT\\s*\\d{6}"),
                    )
                    .param(
                        ParamSpec::float_in("min_score", 0.0, 1.0)
                            .default(DEFAULT_MIN_SCORE)
                            .describe("lines read with less confidence are ignored"),
                    )
                    .param(
                        ParamSpec::int_in("max_lines", 1, MAX_LINES)
                            .default(DEFAULT_MAX_LINES)
                            .describe("a frame with more lines of text than this is not the label expected: NG, nothing read"),
                    ),
            )
    }

    fn setup() -> Result<Self> {
        Ok(LabelReader { reader: Reader::from_assets()?, patterns: HashMap::new() })
    }

    fn execute(&mut self, input: &StepInput) -> Result<ExecuteOutput> {
        let min_score = input.params.float("min_score")? as f32;
        let expected = input.params.text("expected")?.to_owned();
        let max_lines = input.params.int("max_lines")?;
        let (pixels, format) = (input.image.view()?, input.image.format());
        let found = self.reader.find_lines(pixels, format)?;
        pv_guest::diagnostics::publish("lines_found", &found.len());
        if found.len() as i64 > max_lines {
            // Not read: the recogniser's cost grows with every line. The first
            // regions in reading order are marked, as many as a result may hold.
            let regions = found.iter().take(MAX_LINES as usize).map(|region| {
                let (x, y, width, height) = region.bounds();
                Rect::new(x, y, width, height).labelled("text region").scored(region.score.clamp(0.0, 1.0))
            });
            return Ok(ExecuteOutput::ng(format!(
                "{} lines of text found, more than max_lines ({max_lines}): not the label expected",
                found.len()
            ))
            .defects(regions));
        }
        let lines: Vec<Line> = self
            .reader
            .read_lines(pixels, format, found)?
            .into_iter()
            .filter(|line| line.score >= min_score && !line.text.trim().is_empty())
            .collect();
        let pattern = self.pattern(&expected)?;
        let matching = lines.iter().position(|line| pattern.is_match(&line.text));
        let debug = json!({
            "expected": expected,
            "matched": matching.map(|index| lines[index].text.as_str()),
            "lines": lines.iter().map(|line| json!({
                "text": line.text,
                "score": (line.score * 1000.0).round() / 1000.0,
                "corners": line.corners.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        pv_guest::diagnostics::publish("lines_read", &lines.len());
        let positions: Vec<Rect> = lines.iter().map(position).collect();
        let output = match matching {
            Some(_) => ExecuteOutput::ok().positions(positions).debug(debug),
            None if lines.is_empty() => {
                let whole = Rect::new(0, 0, input.image.width(), input.image.height()).labelled("no text found");
                ExecuteOutput::ng(format!("no text read; expected `{expected}`")).defect(whole).debug(debug)
            }
            None => {
                let read: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
                ExecuteOutput::ng(format!("no line matches `{expected}`; read {read:?}"))
                    .defects(positions.iter().cloned().map(|rect| {
                        let label = format!("does not match: {}", rect.label.clone().unwrap_or_default());
                        rect.labelled(label)
                    }))
                    .positions(positions)
                    .debug(debug)
            }
        };
        Ok(output)
    }
}

pv_guest::export_algorithm!(LabelReader);
