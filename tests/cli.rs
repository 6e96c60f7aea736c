//! The command line end to end: these tests drive the built binary.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
const M: &str = "00000000-0000-4000-8000-000000000007";

fn submit(data: &std::path::Path, input: &str) -> (i32, Vec<serde_json::Value>) {
    let mut child = Command::new(BIN)
        .args(["--data", data.to_str().expect("utf8"), "submit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

#[test]
fn submit_prints_one_line_per_command_and_rejects_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let enroll = format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1985-05-05","date":"2024-01-01"}}"#
    );
    let pay = format!(
        r#"{{"type":"contribute","member":"{M}","month":"2024-01","wage":"10000.00","payer":"employer"}}"#
    );
    let input = format!("{enroll}\n{pay}\nnot json\n{pay}\n");
    let (code, lines) = submit(dir.path(), &input);
    assert_eq!(code, 1, "a rejected command makes the exit status 1");
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["ok"], true);
    assert_eq!(lines[1]["position"], 2);
    assert_eq!(lines[2]["error"]["code"], "invalid_input");
    assert_eq!(lines[3]["error"]["code"], "duplicate_month");

    let out = Command::new(BIN)
        .args([
            "--data",
            dir.path().to_str().expect("utf8"),
            "account",
            M,
            "--json",
        ])
        .output()
        .expect("account");
    assert!(out.status.success());
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("view");
    assert_eq!(view["balance"], "200.00");
    assert_eq!(view["months"]["total"], 1);
    assert_eq!(view["position"], 2, "rejections did not move the position");
    assert_eq!(view["status"], "active");
}

#[test]
fn all_accepted_exits_zero_and_demo_runs_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let enroll = format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"resident","sex":"female","birth_date":"1985-05-05","date":"2024-01-01"}}"#
    );
    assert_eq!(submit(dir.path(), &format!("{enroll}\n")).0, 0);
    let demo = dir.path().join("demo");
    for _ in 0..2 {
        let out = Command::new(BIN)
            .args(["--data", demo.to_str().expect("utf8"), "demo"])
            .output()
            .expect("demo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("verify: ok"));
    }
}

/// A database location's password never reaches a message: the ledger cannot be opened at an
/// unreachable server (or in a build without PostgreSQL), and every subcommand says so without
/// the secret.
#[test]
fn a_password_in_the_data_location_is_never_printed() {
    let member = "00000000-0000-4000-8000-00000000d002";
    for data in [
        "postgres://clerk:s3cr3t-pw@127.0.0.1:1/ledger",
        "host=127.0.0.1 port=1 user=clerk password=s3cr3t-pw dbname=ledger",
    ] {
        for args in [
            vec!["account", member, "--json"],
            vec!["verify"],
            vec!["statement", member],
            vec!["submit", "/dev/null"],
        ] {
            let output = Command::new(BIN)
                .arg("--data")
                .arg(data)
                .args(&args)
                .output()
                .expect("run");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert_ne!(output.status.code(), Some(0), "{args:?}: {text}");
            assert!(
                !text.contains("s3cr3t-pw"),
                "{args:?} printed the password: {text}"
            );
            assert!(!text.contains("panicked"), "{args:?}: {text}");
        }
    }
}
