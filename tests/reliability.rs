//! The findings of the second attack run (RELIABILITY.md, "Round 2"), each as a test: money
//! that would poison the log, sled's half-written snapshot, free text that would become a sled
//! blob, answers decided after a storage failure, a keyed rejection retried, a key named twice
//! in one command, policy files that never end.

use std::sync::Arc;

use member_ledger::ledger::PIPELINE_GROUP_COMMANDS;
use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;
use member_ledger::store::{FaultPlan, SledStore, StoreOptions};
use member_ledger::{Ledger, SubmitError};

mod common;

const M: &str = "00000000-0000-4000-8000-00000000b001";

fn enroll(member: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1970-01-01","date":"2022-01-01"}}"#
    )
}

fn transfer_in(balance: &str, key: &str) -> String {
    format!(
        r#"{{"type":"transfer_in","member":"{M}","date":"2022-02-01","from_region":"chongqing","balance":"{balance}","months":0,"key":"{key}"}}"#
    )
}

fn code(result: Result<member_ledger::Receipt, SubmitError>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(e) => e.code().to_string(),
    }
}

/// Money: every amount and every sum the ledger writes stays within what it reads back.
#[tokio::test]
async fn a_member_driven_to_the_money_bound_and_past_it_is_refused_and_stays_readable() {
    let (_d, l) = common::given(&[enroll(M)]).await;
    assert_eq!(
        code(l.submit_json(&transfer_in("99999999999.99", "t1")).await),
        "accepted"
    );
    assert_eq!(
        code(l.submit_json(&transfer_in("0.01", "t2")).await),
        "accepted",
        "exactly the bound"
    );
    assert_eq!(
        code(l.submit_json(&transfer_in("0.01", "t3")).await),
        "amount_out_of_range",
        "one fen past the bound"
    );
    let view = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(view.balance.to_string(), "100000000000.00");
    // A wage that would carry a year's sums past the bound is refused before anything is decided.
    let wage = format!(
        r#"{{"type":"contribute","member":"{M}","month":"2022-02","wage":"9000000000.00","payer":"employer"}}"#
    );
    assert_eq!(code(l.submit_json(&wage).await), "amount_out_of_range");
    let report = l.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.events, 3, "only the accepted commands were written");
    l.rebuild_projections(|_, _| {})
        .await
        .expect("the whole log still folds");
    l.dossier(M.parse().expect("uuid"))
        .await
        .expect("and exports");
}

/// sled 0.34 reads a half-written `snap.*.generating` as its newest snapshot and then fails at
/// every open; the store removes it first and says so.
#[tokio::test]
async fn a_half_written_sled_snapshot_no_longer_stops_the_ledger_from_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let ledger = Ledger::open(dir.path()).await.expect("open");
        ledger.submit_json(&enroll(M)).await.expect("enroll");
    }
    std::fs::write(dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"), b"").expect("leftover");
    let store = SledStore::open(dir.path()).expect("opens despite the leftover");
    assert!(
        store
            .open_notes()
            .iter()
            .any(|n| n.contains("half-written sled snapshot")),
        "{:?}",
        store.open_notes()
    );
    let ledger = Ledger::with_store(Arc::new(store), PolicySet::shipped());
    let view = ledger
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("every event is there");
    assert_eq!(view.region, "luzhou");
}

/// A 900 KB free-text field is refused before it is written: no event is ever a sled blob
/// (which sled 0.34 writes without an fsync).
#[tokio::test]
async fn free_text_too_long_for_a_record_is_refused_and_no_blob_is_written() {
    let (dir, l) = common::given(&[enroll(M)]).await;
    let huge = "x".repeat(900 * 1024);
    let line = format!(
        r#"{{"type":"transfer_in","member":"{M}","date":"2022-02-01","from_region":"{huge}","balance":"1.00","months":0}}"#
    );
    let refused = l.submit_json(&line).await.expect_err("refused");
    assert_eq!(refused.code(), "invalid_input", "{refused}");
    assert_eq!(l.head().expect("head").position, 1, "nothing written");
    let blobs = std::fs::read_dir(dir.path().join("blobs")).map_or(0, |d| d.count());
    assert_eq!(blobs, 0, "no value went to a blob file");
}

/// After a storage failure in a batch, every command decided after it answers `storage_error`:
/// a business rejection decided against states that were never written is not an answer.
#[tokio::test]
async fn commands_decided_after_a_storage_failure_answer_storage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = FaultPlan::new();
    let options = StoreOptions {
        faults: Some(Arc::clone(&plan)),
        ..StoreOptions::default()
    };
    let store = SledStore::open_with(dir.path(), options).expect("open");
    let l = Ledger::with_store(Arc::new(store), PolicySet::shipped());
    // Two groups of commands: the second group's write fails.
    let enrolments = PIPELINE_GROUP_COMMANDS + 88;
    let mut lines = Vec::new();
    for i in 0..enrolments {
        lines.push(enroll(&format!("00000000-0000-4000-8000-{i:012}")));
    }
    // In the second group: the same enrolment again (would be already_enrolled), and a line
    // that is not a command at all (invalid whatever the storage does).
    let again = enrolments - 10;
    lines.push(enroll(&format!("00000000-0000-4000-8000-{again:012}")));
    lines.push("{not json".into());
    plan.fail_nth_batch(2);
    let results = l.submit_json_batch(&lines).await;
    for (i, result) in results.iter().enumerate().take(enrolments + 1) {
        assert!(
            matches!(result, Err(SubmitError::Storage(_))),
            "line {i}: {:?} (nothing was acknowledged)",
            result.as_ref().map(|r| r.position)
        );
    }
    assert_eq!(
        results[enrolments + 1]
            .as_ref()
            .map(|_| ())
            .map_err(SubmitError::code),
        Err("invalid_input")
    );
}

/// A keyed command's first answer is kept, rejections included: a retry gets it again and
/// writes nothing, even when the command would now be accepted.
#[tokio::test]
async fn a_keyed_rejection_is_answered_again_on_retry() {
    let (_d, l) = common::given(&[enroll(M)]).await;
    let spend = format!(
        r#"{{"type":"spend","member":"{M}","date":"2022-03-01","amount":"300.00","purpose":"pharmacy","key":"receipt-9"}}"#
    );
    let first = l.submit_json(&spend).await.expect_err("nothing to spend");
    assert_eq!(first.code(), "insufficient_balance");
    l.submit_json(&transfer_in("1000.00", "t1"))
        .await
        .expect("money arrives");
    let again = l.submit_json(&spend).await.expect_err("the first answer");
    assert_eq!(again.to_string(), first.to_string());
    let view = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        view.balance.to_string(),
        "1000.00",
        "the retry spent nothing"
    );
    let other = spend.replace("300.00", "200.00");
    assert_eq!(code(l.submit_json(&other).await), "key_reused");
}

/// A key named twice in one command is refused: the second value never wins silently.
#[tokio::test]
async fn a_key_named_twice_is_invalid_input() {
    let (_d, l) = common::given(&[enroll(M), transfer_in("1000.00", "t1")]).await;
    let twice = format!(
        r#"{{"type":"spend","member":"{M}","date":"2022-03-01","amount":"1.00","amount":"1000.00","purpose":"pharmacy"}}"#
    );
    let refused = l.submit_json(&twice).await.expect_err("refused");
    assert_eq!(refused.code(), "invalid_input");
    assert!(
        refused.to_string().contains("\"amount\" is given twice"),
        "{refused}"
    );
    let member_twice = format!(
        r#"{{"type":"spend","member":"{M}","member":"00000000-0000-4000-8000-00000000b002","date":"2022-03-01","amount":"1.00","purpose":"pharmacy"}}"#
    );
    assert_eq!(code(l.submit_json(&member_twice).await), "invalid_input");
}

/// A policy directory whose file is a symlink to a device (or a FIFO) is refused at once,
/// naming the file, instead of being read without end.
#[test]
fn a_policy_file_that_never_ends_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("luzhou.json")).expect("symlink");
    let refused = PolicySet::from_dir(dir.path()).expect_err("refused");
    assert!(refused.to_string().contains("luzhou.json"), "{refused}");
    assert!(
        refused.to_string().contains("not a regular file"),
        "{refused}"
    );
}
