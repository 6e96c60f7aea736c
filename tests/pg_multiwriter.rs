//! Several processes writing one PostgreSQL ledger: four `member-ledger submit` processes send
//! overlapping commands on eight shared members while this process tails the log.
//!
//! Then: every acknowledged event is in the log with the hash it was acknowledged with (no lost
//! update); no month is paid twice by one payer; each idempotency key wrote once, whichever
//! process won; positions rise; the tailing reader saw every event exactly once, in order (no
//! transaction committed behind its cursor); and the ledger verifies (each member's hash chain,
//! amounts, checkpoints equal a replay). A second test holds a transaction open after it claimed
//! positions and checks that readers stop below it until it ends.
//!
//! Runs when `MEMBER_LEDGER_PG_URL` is set, in a schema of its own (`.ci/run` sets it); built
//! only with `--features postgres`. `PG_MULTIWRITER_COMMANDS` sets the commands per process.
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use member_ledger::policy::PolicySet;
use member_ledger::store::{settled_head, EventStore, PgOptions, PgStore, StoredEvent};
use member_ledger::Ledger;

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
const PROCESSES: u64 = 4;
const COMMANDS_PER_PROCESS_DEFAULT: u64 = 400;
const MEMBERS: u64 = 8;
/// Contribution months 2023-01 … 2026-12.
const MONTHS: u64 = 48;
/// Events the tailing reader asks for at once.
const TAIL_CHUNK_EVENTS: usize = 64;
/// The whole run's bound: the processes are killed and the test fails past it.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn member(i: u64) -> String {
    format!("00000000-0000-4000-8000-00000000e{i:03x}")
}

fn month(i: u64) -> String {
    format!("{}-{:02}", 2023 + i / 12, i % 12 + 1)
}

/// xorshift64*: a failure replays from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

/// One process's commands: keyed employer contributions (every process sends the same key and
/// payload for a month), unkeyed individual contributions at a process-specific wage (one per
/// month may win) and small spending.
fn commands(process: u64, count: u64) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (process + 1));
    (0..count)
        .map(|_| {
            let m = member(rng.next(MEMBERS));
            let mo = month(rng.next(MONTHS));
            match rng.next(10) {
                0..=4 => format!(
                    r#"{{"type":"contribute","member":"{m}","month":"{mo}","wage":"8000.00","payer":"employer","key":"pay-{m}-{mo}"}}"#
                ),
                5..=6 => format!(
                    r#"{{"type":"contribute","member":"{m}","month":"{mo}","wage":"{}.00","payer":"individual"}}"#,
                    3000 + process
                ),
                _ => format!(
                    r#"{{"type":"spend","member":"{m}","date":"2027-01-15","amount":"{}.00","purpose":"pharmacy"}}"#,
                    1 + rng.next(20)
                ),
            }
        })
        .collect()
}

/// The test's URL with `search_path` set to `schema` (URL or key/value form).
fn with_schema(url: &str, schema: &str) -> String {
    if url.contains("://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    } else {
        format!("{url} options='-csearch_path={schema}'")
    }
}

/// A store with `writers` writer connections in a new schema named after `name`, and the URL
/// that reaches that schema (for the command line and raw connections).
fn fresh_store(base_url: &str, name: &str, writers: usize) -> (Arc<PgStore>, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("{name}_{}_{nanos}", std::process::id());
    let options = PgOptions {
        schema: Some(schema.clone()),
        writers,
    };
    let store = Arc::new(PgStore::open_with(base_url, options).expect("open PostgreSQL"));
    (store, with_schema(base_url, &schema))
}

/// Reads the log as a consumer would: from its cursor on, again and again, until told to stop
/// and then once more; checks every batch continues after the cursor. (Whether it skipped an
/// event that committed late shows at the end, when what it saw is compared with the log.)
fn tail(store: Arc<PgStore>, stop: Arc<AtomicBool>) -> Vec<(u64, String)> {
    let mut seen: Vec<(u64, String)> = Vec::new();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        loop {
            let cursor = seen.last().map_or(0, |(position, _)| *position);
            let chunk = store
                .read_from(cursor + 1, TAIL_CHUNK_EVENTS)
                .expect("tail");
            let mut last = cursor;
            for e in &chunk {
                assert!(
                    e.position > last,
                    "the reader's stream goes back or repeats"
                );
                last = e.position;
            }
            let read = chunk.len();
            seen.extend(
                chunk
                    .into_iter()
                    .map(|e| (e.position, hex::encode(e.hash()))),
            );
            if read < TAIL_CHUNK_EVENTS {
                break;
            }
        }
        if stopping {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn four_processes_on_shared_members_lose_nothing_and_a_reader_sees_each_event_once_in_order() {
    let Ok(base_url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: the multi-writer test needs PostgreSQL");
        return;
    };
    let per_process: u64 = std::env::var("PG_MULTIWRITER_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(COMMANDS_PER_PROCESS_DEFAULT);
    let (store, url) = fresh_store(&base_url, "multiwriter", 2);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    runtime.block_on(async {
        for i in 0..MEMBERS {
            let m = member(i);
            let line = format!(
                r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2022-01-01","key":"enroll-{m}"}}"#
            );
            ledger.submit_json(&line).await.expect("enroll");
        }
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || tail(store, stop))
    };
    let mut children = Vec::new();
    for p in 0..PROCESSES {
        let file = dir.path().join(format!("commands-{p}.jsonl"));
        let mut out = std::fs::File::create(&file).expect("create");
        for line in commands(p, per_process) {
            writeln!(out, "{line}").expect("write");
        }
        let child = Command::new(BIN)
            .args(["--data", &url, "submit"])
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        children.push(child);
    }
    let outputs = wait_bounded(children);
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    for (pid, output) in outputs {
        let status = output.status.code();
        assert!(
            matches!(status, Some(0 | 1)),
            "process {pid} exited {status:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("utf8");
        assert_eq!(
            stdout.lines().count() as u64,
            per_process,
            "one result line per command"
        );
        for line in stdout.lines() {
            let result: serde_json::Value = serde_json::from_str(line).expect("a JSON result");
            if result["ok"] == true {
                for e in result["events"].as_array().expect("events") {
                    let position = e["position"].as_u64().expect("position");
                    acknowledged.push((position, e["hash"].as_str().expect("hash").into()));
                }
                *codes.entry("ok".into()).or_default() += 1;
            } else {
                let code = result["error"]["code"]
                    .as_str()
                    .expect("a code")
                    .to_string();
                *codes.entry(code).or_default() += 1;
            }
        }
    }
    // Everything acknowledged is committed; once no transaction that began before the last
    // commit is in flight (another test's may be), readers show all of it.
    settled_head(store.as_ref()).expect("readers reach the last commit");
    stop.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("the reader");
    eprintln!("results by code: {codes:?}; {} events", seen.len());

    let log: Vec<StoredEvent> = store.read_from(1, usize::MAX).expect("read the log");
    assert!(
        log.windows(2).all(|w| w[0].position < w[1].position),
        "positions rise"
    );
    assert_eq!(
        store.head().expect("head").position,
        log.last().map_or(0, |e| e.position),
        "the head is the last event"
    );
    let by_position: BTreeMap<u64, String> = log
        .iter()
        .map(|e| (e.position, hex::encode(e.hash())))
        .collect();
    for (position, hash) in &acknowledged {
        assert_eq!(
            by_position.get(position),
            Some(hash),
            "acknowledged event {position} lost or changed"
        );
    }
    let stored: Vec<(u64, String)> = log
        .iter()
        .map(|e| (e.position, hex::encode(e.hash())))
        .collect();
    assert_eq!(
        seen, stored,
        "the tailing reader saw every event once, in order"
    );
    assert_no_month_twice(&log);
    assert_each_key_wrote_once(store.as_ref(), &log);
    assert!(
        codes.get("ok").copied().unwrap_or(0) > 0,
        "something was accepted: {codes:?}"
    );
    runtime.block_on(async {
        let report = ledger.verify(|_, _| {}).await.expect("verify");
        assert!(report.is_clean(), "{report}");
    });
}

/// Waits for every child (reading their output as they write it), killing them all and
/// failing past [`RUN_TIMEOUT`].
fn wait_bounded(children: Vec<std::process::Child>) -> Vec<(u32, std::process::Output)> {
    let started = Instant::now();
    let pids: Vec<u32> = children.iter().map(std::process::Child::id).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    for child in children {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let pid = child.id();
            let _ = tx.send((pid, child.wait_with_output().expect("output")));
        });
    }
    let mut outputs = Vec::new();
    while outputs.len() < pids.len() {
        let left = RUN_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(output) => outputs.push(output),
            Err(_) => {
                for pid in &pids {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
                panic!("the submit processes ran past {RUN_TIMEOUT:?}");
            }
        }
    }
    outputs
}

fn assert_no_month_twice(log: &[StoredEvent]) {
    let mut paid = BTreeSet::new();
    for e in log.iter().filter(|e| e.event_type == "contribution_posted") {
        let data = serde_json::to_value(member_ledger::codec::decode(e).expect("decodes"))
            .expect("serialises");
        let slot = (
            e.member,
            data["month"].as_str().unwrap_or_default().to_string(),
            data["payer"].as_str().unwrap_or_default().to_string(),
        );
        assert!(paid.insert(slot.clone()), "a month paid twice: {slot:?}");
    }
}

fn assert_each_key_wrote_once(store: &dyn EventStore, log: &[StoredEvent]) {
    let mut by_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in log {
        if let Some(key) = &e.idempotency_key {
            by_key.entry(key).or_default().push(e.position);
        }
    }
    for (key, positions) in by_key {
        let record = store.idempotency(key).expect("read").expect("a record");
        assert_eq!(record.positions(), positions.as_slice(), "key {key}");
    }
}

/// A transaction that claimed positions and has not ended holds readers below it: an append
/// that claimed later and committed first is acknowledged, but neither `read_from` nor `head`
/// shows it until the earlier transaction ends (here it rolls back, leaving a gap that a walk of
/// the log accepts).
#[test]
fn readers_stop_below_a_transaction_still_in_flight_and_accept_the_gap_it_leaves() {
    let Ok(base_url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: the multi-writer test needs PostgreSQL");
        return;
    };
    let (store, url) = fresh_store(&base_url, "multiwriter_held", 1);
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    let enroll = |i: u64| {
        let m = member(i);
        format!(
            r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1985-05-05","date":"2022-01-01"}}"#
        )
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let first = ledger.submit_json(&enroll(0)).await.expect("enroll");
        settled_head(store.as_ref()).expect("readers reach the first event");
        let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let txn = client.transaction().await.expect("begin");
        let held: i64 = txn
            .query_one("SELECT ml_claim_positions(1)", &[])
            .await
            .expect("claim")
            .get(0);
        let held = u64::try_from(held).expect("a position");

        let later = ledger.submit_json(&enroll(1)).await.expect("enroll");
        assert!(later.position > held, "claimed after the held transaction");
        assert_eq!(
            store.head().expect("head").position,
            first.position,
            "the head stays below the transaction in flight"
        );
        let visible = store.read_from(1, 100).expect("read");
        assert_eq!(
            visible.last().map(|e| e.position),
            Some(first.position),
            "read_from stops below the transaction in flight"
        );

        txn.rollback().await.expect("rollback");
        assert_eq!(
            settled_head(store.as_ref()).expect("settle").position,
            later.position
        );
        let log = store.read_from(1, 100).expect("read");
        let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
        assert!(positions.contains(&later.position), "{positions:?}");
        assert!(!positions.contains(&held), "{positions:?}");
        let report = ledger.verify(|_, _| {}).await.expect("verify");
        assert!(report.is_clean(), "{report}");
    });
}

/// Writers for different members never wait for each other: while another transaction holds
/// member A's row, an append for member B commits; A's own append waits for that transaction
/// and then commits on top of what it wrote.
#[test]
fn an_append_waits_only_for_transactions_on_its_own_members() {
    let Ok(base_url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: the multi-writer test needs PostgreSQL");
        return;
    };
    let (store, url) = fresh_store(&base_url, "multiwriter_rows", 2);
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    let (a, b) = (member(1), member(2));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let enroll = |m: &str| {
            format!(
                r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2022-01-01"}}"#
            )
        };
        ledger.submit_json(&enroll(&a)).await.expect("enroll a");
        let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let txn = client.transaction().await.expect("begin");
        let a_id = uuid::Uuid::parse_str(&a).expect("uuid");
        txn.query_one("SELECT version FROM members WHERE member = $1 FOR UPDATE", &[&a_id])
            .await
            .expect("lock a");

        let other = tokio::time::timeout(Duration::from_secs(10), ledger.submit_json(&enroll(&b)))
            .await
            .expect("an append for b does not wait for a transaction holding a")
            .expect("enroll b");
        assert_eq!(other.events.len(), 1);

        let contribute = format!(
            r#"{{"type":"contribute","member":"{a}","month":"2022-01","wage":"5000.00","payer":"employer"}}"#
        );
        let waiting = {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.submit_json(&contribute).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "a's append waits for the transaction holding a");
        txn.rollback().await.expect("rollback");
        let receipt = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("a's append goes on once a is free")
            .expect("task")
            .expect("contribute");
        assert_eq!(receipt.events[0].member_version, 2);
        let report = ledger.verify(|_, _| {})
            .await
            .expect("verify");
        assert!(report.is_clean(), "{report}");
    });
}

/// On PostgreSQL positions may skip, so a member's last event deleted from `events` leaves no
/// gap that a walk could name; `verify` finds it by comparing each member's chain with the
/// store's own record of the member, and a member deleted whole the same way.
#[test]
fn verify_finds_a_members_last_event_or_whole_stream_deleted_in_postgres() {
    let Ok(base_url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: the test needs PostgreSQL");
        return;
    };
    let (store, url) = fresh_store(&base_url, "multiwriter_tamper", 1);
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    let (a, b) = (member(1), member(2));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        for line in [
            format!(
                r#"{{"type":"enroll","member":"{a}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2022-01-01"}}"#
            ),
            format!(
                r#"{{"type":"contribute","member":"{a}","month":"2022-01","wage":"5000.00","payer":"employer"}}"#
            ),
            format!(
                r#"{{"type":"enroll","member":"{b}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2022-01-01"}}"#
            ),
        ] {
            ledger.submit_json(&line).await.expect("given");
        }
        let clean = ledger.verify(|_, _| {})
            .await
            .expect("verify");
        assert!(clean.is_clean(), "{clean}");

        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let a_id = uuid::Uuid::parse_str(&a).expect("uuid");
        client
            .execute(
                "DELETE FROM events WHERE member = $1 AND member_version = 2",
                &[&a_id],
            )
            .await
            .expect("tamper");
        let report = ledger.verify(|_, _| {})
            .await
            .expect("verify");
        let broken = report.broken.clone().expect("the deletion is found");
        assert!(
            broken.reason.contains(&a) && broken.reason.contains("missing"),
            "{}",
            broken.reason
        );

        // Put the record back in line with the cut chain, and delete the other member whole.
        client
            .execute(
                "UPDATE members SET version = 1, hash = \
                 (SELECT hash FROM events WHERE member = $1 AND member_version = 1) \
                 WHERE member = $1",
                &[&a_id],
            )
            .await
            .expect("tamper");
        let b_id = uuid::Uuid::parse_str(&b).expect("uuid");
        client
            .execute("DELETE FROM events WHERE member = $1", &[&b_id])
            .await
            .expect("tamper");
        let report = ledger.verify(|_, _| {})
            .await
            .expect("verify");
        let broken = report.broken.clone().expect("the deletion is found");
        assert!(broken.reason.contains(&b), "{}", broken.reason);
    });
}
