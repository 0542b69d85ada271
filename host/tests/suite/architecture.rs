//! The library's layout keeps its promises: the modules of `host/src` import
//! one another without a circle, each imports only modules at or below its own
//! layer ([`LAYERS`], listed in the README under "Layout"), and no source file
//! of the library or the guest SDK grows past 500 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's top-level modules in layers, lowest first: a module may import
/// modules of its own layer (the circle check keeps those one way) and of the
/// layers below, never one above. `bindings` is where `crate::types` comes from.
const LAYERS: &[(&str, &[&str])] = &[
    ("the contract and leaves", &["bindings", "bounded_json", "locks", "phase", "session"]),
    ("errors and the platform's JSON", &["error", "wire"]),
    ("files, frames, parameters, metrics", &["durable", "audit", "compile_cache", "params", "image", "annotate", "telemetry"]),
    ("the sandbox: limits, import policy, host imports, output rules", &["sandbox"]),
    ("the package format", &["package_file"]),
    ("trust", &["trust"]),
    ("admission", &["admission"]),
    ("compiled components, lowering inputs", &["compiled", "ingress"]),
    ("instances", &["instance"]),
    ("packages, the step driver", &["package", "step"]),
    ("the host", &["host"]),
    ("the runner", &["runner"]),
    ("fronts", &["station", "serve", "harness"]),
];

/// The layer of a top-level module, if it has one.
fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The top-level module a file of `src` belongs to (`lib` for lib.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The code of `text` without comment lines and without its unit tests.
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The names at the top level of the braces `rest` opens (`{a, b::{C, D}, E}`
/// gives `a`, `b`, `E`), across lines.
fn braced_names(rest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (at, c) in rest.char_indices() {
        match c {
            '{' => {
                depth += 1;
                item_start = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => item_start = true,
            c if depth == 1 && item_start && is_ident(c) => {
                names.push(rest[at..].chars().take_while(|c| is_ident(*c)).collect());
                item_start = false;
            }
            c if depth == 1 && !c.is_whitespace() => item_start = false,
            _ => {}
        }
    }
    names
}

/// The paths `text` names right under `crate::` (modules such as `trust`,
/// root re-exports such as `Error` or `types`), outside comments and unit tests.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code = code_of(text);
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue; // `pv_crate::`, not ours
        }
        let rest = &code[from..];
        if rest.starts_with('{') {
            names.extend(braced_names(rest));
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// What lib.rs re-exports at the root, name to the module it comes from:
/// `pub use crate::error::{Error, Result};` maps `Error` and `Result` to
/// `error`, `pub use crate::bindings::types;` maps `types` to `bindings`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_of(lib);
    let mut map = BTreeMap::new();
    for statement in code.split(';') {
        // Attributes such as `#[doc(no_inline)]` may come first.
        let Some(at) = statement.find("use crate::") else {
            continue;
        };
        if !statement[..at].trim_end().ends_with("pub") && !statement[..at].trim_end().ends_with(')') {
            continue;
        }
        let path = &statement[at + "use crate::".len()..];
        let module: String = path.chars().take_while(|c| is_ident(*c)).collect();
        let tail = &path[module.len()..];
        let tail = tail.strip_prefix("::").unwrap_or(tail);
        let names = if tail.starts_with('{') {
            braced_names(tail)
        } else {
            // `a::b::Name` or `a::b::Name as Alias`: the last name is what the root holds.
            let last = tail.rsplit(" as ").next().unwrap_or(tail);
            vec![last.rsplit("::").next().unwrap_or(last).trim().to_owned()]
        };
        for name in names.into_iter().filter(|name| !name.is_empty()) {
            map.insert(name, module.clone());
        }
    }
    map
}

fn library_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each top-level module of the library and the other top-level modules it
/// imports, root re-exports resolved to the module they come from.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = library_src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let reexports = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        graph.entry(module.clone()).or_default();
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("a source file");
        for name in crate_paths(&text) {
            let target = if modules.contains(&name) {
                name
            } else if let Some(from) = reexports.get(&name) {
                from.clone()
            } else {
                unplaced.push(format!("{}: crate::{name}", file.display()));
                continue;
            };
            if target != module {
                graph.get_mut(&module).expect("every module is in the graph").insert(target);
            }
        }
    }
    assert!(unplaced.is_empty(), "paths under `crate::` that are neither a module nor a root re-export: {unplaced:#?}");
    graph.remove("lib");
    graph
}

#[test]
fn the_modules_of_the_library_import_each_other_without_a_circle() {
    let graph = import_graph();
    // Peel off modules that import nothing left; what remains is on a circle.
    let mut left = graph.clone();
    loop {
        let leaves: Vec<String> = left.iter().filter(|(_, deps)| deps.is_empty()).map(|(name, _)| name.clone()).collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in &leaves {
            left.remove(leaf);
        }
        for deps in left.values_mut() {
            deps.retain(|name| !leaves.contains(name));
        }
    }
    assert!(left.is_empty(), "these modules import each other in a circle: {left:#?}");
    assert!(graph.len() > 10, "the walk found the library's modules: {graph:?}");
}

#[test]
fn each_module_imports_only_modules_at_or_below_its_layer() {
    let graph = import_graph();
    let unlayered: Vec<&String> = graph.keys().filter(|module| layer_of(module).is_none()).collect();
    assert!(unlayered.is_empty(), "give these modules a layer in LAYERS (tests/architecture.rs): {unlayered:?}");
    let mut upward = Vec::new();
    for (module, deps) in &graph {
        let layer = layer_of(module).expect("layered");
        for dep in deps {
            let above = layer_of(dep).expect("layered");
            if above > layer {
                upward.push(format!(
                    "{module} -> {dep} ({module} is in \"{}\", {dep} above it in \"{}\")",
                    LAYERS[layer].0, LAYERS[above].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "these imports run up the layers:\n{}", upward.join("\n"));
}

#[test]
fn the_scanner_sees_braces_across_lines_and_the_roots_re_exports() {
    let text = "use crate::{\n    error::{Error, Result},\n    Host,\n};\nfn f() -> crate::Result<()> { todo!() }\n// crate::runner in a comment\n";
    let names: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(names, ["Host", "Result", "error"]);
    let map = root_reexports(
        "pub use crate::error::{Error, Result};\npub use crate::bindings::types;\n#[doc(no_inline)]\npub use crate::host::{Host, HostBuilder};",
    );
    assert_eq!(map.get("Result").map(String::as_str), Some("error"));
    assert_eq!(map.get("types").map(String::as_str), Some("bindings"));
    assert_eq!(map.get("HostBuilder").map(String::as_str), Some("host"));
}

#[test]
fn no_source_file_of_the_library_or_the_sdk_is_over_500_lines() {
    let mut files = Vec::new();
    rust_files(&library_src(), &mut files);
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/src"), &mut files);
    let long: Vec<(PathBuf, usize)> = files
        .into_iter()
        .map(|file| {
            let lines = std::fs::read_to_string(&file).expect("a source file").lines().count();
            (file, lines)
        })
        .filter(|(_, lines)| *lines > 500)
        .collect();
    assert!(long.is_empty(), "split these by concern: {long:?}");
}
