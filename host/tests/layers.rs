//! The host's layers point one way: a module of `host/src` uses only the
//! layers below its own (see the crate docs and each layer's `mod.rs`).
//!
//! This test reads every `crate::LAYER` path in the code (comments and doc
//! links aside) and fails on one that points up, names a layer that does
//! not exist, or goes through a crate-root re-export instead of its layer.
//! Upward uses that are still being untied are listed, each with the file
//! that makes it, in `tests/layers.allow`; the test also fails when a
//! listed one is gone, so the list only shrinks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, from the bottom. A file's layer is the first folder under
/// `src/`, or its own name for the files at the top.
const LAYERS: &[&[&str]] = &[
    &["core"],
    &["sandbox"],
    &["process"],
    &["runtime"],
    &["messaging"],
    &["cluster"],
    &["node"],
    &["http", "metrics", "watch", "cli", "lib", "main"],
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&layer))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `crate::NAME` paths in the code of `text`, outside comments.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().next_back();
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` and `wactor_crate::` are not this crate's paths.
            if !before.is_some_and(|c| c == '$' || c.is_ascii_alphanumeric() || c == '_') && !name.is_empty()
            {
                found.insert(name);
            }
            rest = after;
        }
        // `use crate::{a, b}` names several at once.
        if let Some(i) = code.find("crate::{") {
            let group = &code[i + "crate::{".len()..];
            let group = group.split('}').next().unwrap_or("");
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// Every use of a layer that the rules refuse, as `file -> layer`.
fn violations(src: &Path) -> BTreeSet<String> {
    let mut all = Vec::new();
    files(src, &mut all);
    let mut bad = BTreeSet::new();
    for path in all {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let top = rel
            .split('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = rank(&top) else {
            bad.insert(format!("{rel} -> (a file outside every layer)"));
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("a source file");
        for name in crate_paths(&text) {
            match rank(&name) {
                Some(used) if used <= own => {}
                Some(_) => {
                    bad.insert(format!("{rel} -> {name}"));
                }
                // Root re-exports (`crate::pid`, `crate::frame`) are for
                // embedders; inside the host a path names its layer.
                None if name == "frame" => {}
                None => {
                    bad.insert(format!("{rel} -> {name} (not a layer: use the layer's path)"));
                }
            }
        }
        if !rel.ends_with("node.rs") && text.contains("impl NodeInner") {
            bad.insert(format!("{rel} -> impl NodeInner"));
        }
    }
    bad
}

fn allowed(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(&root.join("src"));
    let listed = allowed(&root.join("tests/layers.allow"));
    let new: Vec<_> = found.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(
        new.is_empty(),
        "upward uses of a layer (move the code down, or pass what it needs in from above):\n  {}",
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
    assert!(
        gone.is_empty(),
        "these lines of tests/layers.allow no longer happen; delete them:\n  {}",
        gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn the_check_sees_an_upward_use() {
    let dir = std::env::temp_dir().join(format!("wactor-layers-{}", std::process::id()));
    let core = dir.join("core");
    std::fs::create_dir_all(&core).expect("a temp dir");
    std::fs::write(
        core.join("pid.rs"),
        "// crate::node in a comment is fine\nuse crate::core::error::X;\nuse crate::{node::Node, sandbox};\n",
    )
    .expect("a temp file");
    std::fs::write(
        dir.join("http.rs"),
        "use crate::node::Node;\nuse crate::pid::Pid;\n",
    )
    .expect("a temp file");
    let found = violations(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let want: BTreeSet<String> = [
        "core/pid.rs -> node",
        "core/pid.rs -> sandbox",
        "http.rs -> pid (not a layer: use the layer's path)",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(found, want);
}
