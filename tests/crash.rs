//! SIGKILL during `submit`, and during the open that precedes it: every command whose result line
//! was printed is in the log after a reopen with the same hash, nothing unacknowledged is
//! half-visible (a keyed command has all of its events or none), the hash chain checks, and the
//! checkpoints equal a replay.
//!
//! Each cycle feeds groups of six keyed commands whose last, a settlement to two heirs, appends
//! three events at once. One cycle in four is killed right after spawn (0 to 4 ms later, before any
//! output: during sled's open or recovery); the others after a varying number of result lines.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
/// Kill-and-reopen cycles; more with `CRASH_CYCLES`.
const CYCLES_DEFAULT: usize = 100;
/// Command groups sent per cycle (six commands each); the kill comes before most are read.
const GROUPS_PER_CYCLE: u32 = 12;
/// Events a settlement appends: its own and one receipt per heir.
const SETTLEMENT_EVENTS: usize = 3;

fn member(cycle: usize, group: u32, role: u32) -> String {
    format!("00000000-0000-4000-8000-{cycle:04x}{group:06x}{role:02x}")
}

/// Six commands, each with its key: three enrolments, a contribution, a death, a settlement.
fn group_lines(cycle: usize, group: u32) -> Vec<String> {
    let (dead, h1, h2) = (
        member(cycle, group, 0),
        member(cycle, group, 1),
        member(cycle, group, 2),
    );
    let mut lines: Vec<String> = [&dead, &h1, &h2]
        .iter()
        .map(|m| format!(r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2020-01-01""#))
        .collect();
    lines.push(format!(r#"{{"type":"contribute","member":"{dead}","month":"2024-01","wage":"8000.00","payer":"employer""#));
    lines.push(format!(
        r#"{{"type":"record_death","member":"{dead}","date":"2024-06-30""#
    ));
    lines.push(format!(r#"{{"type":"settle_inheritance","member":"{dead}","date":"2024-07-05","heirs":[{{"heir":"{h1}","name":"a","share":"0.5"}},{{"heir":"{h2}","name":"b","share":"0.5"}}]"#));
    lines
        .into_iter()
        .enumerate()
        .map(|(j, l)| format!(r#"{l},"key":"c{cycle}-g{group}-{j}"}}"#))
        .collect()
}

/// One run of the binary, killed early; returns the acknowledged events as (position, hash).
fn run_and_kill(data: &std::path::Path, cycle: usize) -> Vec<(u64, String)> {
    let mut child = Command::new(BIN)
        .args(["--data", data.to_str().expect("utf8"), "submit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut acknowledged = Vec::new();
    if cycle % 4 == 0 {
        // Killed during open: before it could read a line, let alone answer one.
        std::thread::sleep(Duration::from_millis((cycle / 4 % 5) as u64));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        return acknowledged;
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        for group in 0..GROUPS_PER_CYCLE {
            for line in group_lines(cycle, group) {
                if writeln!(stdin, "{line}").is_err() {
                    return;
                }
            }
        }
    });
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let kill_after = 1 + cycle * 37 % 60;
    let mut line = String::new();
    for _ in 0..kill_after {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line).expect("result line");
        assert_eq!(v["ok"], true, "every command of the test is valid: {line}");
        for e in v["events"].as_array().expect("events") {
            let position = e["position"].as_u64().expect("position");
            acknowledged.push((position, e["hash"].as_str().expect("hash").to_string()));
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let _ = writer.join();
    acknowledged
}

/// Every keyed command is whole: its record names exactly the events carrying its key, and a
/// settlement has its three events. Returns the number of events checked.
fn assert_whole_commands(ledger: &member_ledger::Ledger) -> usize {
    let events = ledger.log().read_from(1, usize::MAX).expect("read log");
    let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &events {
        let key = e
            .idempotency_key
            .clone()
            .expect("every test command has a key");
        by_key.entry(key).or_default().push(e.position);
    }
    for (key, positions) in &by_key {
        let record = ledger.log().idempotency(key).expect("read key");
        let record = record.unwrap_or_else(|| panic!("events of {key} without its key record"));
        assert_eq!(
            record.positions(),
            positions.as_slice(),
            "{key}: half-visible command"
        );
        if key.ends_with("-5") {
            assert_eq!(
                positions.len(),
                SETTLEMENT_EVENTS,
                "{key}: half a settlement"
            );
        }
    }
    events.len()
}

#[test]
fn acknowledged_commands_survive_sigkill_and_nothing_is_half_visible() {
    let cycles = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CYCLES_DEFAULT);
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut events_checked = 0;
    for cycle in 0..cycles {
        acknowledged.extend(run_and_kill(&data, cycle));
        rt.block_on(async {
            let ledger = member_ledger::Ledger::open(&data)
                .await
                .unwrap_or_else(|e| panic!("reopen after SIGKILL in cycle {cycle}: {e}"));
            let report = ledger
                .verify(|_, _| {})
                .await
                .expect("chain and checkpoints");
            assert!(report.is_clean(), "{report}");
            events_checked += assert_whole_commands(&ledger);
            for (position, hash) in &acknowledged {
                let events = ledger.log().read_from(*position, 1).expect("read");
                assert_eq!(
                    events.first().map(|e| hex::encode(e.hash())),
                    Some(hash.clone()),
                    "acknowledged position {position} lost or changed (cycle {cycle})"
                );
            }
        });
    }
    eprintln!(
        "crash: {cycles} cycles ({} killed during open), {} acknowledged events checked, {events_checked} logged events re-checked for whole commands over all reopens, {:.1} s",
        cycles.div_ceil(4),
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        !acknowledged.is_empty(),
        "the test acknowledged nothing and so checked nothing"
    );
}
