//! Cold account reads on a large ledger: each member read once, first after opening (no member
//! state cached), through its snapshot and the events after it. Prints p50, p99 and max.
//!
//! `BENCH_LEDGER=/tmp/scale10 cargo bench --bench cold_account` on a ledger built by
//! `member-ledger load` (BENCHMARKS.md, "At 10 M events"); `BENCH_READS` members (default
//! 2,000), taken evenly across the ledger. Without `BENCH_LEDGER` it builds a small ledger.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use member_ledger::projection::ViewAt;
use member_ledger::synthetic::Population;
use member_ledger::Ledger;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::env::var("BENCH_LEDGER").unwrap_or_else(|_| {
        let path = dir.path().to_string_lossy().into_owned();
        let ledger = runtime.block_on(Ledger::open(&path)).expect("open");
        let p = Population {
            seed: 7,
            members: 200,
            years: 20,
            start_year: 2000,
        };
        let lines: Vec<String> = (0..p.members).flat_map(|i| p.career(i)).collect();
        assert!(runtime
            .block_on(ledger.submit_json_batch(&lines))
            .iter()
            .all(Result::is_ok));
        path
    });
    let reads: usize = std::env::var("BENCH_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let opened = Instant::now();
    let ledger = runtime.block_on(Ledger::open(&path)).expect("open");
    let open = opened.elapsed();
    let members = ledger.log().members().expect("members");
    let step = (members.len() / reads.max(1)).max(1);
    let mut times: Vec<Duration> = Vec::new();
    for member in members.iter().step_by(step).take(reads) {
        let started = Instant::now();
        runtime
            .block_on(ledger.account(*member, ViewAt::Head))
            .expect("account");
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    println!(
        "cold account: {} members of {}: p50 {:?}, p99 {:?}, max {:?}; open {:?}",
        times.len(),
        members.len(),
        at(50),
        at(99),
        times.last().copied().unwrap_or_default(),
        open
    );
}
