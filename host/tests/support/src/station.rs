//! A test station: the example algorithms packed and signed with a test key,
//! and a trust store that trusts it, made once per test process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pv_host::TrustStore;
use pv_host::package_file::{Manifest, SecretKey, pack};

/// The station's files.
pub struct Station {
    /// Kept alive for the whole test process.
    _dir: tempfile::TempDir,
    /// The trust store, trusting [`vendor_key`].
    pub trust: PathBuf,
    /// The signed part counter.
    pub part_counter: PathBuf,
    /// The same part counter, reporting the next version (a new release to
    /// install and switch to while a line runs).
    pub part_counter_next: PathBuf,
    /// The signed scratch detector.
    pub scratch_detector: PathBuf,
    /// The signed label reader, with its two models as assets.
    pub label_reader: PathBuf,
    /// The signed Python label reader composed with the vision component, with
    /// the same two models; `None` when componentize-py was not found at build
    /// time.
    pub python_label_reader: Option<PathBuf>,
}

/// The key the station's packages are signed with.
pub fn vendor_key() -> SecretKey {
    SecretKey::from_seed(&[42; 32])
}

/// The example's manifest, with another version when `version` says so.
fn example_manifest(example: &str, version: Option<&str>) -> Manifest {
    let path = pv_test_artifacts::fixtures::examples_dir().join(example).join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the example's manifest")).expect("the manifest is JSON");
    if let Some(version) = version {
        json["version"] = version.into();
    }
    Manifest::from_json(&serde_json::to_vec(&json).expect("JSON")).expect("a valid manifest")
}

/// The assets an example ships: the label readers' models, nothing for the others.
fn example_assets(example: &str) -> Vec<(String, Vec<u8>)> {
    if !example.ends_with("label-reader") {
        return Vec::new();
    }
    let models = Path::new(pv_test_artifacts::LABEL_READER_MODELS);
    ["det.onnx", "rec.onnx"]
        .into_iter()
        .map(|name| (name.to_owned(), std::fs::read(models.join(name)).expect("the label reader's models are fetched")))
        .collect()
}

fn pack_example(dir: &Path, component: &str, example: &str, version: Option<&str>) -> PathBuf {
    let bytes = std::fs::read(component).expect("the example is built");
    let mut manifest = example_manifest(example, version);
    // A Python algorithm on the vision component is packed composed, as
    // `pv-host pack --compose` packs it.
    let component = if crate::composed::imports_vision(&bytes) {
        let composed = crate::composed::with_vision(component, &bytes);
        manifest.parts = composed.parts;
        composed.component
    } else {
        bytes
    };
    let assets = example_assets(example);
    let bytes = pack(&component, &manifest, &assets, Some(&vendor_key())).expect("packs");
    let path = dir.join(format!("{example}-{}.pkg.wasm", version.unwrap_or("current")));
    std::fs::write(&path, bytes).expect("write package");
    path
}

/// The station, made on first use.
pub fn station() -> &'static Station {
    static STATION: OnceLock<Station> = OnceLock::new();
    STATION.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let trust = dir.path().join("trust");
        TrustStore::open_or_create(&trust).expect("trust store").add_key("vendor", vendor_key().public()).expect("trusted");
        Station {
            part_counter: pack_example(dir.path(), pv_test_artifacts::PART_COUNTER, "part-counter", None),
            part_counter_next: pack_example(
                dir.path(),
                pv_test_artifacts::PART_COUNTER_NEXT,
                "part-counter",
                Some(pv_test_artifacts::PART_COUNTER_NEXT_VERSION),
            ),
            scratch_detector: pack_example(dir.path(), pv_test_artifacts::SCRATCH_DETECTOR, "scratch-detector", None),
            label_reader: pack_example(dir.path(), pv_test_artifacts::LABEL_READER, "label-reader", None),
            python_label_reader: pv_test_artifacts::PY_LABEL_READER
                .map(|component| pack_example(dir.path(), component, "python-label-reader", None)),
            trust,
            _dir: dir,
        }
    })
}

/// The station's signed part counter, as a command-line argument.
pub fn part_counter() -> &'static str {
    station().part_counter.to_str().expect("utf-8 path")
}

/// The station's signed label reader (models included), as a command-line argument.
pub fn label_reader() -> &'static str {
    station().label_reader.to_str().expect("utf-8 path")
}

/// The station's signed scratch detector, as a command-line argument.
pub fn scratch_detector() -> &'static str {
    station().scratch_detector.to_str().expect("utf-8 path")
}
