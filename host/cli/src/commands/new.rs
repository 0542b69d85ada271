//! `pv-host new`: a ready algorithm project, as `cargo new` makes a crate.
//!
//! The project builds, packs and passes `pv-host test` as generated, from any
//! directory: everything the repository's own examples get from the workspace
//! (the guest target and `simd128` flag, the toolchain pin, the SDK) is written
//! into the project, and the manifest leaves name, version and product ids to
//! the code, so they are written once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use pv_host::TrustStore;
use pv_host::package_file::SecretKey;
use serde_json::json;

use crate::exit;

/// The language of a new project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    /// A Rust crate built for wasm32-wasip2 with the pv-guest SDK.
    Rust,
    /// A Python module built with componentize-py and the pv_guest SDK.
    Python,
}

/// Make a new algorithm project in ./NAME: the algorithm (a brightness check to
/// replace with yours), manifest.json, cases.toml with golden cases on a sample
/// frame, a development key and a trust store that trusts it, and a README with
/// the three commands that build, pack and test it.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The algorithm's name: lowercase letters, digits, `-` and `_`, starting
    /// with a letter, at most 64 characters. Also the directory made.
    name: String,

    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Language,

    /// A product id it inspects. Repeatable [default: P01].
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<String>,

    /// The pv-host checkout whose SDK the project uses (its `guest-sdk/` and
    /// `wit/`) [default: the checkout this pv-host was built from].
    #[arg(long, value_name = "DIR", conflicts_with = "sdk_git")]
    sdk: Option<PathBuf>,

    /// Rust only: take the SDK from this git repository instead of a checkout
    /// on this machine (`pv-guest = { git = URL }`).
    #[arg(long, value_name = "URL")]
    sdk_git: Option<String>,

    /// The publisher written into manifest.json.
    #[arg(long, default_value = "unknown publisher")]
    publisher: String,

    /// Where to make the project's directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,

    /// Print `{"project", "lang", "files"}` as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The componentize-py release the Python SDK is built and tested with.
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The toolchain pin of the SDK's own repository: guests built with another
/// Rust may need other flags.
const RUST_TOOLCHAIN: &str = include_str!("../../../../rust-toolchain.toml");

/// The sample frame's size; `cases.toml` expects a defect this size.
const SAMPLE_SIZE: (u32, u32) = (320, 240);

/// One file of a template: where it goes in the project and its text.
type TemplateFile = (&'static str, &'static str);

const RUST_FILES: &[TemplateFile] = &[
    ("Cargo.toml", include_str!("../../templates/new/rust/Cargo.toml")),
    (".cargo/config.toml", include_str!("../../templates/new/rust/cargo-config.toml")),
    ("src/lib.rs", include_str!("../../templates/new/rust/src/lib.rs")),
    ("manifest.json", include_str!("../../templates/new/rust/manifest.json")),
    ("cases.toml", include_str!("../../templates/new/rust/cases.toml")),
    ("README.md", include_str!("../../templates/new/rust/README.md")),
    (".gitignore", include_str!("../../templates/new/rust/gitignore")),
];

const PYTHON_FILES: &[TemplateFile] = &[
    ("{{module}}.py", include_str!("../../templates/new/python/app.py")),
    ("manifest.json", include_str!("../../templates/new/python/manifest.json")),
    ("cases.toml", include_str!("../../templates/new/python/cases.toml")),
    ("README.md", include_str!("../../templates/new/python/README.md")),
    (".gitignore", include_str!("../../templates/new/python/gitignore")),
];

/// The checkout this binary was built from, if it is still there.
fn own_checkout() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("guest-sdk/Cargo.toml").is_file().then(|| root.canonicalize().unwrap_or(root))
}

/// The SDK checkout to use: given, or this binary's own; it must hold the SDK.
fn sdk_checkout(given: Option<&Path>) -> Result<PathBuf> {
    let Some(root) = given.map(Path::to_path_buf).or_else(own_checkout) else {
        bail!(
            "this pv-host was not built from a checkout that is still on this machine: pass --sdk DIR (a pv-host \
             checkout, with guest-sdk/ and wit/) or, for Rust, --sdk-git URL"
        );
    };
    if !root.join("guest-sdk/Cargo.toml").is_file() || !root.join("wit").is_dir() {
        bail!("{} is not a pv-host checkout: it has no guest-sdk/Cargo.toml or wit/", root.display());
    }
    Ok(root.canonicalize().unwrap_or(root))
}

fn check_name(name: &str) -> Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` cannot name an algorithm: use lowercase letters, digits, `-` and `_`, starting with a letter, at most 64 characters"
        );
    }
    Ok(())
}

fn check_pid(pid: &str) -> Result<()> {
    let valid = !pid.is_empty() && pid.len() <= 64 && pid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!("`{pid}` cannot be a product id here: use letters, digits, `-` and `_`, at most 64 characters");
    }
    Ok(())
}

/// `bright-spot_check` -> `BrightSpotCheck`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The sample frame: a horizontal gradient, mean grey about 128.
fn sample_png() -> Result<Vec<u8>> {
    let (width, height) = SAMPLE_SIZE;
    let frame = image::GrayImage::from_fn(width, height, |x, _| image::Luma([(x * 255 / (width - 1)) as u8]));
    let mut png = Vec::new();
    frame.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

/// Run the command.
pub fn run(args: NewArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    let pids = if args.pids.is_empty() { vec!["P01".to_owned()] } else { args.pids.clone() };
    for pid in &pids {
        check_pid(pid)?;
    }
    if args.lang == Language::Python && args.sdk_git.is_some() {
        bail!("--sdk-git is for Rust projects: componentize-py reads the Python SDK and the WIT from a checkout (--sdk DIR)");
    }
    let project = args.dir.join(&args.name);
    if project.exists() {
        bail!("{} already exists: choose another name or --dir (nothing was written)", project.display());
    }

    let crate_name = args.name.replace('-', "_");
    let (sdk_root, sdk_dependency, sdk_note) = match (&args.sdk_git, args.lang) {
        (Some(url), _) => (
            String::new(),
            format!("pv-guest = {{ git = {} }}", toml_string(url)),
            format!("`pv-guest` from {url} (Cargo.toml); pin a `rev` for reproducible builds."),
        ),
        (None, _) => {
            let root = sdk_checkout(args.sdk.as_deref())?;
            let sdk = root.join("guest-sdk");
            (
                root.display().to_string(),
                format!("pv-guest = {{ path = {} }}", toml_string(&sdk.display().to_string())),
                format!(
                    "`pv-guest` from the pv-host checkout at {} (a path in Cargo.toml; point it elsewhere, or at a git \
                     repository with `{{ git = \"...\" }}`, if the project moves to another machine).",
                    root.display()
                ),
            )
        }
    };
    let values: Vec<(&str, String)> = vec![
        ("{{name}}", args.name.clone()),
        ("{{crate_name}}", crate_name.clone()),
        ("{{module}}", crate_name.clone()),
        ("{{type_name}}", type_name(&args.name)),
        ("{{pid_list}}", pids.iter().map(|pid| format!("\"{pid}\"")).collect::<Vec<_>>().join(", ")),
        ("{{pid_count}}", pids.len().to_string()),
        ("{{first_pid}}", pids[0].clone()),
        ("{{publisher}}", args.publisher.replace('\\', "\\\\").replace('"', "\\\"")),
        ("{{sdk_dependency}}", sdk_dependency),
        ("{{sdk_note}}", sdk_note),
        ("{{sdk_root}}", sdk_root.clone()),
        ("{{componentize_py}}", COMPONENTIZE_PY_VERSION.to_owned()),
    ];
    let fill = |text: &str| values.iter().fold(text.to_owned(), |text, (key, value)| text.replace(key, value));

    let files = match args.lang {
        Language::Rust => RUST_FILES,
        Language::Python => PYTHON_FILES,
    };
    let mut written = Vec::new();
    let mut write = |relative: String, bytes: &[u8]| -> Result<()> {
        let path = project.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot make {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(relative);
        Ok(())
    };
    for (relative, text) in files {
        write(fill(relative), fill(text).as_bytes())?;
    }
    if args.lang == Language::Rust {
        write("rust-toolchain.toml".to_owned(), RUST_TOOLCHAIN.as_bytes())?;
        // The SDK's lock: the crate versions the SDK is built and tested with
        // (cargo drops the entries the project does not use).
        let lock = Path::new(&sdk_root).join("Cargo.lock");
        if !sdk_root.is_empty() && lock.is_file() {
            write("Cargo.lock".to_owned(), &std::fs::read(&lock)?)?;
        }
    }
    write("images/sample.png".to_owned(), &sample_png()?)?;

    // A development key, and a trust store that trusts it: enough to pack, run
    // and test on this machine, and nothing a line would accept.
    let key = SecretKey::generate()?;
    key.write(&project.join("dev.key"))?;
    written.extend(["dev.key".to_owned(), "dev.pub".to_owned()]);
    TrustStore::open_or_create(&project.join("trust"))?.add_key("dev", key.public())?;
    written.push("trust/".to_owned());

    if args.json {
        println!(
            "{}",
            json!({ "project": project.display().to_string(), "lang": format!("{:?}", args.lang).to_lowercase(), "files": written })
        );
    } else {
        println!("made {} ({:?}): {}", project.display(), args.lang, written.join(", "));
        println!("next: cd {} and follow README.md (build, pack, test)", project.display());
    }
    Ok(ExitCode::from(exit::OK))
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("bright-spot_check"), "BrightSpotCheck");
        assert_eq!(type_name("a1"), "A1");
    }

    #[test]
    fn names_and_pids_are_checked() {
        assert!(check_name("bright-spot").is_ok());
        for bad in ["", "Bright", "1st", "a b", "a/b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_pid("LBL-1").is_ok());
        assert!(check_pid("a b").is_err() && check_pid("").is_err());
    }
}
