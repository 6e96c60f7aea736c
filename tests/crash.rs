//! SIGKILL during `submit`: every command whose result line was printed is in the log after a
//! reopen, the hash chain checks, and the checkpoints equal a replay.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
/// Kill-and-reopen cycles; more with `CRASH_CYCLES`.
const CYCLES_DEFAULT: usize = 6;

#[test]
fn acknowledged_commands_survive_sigkill() {
    let cycles = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CYCLES_DEFAULT);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    for cycle in 0..cycles {
        let mut child = Command::new(BIN)
            .args(["--data", data.to_str().expect("utf8"), "submit", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            for i in 0..2000u32 {
                let member = format!("00000000-0000-4000-8000-{:04x}{:08x}", cycle, i);
                let line = format!(
                    r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2020-01-01","key":"c{cycle}-{i}"}}"#
                );
                if writeln!(stdin, "{line}").is_err() {
                    return;
                }
            }
        });
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let kill_after = 5 + cycle * 37 % 200;
        let mut line = String::new();
        for _ in 0..kill_after {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let v: serde_json::Value = serde_json::from_str(&line).expect("result line");
            if let Some(e) = v["events"].get(0) {
                acknowledged.push((
                    v["position"].as_u64().expect("position"),
                    e["member"].as_str().expect("member").to_string(),
                ));
            }
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let _ = writer.join();

        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let ledger = member_ledger::Ledger::open(&data)
                .await
                .expect("reopen after SIGKILL");
            let report = member_ledger::verify::verify(&ledger)
                .await
                .expect("chain and checkpoints");
            assert!(report.is_clean(), "{report}");
            for (position, member) in &acknowledged {
                let events = ledger.store().read_from(*position, 1).expect("read");
                assert_eq!(
                    events.first().map(|e| e.member.to_string()),
                    Some(member.clone()),
                    "acknowledged position {position} lost"
                );
            }
        });
    }
    assert!(
        !acknowledged.is_empty(),
        "the test acknowledged nothing and so checked nothing"
    );
}
