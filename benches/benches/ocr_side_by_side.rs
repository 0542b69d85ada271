//! B9: reading the text on a label, three ways on the same images in one run:
//! RapidOCR (PP-OCRv4 on onnxruntime, from Python), the label reader in
//! pv-host's sandbox, and the label reader's pipeline compiled natively.
//!
//! The goal is that running OCR inside the sandbox costs little: the sandboxed
//! reader reads the same text as RapidOCR, in at most 2x its time and at most
//! 1.5x the time of the same Rust code run natively.
//!
//! - RapidOCR: `python/rapidocr_runner.py`, set up with the label reader's
//!   stages and settings (detection then recognition, no angle classifier,
//!   detector input at most 960 px on its longer side, lines scored below 0.5
//!   dropped).
//! - pv-host: the signed label-reader package with its two models as assets,
//!   admitted as a station admits it, one instance set up once and reused; the
//!   whole warm `execute` is timed (input check, image copy into the guest, the
//!   reading, lifting the output) with the default bounds on, and again with
//!   fuel and deadlines off, to show how much of the gap is the bounds. The
//!   texts come from the output's debug JSON (`lines[].text`).
//! - native: `label_reader::reader::Reader` on the same models and pixels, with
//!   the algorithm's score filter.
//!
//! Every side runs on one thread, as a guest does: onnxruntime's pools and
//! OpenCV get one thread each, and rten's pool is held to one
//! ([`RTEN_THREADS`]). Images are decoded before timing on every side; each
//! side reads the first image once to warm up, then each image [`REPEATS`]
//! times, and the median is reported.
//!
//! Run with `cargo bench -p pv-benches --bench ocr_side_by_side`. RapidOCR needs
//! `pip install rapidocr-onnxruntime==1.4.4 onnxruntime` (`PYTHON` names the
//! interpreter, `python3` otherwise); without it its columns are left empty and
//! the run says why. Under `cargo test` one label goes through every side once
//! and the sandbox must read exactly what the native pipeline reads.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use label_reader::reader::Reader;
use ndarray::ArrayView3;
use pv_benches::compare::median;
use pv_benches::{is_benchmark_run, step_input};
use pv_host::types::{ExecuteOutput, PixelFormat};
use pv_host::{Host, Instance, Limits, Session};
use pv_test_artifacts::fixtures;
use pv_vision::Model;

/// Timed readings of each image on every side; the median is reported.
const REPEATS: usize = 5;
/// The package's PID the step runs under.
const PID: &str = "LBL-1";
/// The algorithm's default, as RapidOCR's `text_score`.
const MIN_SCORE: f64 = label_reader::DEFAULT_MIN_SCORE;
/// The most the sandboxed reader may take, as a multiple of RapidOCR's time.
const GOAL_VS_RAPIDOCR: f64 = 2.0;
/// The most the sandboxed reader may take, as a multiple of the native pipeline's time.
const GOAL_VS_NATIVE: f64 = 1.5;
/// How many threads rten runs a model on, read once when its pool is first used
/// (rten reads this variable, not `RAYON_NUM_THREADS`). Its default is one per
/// physical core, which would set a multi-threaded native side against a
/// single-threaded guest.
const RTEN_THREADS: &str = "RTEN_NUM_THREADS";

/// A rendered label and the lines printed on it.
struct Label {
    name: String,
    path: PathBuf,
    image: image::DynamicImage,
    truth: Vec<String>,
}

/// What one side read on one image, and its median time.
#[derive(Debug, Clone)]
struct Reading {
    lines: Vec<String>,
    time: Duration,
}

/// A reading in the sandbox, with what the calls consumed.
struct SandboxReading {
    reading: Reading,
    fuel: Option<u64>,
    peak_memory: u64,
}

/// RapidOCR's readings and the versions that made them.
struct Reference {
    versions: String,
    readings: Vec<Reading>,
}

fn main() {
    // The pool size cannot be set from here: setting a variable in-process is
    // `unsafe` in edition 2024 (the workspace denies unsafe code), and
    // pv-vision runs models on rten's global pool, not one we could hand it. So
    // the benchmark runs itself again with the variable set.
    if std::env::var(RTEN_THREADS).as_deref() != Ok("1") {
        std::process::exit(run_again_single_threaded());
    }
    let benchmark = is_benchmark_run();
    let mut labels = labels();
    let repeats = if benchmark { REPEATS } else { 1 };
    if !benchmark {
        // A test run: one label through every side, to see that they work and agree.
        labels.truncate(1);
    }

    // One side at a time, so that no side shares the cores with another.
    let reference = rapidocr(&labels, repeats);
    let sandbox = sandboxed(&Host::new().expect("host"), &labels, repeats);
    let unbounded = benchmark.then(|| {
        let limits = Limits::default().with_fuel_per_call(None).without_deadlines();
        sandboxed(&Host::builder().limits(limits).build().expect("host"), &labels, repeats)
    });
    let native = native(&labels, repeats);
    let rten_threads = rten_threads();

    print_table(&labels, reference.as_ref().ok(), &sandbox, unbounded.as_deref(), &native);
    match &reference {
        Ok(reference) => println!("RapidOCR side: {}", reference.versions),
        Err(why) => println!("RapidOCR side skipped: {why}"),
    }
    match rten_threads {
        Some(threads) => println!("native side: rten's pool had {threads} thread(s) ({RTEN_THREADS}=1)"),
        None => println!("native side: {RTEN_THREADS}=1 (rten's threads not countable on this system)"),
    }
    if benchmark {
        print_totals(&labels, reference.as_ref().ok(), &sandbox, unbounded.as_deref(), &native);
    } else {
        for ((label, ours), native) in labels.iter().zip(&sandbox).zip(&native) {
            assert_eq!(
                ours.reading.lines, native.lines,
                "{}: the sandbox and the native pipeline read different texts",
                label.name
            );
        }
        println!(
            "test run: one label, each side once; the sandbox and the native pipeline read the same text \
             (times not comparable: the native side is an unoptimised build)"
        );
    }
}

/// Run this benchmark again with rten held to one thread; its exit code.
fn run_again_single_threaded() -> i32 {
    let this = std::env::current_exe().expect("the benchmark's own path");
    let status = Command::new(this)
        .args(std::env::args_os().skip(1))
        .env(RTEN_THREADS, "1")
        .status()
        .expect("the benchmark runs again with one rten thread");
    status.code().unwrap_or(1)
}

/// The rendered labels (`examples/label-reader/labels`) with their truth, decoded.
fn labels() -> Vec<Label> {
    let dir = fixtures::examples_dir().join("label-reader").join("labels");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).expect("labels/truth.json")).expect("truth.json is JSON");
    truth
        .as_array()
        .expect("truth.json is a list of labels")
        .iter()
        .map(|entry| {
            let name = entry["image"].as_str().expect("each label names its image").to_owned();
            let path = dir.join(&name);
            let image = image::open(&path).unwrap_or_else(|err| panic!("cannot decode {}: {err}", path.display()));
            let truth = entry["lines"]
                .as_array()
                .expect("each label lists its lines")
                .iter()
                .map(|line| line.as_str().expect("a line is text").to_owned())
                .collect();
            Label { name, path, image, truth }
        })
        .collect()
}

/// The median time of `repeats` runs of `read`, with what the last run read.
fn timed<T>(repeats: usize, mut read: impl FnMut() -> T) -> (T, Duration) {
    let mut times = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let value = read();
        times.push(started.elapsed());
        last = Some(value);
    }
    let value = last.expect("at least one run");
    (value, median(&mut times).expect("at least one time"))
}

/// RapidOCR's readings, from `python/rapidocr_runner.py`; why not, when Python
/// or RapidOCR is missing.
fn rapidocr(labels: &[Label], repeats: usize) -> Result<Reference, String> {
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| OsString::from("python3"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join("rapidocr_runner.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg("--repeat")
        .arg(repeats.to_string())
        .args(labels.iter().map(|label| &label.path))
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", python.to_string_lossy()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no message");
        return Err(format!(
            "{} failed ({}): {why} (pip install rapidocr-onnxruntime==1.4.4 onnxruntime)",
            script.display(),
            output.status
        ));
    }
    let mut records = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).map_err(|err| format!("the runner printed {line:?}: {err}")))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let header = records.next().ok_or("the runner printed nothing")?;
    let versions = &header["versions"];
    let versions = format!(
        "rapidocr-onnxruntime {}, onnxruntime {}, Python {}; one thread; {}",
        versions["rapidocr-onnxruntime"].as_str().unwrap_or("?"),
        versions["onnxruntime"].as_str().unwrap_or("?"),
        versions["python"].as_str().unwrap_or("?"),
        header["settings"],
    );
    let readings = labels
        .iter()
        .zip(records.by_ref())
        .map(|(label, record)| {
            if record["image"].as_str() != label.path.to_str() {
                return Err(format!("the runner answered {} for {}", record["image"], label.path.display()));
            }
            let lines = record["lines"].as_array().ok_or("a record without `lines`")?;
            let ms = record["ms"].as_f64().ok_or("a record without `ms`")?;
            Ok(Reading {
                lines: lines.iter().map(|line| line.as_str().unwrap_or_default().to_owned()).collect(),
                time: Duration::from_secs_f64(ms / 1000.0),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if readings.len() != labels.len() {
        return Err(format!("the runner read {} of {} images", readings.len(), labels.len()));
    }
    Ok(Reference { versions, readings })
}

/// The station's signed label reader (models as assets), set up.
fn ready_label_reader(host: &Host) -> Instance {
    let station = pv_test_support::station::station();
    pv_benches::ready_package(host, &station.label_reader, &station.trust)
}

/// The texts the label reader put in its debug output.
fn texts(output: &ExecuteOutput) -> Vec<String> {
    let debug = output.debug.as_deref().expect("the label reader reports the lines read in its debug output");
    let debug: serde_json::Value = serde_json::from_str(debug).expect("the debug output is JSON");
    debug["lines"]
        .as_array()
        .expect("the debug output lists `lines`")
        .iter()
        .map(|line| line["text"].as_str().expect("each line has its text").to_owned())
        .collect()
}

/// The label reader in `host`'s sandbox, one warm instance for every image.
fn sandboxed(host: &Host, labels: &[Label], repeats: usize) -> Vec<SandboxReading> {
    let mut instance = ready_label_reader(host);
    let mut session = Session::new("bench");
    let params = serde_json::json!({ "min_score": MIN_SCORE });
    let inputs: Vec<_> = labels.iter().map(|label| step_input(&instance, PID, label.image.clone(), params.clone())).collect();
    let mut execute = |input| {
        let report = instance.execute(&mut session, input);
        let output = report.result.unwrap_or_else(|err| panic!("execute failed during the benchmark: {err}"));
        (texts(&output), report.usage)
    };
    if let Some(first) = inputs.first() {
        execute(first);
    }
    inputs
        .iter()
        .map(|input| {
            let mut peak_memory = 0;
            let ((lines, usage), time) = timed(repeats, || {
                let (lines, usage) = execute(input);
                peak_memory = peak_memory.max(usage.peak_memory_bytes);
                (lines, usage)
            });
            SandboxReading { reading: Reading { lines, time }, fuel: usage.fuel_consumed, peak_memory }
        })
        .collect()
}

/// The guest SDK's name for a host pixel format.
fn guest_format(format: PixelFormat) -> pv_guest::PixelFormat {
    match format {
        PixelFormat::Gray8 => pv_guest::PixelFormat::Gray8,
        PixelFormat::Rgb8 => pv_guest::PixelFormat::Rgb8,
        PixelFormat::Bgr8 => pv_guest::PixelFormat::Bgr8,
        PixelFormat::Rgba8 => pv_guest::PixelFormat::Rgba8,
    }
}

/// A model of the label reader, from the files the package is made of.
fn model(name: &str) -> Model {
    let path = Path::new(pv_test_artifacts::LABEL_READER_MODELS).join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    Model::from_bytes(name, bytes).unwrap_or_else(|err| panic!("cannot load {}: {err}", path.display()))
}

/// The label reader's pipeline natively, on the pixels the sandbox is given.
fn native(labels: &[Label], repeats: usize) -> Vec<Reading> {
    let reader = Reader::new(model(label_reader::reader::DETECTOR_ASSET), model(label_reader::reader::RECOGNIZER_ASSET))
        .expect("the recogniser carries its character list");
    // Converted as `step_input` converts them for the sandbox: the same bytes.
    let images: Vec<_> = labels.iter().map(|label| pv_host::image::from_dynamic(label.image.clone(), None)).collect();
    let read = |image: &pv_host::types::Image| {
        let meta = &image.meta;
        let shape = (meta.height as usize, meta.width as usize, pv_host::image::channels(meta.format));
        let view = ArrayView3::from_shape(shape, &image.pixels).expect("the pixels fit the image's size");
        let lines = reader.read(view, guest_format(meta.format)).expect("the native pipeline reads the label");
        // The algorithm's own filter (`execute` in examples/label-reader/src/lib.rs).
        lines
            .into_iter()
            .filter(|line| f64::from(line.score) >= MIN_SCORE && !line.text.trim().is_empty())
            .map(|line| line.text)
            .collect::<Vec<_>>()
    };
    if let Some(first) = images.first() {
        read(first);
    }
    images
        .iter()
        .map(|image| {
            let (lines, time) = timed(repeats, || read(image));
            Reading { lines, time }
        })
        .collect()
}

/// How many threads of rten's pool this process has, where the system says.
fn rten_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let names = tasks.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok());
    Some(names.filter(|name| name.starts_with("rten-")).count())
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

fn ratio(ours: Duration, theirs: Duration) -> f64 {
    ours.as_secs_f64() / theirs.as_secs_f64()
}

fn yes(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The median of `values`, the mean of the middle two for an even count.
fn median_of(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

/// One line per image, then the readings that differ between the sides.
fn print_table(
    labels: &[Label],
    reference: Option<&Reference>,
    sandbox: &[SandboxReading],
    unbounded: Option<&[SandboxReading]>,
    native: &[Reading],
) {
    println!(
        "\nB9 label reader: {:<14} {:>5} {:>8} {:>10} {:>11} {:>10} {:>13} {:>9} {:>7} {:>9} {:>10} {:>9}",
        "image",
        "lines",
        "ORT=ours",
        "ours=truth",
        "RapidOCR ms",
        "pv-host ms",
        "(bounds off)",
        "native ms",
        "pv/ORT",
        "pv/native",
        "fuel/call",
        "peak mem"
    );
    let dash = || "-".to_owned();
    for (index, label) in labels.iter().enumerate() {
        let (ours, native) = (&sandbox[index], &native[index]);
        let theirs = reference.map(|reference| &reference.readings[index]);
        println!(
            "B9 label reader: {:<14} {:>5} {:>8} {:>10} {:>11} {:>10.1} {:>13} {:>9.1} {:>7} {:>8.2}x {:>10} {:>5.0} MiB",
            label.name,
            label.truth.len(),
            theirs.map_or("-", |theirs| yes(theirs.lines == ours.reading.lines)),
            yes(ours.reading.lines == label.truth),
            theirs.map_or_else(dash, |theirs| format!("{:.1}", ms(theirs.time))),
            ms(ours.reading.time),
            unbounded.map_or_else(dash, |unbounded| format!("{:.1}", ms(unbounded[index].reading.time))),
            ms(native.time),
            theirs.map_or_else(dash, |theirs| format!("{:.2}x", ratio(ours.reading.time, theirs.time))),
            ratio(ours.reading.time, native.time),
            ours.fuel.map_or_else(dash, |fuel| format!("{:.2}e9", fuel as f64 / 1e9)),
            ours.peak_memory as f64 / f64::from(1 << 20),
        );
    }
    for (index, label) in labels.iter().enumerate() {
        let (ours, native) = (&sandbox[index].reading.lines, &native[index].lines);
        let theirs = reference.map(|reference| &reference.readings[index].lines);
        let unbounded = unbounded.map(|unbounded| &unbounded[index].reading.lines);
        let differs = theirs.is_some_and(|theirs| theirs != ours) || unbounded.is_some_and(|unbounded| unbounded != ours);
        if differs || ours != native || ours != &label.truth {
            let theirs = theirs.map_or_else(dash, |theirs| format!("{theirs:?}"));
            let same = |other: &Vec<String>| if other == ours { "the same".to_owned() } else { format!("{other:?}") };
            println!(
                "  {}: truth {:?}, RapidOCR {theirs}, pv-host {ours:?}, bounds off {}, native {}",
                label.name,
                label.truth,
                unbounded.map_or_else(dash, same),
                same(native)
            );
        }
    }
}

/// The goals against the median of the per-image ratios, and how often the
/// sides read the same text.
fn print_totals(
    labels: &[Label],
    reference: Option<&Reference>,
    sandbox: &[SandboxReading],
    unbounded: Option<&[SandboxReading]>,
    native: &[Reading],
) {
    let count = labels.len();
    let goal = |label: &str, ours: &[SandboxReading], theirs: &[Reading], goal: f64| {
        let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(ours, theirs)| ratio(ours.reading.time, theirs.time)).collect();
        if let Some(ratio) = median_of(&mut ratios) {
            let verdict = if ratio <= goal { "met" } else { "NOT MET" };
            println!("B9 label reader, {label}: median per-image ratio {ratio:.2}x (goal: at most {goal}x): {verdict}");
        }
    };
    if let Some(reference) = reference {
        goal("pv-host vs RapidOCR", sandbox, &reference.readings, GOAL_VS_RAPIDOCR);
    }
    goal("pv-host vs native", sandbox, native, GOAL_VS_NATIVE);
    if let Some(unbounded) = unbounded {
        if let Some(reference) = reference {
            goal("pv-host (bounds off) vs RapidOCR", unbounded, &reference.readings, GOAL_VS_RAPIDOCR);
        }
        goal("pv-host (bounds off) vs native", unbounded, native, GOAL_VS_NATIVE);
    }

    let ours: Vec<&[String]> = sandbox.iter().map(|ours| ours.reading.lines.as_slice()).collect();
    let same_as_native = ours.iter().zip(native).filter(|(ours, native)| **ours == native.lines.as_slice()).count();
    let ours_true = ours.iter().zip(labels).filter(|(ours, label)| **ours == label.truth.as_slice()).count();
    println!("B9 label reader, texts: pv-host and native identical on {same_as_native} of {count} images");
    let lines: usize = labels.iter().map(|label| label.truth.len()).sum();
    match reference {
        Some(reference) => {
            let theirs: Vec<&[String]> = reference.readings.iter().map(|reading| reading.lines.as_slice()).collect();
            let identical = theirs.iter().zip(&ours).filter(|(theirs, ours)| theirs == ours).count();
            let theirs_true: Vec<usize> = (0..count).filter(|&index| theirs[index] == labels[index].truth.as_slice()).collect();
            let identical_where_true = theirs_true.iter().filter(|&&index| theirs[index] == ours[index]).count();
            println!(
                "B9 label reader, texts: pv-host reads what RapidOCR reads on {identical} of {count} images; RapidOCR reads the \
                 truth on {}, and pv-host reads the same on {identical_where_true} of those; pv-host reads the truth on {ours_true} of {count}",
                theirs_true.len()
            );
            println!(
                "B9 label reader, lines read exactly: RapidOCR {} of {lines}, pv-host {} of {lines}",
                lines_read_exactly(labels, &theirs),
                lines_read_exactly(labels, &ours)
            );
        }
        None => println!(
            "B9 label reader, texts: pv-host reads the truth on {ours_true} of {count} images, {} of {lines} lines exactly",
            lines_read_exactly(labels, &ours)
        ),
    }
}

/// How many lines of the labels' truth are among the lines `read` on them.
fn lines_read_exactly(labels: &[Label], read: &[&[String]]) -> usize {
    labels.iter().zip(read).map(|(label, read)| label.truth.iter().filter(|line| read.contains(line)).count()).sum()
}
