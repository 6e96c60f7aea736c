//! Fault injection at the storage boundary: a batch write, a flush or an fsync that fails, and a
//! full disk. For each: the submit that meets the fault is a `SubmitError::Storage`, the store
//! refuses every later write until it is reopened, the reopened log holds no partial command and
//! verifies, and a retry with the same idempotency key then succeeds exactly once.

use std::sync::Arc;

use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;
use member_ledger::store::{FaultPlan, SledStore, StoreError, StoreOptions};
use member_ledger::{Ledger, SubmitError};

const DECEASED: &str = "00000000-0000-4000-8000-00000000fa01";
const HEIR_1: &str = "00000000-0000-4000-8000-00000000fa02";
const HEIR_2: &str = "00000000-0000-4000-8000-00000000fa03";
/// The command that meets the fault: three events (the settlement and two receipts) in one append.
const SETTLE_KEY: &str = "settle-fa01";
const SETTLE_EVENTS: usize = 3;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The second batch write after arming fails (the first, an unrelated command, succeeds).
    SecondBatch,
    /// The next batch write fails.
    NextBatch,
    /// The next flush fails (after the batch was applied in memory).
    Flush,
    /// The next fsync fails (after a flush that succeeded).
    Fsync,
    /// Every write and flush fails with ENOSPC until space is freed.
    DiskFull,
}

fn open(path: &std::path::Path, faults: Option<Arc<FaultPlan>>) -> Ledger {
    let options = StoreOptions {
        fsync: true, // these tests are about durability
        faults,
        ..StoreOptions::default()
    };
    let store = SledStore::open_with(path, options).expect("open store");
    Ledger::with_store(Arc::new(store), PolicySet::shipped())
}

fn enroll(member: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1970-01-01","date":"2022-01-01","key":"enroll-{member}"}}"#
    )
}

fn contribute(member: &str, month: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{member}","month":"{month}","wage":"8000.00","payer":"employer","key":"pay-{member}-{month}"}}"#
    )
}

fn settle() -> String {
    format!(
        r#"{{"type":"settle_inheritance","member":"{DECEASED}","date":"2024-07-05","heirs":[{{"heir":"{HEIR_1}","name":"first","share":"0.5"}},{{"heir":"{HEIR_2}","name":"second","share":"0.5"}}],"key":"{SETTLE_KEY}"}}"#
    )
}

async fn given_a_deceased_member_with_two_heirs(ledger: &Ledger) {
    for line in [
        enroll(DECEASED),
        enroll(HEIR_1),
        enroll(HEIR_2),
        contribute(DECEASED, "2024-01"),
        format!(r#"{{"type":"record_death","member":"{DECEASED}","date":"2024-06-30"}}"#),
    ] {
        ledger.submit_json(&line).await.expect("setup command");
    }
}

fn assert_storage_error(result: Result<member_ledger::Receipt, SubmitError>, what: &str) {
    match result {
        Err(SubmitError::Storage(_)) => {}
        other => panic!("{what}: expected a storage error, got {other:?}"),
    }
}

/// Every keyed command in the log is whole: its idempotency record names exactly the events that
/// carry its key, and the settlement has all of its events or none.
async fn assert_whole_commands(ledger: &Ledger) -> usize {
    let head = ledger.head().expect("head").position;
    let events = ledger.log().read_from(1, usize::MAX).expect("read log");
    assert_eq!(events.len() as u64, head, "gapless up to the head");
    let mut by_key: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for e in &events {
        if let Some(key) = &e.idempotency_key {
            by_key.entry(key.clone()).or_default().push(e.position);
        }
    }
    for (key, positions) in &by_key {
        let record = ledger.log().idempotency(key).expect("read key");
        let record = record.unwrap_or_else(|| panic!("events of key {key} without its record"));
        assert_eq!(
            record.positions(),
            positions.as_slice(),
            "key {key}: record and events differ"
        );
    }
    let settled = by_key.get(SETTLE_KEY).map_or(0, Vec::len);
    assert!(
        settled == 0 || settled == SETTLE_EVENTS,
        "half a settlement is visible: {settled} of {SETTLE_EVENTS} events"
    );
    let report = ledger.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    settled
}

fn arm(plan: &FaultPlan, fault: Fault) {
    match fault {
        Fault::SecondBatch => plan.fail_nth_batch(2),
        Fault::NextBatch => plan.fail_nth_batch(1),
        Fault::Flush => plan.fail_next_flush(),
        Fault::Fsync => plan.fail_next_fsync(),
        Fault::DiskFull => plan.set_disk_full(true),
    }
}

async fn scenario(fault: Fault) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = FaultPlan::new();
    let ledger = open(dir.path(), Some(plan.clone()));
    given_a_deceased_member_with_two_heirs(&ledger).await;
    assert_eq!(plan.injected(), 0, "nothing armed yet");

    // When the fault meets the settlement.
    arm(&plan, fault);
    if let Fault::SecondBatch = fault {
        let first = ledger.submit_json(&contribute(HEIR_1, "2024-01")).await;
        first.expect("the first batch after arming is written");
    }
    assert_storage_error(ledger.submit_json(&settle()).await, "the faulted command");
    assert!(plan.injected() >= 1, "{fault:?} was injected");
    plan.set_disk_full(false); // space is freed: the store must still refuse until reopened

    // Then the store refuses every write until it is reopened, including the retry.
    assert_storage_error(
        ledger.submit_json(&contribute(HEIR_2, "2024-02")).await,
        "a later command",
    );
    assert_storage_error(
        ledger.submit_json(&settle()).await,
        "a retry before reopening",
    );
    let injected = plan.injected();
    drop(ledger);

    // After reopening: no partial command, the chain verifies; the retry succeeds exactly once.
    let ledger = open(dir.path(), None);
    let before = assert_whole_commands(&ledger).await;
    eprintln!("{fault:?}: {injected} fault(s) injected; after reopen the log holds {before} of the settlement's {SETTLE_EVENTS} events");
    let head_before = ledger.head().expect("head").position;
    let first = ledger
        .submit_json(&settle())
        .await
        .expect("retry after reopen");
    assert_eq!(first.events.len(), SETTLE_EVENTS);
    let again = ledger.submit_json(&settle()).await.expect("second retry");
    assert_eq!(again, first, "the same key answers the first result");
    let head_after = ledger.head().expect("head").position;
    let appended = if before == 0 { SETTLE_EVENTS as u64 } else { 0 };
    assert_eq!(
        head_after,
        head_before + appended,
        "the settlement is written once"
    );
    assert_eq!(assert_whole_commands(&ledger).await, SETTLE_EVENTS);
    for (member, balance) in [(DECEASED, "0.00"), (HEIR_1, "80.00"), (HEIR_2, "80.00")] {
        let heir_paid = matches!(fault, Fault::SecondBatch) && member == HEIR_1;
        let expected = if heir_paid { "240.00" } else { balance };
        let view = ledger
            .account(member.parse().expect("uuid"), ViewAt::Head)
            .await
            .expect("view");
        assert_eq!(
            view.balance.to_string(),
            expected,
            "{member} after {fault:?}"
        );
    }
    drop(ledger);

    // A second reopen sees the same thing (the retry was durable).
    let ledger = open(dir.path(), None);
    assert_eq!(ledger.head().expect("head").position, head_after);
    assert_whole_commands(&ledger).await;
    injected
}

#[tokio::test]
async fn a_failed_batch_write_is_refused_poisons_and_retries_once_after_reopen() {
    assert_eq!(scenario(Fault::NextBatch).await, 1);
}

#[tokio::test]
async fn the_nth_batch_write_fails_after_earlier_ones_succeed() {
    assert_eq!(scenario(Fault::SecondBatch).await, 1);
}

#[tokio::test]
async fn a_failed_flush_is_refused_poisons_and_retries_once_after_reopen() {
    assert_eq!(scenario(Fault::Flush).await, 1);
}

#[tokio::test]
async fn a_failed_fsync_is_refused_poisons_and_retries_once_after_reopen() {
    assert_eq!(scenario(Fault::Fsync).await, 1);
}

#[tokio::test]
async fn a_full_disk_is_refused_poisons_and_retries_once_after_reopen() {
    assert!(scenario(Fault::DiskFull).await >= 1);
}

#[tokio::test]
async fn a_full_disk_reports_enospc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = FaultPlan::new();
    let ledger = open(dir.path(), Some(plan.clone()));
    plan.set_disk_full(true);
    let head = ledger.head().expect("head");
    match ledger.submit_json(&enroll(HEIR_1)).await {
        Err(SubmitError::Storage(StoreError::Io(e))) => {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
        }
        other => panic!("expected ENOSPC, got {other:?}"),
    }
    assert_eq!(ledger.head().expect("head"), head, "nothing was written");
    plan.set_disk_full(false);
    match ledger.submit_json(&enroll(HEIR_2)).await {
        Err(SubmitError::Storage(StoreError::Poisoned(why))) => {
            assert!(why.contains("No space left"), "{why}");
        }
        other => panic!("expected a poisoned store, got {other:?}"),
    }
}
