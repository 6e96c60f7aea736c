//! Concurrency: 16 tasks submit through clones of one `Ledger` at once, on overlapping members and
//! months. No acknowledged update is lost, no month is paid twice by one payer, one idempotency key
//! writes once however many tasks send it, positions are gapless, the checkpoints equal a
//! sequential replay, and money is conserved.
//!
//! `CONCURRENCY_COMMANDS` sets the commands per task (default 1,000: 16,000 in all).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use member_ledger::codec;
use member_ledger::domain::{ErrorCode, Event};
use member_ledger::money::Money;
use member_ledger::store::{SledStore, StoreOptions};
use member_ledger::{Ledger, Receipt, SubmitError};

const TASKS: u64 = 16;
const COMMANDS_PER_TASK_DEFAULT: u64 = 1_000;
const MEMBERS: u64 = 8;
/// Contribution months 2023-01 … 2030-12.
const MONTHS: u64 = 96;
/// How often a task sends a command again after a version conflict (a client's bounded retry).
const CONFLICT_RETRIES_MAX: u32 = 100;

fn member(i: u64) -> String {
    format!("00000000-0000-4000-8000-00000000c{i:03x}")
}

fn month(i: u64) -> String {
    format!("{}-{:02}", 2023 + i / 12, i % 12 + 1)
}

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Keyed employer contribution: every task sending it sends the same payload and key.
    KeyedContribution,
    /// Unkeyed individual contribution with a task-specific wage: one per month wins.
    Contribution,
    /// Unkeyed spending.
    Spend,
}

fn command(rng: &mut Rng, task: u64) -> (Kind, String) {
    let m = member(rng.next(MEMBERS));
    let mo = month(rng.next(MONTHS));
    match rng.next(10) {
        0..=4 => (
            Kind::KeyedContribution,
            format!(
                r#"{{"type":"contribute","member":"{m}","month":"{mo}","wage":"8000.00","payer":"employer","key":"pay-{m}-{mo}"}}"#
            ),
        ),
        5..=6 => (
            Kind::Contribution,
            format!(
                r#"{{"type":"contribute","member":"{m}","month":"{mo}","wage":"{}.00","payer":"individual"}}"#,
                3000 + task
            ),
        ),
        _ => (
            Kind::Spend,
            format!(
                r#"{{"type":"spend","member":"{m}","date":"2031-01-15","amount":"{}.00","purpose":"pharmacy"}}"#,
                1 + rng.next(60)
            ),
        ),
    }
}

/// Submits, retrying a version conflict as a client would; returns the result and the retries.
async fn submit(ledger: &Ledger, line: &str) -> (Result<Receipt, SubmitError>, u32) {
    let mut retries = 0;
    loop {
        let result = ledger.submit_json(line).await;
        match &result {
            Err(SubmitError::Rejected(r))
                if r.code == ErrorCode::VersionConflict && retries < CONFLICT_RETRIES_MAX =>
            {
                retries += 1;
            }
            _ => return (result, retries),
        }
    }
}

#[derive(Default)]
struct TaskLog {
    /// Accepted receipts by command kind and line.
    accepted: Vec<(Kind, String, Receipt)>,
    /// Rejections by code.
    rejected: BTreeMap<String, u64>,
    conflict_retries: u64,
}

async fn run_task(ledger: Ledger, task: u64, commands: u64) -> TaskLog {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (task + 1));
    let mut log = TaskLog::default();
    for _ in 0..commands {
        let (kind, line) = command(&mut rng, task);
        let (result, retries) = submit(&ledger, &line).await;
        log.conflict_retries += u64::from(retries);
        match result {
            Ok(receipt) => log.accepted.push((kind, line, receipt)),
            Err(SubmitError::Rejected(r)) => {
                let expected = match kind {
                    Kind::KeyedContribution => &[][..],
                    Kind::Contribution => &[ErrorCode::DuplicateMonth][..],
                    Kind::Spend => &[ErrorCode::InsufficientBalance][..],
                };
                assert!(expected.contains(&r.code), "{kind:?} {line}: {r}");
                *log.rejected.entry(r.code.as_str().to_string()).or_default() += 1;
            }
            Err(e) => panic!("{line}: {e}"),
        }
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tasks_lose_nothing_and_equal_a_sequential_replay() {
    let commands: u64 = std::env::var("CONCURRENCY_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(COMMANDS_PER_TASK_DEFAULT);
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        fsync: false, // not a durability test: the crash and fault tests are
        ..StoreOptions::default()
    };
    let store = SledStore::open_with(dir.path(), options).expect("open");
    let ledger = Ledger::with_store(Arc::new(store), member_ledger::policy::PolicySet::shipped());
    for i in 0..MEMBERS {
        let line = format!(
            r#"{{"type":"enroll","member":"{}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2022-01-01"}}"#,
            member(i)
        );
        ledger.submit_json(&line).await.expect("enroll");
    }

    let handles: Vec<_> = (0..TASKS)
        .map(|t| tokio::spawn(run_task(ledger.clone(), t, commands)))
        .collect();
    let mut logs = Vec::new();
    for h in handles {
        logs.push(h.await.expect("task"));
    }

    // One key, one write: every receipt of a key names the same positions.
    let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    // Every acknowledged event, by position (a replayed key's receipt repeats its first one).
    let mut acknowledged: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    for (kind, line, receipt) in logs.iter().flat_map(|l| &l.accepted) {
        let positions: Vec<u64> = receipt.events.iter().map(|e| e.position).collect();
        assert!(!positions.is_empty(), "{line} accepted without an event");
        if *kind == Kind::KeyedContribution {
            let first = by_key
                .entry(line.clone())
                .or_insert_with(|| positions.clone());
            assert_eq!(first, &positions, "{line}: one key, two writes");
        }
        for e in &receipt.events {
            if let Some(h) = acknowledged.insert(e.position, e.hash()) {
                assert_eq!(
                    h,
                    e.hash(),
                    "position {} acknowledged twice differently",
                    e.position
                );
            }
        }
    }

    // Gapless positions, and every event past the enrolments was acknowledged to someone.
    let head = ledger.head().expect("head").position;
    let events = ledger.log().read_from(1, usize::MAX).expect("read");
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>(), "gapless");
    for e in &events[usize::try_from(MEMBERS).expect("small")..] {
        assert_eq!(
            acknowledged.get(&e.position),
            Some(&e.hash()),
            "position {} unacknowledged or lost",
            e.position
        );
    }
    assert_eq!(acknowledged.len() as u64, head - MEMBERS, "no lost update");

    // No month paid twice by one payer; money conserved per member and in all.
    let mut paid: BTreeSet<(uuid::Uuid, String, String)> = BTreeSet::new();
    let mut credited: BTreeMap<uuid::Uuid, Money> = BTreeMap::new();
    let mut spent: BTreeMap<uuid::Uuid, Money> = BTreeMap::new();
    for e in &events {
        match codec::decode(e).expect("decode") {
            Event::ContributionPosted(c) => {
                let slot = (e.member, c.month.to_string(), format!("{:?}", c.payer));
                assert!(paid.insert(slot.clone()), "duplicate month {slot:?}");
                *credited.entry(e.member).or_default() += c.account_credit;
            }
            Event::Spent { amount, .. } => *spent.entry(e.member).or_default() += amount,
            Event::Enrolled { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    let replayed = ledger.replay_all().await.expect("replay");
    assert_eq!(
        replayed,
        ledger.checkpoints().await.expect("checkpoints"),
        "checkpoints = replay"
    );
    for (id, state) in &replayed {
        let c = credited.get(id).copied().unwrap_or_default();
        let s = spent.get(id).copied().unwrap_or_default();
        assert_eq!(state.balance, c - s, "{id}: money conserved");
        assert!(!state.balance.is_negative());
        let counted = paid
            .iter()
            .filter(|(m, _, _)| m == id)
            .map(|(_, mo, _)| mo)
            .collect::<BTreeSet<_>>();
        assert_eq!(
            state.months_actual() as usize,
            counted.len(),
            "{id}: each month counted once"
        );
    }
    let report = ledger.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");

    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    for l in &logs {
        for (code, n) in &l.rejected {
            *rejected.entry(code.clone()).or_default() += n;
        }
    }
    eprintln!(
        "concurrency: {TASKS} tasks × {commands} commands in {:.1} s: {} accepted, {} events, rejected {rejected:?}, {} resubmissions after a version_conflict rejection, {} distinct keys",
        started.elapsed().as_secs_f64(),
        logs.iter().map(|l| l.accepted.len()).sum::<usize>(),
        head,
        logs.iter().map(|l| l.conflict_retries).sum::<u64>(),
        by_key.len(),
    );
}
