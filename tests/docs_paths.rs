//! The documents point at code that exists.
//!
//! **Invariant**: every path of a source file or folder that `docs/*.md`, `ARCHITECTURE.md` or
//! `README.md` names in full from the repository's root (`src/…/x.rs`, `tests/x.rs`,
//! `benches/x.rs`, or a folder such as `src/domain/decide/`) exists in the repository. A file
//! moved or renamed without its citations fails here with the document and the line.
//!
//! Paths written relative to a folder named nearby (`decide/transfer.rs` after `src/domain/`)
//! and globs (`policy/*.json`) are not checked.

use std::path::{Path, PathBuf};

/// The folders whose paths are checked.
const ROOTS: [&str; 3] = ["src/", "tests/", "benches/"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The documents checked.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.push(root().join("ARCHITECTURE.md"));
    docs.push(root().join("README.md"));
    docs
}

fn in_path(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// The source paths a line names: a run of path characters that starts at one of [`ROOTS`]
/// (not inside a longer path) and ends in `.rs` or `/`.
fn paths_in(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (start, _) in line.char_indices() {
        let rest = &line[start..];
        let at_boundary = line[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !in_path(c));
        if !at_boundary || !ROOTS.iter().any(|r| rest.starts_with(r)) {
            continue;
        }
        let end = rest.find(|c: char| !in_path(c)).unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches('.');
        if path.ends_with(".rs") || path.ends_with('/') {
            found.push(path.to_string());
        }
    }
    found
}

#[test]
fn the_paths_finder_reads_what_the_documents_write() {
    let line = "in `src/domain/decide/transfer.rs`, `src/store/` and tests/rules.rs. Not \
                `decide/x.rs`, `policy/*.json`, `/work/src/y.rs`, `samples/src/z.rs`";
    assert_eq!(
        paths_in(line),
        [
            "src/domain/decide/transfer.rs",
            "src/store/",
            "tests/rules.rs"
        ]
    );
}

#[test]
fn every_source_path_the_documents_name_exists() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text =
            std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let name = doc
            .strip_prefix(root())
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            for path in paths_in(line) {
                checked += 1;
                if !Path::new(&root()).join(&path).exists() {
                    missing.push(format!("{name}:{}: {path}", n + 1));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: is the finder broken?"
    );
    assert!(
        missing.is_empty(),
        "the documents name paths that do not exist (moved or renamed?):\n{}",
        missing.join("\n")
    );
}
