//! Batched submits decided ahead: two ledger handles with their own state caches write batches
//! to one store on the same members at the same time. The writer's version checks refuse the
//! appends decided on states that moved on, and those commands are decided again alone.
//!
//! Invariant: whatever the interleaving, every command is answered once, every accepted month
//! is in the log once, the balance is what the accepted commands add up to, and the checkpoints
//! equal a replay. A batch decided while the last one is flushed answers as if submitted after it.

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
    assert!(a
        .submit_json_batch(&enrolments)
        .await
        .iter()
        .all(Result::is_ok));
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
    let (results_a, results_b) =
        tokio::join!(a.submit_json_batch(&lines_a), b.submit_json_batch(&lines_b));
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

/// Given the same commands as JSON lines and as typed submissions (one of them under a key of
/// 257 bytes, one over the balance), when each form is submitted as a batch to its own ledger,
/// then both answer the same for each command (positions, events, rejection codes) and the
/// oversized key is `invalid_input` that wrote nothing, in both.
#[tokio::test]
async fn a_typed_batch_answers_as_the_same_json_lines() {
    use member_ledger::{parse_command, Submission};
    let long_key = "k".repeat(257);
    let m = member(900);
    let lines = vec![
        format!(
            r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2024-01-01"}}"#
        ),
        format!(
            r#"{{"type":"contribute","member":"{m}","month":"2024-01","wage":"6000.00","payer":"employer","key":"c-1"}}"#
        ),
        format!(
            r#"{{"type":"spend","member":"{m}","date":"2024-02-01","amount":"10.00","purpose":"pharmacy","key":"{long_key}"}}"#
        ),
        format!(
            r#"{{"type":"spend","member":"{m}","date":"2024-02-02","amount":"99999.00","purpose":"pharmacy"}}"#
        ),
        format!(
            r#"{{"type":"spend","member":"{m}","date":"2024-02-03","amount":"10.00","purpose":"pharmacy","key":"s-1"}}"#
        ),
    ];
    // The typed form of each line; the long key is set by hand (JSON parsing refuses it).
    let typed: Vec<Submission> = lines
        .iter()
        .map(|line| {
            let cut = line.replace(&format!(r#","key":"{long_key}""#), "");
            let (command, key) = parse_command(&cut).expect("the line parses");
            let key = if cut.len() == line.len() {
                key
            } else {
                Some(long_key.clone())
            };
            Submission { command, key }
        })
        .collect();
    let (_a_dir, a) = common_ledger().await;
    let (_b_dir, b) = common_ledger().await;
    let from_json = a.submit_json_batch(&lines).await;
    let from_typed = b.submit_batch(typed).await;
    assert_eq!(from_json.len(), 5);
    let answer = |r: &Result<member_ledger::Receipt, member_ledger::SubmitError>| match r {
        Ok(receipt) => format!("ok {} {}", receipt.position, receipt.events.len()),
        Err(member_ledger::SubmitError::Rejected(r)) => format!("refused {}", r.code.as_str()),
        Err(e) => format!("failed {e}"),
    };
    let json_answers: Vec<String> = from_json.iter().map(answer).collect();
    let typed_answers: Vec<String> = from_typed.iter().map(answer).collect();
    assert_eq!(json_answers, typed_answers);
    assert_eq!(typed_answers[2], "refused invalid_input");
    assert_eq!(typed_answers[3], "refused insufficient_balance");
    assert!(typed_answers[4].starts_with("ok "), "{}", typed_answers[4]);
    for ledger in [&a, &b] {
        let id = m.parse().expect("member id");
        let events = ledger.log().read_member(id, None).expect("events");
        assert_eq!(events.len(), 3, "enrolment, contribution, one spend");
        assert!(events
            .iter()
            .all(|e| e.idempotency_key.as_deref() != Some(long_key.as_str())));
    }
}

/// Given an enrolment and twelve monthly contributions split over two batches, the second
/// submitted while the first is still being flushed (`submit_batch_pending`, as `submit` does),
/// when both are waited for, then every answer is what one batch after the other gives
/// (positions 1..=13, the second batch's first contribution at position 8), the repeated key
/// in the second batch answers the first batch's receipt, and the balance is 12 × 2 % × 6,000.00.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_decided_while_the_last_is_flushed_answers_as_one_after_the_other() {
    use member_ledger::{parse_command, Submission};
    let m = member(901);
    let mut lines = vec![format!(
        r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2024-01-01"}}"#
    )];
    for month in 1..=12 {
        lines.push(format!(
            r#"{{"type":"contribute","member":"{m}","month":"2024-{month:02}","wage":"6000.00","payer":"employer","key":"c-{month}"}}"#
        ));
    }
    // The first batch's last command again, under its key: answered as the first time.
    lines.push(lines[6].clone());
    let typed: Vec<Submission> = lines
        .iter()
        .map(|line| {
            let (command, key) = parse_command(line).expect("the line parses");
            Submission { command, key }
        })
        .collect();
    let (_dir, pipelined) = common_ledger().await;
    let first = pipelined.submit_batch_pending(typed[..7].to_vec()).await;
    let second = pipelined.submit_batch_pending(typed[7..].to_vec()).await;
    let answers = tokio::task::spawn_blocking(move || {
        let mut answers = first.wait();
        answers.extend(second.wait());
        answers
    })
    .await
    .expect("waited");
    let (_dir_b, one_by_one) = common_ledger().await;
    let mut expected = one_by_one.submit_batch(typed[..7].to_vec()).await;
    expected.extend(one_by_one.submit_batch(typed[7..].to_vec()).await);
    let answer = |r: &Result<member_ledger::Receipt, member_ledger::SubmitError>| match r {
        Ok(receipt) => format!("ok {} {}", receipt.position, receipt.events.len()),
        Err(e) => format!("refused {}", e.code()),
    };
    let got: Vec<String> = answers.iter().map(answer).collect();
    let want: Vec<String> = expected.iter().map(answer).collect();
    assert_eq!(got, want);
    assert_eq!(got[7], "ok 8 1");
    assert_eq!(got[12], "ok 13 1");
    assert_eq!(
        got[13], "ok 7 1",
        "the repeated key answers its first receipt"
    );
    let view = pipelined
        .account(m.parse().expect("member id"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(view.balance.to_string(), "1440.00");
}

async fn common_ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path()).await.expect("open");
    (dir, ledger)
}
