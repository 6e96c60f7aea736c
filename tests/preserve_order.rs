//! Integrity does not depend on a dependency's features: a ledger written by a build with
//! serde_json's `preserve_order` (which any crate in a service's build may turn on) verifies,
//! answers and takes retried keys under the stock build, and the other way round. Hashes cover
//! the stored bytes and key digests a canonical form of the project's own, so nothing a
//! serializer does on a later read can change them.
//!
//! The other build is compiled here (`cargo build --features serde-json-preserve-order`, into
//! its own target directory), which takes a few minutes the first time.

use std::path::{Path, PathBuf};
use std::process::Command;

const STOCK: &str = env!("CARGO_BIN_EXE_member-ledger");
const LI: &str = "00000000-0000-4000-8000-00000000d002";

fn other_build() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("preserve-order");
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--bin",
            "member-ledger",
            "--features",
            "serde-json-preserve-order",
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo build");
    assert!(status.success(), "the preserve_order build failed");
    target.join("debug").join("member-ledger")
}

fn run(bin: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin).args(args).output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn written_by_checked_by(writer: &Path, checker: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let data = data.to_str().expect("path");
    let (status, text) = run(writer, &["--data", data, "demo"]);
    assert_eq!(status, 0, "{text}");
    let (status, text) = run(checker, &["--data", data, "verify"]);
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("verify: ok"), "{text}");
    let (_, written) = run(writer, &["--data", data, "account", LI, "--json"]);
    let (_, read) = run(checker, &["--data", data, "account", LI, "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&written).expect("json"),
        serde_json::from_str::<serde_json::Value>(&read).expect("json")
    );
    // Every sample command carries a key: the other build answers them all from their keys
    // (the same digest), appending nothing and refusing none as `key_reused`.
    let (status, text) = run(checker, &["--data", data, "demo"]);
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("0 appended now"), "{text}");
    let dossier = dir.path().join("li.json");
    let dossier = dossier.to_str().expect("path");
    let (status, text) = run(writer, &["--data", data, "dossier", LI, "--out", dossier]);
    assert_eq!(status, 0, "{text}");
    let (status, text) = run(checker, &["verify-dossier", dossier]);
    assert_eq!(status, 0, "{text}");
}

#[test]
fn ledgers_and_dossiers_verify_across_builds_with_and_without_preserve_order() {
    let other = other_build();
    written_by_checked_by(&other, Path::new(STOCK));
    written_by_checked_by(Path::new(STOCK), &other);
}
