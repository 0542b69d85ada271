//! The README's authoring guide ("Writing an algorithm") names every public
//! item of this SDK: a function, type, constant, module or macro added here
//! without a word in the guide fails this test.

use std::collections::BTreeSet;
use std::path::Path;

/// The guide: the README from `## Writing an algorithm` to the next `## `.
fn guide() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("the README");
    let start = readme.find("\n## Writing an algorithm\n").expect("the guide's heading");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

/// Every identifier inside a backtick span of `text`.
fn quoted_words(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(str::to_owned).collect::<Vec<_>>())
        .filter(|word| !word.is_empty())
        .collect()
}

/// The public items of the SDK's sources, by name: `pub fn`, `pub struct`,
/// `pub enum`, `pub const`, `pub type`, `pub mod` and exported macros, with the
/// file each is in. The generated bindings, the macro's private module and
/// `#[doc(hidden)]` items are left out.
fn public_items() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut items = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if file == "bindings.rs" || path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        let mut exported_macro = false;
        let mut hidden = false;
        let mut in_private = false;
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with("#[cfg(test)]") {
                break;
            }
            if line.starts_with("pub mod __private") {
                in_private = true;
            }
            if in_private {
                if line == "}" {
                    in_private = false;
                }
                continue;
            }
            if line.starts_with("#[macro_export]") {
                exported_macro = true;
                continue;
            }
            if line.starts_with("#[doc(hidden)]") {
                hidden = true;
                continue;
            }
            let name_after = |prefix: &str| {
                line.strip_prefix(prefix)
                    .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
            };
            let found = if exported_macro {
                exported_macro = false;
                name_after("macro_rules! ")
            } else {
                ["pub fn ", "pub const fn ", "pub struct ", "pub enum ", "pub const ", "pub type ", "pub mod ", "pub trait "]
                    .iter()
                    .find_map(|prefix| name_after(prefix))
            };
            if let Some(name) = found.filter(|name| !name.is_empty() && name != "bindings") {
                if !std::mem::take(&mut hidden) {
                    items.push((name, file.clone()));
                }
            } else if !line.starts_with("#[") && !line.starts_with("///") {
                hidden = false;
            }
        }
    }
    items
}

#[test]
fn the_authoring_guide_names_every_public_item_of_the_sdk() {
    let words = quoted_words(&guide());
    let items = public_items();
    assert!(items.len() > 50, "the scan found the SDK's items: {items:?}");
    let missing: Vec<String> =
        items.iter().filter(|(name, _)| !words.contains(name)).map(|(name, file)| format!("{name} ({file})")).collect();
    assert!(missing.is_empty(), "public items the README's guide does not name: {missing:?}");
}
