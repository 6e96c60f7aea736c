//! Batched submits decided ahead: two ledger handles with their own state caches write batches
//! to one store on the same members at the same time. The writer's version checks refuse the
//! appends decided on states that moved on, and those commands are decided again alone.
//!
//! Invariant: whatever the interleaving, every command is answered once, every accepted month
//! is in the log once, the balance is what the accepted commands add up to, and the checkpoints
//! equal a replay.

use std::sync::Arc;

use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;
use member_ledger::store::{EventStore, SledStore, StoreOptions};
use member_ledger::Ledger;

const MEMBERS: u32 = 4;

fn member(i: u32) -> String {
    format!("00000000-0000-4000-8000-0000000ba{i:03x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_batching_on_the_same_members_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        fsync: false, // not a durability test
        ..StoreOptions::default()
    };
    let store: Arc<dyn EventStore> =
        Arc::new(SledStore::open_with(dir.path(), options).expect("open"));
    let a = Ledger::with_store(store.clone(), PolicySet::shipped());
    let b = Ledger::with_store(store.clone(), PolicySet::shipped());
    let enrolments: Vec<String> = (0..MEMBERS)
        .map(|i| {
            format!(
                r#"{{"type":"enroll","member":"{}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1985-01-01","date":"2010-01-01"}}"#,
                member(i)
            )
        })
        .collect();
    assert!(a.submit_batch(&enrolments).await.iter().all(Result::is_ok));
    // Warm both caches, so each decides on states the other moves on.
    for i in 0..MEMBERS {
        let id = member(i).parse().expect("uuid");
        a.account(id, ViewAt::Head).await.expect("view");
        b.account(id, ViewAt::Head).await.expect("view");
    }
    // Handle a pays even months, handle b odd months, of 2010..2019, for every member.
    let batch = |parity: u32| -> Vec<String> {
        let mut lines = Vec::new();
        for k in 0..120u32 {
            if k % 2 != parity {
                continue;
            }
            for i in 0..MEMBERS {
                lines.push(format!(
                    r#"{{"type":"contribute","member":"{}","month":"{}-{:02}","wage":"5000.00","payer":"employer"}}"#,
                    member(i),
                    2010 + k / 12,
                    k % 12 + 1
                ));
            }
        }
        lines
    };
    let (lines_a, lines_b) = (batch(0), batch(1));
    let (results_a, results_b) = tokio::join!(a.submit_batch(&lines_a), b.submit_batch(&lines_b));
    for (line, result) in lines_a
        .iter()
        .zip(&results_a)
        .chain(lines_b.iter().zip(&results_b))
    {
        assert!(result.is_ok(), "{line}: {result:?}");
    }
    for i in 0..MEMBERS {
        let id = member(i).parse().expect("uuid");
        let view = a.account(id, ViewAt::Head).await.expect("view");
        assert_eq!(view.months.actual, 120, "every month once");
        // 2010–2022: 2 % + 0.8 % (under 35) or 1.0 % (35 and over from 2020) of 5,000.00.
        let credited: u32 = (0..120u32)
            .map(|k| if 2010 + k / 12 >= 2020 { 150 } else { 140 })
            .sum();
        assert_eq!(view.balance.to_string(), format!("{credited}.00"));
    }
    let head = store.head().expect("head").position;
    assert_eq!(
        head,
        u64::from(MEMBERS) + 120 * u64::from(MEMBERS),
        "no event twice"
    );
    let report = a.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
}
