//! The shape of the code, checked: the layers of ARCHITECTURE.md and the size of its files.
//!
//! Invariant (layers): a module of `src/` imports (`crate::…`) only modules of a lower layer, so
//! there is no import cycle and no upward arrow between modules; the command line speaks to the
//! library only through its public API (`member_ledger::…`), never `crate::`.
//!
//! Invariant (size): no file in `src/` is longer than [`SOURCE_LINES_MAX`] lines, tests included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The longest a file in `src/` may be, in lines.
const SOURCE_LINES_MAX: usize = 600;

/// Each top-level module of `src/` and its layer, lowest first. A module may import only
/// modules of a strictly lower layer. ARCHITECTURE.md ("Layers") lists the same table.
const LAYERS: &[(&str, u8)] = &[
    ("files", 0),
    ("money", 0),
    ("month", 0),
    ("observe", 0),
    ("terms", 1),
    ("policy", 2),
    ("domain", 3),
    ("store", 3),
    ("codec", 4),
    ("projection", 5),
    ("audit", 6),
    ("ledger", 7),
    ("migrate", 8),
    ("synthetic", 8),
    ("server", 9),
    ("cli", 10),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `path` (or `path` itself).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level modules of `src/` (files and folders), without `lib.rs` and `main.rs`.
fn modules() -> BTreeMap<String, PathBuf> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src()).expect("read src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_string();
        if name != "lib" && name != "main" {
            modules.insert(name, path);
        }
    }
    modules
}

/// The top-level modules a line of code names as `crate::name` or inside `crate::{…}`;
/// comment lines (doc links included) are not imports.
fn named_modules(line: &str, known: &BTreeMap<String, PathBuf>) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let mut names: Vec<&str> = vec![rest];
        if code[i + "crate::".len()..].starts_with('{') {
            let inside = rest.split('}').next().unwrap_or("");
            names = inside.split(',').collect();
        }
        for name in names {
            let name: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if known.contains_key(&name) {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn every_module_has_a_layer() {
    let layered: Vec<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    for module in modules().keys() {
        assert!(
            layered.contains(&module.as_str()),
            "src/{module} has no layer: add it to LAYERS here and to ARCHITECTURE.md"
        );
    }
}

#[test]
fn modules_import_only_lower_layers() {
    let modules = modules();
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut upward = Vec::new();
    for (module, path) in &modules {
        let Some(&own) = layer.get(module.as_str()) else {
            continue;
        };
        for file in rust_files(path) {
            let text = std::fs::read_to_string(&file).expect("read");
            for (n, line) in text.lines().enumerate() {
                for used in named_modules(line, &modules) {
                    let theirs = layer.get(used.as_str()).copied().unwrap_or(u8::MAX);
                    if used != *module && theirs >= own {
                        upward.push(format!(
                            "{}:{}: {module} (layer {own}) imports {used} (layer {theirs})",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_layer_check_sees_imports() {
    // The check above is only as good as its reading of a line: it must see plain paths and
    // grouped ones, and skip comments.
    let known: BTreeMap<String, PathBuf> = ["domain", "store", "policy"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    assert_eq!(
        named_modules("use crate::domain::Event;", &known),
        ["domain"]
    );
    assert_eq!(
        named_modules("use crate::{domain::Event, store::Head, Ledger};", &known),
        ["domain", "store"]
    );
    assert_eq!(
        named_modules("    let x = crate::policy::PolicySet::shipped();", &known),
        ["policy"]
    );
    assert!(named_modules("/// See [`crate::store::Head`].", &known).is_empty());
}

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let mut long = Vec::new();
    for file in rust_files(&src()) {
        let lines = std::fs::read_to_string(&file)
            .expect("read")
            .lines()
            .count();
        if lines > SOURCE_LINES_MAX {
            long.push(format!("{} has {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files above {SOURCE_LINES_MAX} lines (split them by job):\n{}",
        long.join("\n")
    );
}
