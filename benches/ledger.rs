//! Criterion benches for the figures of BENCHMARKS.md: the raw fdatasync rate of this disk,
//! one durable submit, batched durable ingest of synthetic careers, a rebuild of every
//! projection, and one member's account in a populated ledger.
//!
//! Run with `cargo bench`; results go in BENCHMARKS.md. `BENCH_MEMBERS` sets the population of
//! the rebuild and account benches (default 200 members × 20 years ≈ 60,000 events).
#![allow(missing_docs)] // criterion's macros generate undocumented items.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;
use member_ledger::store::{EventStore, SledStore};
use member_ledger::synthetic::Population;
use member_ledger::Ledger;

fn enroll(member: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2000-01-01"}}"#
    )
}

fn population(members: u32, seed: u64) -> Population {
    Population {
        seed,
        members,
        years: 20,
        start_year: 1998,
    }
}

/// The disk's own limit: write 4 KiB and fdatasync, the floor under any durable submit.
fn raw_fdatasync(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut file = std::fs::File::create(dir.path().join("f")).expect("file");
    let block = [7u8; 4096];
    c.bench_function("raw fdatasync of a 4 KiB append", |b| {
        b.iter(|| {
            file.write_all(&block).expect("write");
            file.sync_data().expect("fdatasync");
        })
    });
}

fn submits(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = rt.block_on(Ledger::open(dir.path())).expect("open");
    let mut n: u64 = 0;
    c.bench_function("one durable submit (enrol, flush + fsync)", |b| {
        b.iter(|| {
            n += 1;
            let member = format!("00000000-0000-4000-8000-{n:012x}");
            rt.block_on(ledger.submit_json(&enroll(&member)))
                .expect("submit")
        })
    });

    // Latency percentiles of single durable submits (criterion reports means): printed, and
    // copied into BENCHMARKS.md by hand.
    let mut latencies: Vec<Duration> = (0..2000)
        .map(|_| {
            n += 1;
            let member = format!("00000000-0000-4000-8000-{n:012x}");
            let started = std::time::Instant::now();
            rt.block_on(ledger.submit_json(&enroll(&member)))
                .expect("submit");
            started.elapsed()
        })
        .collect();
    latencies.sort_unstable();
    let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    eprintln!(
        "one durable submit, 2000 in a row: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        at(50),
        at(90),
        at(99),
        latencies[latencies.len() - 1]
    );

    // Batched ingest: whole synthetic careers, 4,096 commands per batch, one flush each.
    let mut group = c.benchmark_group("batched durable ingest");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let mut seed = 100;
    let commands_per_batch = {
        let p = population(14, 0);
        (0..p.members).map(|i| p.career(i).len()).sum::<usize>()
    };
    group.throughput(Throughput::Elements(commands_per_batch as u64));
    group.bench_function(
        "synthetic careers (14 members × 20 years per batch)",
        |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    let p = population(14, seed);
                    (0..p.members).flat_map(|i| p.career(i)).collect::<Vec<_>>()
                },
                |lines| {
                    let results = rt.block_on(ledger.submit_json_batch(&lines));
                    assert!(results.iter().all(Result::is_ok));
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.finish();
}

fn reads(c: &mut Criterion) {
    let members: u32 = std::env::var("BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn EventStore> = Arc::new(SledStore::open(dir.path()).expect("open"));
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    let p = population(members, 7);
    for chunk in (0..p.members).collect::<Vec<_>>().chunks(14) {
        let lines: Vec<String> = chunk.iter().flat_map(|i| p.career(*i)).collect();
        let results = rt.block_on(ledger.submit_json_batch(&lines));
        assert!(results.iter().all(Result::is_ok));
    }
    let events = ledger.head().expect("head").position;

    let mut group = c.benchmark_group("rebuild");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function(format!("every projection from {events} events"), |b| {
        b.iter(|| {
            rt.block_on(ledger.replay_with_progress(None, |_, _| {}))
                .expect("replay")
        })
    });
    group.finish();

    let member = p.member_id(members / 2).parse().expect("uuid");
    c.bench_function(
        &format!("account view at head, warm (state cache), ledger of {events} events"),
        |b| {
            b.iter(|| {
                rt.block_on(ledger.account(member, ViewAt::Head))
                    .expect("view")
            })
        },
    );
    c.bench_function(
        &format!("account view at head, cold (snapshot + tail), ledger of {events} events"),
        |b| {
            b.iter_batched(
                || Ledger::with_store(store.clone(), PolicySet::shipped()),
                |fresh| {
                    rt.block_on(fresh.account(member, ViewAt::Head))
                        .expect("view")
                },
                BatchSize::SmallInput,
            )
        },
    );
}

criterion_group!(ledger_benches, raw_fdatasync, submits, reads);
criterion_main!(ledger_benches);
