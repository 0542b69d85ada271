//! The conformance harness QA runs against a third-party package before it is
//! admitted to a line (`pv-host test`), usable from Rust tests too.
//!
//! A [`Harness`] runs a battery of named checks, each [`Status::Pass`],
//! [`Status::Warn`] or [`Status::Fail`] with a one-line reason, and returns a
//! [`TestReport`] that renders as JSON, JUnit XML or a self-contained HTML page.
//! The harness never panics on a package: whatever the guest does becomes a
//! check result.
//!
//! | group | checks |
//! |-------|--------|
//! | `package` | signature trusted, manifest valid, manifest agrees with get-info, imports within policy, size and requested limits |
//! | `contract` | get-info sane: steps from 1, param specs valid, defaults inside their rules, choices non-empty, PIDs non-empty and unique |
//! | `behaviour` | unsupported PID refused (1001), each step on each image, out-of-range param refused (1006), determinism, reset, no state leaking between sessions, robustness (black, 1x1, very large, gray and colour) |
//! | `resources` | fuel, peak memory and time per phase against the limits (WARN under 25% headroom) |
//! | `golden` | each case of a cases file: verdict, and defects matched by IoU |
//!
//! ```no_run
//! use pv_host::harness::Harness;
//! use pv_host::{Admission, Host, TrustStore};
//!
//! # fn demo() -> pv_host::Result<()> {
//! let trust = TrustStore::open("/etc/pv-host/trust".as_ref())?;
//! let report = Harness::new(Host::new()?, "vendor.pkg.wasm".as_ref(), Admission::new(&trust))?
//!     .with_images("station-frames".as_ref())?
//!     .run(&mut |check| println!("{:?} {}", check.status, check.name));
//! assert!(report.passed());
//! # Ok(()) }
//! ```

mod cases;
mod checks;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::admission::Admission;
use crate::error::{Error, InputCode, Result};
use crate::host::Host;

pub use cases::{DEFAULT_IOU, ExpectedRect, GoldenCase, GoldenCases, best_matches, iou};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The package does what it should.
    Pass,
    /// Not a failure, but worth a look (little headroom, nothing to check).
    Warn,
    /// The package fails this check.
    Fail,
}

/// One named check and its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `group.name`, e.g. `behaviour.determinism`.
    pub name: String,
    /// The group: package, contract, behaviour, resources or golden.
    pub group: String,
    /// Its outcome.
    pub status: Status,
    /// Why, in one line.
    pub reason: String,
    /// How long it took.
    #[serde(serialize_with = "report::serialize_ms")]
    pub duration: Duration,
}

/// An annotated image for the HTML report.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail {
    /// What it shows.
    pub title: String,
    /// A PNG, at most [`THUMBNAIL_WIDTH`] pixels wide, each rect drawn and
    /// tagged with its number.
    pub png: Vec<u8>,
    /// Per number (from 1), what the rect is and its label and place.
    pub legend: Vec<(crate::annotate::Mark, String)>,
}

/// The widest thumbnail in the HTML report, in pixels.
pub const THUMBNAIL_WIDTH: u32 = 480;

/// Everything a harness run found.
#[derive(Debug, Clone, PartialEq)]
pub struct TestReport {
    /// The package, as given.
    pub package: String,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
    /// One thumbnail per image run, with the rects drawn.
    pub thumbnails: Vec<Thumbnail>,
}

impl TestReport {
    /// Whether no check failed (warnings allowed).
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// How many checks passed, warned and failed.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        (count(Status::Pass), count(Status::Warn), count(Status::Fail))
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// A harness for one package. See the [module docs](self).
pub struct Harness<'a> {
    host: Host,
    origin: String,
    bytes: Vec<u8>,
    admission: Admission<'a>,
    images: Vec<PathBuf>,
    cases: Option<GoldenCases>,
    pid: Option<String>,
}

impl<'a> Harness<'a> {
    /// A harness for the package at `path`, admitted under `admission` (its
    /// verdict is the first check; the other checks run even on a package it
    /// refuses, as long as the component can be loaded).
    pub fn new(host: Host, path: &Path, admission: Admission<'a>) -> Result<Self> {
        let bytes = crate::package_file::read_package_file(path)?;
        Ok(Harness { host, origin: path.display().to_string(), bytes, admission, images: Vec::new(), cases: None, pid: None })
    }

    /// Run every step on each PNG or JPEG in `dir` too.
    pub fn with_images(mut self, dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|err| {
            Error::input(InputCode::ImageLoadFailed, format!("cannot read the images directory {}: {err}", dir.display()))
        })?;
        let mut images: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
            })
            .collect();
        images.sort();
        self.images = images;
        Ok(self)
    }

    /// Check the golden cases of a cases file too.
    pub fn with_cases(mut self, path: &Path) -> Result<Self> {
        self.cases = Some(GoldenCases::read(path)?);
        Ok(self)
    }

    /// Exercise this product id (default: the first the algorithm supports).
    pub fn with_pid(mut self, pid: Option<String>) -> Self {
        self.pid = pid;
        self
    }

    /// Run every check; `progress` sees each result as it comes.
    pub fn run(&self, progress: &mut dyn FnMut(&Check)) -> TestReport {
        checks::run(self, progress)
    }
}
