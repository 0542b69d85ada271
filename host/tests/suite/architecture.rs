//! The library's layout keeps its promises: the modules of `host/src` import
//! one another without a circle (the arrows run one way: package format, trust,
//! admission, sandbox, compiled, instance, package, host, runner, station,
//! serve), and no source file of the library or the guest SDK grows past 500
//! lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// The top-level modules `text` names through `crate::`, outside comments and
/// unit tests.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut names = BTreeSet::new();
    for line in code.lines().filter(|line| !line.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
            // `use crate::{a, b::C}`: the names at the top of the braces.
            if rest.starts_with('{') {
                let inner = &rest[1..rest.find('}').unwrap_or(rest.len())];
                for item in inner.split(',') {
                    let name: String = item.trim().chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if !name.is_empty() {
                        names.insert(name);
                    }
                }
            }
        }
    }
    names
}

fn library_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_modules_of_the_library_import_each_other_without_a_circle() {
    let src = library_src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("a source file");
        graph.entry(module.clone()).or_default().extend(imports(&text).into_iter().filter(|name| *name != module));
    }
    graph.remove("lib");
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|name| modules.contains(name));
    }
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
