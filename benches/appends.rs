//! Durable appends per second on each backend, the figures of BENCHMARKS.md's "Appends on sled
//! and PostgreSQL" table: one connection submitting one command at a time, sixteen connections
//! at once (PostgreSQL: sixteen writer connections; sled: its one writer, which shares a flush
//! between them), and one connection submitting batches of 512; then groups of 512 appends
//! and one and sixteen connections sending one append each, to the store itself, without the
//! ledger's reads and decisions.
//!
//! Every command is an enrolment of a new member (one event), acknowledged only once durable.
//! PostgreSQL runs when `MEMBER_LEDGER_PG_URL` names a database (each run in a schema of its
//! own); without it, only sled is measured. Build with `--features postgres`:
//! `cargo bench --features postgres --bench appends`.
#![allow(missing_docs)] // criterion's macros generate undocumented items.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use member_ledger::policy::PolicySet;
use member_ledger::store::{
    AppendOutcome, AppendRequest, EventStore, NewEvent, PgOptions, PgStore, SledStore,
};
use member_ledger::Ledger;
use uuid::Uuid;

/// Connections (tasks) submitting at once in the concurrent case.
const CONNECTIONS: usize = 16;
/// Commands each round submits in the one-at-a-time cases.
const COMMANDS_PER_ROUND: u64 = 256;
/// Commands per batch in the batched case.
const BATCH_COMMANDS: usize = 512;

static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

fn enroll() -> String {
    let n = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
    format!(
        r#"{{"type":"enroll","member":"00000000-0000-4000-8000-{n:012x}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1985-01-01","date":"2010-01-01"}}"#
    )
}

/// `rounds` rounds of [`COMMANDS_PER_ROUND`] commands, one at a time on one task.
async fn one_at_a_time(ledger: &Ledger, rounds: u64) -> Duration {
    let lines: Vec<String> = (0..rounds * COMMANDS_PER_ROUND).map(|_| enroll()).collect();
    let started = Instant::now();
    for line in &lines {
        ledger.submit_json(line).await.expect("submit");
    }
    started.elapsed()
}

/// The same commands split over [`CONNECTIONS`] tasks submitting at once.
async fn concurrently(ledger: &Ledger, rounds: u64) -> Duration {
    let per_task = (rounds * COMMANDS_PER_ROUND).div_ceil(CONNECTIONS as u64);
    let work: Vec<Vec<String>> = (0..CONNECTIONS)
        .map(|_| (0..per_task).map(|_| enroll()).collect())
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|lines| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for line in &lines {
                    ledger.submit_json(line).await.expect("submit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    started.elapsed()
}

/// One append of one event for a new member, as the ledger would send for an enrolment.
fn one_append() -> AppendRequest {
    let n = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
    let member = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n));
    AppendRequest {
        events: vec![NewEvent {
            member,
            event_type: "enrolled".into(),
            schema_version: 1,
            effective_date: NaiveDate::from_ymd_opt(2010, 1, 1).expect("date"),
            policy_version: "luzhou/2024-01".into(),
            data: br#"{"region":"luzhou","scheme":"employee"}"#.to_vec(),
        }],
        expected: vec![(member, 0)],
        sync: true,
        ..AppendRequest::default()
    }
}

/// [`COMMANDS_PER_ROUND`] × `rounds` appends sent to the store itself by `threads` threads at
/// once, each waiting for its append to be durable before the next.
fn store_concurrently(store: &Arc<dyn EventStore>, threads: usize, rounds: u64) -> Duration {
    let per_thread = (rounds * COMMANDS_PER_ROUND).div_ceil(threads as u64);
    let work: Vec<Vec<AppendRequest>> = (0..threads)
        .map(|_| (0..per_thread).map(|_| one_append()).collect())
        .collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for requests in work {
            scope.spawn(move || {
                for request in requests {
                    let ticket = store.append(request);
                    let outcome = ticket.applied.blocking_recv().expect("an answer");
                    assert!(matches!(outcome, Ok(AppendOutcome::Committed(_))));
                    let durable = ticket.durable.blocking_recv().expect("an answer");
                    durable.expect("durable");
                }
            });
        }
    });
    started.elapsed()
}

/// `rounds` groups of [`BATCH_COMMANDS`] one-event appends sent to the store itself: what the
/// backend can take without the ledger's reads and decisions.
fn store_groups(store: &dyn EventStore, rounds: u64) -> Duration {
    let groups: Vec<Vec<AppendRequest>> = (0..rounds)
        .map(|_| (0..BATCH_COMMANDS).map(|_| one_append()).collect())
        .collect();
    let started = Instant::now();
    for group in groups {
        let ticket = store.append_group(group);
        let outcomes = ticket.applied.blocking_recv().expect("an answer");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(AppendOutcome::Committed(_)))),
            "a group was refused"
        );
        ticket
            .durable
            .blocking_recv()
            .expect("an answer")
            .expect("durable");
    }
    started.elapsed()
}

/// `rounds` batches of [`BATCH_COMMANDS`] commands on one task.
async fn batched(ledger: &Ledger, rounds: u64) -> Duration {
    let batches: Vec<Vec<String>> = (0..rounds)
        .map(|_| (0..BATCH_COMMANDS).map(|_| enroll()).collect())
        .collect();
    let started = Instant::now();
    for lines in &batches {
        let results = ledger.submit_json_batch(lines).await;
        assert!(results.iter().all(Result::is_ok), "a batch was refused");
    }
    started.elapsed()
}

/// The backends to measure: sled in a temporary directory, PostgreSQL when configured. Each
/// is opened with `writers` writer connections where the backend has them.
fn backends(writers: usize) -> Vec<(&'static str, Arc<dyn EventStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sled: Arc<dyn EventStore> = Arc::new(SledStore::open(dir.path()).expect("open sled"));
    let mut out = vec![("sled", sled, Some(dir))];
    if let Ok(url) = std::env::var("MEMBER_LEDGER_PG_URL") {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let options = PgOptions {
            schema: Some(format!("bench_appends_{}_{nanos}", std::process::id())),
            writers,
        };
        let pg: Arc<dyn EventStore> =
            Arc::new(PgStore::open_with(&url, options).expect("open PostgreSQL"));
        out.push(("postgres", pg, None));
    } else {
        eprintln!("MEMBER_LEDGER_PG_URL is not set: measuring sled only");
    }
    out
}

/// What a measurement submits, and how.
#[derive(Clone, Copy)]
enum Case {
    OneAtATime,
    Concurrent,
    Batched,
    StoreOne,
    StoreConcurrent,
    StoreGroups,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::OneAtATime => "1 connection, one command per submit",
            Case::Concurrent => "16 connections, one command per submit",
            Case::Batched => "1 connection, batches of 512",
            Case::StoreOne => "store only, 1 connection, one append each",
            Case::StoreConcurrent => "store only, 16 connections, one append each",
            Case::StoreGroups => "store only, groups of 512 appends",
        }
    }

    /// Writer connections the PostgreSQL store opens.
    fn writers(self) -> usize {
        match self {
            Case::Concurrent | Case::StoreConcurrent => CONNECTIONS,
            Case::OneAtATime | Case::Batched | Case::StoreOne | Case::StoreGroups => 1,
        }
    }

    /// Commands per round.
    fn elements(self) -> u64 {
        match self {
            Case::Batched | Case::StoreGroups => BATCH_COMMANDS as u64,
            Case::OneAtATime | Case::Concurrent | Case::StoreOne | Case::StoreConcurrent => {
                COMMANDS_PER_ROUND
            }
        }
    }

    async fn run(self, ledger: &Ledger, store: &Arc<dyn EventStore>, rounds: u64) -> Duration {
        match self {
            Case::OneAtATime => one_at_a_time(ledger, rounds).await,
            Case::Concurrent => concurrently(ledger, rounds).await,
            Case::Batched => batched(ledger, rounds).await,
            Case::StoreOne | Case::StoreConcurrent => {
                let store = Arc::clone(store);
                let threads = self.writers();
                tokio::task::spawn_blocking(move || store_concurrently(&store, threads, rounds))
                    .await
                    .expect("the appends")
            }
            Case::StoreGroups => {
                let store = Arc::clone(store);
                tokio::task::spawn_blocking(move || store_groups(store.as_ref(), rounds))
                    .await
                    .expect("the groups")
            }
        }
    }
}

fn appends(c: &mut Criterion) {
    // The store's calls block their thread while they wait for the database (the trait is
    // synchronous), so each of the sixteen submitting tasks gets a thread of its own, as
    // sixteen service threads would have.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CONNECTIONS)
        .enable_all()
        .build()
        .expect("runtime");
    for case in [
        Case::OneAtATime,
        Case::Concurrent,
        Case::Batched,
        Case::StoreOne,
        Case::StoreConcurrent,
        Case::StoreGroups,
    ] {
        let mut group = c.benchmark_group(format!("durable appends: {}", case.name()));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(10));
        group.throughput(Throughput::Elements(case.elements()));
        for (backend, store, _dir) in backends(case.writers()) {
            let ledger = Ledger::with_store(Arc::clone(&store), PolicySet::shipped());
            group.bench_function(backend, |b| {
                b.iter_custom(|rounds| rt.block_on(case.run(&ledger, &store, rounds)))
            });
        }
        group.finish();
    }
}

criterion_group!(append_benches, appends);
criterion_main!(append_benches);
