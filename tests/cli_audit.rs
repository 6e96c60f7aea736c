//! Settling a dispute from the command line, on the demo ledger: explain, HTML page, replay,
//! diff, dossier, and verify on damaged files. These tests drive the built binary.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
/// Li, whose pharmacy sale of 2024-11-03 the demo reverses.
const LI: &str = "00000000-0000-4000-8000-00000000d002";

fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run the binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn demo_ledger() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let out = run(&data, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    (dir, data)
}

#[test]
fn explain_html_replay_and_diff_answer_a_dispute() {
    let (dir, data) = demo_ledger();

    // --explain: every amount with its rule, parameter and rule tag.
    let explained = stdout(&run(&data, &["statement", LI, "--explain"]));
    assert!(
        explained.contains(
            "why: account credit 2% of base 6100.00 = 122.00 [§2, luzhou from 2023-01-01]"
        ),
        "{explained}"
    );
    assert!(explained.contains("[REVERSED by position"), "{explained}");

    // --json carries the same explanation and the reversal link.
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&data, &["statement", LI, "--json"]))).expect("json");
    let lines = json["lines"].as_array().expect("lines");
    let reversed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| !l["reversed_by"].is_null())
        .collect();
    assert_eq!(reversed.len(), 1, "the demo reverses one posting");
    assert_eq!(reversed[0]["type"], "spent");
    assert!(lines.iter().all(|l| l["explanation"].as_array().is_some()));

    // --html: one static page.
    let page = dir.path().join("li.html");
    let out = run(
        &data,
        &["statement", LI, "--html", page.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).expect("page written");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<table"));
    assert!(
        html.contains("reversed by position"),
        "the correction shows"
    );
    assert!(!html.contains("<script"), "a static page");

    // replay: rebuilds, reports a rate; as of a date it writes nothing.
    let out = run(&data, &["replay"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("events/s"), "{}", stdout(&out));
    let out = run(&data, &["replay", "--as-of", "2010-12-31"]);
    assert!(
        stdout(&out).contains("as of 2010-12-31"),
        "{}",
        stdout(&out)
    );
    let verify = run(&data, &["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    // diff between two positions lists exactly the member's events between them.
    let positions: Vec<u64> = lines
        .iter()
        .map(|l| l["position"].as_u64().expect("position"))
        .collect();
    let (from, to) = (
        positions[positions.len() - 6],
        positions[positions.len() - 1],
    );
    let expected: Vec<u64> = positions
        .iter()
        .copied()
        .filter(|p| *p > from && *p <= to)
        .collect();
    let out = run(
        &data,
        &[
            "diff",
            LI,
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--json",
        ],
    );
    let diff: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("diff json");
    let added: Vec<u64> = diff["added"]
        .as_array()
        .expect("added")
        .iter()
        .map(|e| e["position"].as_u64().expect("position"))
        .collect();
    assert_eq!(added, expected);
    assert!(diff["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .any(|c| c["figure"] == "balance"));
}

#[test]
fn a_dossier_verifies_offline_and_fails_once_edited() {
    let (dir, data) = demo_ledger();
    let file = dir.path().join("li.dossier.json");
    let out = run(
        &data,
        &["dossier", LI, "--out", file.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Offline: no database at all.
    let nowhere = dir.path().join("no-ledger-here");
    let ok = run(&nowhere, &["verify-dossier", file.to_str().expect("utf8")]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("verify-dossier: ok"));
    let against = run(
        &data,
        &[
            "verify-dossier",
            file.to_str().expect("utf8"),
            "--against-ledger",
        ],
    );
    assert_eq!(against.status.code(), Some(0), "{}", stdout(&against));

    // A hand edit: the pharmacy sale of 88.50 becomes 8.50.
    let text = std::fs::read_to_string(&file).expect("read");
    let edited = dir.path().join("edited.json");
    assert!(text.contains(r#""amount": "88.50""#));
    std::fs::write(
        &edited,
        text.replacen(r#""amount": "88.50""#, r#""amount": "8.50""#, 1),
    )
    .expect("write");
    let bad = run(
        &nowhere,
        &["verify-dossier", edited.to_str().expect("utf8")],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(stdout(&bad).contains("altered"), "{}", stdout(&bad));
}

/// Damage to the database files is reported by `verify` (exit 1), never a crash.
#[test]
fn damaged_files_are_reported_never_a_panic() {
    let (dir, data) = demo_ledger();
    let db = data.join("db");
    let size = std::fs::metadata(&db).expect("db file").len();
    let mut reported = 0;
    let cases: Vec<(&str, u64)> = vec![
        ("zero 64 bytes at", 4096),
        ("zero 64 bytes at", 1_000_000),
        ("zero 64 bytes at", size / 2),
        ("truncate to", 1_000_000),
        ("truncate to", 100_000),
    ];
    for (i, (what, at)) in cases.iter().enumerate() {
        let copy = dir.path().join(format!("damaged-{i}"));
        copy_dir(&data, &copy);
        let file = copy.join("db");
        let mut bytes = std::fs::read(&file).expect("read db");
        let at = usize::try_from(*at).expect("usize").min(bytes.len());
        if what.starts_with("zero") {
            let end = (at + 64).min(bytes.len());
            bytes[at..end].fill(0);
        } else {
            bytes.truncate(at);
        }
        std::fs::write(&file, bytes).expect("write db");
        let out = run(&copy, &["verify"]);
        let code = out.status.code();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            code == Some(0) || code == Some(1),
            "{what} {at}: exit {code:?}: {}{err}",
            stdout(&out)
        );
        assert!(!err.contains("panicked at"), "{what} {at}: {err}");
        if code == Some(1) {
            assert!(
                stdout(&out).contains("damaged") || stdout(&out).contains("BROKEN"),
                "{what} {at}: {}",
                stdout(&out)
            );
            reported += 1;
        }
    }
    assert!(reported >= 2, "the truncations at least are reported");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `load` submits a synthetic population: every career is accepted and the log verifies.
#[test]
fn load_submits_a_synthetic_population_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let out = run(
        &data,
        &["load", "--members", "12", "--years", "25", "--seed", "3"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(" 0 rejected"), "{text}");
    assert!(text.contains("events/s"), "{text}");
    let verify = run(&data, &["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    // A second load of the same seed appends nothing (every command carries a key).
    let again = run(
        &data,
        &["load", "--members", "12", "--years", "25", "--seed", "3"],
    );
    assert!(
        stdout(&again).contains(": 0 events appended"),
        "{}",
        stdout(&again)
    );
}
