//! Criterion benches: durable submits (one at a time and batched) and a head account read.
#![allow(missing_docs)] // criterion's macros generate undocumented items.
//! Run with `cargo bench`; results go in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use member_ledger::projection::ViewAt;
use member_ledger::Ledger;

fn enroll(member: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2000-01-01"}}"#
    )
}

fn spend(member: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{member}","month":"2000-01","wage":"5000.00","payer":"employer"}}"#
    )
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = rt.block_on(Ledger::open(dir.path())).expect("open");
    let mut n: u64 = 0;
    c.bench_function("durable submit (enroll, one fsync each)", |b| {
        b.iter(|| {
            n += 1;
            let member = format!("00000000-0000-4000-8000-{n:012x}");
            rt.block_on(ledger.submit_json(&enroll(&member)))
                .expect("submit")
        })
    });
    c.bench_function("batched submit of 256 enrolments (group commit)", |b| {
        b.iter(|| {
            let lines: Vec<String> = (0..256)
                .map(|_| {
                    n += 1;
                    enroll(&format!("00000000-0000-4000-8000-{n:012x}"))
                })
                .collect();
            rt.block_on(ledger.submit_batch(&lines))
        })
    });
    let member = "00000000-0000-4000-8000-ffffffffffff";
    rt.block_on(ledger.submit_json(&enroll(member)))
        .expect("enroll");
    rt.block_on(ledger.submit_json(&spend(member)))
        .expect("contribute");
    let id = member.parse().expect("uuid");
    c.bench_function("account view at head (checkpoint, no replay)", |b| {
        b.iter(|| rt.block_on(ledger.account(id, ViewAt::Head)).expect("view"))
    });
}

criterion_group!(ledger_benches, benches);
criterion_main!(ledger_benches);
