//! `member-ledger migrate`: the demo ledger copied sled → sled always, and sled → PostgreSQL →
//! sled when `MEMBER_LEDGER_PG_URL` is set (built with `--features postgres`). Every copy holds
//! the same events, byte for byte in what the hash covers (positions, ids, hashes), verifies,
//! answers the same account, and refuses to be migrated into again.

use std::path::Path;
use std::process::Command;

use member_ledger::store::{DataLocation, StoredEvent};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
/// Attempts of a run that met the sled lock still held by this process's last read.
const LOCK_RETRIES_MAX: u32 = 50;
/// Li, of the demo.
const LI: &str = "00000000-0000-4000-8000-00000000d002";

/// Runs the binary. This process opens the same sled directories to read them, and sled lets
/// go of its file lock a moment after the last handle drops (its I/O threads finish first), so
/// a run refused for that lock is retried, a bounded number of times.
fn run(args: &[&str]) -> (i32, String) {
    for _ in 0..LOCK_RETRIES_MAX {
        let output = Command::new(BIN).args(args).output().expect("run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !text.contains("could not acquire lock") && !text.contains("in use by another process") {
            return (output.status.code().unwrap_or(-1), text);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("member-ledger {args:?}: the sled lock stayed taken");
}

fn events(location: &str) -> Vec<StoredEvent> {
    let store = DataLocation::parse(location).open().expect("open");
    store.read_from(1, usize::MAX).expect("read")
}

fn account(location: &str) -> String {
    let (status, text) = run(&["--data", location, "account", LI, "--json"]);
    assert_eq!(status, 0, "{text}");
    text
}

fn migrate_and_check(from: &str, to: &str, original: &[StoredEvent]) {
    let (status, text) = run(&["migrate", "--from", from, "--to", to]);
    assert_eq!(status, 0, "migrate {from} -> {to}: {text}");
    assert!(text.contains("verify: ok"), "{text}");
    assert_eq!(events(to), original, "{to} holds the same events");
    let (status, text) = run(&["--data", to, "verify"]);
    assert_eq!(status, 0, "{text}");
    let (status, text) = run(&["migrate", "--from", from, "--to", to]);
    assert_eq!(status, 2, "a second migration into {to} is refused: {text}");
    assert!(text.contains("migrate into an empty ledger"), "{text}");
}

/// `url` with every connection's search path set to `schema`.
#[cfg(feature = "postgres")]
fn with_schema(url: &str, schema: &str) -> String {
    if url.contains("://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    } else {
        format!("{url} options='-csearch_path={schema}'")
    }
}

fn demo(dir: &Path) -> String {
    let data = dir.join("demo").to_string_lossy().into_owned();
    let (status, text) = run(&["--data", &data, "demo"]);
    assert_eq!(status, 0, "{text}");
    data
}

#[test]
fn a_sled_ledger_migrates_to_another_directory_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = demo(dir.path());
    let original = events(&source);
    assert!(original.len() > 1000);
    let copy = dir.path().join("copy").to_string_lossy().into_owned();
    migrate_and_check(&source, &copy, &original);
    assert_eq!(account(&copy), account(&source));
}

#[cfg(feature = "postgres")]
#[test]
fn a_ledger_round_trips_sled_to_postgres_and_back_unchanged() {
    use member_ledger::store::{PgOptions, PgStore};
    let Ok(url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: the PostgreSQL round trip needs it");
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("migrate_{}_{nanos}", std::process::id());
    let options = PgOptions {
        schema: Some(schema.clone()),
        ..PgOptions::default()
    };
    drop(PgStore::open_with(&url, options).expect("create the schema"));
    let pg = with_schema(&url, &schema);
    let dir = tempfile::tempdir().expect("tempdir");
    let source = demo(dir.path());
    let original = events(&source);
    migrate_and_check(&source, &pg, &original);
    assert_eq!(account(&pg), account(&source));
    let back = dir.path().join("back").to_string_lossy().into_owned();
    migrate_and_check(&pg, &back, &original);
    assert_eq!(account(&back), account(&source));
}

/// A PostgreSQL log whose positions skip (a refused append left its claimed position unused)
/// migrates to sled with its positions: the copy says its positions may skip, verifies, and
/// goes on after the last position.
#[cfg(feature = "postgres")]
#[test]
fn a_postgres_log_with_a_gap_migrates_to_sled_with_its_positions() {
    use member_ledger::policy::PolicySet;
    use member_ledger::store::{
        settled_head, AppendOutcome, AppendRequest, EventStore, NewEvent, PgOptions, PgStore,
        SledStore,
    };
    use member_ledger::Ledger;
    use std::sync::Arc;
    let Ok(url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: the PostgreSQL migration needs it");
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("migrate_gap_{}_{nanos}", std::process::id());
    let options = PgOptions {
        schema: Some(schema.clone()),
        ..PgOptions::default()
    };
    let store = Arc::new(PgStore::open_with(&url, options).expect("open PostgreSQL"));
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    let enroll = |m: &str| {
        format!(
            r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2022-01-01"}}"#
        )
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let first = runtime
        .block_on(ledger.submit_json(&enroll(LI)))
        .expect("enroll");
    // An append decided on a stale version: refused, its claimed position left unused.
    let li = uuid::Uuid::parse_str(LI).expect("uuid");
    let stale = AppendRequest {
        events: vec![NewEvent {
            member: li,
            event_type: "enrolled".into(),
            schema_version: 1,
            effective_date: chrono::NaiveDate::from_ymd_opt(2022, 1, 1).expect("date"),
            policy_version: "luzhou/2024-01".into(),
            data: b"{}".to_vec(),
        }],
        expected: vec![(li, 0)],
        ..AppendRequest::default()
    };
    let outcome = store
        .append(stale)
        .applied
        .blocking_recv()
        .expect("an answer")
        .expect("applied");
    assert!(matches!(outcome, AppendOutcome::VersionConflict { .. }));
    let other = "00000000-0000-4000-8000-00000000d0ff";
    let later = runtime
        .block_on(ledger.submit_json(&enroll(other)))
        .expect("enroll");
    assert!(
        later.position > first.position + 1,
        "the refused append's position is skipped: {} then {}",
        first.position,
        later.position
    );
    settled_head(store.as_ref()).expect("settle");
    let original = store.read_from(1, usize::MAX).expect("read");
    drop(ledger);
    drop(store);

    let pg = with_schema(&url, &schema);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy").to_string_lossy().into_owned();
    migrate_and_check(&pg, &copy, &original);
    {
        let sled = SledStore::open(&copy).expect("open the copy");
        assert!(!sled.positions_gapless().expect("gapless"));
    }
    let commands = dir.path().join("more.jsonl");
    std::fs::write(&commands, enroll("00000000-0000-4000-8000-00000000d100")).expect("write");
    let (status, text) = run(&["--data", &copy, "submit", commands.to_str().expect("path")]);
    assert_eq!(status, 0, "{text}");
    let answer: serde_json::Value = serde_json::from_str(text.trim()).expect("a JSON line");
    assert_eq!(answer["position"], later.position + 1, "{text}");
    let (status, text) = run(&["--data", &copy, "verify"]);
    assert_eq!(status, 0, "{text}");
}
