//! sled's page-table snapshot after a process that appended many events
//! (`src/cli/page_table.rs`): sled 0.34 writes it only while opening, so the first open after a
//! big writer read everything that writer wrote (2.75 s after a 10 M-event load).
//!
//! **Invariant**: when `load` (or `submit`, `migrate`, `serve`; or `replay`, which rewrites
//! every member's projections, counted by the events it replayed) appended at least
//! `PAGE_TABLE_SNAPSHOT_AFTER_EVENTS` events to a sled directory, the newest sled snapshot in it
//! covers the whole log when the command exits (opening sled again writes no newer one), and the
//! command's exit status is the one its own work called for. Below the threshold nothing extra
//! runs.

use std::path::Path;
use std::process::Command;

use member_ledger::store::SledStore;

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");

/// sled's snapshot files in `dir` (`snap.<lsn>`), sorted.
fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    names.sort();
    names
}

/// Runs the binary on `dir` with the snapshot threshold `after` (events).
fn run_with(dir: &Path, args: &[&str], after: &str) -> std::process::Output {
    Command::new(BIN)
        .arg("--data")
        .arg(dir)
        .args(args)
        .env("MEMBER_LEDGER_SNAPSHOT_AFTER_EVENTS", after)
        .output()
        .expect("run member-ledger")
}

/// Runs the binary on `dir` with the default threshold (100,000 events).
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--data")
        .arg(dir)
        .args(args)
        .env_remove("MEMBER_LEDGER_SNAPSHOT_AFTER_EVENTS")
        .output()
        .expect("run member-ledger")
}

#[test]
fn a_load_over_the_threshold_leaves_a_snapshot_of_its_whole_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    // The threshold lowered from 100,000 so that a debug build loads past it quickly.
    let out = run_with(
        &data,
        &["load", "--members", "12", "--years", "10", "--seed", "5"],
        "1000",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let appended: u64 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("load: ")?
                .split(" events appended")
                .next()?
                .parse()
                .ok()
        })
        .expect("the load reports its events");
    assert!(
        appended >= 1000,
        "the load must cross the threshold: {appended}"
    );
    assert!(
        stdout.contains("page table: sled's snapshot written"),
        "the process re-executed itself to write the snapshot: {stdout}"
    );
    let after_load = snapshots(&data);
    assert!(!after_load.is_empty(), "a snapshot exists after the load");
    // Had the load ended without one, this open would read the load's log and write a newer one.
    SledStore::snapshot_page_table(&data).expect("open and close");
    assert_eq!(
        snapshots(&data),
        after_load,
        "the load's snapshot already covered its log"
    );

    let out = run(&data, &["account", "00000000-0000-4000-8000-000000000000"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "the ledger opens after the snapshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_small_submit_ends_without_a_snapshot_and_one_written_later_covers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let member = "00000000-0000-4000-8000-000000000007";
    let commands = dir.path().join("commands.jsonl");
    std::fs::write(
        &commands,
        format!(
            "{{\"type\":\"enroll\",\"member\":\"{member}\",\"region\":\"luzhou\",\"scheme\":\"employee\",\"sex\":\"male\",\"birth_date\":\"1985-05-05\",\"date\":\"2024-01-01\"}}\n\
             {{\"type\":\"contribute\",\"member\":\"{member}\",\"month\":\"2024-01\",\"wage\":\"10000.00\",\"payer\":\"employer\"}}\n"
        ),
    )
    .expect("write");
    let out = run(&data, &["submit", commands.to_str().expect("utf8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let before = snapshots(&data);
    SledStore::snapshot_page_table(&data).expect("snapshot");
    let written = snapshots(&data);
    assert_ne!(
        written, before,
        "the submit's two events were not yet in a snapshot"
    );
    SledStore::snapshot_page_table(&data).expect("snapshot again");
    assert_eq!(
        snapshots(&data),
        written,
        "nothing written since: no new snapshot"
    );
}

#[test]
fn the_snapshot_step_keeps_the_exit_status_and_refuses_a_missing_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing-here");
    let out = run(&missing, &["snapshot-page-table", "--exit-status", "1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the status given is the status returned"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written"));
    assert!(!missing.exists(), "no database is created");
    assert!(SledStore::snapshot_page_table(&missing).is_err());
}

#[test]
fn a_replay_over_the_threshold_leaves_a_snapshot_of_what_it_rewrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let out = run(
        &data,
        &["load", "--members", "6", "--years", "5", "--seed", "3"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The threshold lowered to a few events so that the replay crosses it.
    let out = run_with(&data, &["replay"], "10");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("page table: sled's snapshot written"),
        "the replay re-executed itself to write the snapshot: {stdout}"
    );
    let after_replay = snapshots(&data);
    assert!(
        !after_replay.is_empty(),
        "a snapshot exists after the replay"
    );
    SledStore::snapshot_page_table(&data).expect("open and close");
    assert_eq!(
        snapshots(&data),
        after_replay,
        "the replay's snapshot already covered what it wrote"
    );
}
