//! Audit and dispute replay: corrections by reversal, bitemporal views, diffs, tamper evidence
//! and dossiers.

use member_ledger::domain::ErrorCode;
use member_ledger::projection::ViewAt;
use member_ledger::{Ledger, SubmitError};

mod common;
use common::given;

const M: &str = "00000000-0000-4000-8000-0000000000a1";

fn member() -> uuid::Uuid {
    M.parse().expect("uuid")
}

fn enroll(sex: &str, birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"employee","sex":"{sex}","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn contribute(month: &str, wage: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"{wage}","payer":"employer"}}"#
    )
}

fn spend(date: &str, amount: &str) -> String {
    format!(
        r#"{{"type":"spend","member":"{M}","date":"{date}","amount":"{amount}","purpose":"pharmacy"}}"#
    )
}

async fn last_event_id(ledger: &Ledger, line: &str) -> uuid::Uuid {
    let receipt = ledger
        .submit_json(line)
        .await
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    receipt.events.last().expect("an event").event_id
}

fn rejected_with(result: Result<member_ledger::Receipt, SubmitError>, code: ErrorCode) -> String {
    match result {
        Err(SubmitError::Rejected(r)) if r.code == code => r.message,
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reversal_restores_the_exact_earlier_figures() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00"),
    ])
    .await;
    let before = l.account(member(), ViewAt::Head).await.expect("view");
    let wrong = last_event_id(&l, &contribute("2025-02", "9000.00")).await;
    let with_error = l.account(member(), ViewAt::Head).await.expect("view");
    assert_eq!(with_error.balance.to_string(), "340.00");
    assert_eq!(with_error.months.actual, 2);

    let receipt = l
        .reverse(wrong, "posted to the wrong member", None)
        .await
        .expect("reversal");
    let after = l.account(member(), ViewAt::Head).await.expect("view");
    assert_eq!(after.position, receipt.position);
    // Every figure; not the log's bookkeeping (position, member version, latest event date).
    let strip = |v: member_ledger::projection::AccountView| {
        let mut json = serde_json::to_value(v).expect("json");
        for field in ["position", "version", "as_of"] {
            json.as_object_mut().expect("object").remove(field);
        }
        json
    };
    // The head is judged on the latest event's date, which the reversal keeps (2025-02-28):
    // status is judged there (R2: 2024-02 … 2025-01 unpaid and overdue, a gap). Judged on the
    // date the first view was, every figure, status included, is back to what it was.
    assert_eq!(after.as_of.to_string(), "2025-02-28");
    assert_eq!(
        serde_json::to_value(after.status).expect("json"),
        "suspended"
    );
    let same_day = l
        .account(member(), ViewAt::AsOf(before.as_of))
        .await
        .expect("as of");
    assert_eq!(
        strip(same_day),
        strip(before),
        "every figure is back to what it was"
    );

    // The original stays, shown as reversed, and the checkpoints still equal a replay.
    let statement = l.statement(member(), None, None).await.expect("statement");
    let original = statement
        .lines
        .iter()
        .find(|line| line.event_id == wrong)
        .expect("the original is still there");
    assert_eq!(original.reversed_by, Some(receipt.position));
    let report = l.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn reversing_twice_is_refused_and_writes_nothing() {
    let (_d, l) = given(&[enroll("female", "1990-01-01", "2024-01-01")]).await;
    let wrong = last_event_id(&l, &contribute("2024-01", "8000.00")).await;
    l.reverse(wrong, "duplicate posting", None)
        .await
        .expect("first reversal");
    let head = l.head().expect("head").position;
    let message = rejected_with(
        l.reverse(wrong, "again", None).await,
        ErrorCode::AlreadyReversed,
    );
    assert!(message.contains("already reversed"), "{message}");
    assert_eq!(l.head().expect("head").position, head);
}

#[tokio::test]
async fn a_reversal_that_would_drive_the_balance_below_zero_is_refused() {
    let (_d, l) = given(&[enroll("female", "1990-01-01", "2024-01-01")]).await;
    let credit = last_event_id(&l, &contribute("2024-01", "8000.00")).await; // 160.00
    l.submit_json(&spend("2024-03-01", "100.00"))
        .await
        .expect("spend");
    let head = l.head().expect("head").position;
    let message = rejected_with(
        l.reverse(credit, "wrong wage", None).await,
        ErrorCode::InsufficientBalance,
    );
    assert!(
        message.contains("60.00"),
        "names the lowest balance: {message}"
    );
    assert_eq!(l.head().expect("head").position, head);

    // Reversing the spending first makes the credit reversible.
    let statement = l.statement(member(), None, None).await.expect("statement");
    let spent = statement.lines.last().expect("spend line").event_id;
    l.reverse(spent, "the pharmacy cancelled the sale", None)
        .await
        .expect("spend reversed");
    l.reverse(credit, "wrong wage", None)
        .await
        .expect("credit reversed");
    let view = l.account(member(), ViewAt::Head).await.expect("view");
    assert_eq!(view.balance.to_string(), "0.00");
    assert_eq!(view.credited.to_string(), "0.00");
    assert_eq!(view.debited.to_string(), "0.00");
    assert_eq!(view.months.actual, 0);
}

#[tokio::test]
async fn a_reversal_that_breaks_a_retirement_is_refused() {
    // A woman needs 300 months, 120 of them actual local [000 Q28]: 180 deemed + 120 paid.
    let mut lines = vec![enroll("female", "1960-01-01", "2005-01-01")];
    for i in 0..120 {
        let month = format!("{}-{:02}", 2005 + i / 12, i % 12 + 1);
        lines.push(contribute(&month, "3000.00"));
    }
    let (_d, l) = given(&lines).await;
    let deemed = last_event_id(
        &l,
        &format!(
            r#"{{"type":"recognize_deemed","member":"{M}","date":"2015-01-05","months":180,"basis":"pre_1997_service"}}"#
        ),
    )
    .await;
    l.submit_json(&format!(
        r#"{{"type":"retire","member":"{M}","date":"2015-01-10"}}"#
    ))
    .await
    .expect("retire");
    let message = rejected_with(
        l.reverse(deemed, "recognised twice", None).await,
        ErrorCode::InsufficientYears,
    );
    assert!(message.contains("retirement on 2015-01-10"), "{message}");
}

#[tokio::test]
async fn only_money_and_month_events_can_be_reversed() {
    let (_d, l) = given(&[]).await;
    let enrolment = last_event_id(&l, &enroll("male", "1980-01-01", "2024-01-01")).await;
    rejected_with(
        l.reverse(enrolment, "typo", None).await,
        ErrorCode::NotReversible,
    );
    rejected_with(
        l.reverse(uuid::Uuid::new_v4(), "typo", None).await,
        ErrorCode::UnknownEvent,
    );
    let bad = l
        .submit_json(&format!(
            r#"{{"type":"reverse","event":"{enrolment}","reason":"  "}}"#
        ))
        .await;
    rejected_with(bad, ErrorCode::InvalidInput);
}

#[tokio::test]
async fn as_of_shows_the_correction_and_at_shows_what_the_ledger_said_then() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00"),
    ])
    .await;
    let wrong = last_event_id(&l, &contribute("2024-02", "8000.00")).await;
    let told = l.head().expect("head").position;
    l.reverse(wrong, "the member had left in January", None)
        .await
        .expect("reversal");
    // A later event, so the as-of view below skips events in the middle of the member's history.
    l.submit_json(&contribute("2024-03", "8000.00"))
        .await
        .expect("later");
    // What the member was told before the correction:
    let then = l
        .account(member(), ViewAt::Position(told))
        .await
        .expect("at");
    assert_eq!(then.balance.to_string(), "320.00");
    // What was in force at the end of February, as now known:
    let as_of = l
        .account(member(), ViewAt::AsOf("2024-02-29".parse().expect("date")))
        .await
        .expect("as of");
    assert_eq!(as_of.balance.to_string(), "160.00");
    assert_eq!(as_of.months.actual, 1);
}

#[tokio::test]
async fn a_value_changed_directly_in_sled_is_named_by_its_position() {
    use std::sync::Arc;

    use member_ledger::policy::PolicySet;
    use member_ledger::store::SledStore;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("open"));
    let l = Ledger::with_store(store.clone(), PolicySet::shipped());
    for line in [
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00"),
        contribute("2024-02", "8000.00"),
        spend("2024-03-01", "50.00"),
    ] {
        l.submit_json(&line).await.expect("given");
    }
    let clean = l.verify(|_, _| {}).await.expect("verify");
    assert!(clean.is_clean(), "{clean}");

    // A clerk with database access raises the credit of position 3 from 160.00 to 960.00,
    // re-encoding the chunk it is stored in (its checksum is then right again).
    store
        .edit_chunk_of(3, |records, first| {
            let record = &mut records[usize::try_from(3 - first).expect("small")];
            let at = record
                .windows(6)
                .position(|w| w == b"160.00")
                .expect("the credit is in the record");
            record[at..at + 6].copy_from_slice(b"960.00");
        })
        .expect("tamper");

    let report = l.verify(|_, _| {}).await.expect("verify");
    let broken = report.broken.clone().expect("the tampering is found");
    assert_eq!(broken.position, 3);
    assert!(broken.reason.contains("altered"), "{}", broken.reason);
    assert!(report.to_string().contains("BROKEN at position 3"));
}

#[tokio::test]
async fn diff_lists_exactly_the_events_between_two_points() {
    use member_ledger::projection::Point;

    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"), // 1
        contribute("2024-01", "8000.00"),             // 2
        contribute("2024-02", "8000.00"),             // 3
        spend("2024-02-10", "30.00"),                 // 4
        contribute("2024-03", "9000.00"),             // 5
    ])
    .await;
    let d = l
        .diff(member(), Point::Position(2), Point::Position(4))
        .await
        .expect("diff");
    let positions: Vec<u64> = d.added.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![3, 4]);
    assert!(d.removed.is_empty());
    let change = |name: &str| {
        d.changes
            .iter()
            .find(|c| c.figure == name)
            .map(|c| (c.from.clone(), c.to.clone()))
    };
    assert_eq!(
        change("balance"),
        Some((serde_json::json!("160.00"), serde_json::json!("290.00")))
    );
    assert_eq!(
        change("months.actual"),
        Some((serde_json::json!(1), serde_json::json!(2)))
    );
    assert_eq!(
        change("credited").map(|c| c.1),
        Some(serde_json::json!("320.00"))
    );
    assert!(
        change("region").is_none(),
        "unchanged figures are not listed"
    );

    // By dates: events effective in (2024-01-31, 2024-02-29]; back in time they are removed.
    let by_date = l
        .diff(
            member(),
            Point::Date("2024-02-29".parse().expect("date")),
            Point::Date("2024-01-31".parse().expect("date")),
        )
        .await
        .expect("diff");
    let removed: Vec<u64> = by_date.removed.iter().map(|e| e.position).collect();
    assert_eq!(removed, vec![3, 4]);
    assert!(by_date.added.is_empty());
}

#[tokio::test]
async fn a_dossier_verifies_offline_and_a_hand_edited_one_fails() {
    use member_ledger::audit::dossier::{verify_dossier, Dossier};

    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2023-06-01"),
        contribute("2023-06", "8000.00"),
        contribute("2024-01", "8000.00"),
        spend("2024-02-10", "30.00"),
    ])
    .await;
    let dossier = l.dossier(member()).await.expect("dossier");
    assert_eq!(dossier.events.len(), 4);
    assert_eq!(dossier.year_ends.len(), 2, "2023 and 2024");
    assert_eq!(dossier.year_ends[0].balance.to_string(), "160.00");
    let text = serde_json::to_string_pretty(&dossier).expect("json");
    let read: Dossier = serde_json::from_str(&text).expect("read back");
    let report = verify_dossier(&read).expect("a fresh dossier verifies");
    assert_eq!(report.events, 4);
    l.check_dossier(&read)
        .await
        .expect("and matches the ledger");

    let edited = |from: &str, to: &str| -> Dossier {
        assert!(text.contains(from), "{from} not in the dossier");
        serde_json::from_str(&text.replacen(from, to, 1)).expect("still JSON")
    };
    // An amount inside an event.
    let e = verify_dossier(&edited(r#""amount": "30.00""#, r#""amount": "3.00""#))
        .expect_err("an edited event fails");
    assert!(e.to_string().contains("altered"), "{e}");
    // A year-end figure.
    let e = verify_dossier(&edited(r#""balance": "160.00""#, r#""balance": "1160.00""#))
        .expect_err("an edited year end fails");
    assert!(e.to_string().contains("differs from a replay"), "{e}");
    // An event left out.
    let mut short = read.clone();
    short.events.remove(1);
    let e = verify_dossier(&short).expect_err("a missing event fails");
    assert!(e.to_string().contains("missing"), "{e}");
    // Only the export time: caught by the digest.
    let mut later = read.clone();
    later.exported_at = "2030-01-01T00:00:00Z".into();
    let e = verify_dossier(&later).expect_err("an edited header fails");
    assert!(e.to_string().contains("digest"), "{e}");
}

#[tokio::test]
async fn an_as_of_view_folds_a_back_dated_correction_past_later_events() {
    let (_d, l) = given(&[enroll("female", "1990-01-01", "2024-01-01")]).await;
    let january = last_event_id(&l, &contribute("2024-01", "8000.00")).await;
    l.submit_json(&contribute("2024-02", "8000.00"))
        .await
        .expect("february");
    // Dated on January's date, appended after February: as of January's end the fold skips
    // February in the middle of the member's versions.
    l.reverse(january, "wrong employer", None)
        .await
        .expect("reversal");
    let january_end = l
        .account(member(), ViewAt::AsOf("2024-01-31".parse().expect("date")))
        .await
        .expect("as of");
    assert_eq!(january_end.balance.to_string(), "0.00");
    assert_eq!(january_end.months.actual, 0);
    let now = l.account(member(), ViewAt::Head).await.expect("head");
    assert_eq!(now.balance.to_string(), "160.00");
}

/// Rebuilding by member (two threads, each member's own stream) gives the same states as one
/// walk of the whole log, at the head and as of a date.
#[tokio::test]
async fn folding_by_member_equals_one_walk_of_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(dir.path()).await.expect("open");
    let p = member_ledger::synthetic::Population {
        seed: 9,
        members: 6,
        years: 12,
        start_year: 2010,
    };
    let lines: Vec<String> = (0..p.members).flat_map(|i| p.career(i)).collect();
    assert!(l.submit_json_batch(&lines).await.iter().all(Result::is_ok));
    let members = l.log().members().expect("members");
    assert_eq!(members.len(), 6);
    for as_of in [None, Some("2015-06-30".parse().expect("date"))] {
        let walked = l
            .replay_with_progress(as_of, |_, _| {})
            .await
            .expect("walk");
        let folded = l.fold_members(members.clone(), as_of).await.expect("fold");
        for state in folded {
            assert_eq!(Some(&state), walked.get(&state.member), "as of {as_of:?}");
        }
    }
    l.rebuild_projections(|_, _| {}).await.expect("rebuild");
    let report = l.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
}

/// One hash chain per member: removing a member's last event (not the log's last) leaves that
/// member's chain whole, but on sled the position it held is a gap, and the walk names it.
#[tokio::test]
async fn an_event_removed_directly_in_sled_is_named_by_its_position() {
    use std::sync::Arc;

    use member_ledger::policy::PolicySet;
    use member_ledger::store::SledStore;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("open"));
    let l = Ledger::with_store(store.clone(), PolicySet::shipped());
    let other = "00000000-0000-4000-8000-00000000b0b0";
    for line in [
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00"),
        enroll("female", "1990-01-01", "2024-01-01").replace(&member().to_string(), other),
    ] {
        l.submit_json(&line).await.expect("given");
    }
    assert!(l.verify(|_, _| {}).await.expect("verify").is_clean());

    // Position 2 is the first member's last event; position 3 is the other member's.
    store
        .edit_chunk_of(2, |records, first| {
            records.remove(usize::try_from(2 - first).expect("small"));
        })
        .expect("remove");

    let report = l.verify(|_, _| {}).await.expect("verify");
    let broken = report.broken.clone().expect("the removal is found");
    assert_eq!(broken.position, 2, "{}", broken.reason);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
}
