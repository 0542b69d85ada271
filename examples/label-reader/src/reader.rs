//! The whole reading: detection, then recognition of every line found.

use ndarray::ArrayView3;
use pv_guest::{Error, PixelFormat, Result};
use pv_vision::Model;
use pv_vision::ops::Point;

use crate::detect::{self, DetectParams, TextBox};
use crate::recognize::{self, Charset};

/// The asset names the package ships the models under.
pub const DETECTOR_ASSET: &str = "det.onnx";
/// See [`DETECTOR_ASSET`].
pub const RECOGNIZER_ASSET: &str = "rec.onnx";

/// A line of text on the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Corners in frame pixels, clockwise from the top-left.
    pub corners: [Point; 4],
    /// The text read.
    pub text: String,
    /// The recogniser's confidence, in [0, 1].
    pub score: f32,
}

impl Line {
    /// The axis-aligned box around the corners: `(x, y, width, height)`.
    pub fn bounds(&self) -> (i32, i32, u32, u32) {
        detect::bounds(&self.corners)
    }
}

/// PP-OCR's detector and recogniser, loaded once.
#[derive(Debug)]
pub struct Reader {
    detector: Model,
    recognizer: Model,
    charset: Charset,
    params: DetectParams,
}

impl Reader {
    /// A reader from the two models; the recogniser must carry its character list
    /// in its ONNX metadata (`character`), as PaddleOCR's exported models do.
    pub fn new(detector: Model, recognizer: Model) -> Result<Reader> {
        let list = recognizer.metadata("character").ok_or_else(|| {
            Error::model_not_found(format!(
                "model `{}` has no `character` metadata: it is not a PaddleOCR recogniser",
                recognizer.name()
            ))
        })?;
        let charset = Charset::from_lines(list);
        Ok(Reader { detector, recognizer, charset, params: DetectParams::default() })
    }

    /// The reader from the package's assets ([`DETECTOR_ASSET`], [`RECOGNIZER_ASSET`]).
    pub fn from_assets() -> Result<Reader> {
        Reader::new(Model::from_asset(DETECTOR_ASSET)?, Model::from_asset(RECOGNIZER_ASSET)?)
    }

    /// Every line of text on the frame, in reading order, whatever its score.
    pub fn read(&self, pixels: ArrayView3<'_, u8>, format: PixelFormat) -> Result<Vec<Line>> {
        let boxes = self.find_lines(pixels, format)?;
        self.read_lines(pixels, format, boxes)
    }

    /// Where the lines of text are, in reading order (the detector alone). The
    /// recogniser's cost grows with the number of lines: a caller bounds it by
    /// looking at how many were found before [`Reader::read_lines`].
    pub fn find_lines(&self, pixels: ArrayView3<'_, u8>, format: PixelFormat) -> Result<Vec<TextBox>> {
        detect::detect(&self.detector, pixels, format, &self.params)
    }

    /// Read the lines found by [`Reader::find_lines`], in the same order (a box
    /// too thin to crop is left out).
    pub fn read_lines(&self, pixels: ArrayView3<'_, u8>, format: PixelFormat, boxes: Vec<TextBox>) -> Result<Vec<Line>> {
        let mut kept = Vec::with_capacity(boxes.len());
        let mut crops = Vec::with_capacity(boxes.len());
        for found in boxes {
            if let Some(crop) = recognize::crop_line(pixels, found.corners) {
                kept.push(found);
                crops.push(crop);
            }
        }
        let readings = recognize::recognize(&self.recognizer, &self.charset, &crops, format)?;
        Ok(kept
            .into_iter()
            .zip(readings)
            .map(|(found, reading)| Line { corners: found.corners, text: reading.text, score: reading.score })
            .collect())
    }
}
