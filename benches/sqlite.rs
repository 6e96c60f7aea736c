//! The same workloads on SQLite, for the ratios in BENCHMARKS.md: the ledger's stored events as
//! JSON rows (WAL, `synchronous=FULL`, one transaction per batch of the same size as the
//! ledger's batched-ingest bench), and a rebuild that reads the rows in order, decodes them and
//! folds them into member states (the ledger's fold, without its hash-chain check).
//!
//! SQLite only stores here: the ledger's figure also includes deciding every command. Run with
//! `cargo bench --bench sqlite` (or `cargo bench`, which runs both files in one run).
#![allow(missing_docs)] // criterion's macros generate undocumented items.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use member_ledger::codec;
use member_ledger::codec::EventJson;
use member_ledger::domain::{MemberId, MemberState};
use member_ledger::store::StoredEvent;
use member_ledger::synthetic::Population;
use member_ledger::Ledger;
use rusqlite::{params, Connection};

/// Members per batch: the same as the ledger's batched-ingest bench.
const MEMBERS_PER_BATCH: u32 = 14;
/// Batches prepared (and cycled through) for the ingest bench.
const BATCHES: u64 = 6;

/// The ledger's stored envelopes (as JSON text) for a few batches of synthetic careers.
fn stored_batches(rt: &tokio::runtime::Runtime) -> Vec<Vec<(StoredEvent, String)>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = rt.block_on(Ledger::open(dir.path())).expect("open");
    (0..BATCHES)
        .map(|seed| {
            let p = Population {
                seed: 500 + seed,
                members: MEMBERS_PER_BATCH,
                years: 20,
                start_year: 1998,
            };
            let lines: Vec<String> = (0..p.members).flat_map(|i| p.career(i)).collect();
            rt.block_on(ledger.submit_json_batch(&lines))
                .into_iter()
                .flat_map(|r| r.expect("accepted").events)
                .map(|e| {
                    let json =
                        serde_json::to_string(&EventJson::of(&e).expect("fields")).expect("json");
                    (e, json)
                })
                .collect()
        })
        .collect()
}

fn open(path: &std::path::Path) -> Connection {
    let db = Connection::open(path).expect("sqlite");
    db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    db.pragma_update(None, "synchronous", "FULL").expect("full");
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (
             position INTEGER PRIMARY KEY,
             member BLOB NOT NULL,
             member_version INTEGER NOT NULL,
             envelope TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS events_member ON events (member, member_version);",
    )
    .expect("schema");
    db
}

fn sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batches = stored_batches(&rt);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = open(&dir.path().join("events.db"));

    let per_batch = batches[0].len() as u64;
    let mut group = c.benchmark_group("sqlite durable ingest");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(per_batch));
    let mut position: i64 = 0;
    let mut round = 0usize;
    group.bench_function(
        format!("the same events as JSON rows, one transaction per batch ({per_batch} events)"),
        |b| {
            b.iter(|| {
                let batch = &batches[round % batches.len()];
                round += 1;
                let tx = db.transaction().expect("tx");
                {
                    let mut insert = tx
                        .prepare_cached(
                            "INSERT INTO events (position, member, member_version, envelope) VALUES (?1, ?2, ?3, ?4)",
                        )
                        .expect("prepare");
                    for (event, json) in batch {
                        position += 1;
                        insert
                            .execute(params![
                                position,
                                event.member.as_bytes().as_slice(),
                                i64::try_from(event.member_version).expect("i64"),
                                json
                            ])
                            .expect("insert");
                    }
                }
                tx.commit().expect("commit");
            })
        },
    );
    group.finish();

    // Rebuild: one fresh table holding each prepared batch once (≈ the ledger's bench size).
    let rebuild_dir = tempfile::tempdir().expect("tempdir");
    let mut rebuild_db = open(&rebuild_dir.path().join("rebuild.db"));
    let tx = rebuild_db.transaction().expect("tx");
    let mut rows: i64 = 0;
    for (event, json) in batches.iter().flatten() {
        rows += 1;
        tx.execute(
            "INSERT INTO events (position, member, member_version, envelope) VALUES (?1, ?2, ?3, ?4)",
            params![
                rows,
                event.member.as_bytes().as_slice(),
                i64::try_from(event.member_version).expect("i64"),
                json
            ],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    let mut group = c.benchmark_group("sqlite rebuild");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::try_from(rows).expect("u64")));
    group.bench_function(
        format!("read {rows} rows in order, decode, fold into member states"),
        |b| {
            b.iter(|| {
                let mut states: BTreeMap<MemberId, MemberState> = BTreeMap::new();
                let mut select = rebuild_db
                    .prepare_cached("SELECT envelope FROM events ORDER BY position")
                    .expect("prepare");
                let mut cursor = select.query([]).expect("query");
                while let Some(row) = cursor.next().expect("row") {
                    let text: String = row.get(0).expect("text");
                    let stored: EventJson = serde_json::from_str(&text).expect("envelope");
                    let event =
                        codec::from_json(stored.schema_version, &stored.event_type, stored.data)
                            .expect("event");
                    states
                        .entry(stored.member)
                        .or_insert_with(|| MemberState::new(stored.member))
                        .apply(&event);
                }
                states.len()
            })
        },
    );
    group.finish();

    // The ledger's rebuild of the same events (global walk with the chain check, as in the
    // ledger bench), in the same run for the ratio.
    let ledger_dir = tempfile::tempdir().expect("tempdir");
    let ledger = rt.block_on(Ledger::open(ledger_dir.path())).expect("open");
    for seed in 0..BATCHES {
        let p = Population {
            seed: 500 + seed,
            members: MEMBERS_PER_BATCH,
            years: 20,
            start_year: 1998,
        };
        let lines: Vec<String> = (0..p.members).flat_map(|i| p.career(i)).collect();
        assert!(rt
            .block_on(ledger.submit_json_batch(&lines))
            .iter()
            .all(Result::is_ok));
    }
    let events = ledger.head().expect("head").position;
    let mut group = c.benchmark_group("ledger rebuild (same events)");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function(format!("global walk of {events} events"), |b| {
        b.iter(|| {
            rt.block_on(ledger.replay_with_progress(None, |_, _| {}))
                .expect("replay")
                .len()
        })
    });
    let members = ledger.log().members().expect("members");
    group.bench_function(format!("by member on two threads, {events} events"), |b| {
        b.iter(|| {
            rt.block_on(ledger.fold_members(members.clone(), None))
                .expect("fold")
                .len()
        })
    });
    group.finish();
}

criterion_group!(sqlite_benches, sqlite);
criterion_main!(sqlite_benches);
