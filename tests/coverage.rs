//! Coverage follows payment (docs/RULES.md §12 R1, R2): makeup limits, gaps without a suspend,
//! waits, late declarations and transfer windows, given / when / then, with the day before, of and
//! after each boundary. The `regression_N` tests replay the histories of issue 14's findings.

use member_ledger::projection::{AccountView, ViewAt};
use member_ledger::{Ledger, SubmitError};

mod common;
use common::given;

const M: &str = "00000000-0000-4000-8000-000000000e01";

fn id() -> uuid::Uuid {
    M.parse().expect("uuid")
}

fn enroll_in(region: &str, sex: &str, birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{M}","region":"{region}","scheme":"employee","sex":"{sex}","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn enroll(date: &str) -> String {
    enroll_in("luzhou", "male", "1980-01-01", date)
}

/// A contribution posted on the month's last day (the contract's default).
fn pay(month: &str, payer: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"5000.00","payer":"{payer}"}}"#
    )
}

fn pay_on(month: &str, payer: &str, date: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"5000.00","payer":"{payer}","date":"{date}"}}"#
    )
}

fn suspend(date: &str) -> String {
    format!(r#"{{"type":"suspend","member":"{M}","date":"{date}","reason":"left_employer"}}"#)
}

/// Every month from `from` to `to` (both included), `YYYY-MM`.
fn months(from: &str, to: &str) -> Vec<String> {
    let parse = |m: &str| -> (i32, u32) {
        let (y, mo) = m.split_once('-').expect("month");
        (y.parse().expect("year"), mo.parse().expect("month"))
    };
    let (mut y, mut m) = parse(from);
    let end = parse(to);
    let mut out = Vec::new();
    while (y, m) <= end {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

async fn on(l: &Ledger, date: &str) -> AccountView {
    l.account(id(), ViewAt::AsOf(date.parse().expect("date")))
        .await
        .expect("view")
}

async fn head(l: &Ledger) -> AccountView {
    l.account(id(), ViewAt::Head).await.expect("view")
}

fn status(v: &AccountView) -> String {
    serde_json::to_value(v.status)
        .expect("json")
        .as_str()
        .expect("string")
        .to_string()
}

fn from(v: &AccountView) -> Option<String> {
    v.benefits_from.map(|d| d.to_string())
}

fn code(result: Result<member_ledger::Receipt, SubmitError>) -> String {
    match result {
        Err(SubmitError::Rejected(r)) => r.code.as_str().to_string(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ---------------------------------------------------------------- R1 makeup limits

#[tokio::test]
async fn r1_a_month_before_enrolment_is_refused_whoever_pays() {
    let (_d, l) = given(&[enroll("2024-01-02")]).await;
    for payer in ["employer", "individual"] {
        let refused = l.submit_json(&pay("2023-12", payer)).await;
        assert_eq!(code(refused), "before_enrolment", "{payer}");
    }
    assert_eq!(l.head().expect("head").position, 1, "nothing written");
    l.submit_json(&pay("2024-01", "employer"))
        .await
        .expect("the enrolment month itself is fine");
}

/// Finding 1: a man enrolled 2024-01-02 with 240 deemed months posted 120 individual months
/// 2005-01 … 2014-12 on one day at a wage of 100.00 and retired.
#[tokio::test]
async fn regression_1_years_bought_cheaply_are_refused_and_the_lump_sum_costs_81900() {
    let deemed = format!(
        r#"{{"type":"recognize_deemed","member":"{M}","date":"2024-01-02","months":240,"basis":"pre_1997_service"}}"#
    );
    let (_d, l) = given(&[
        enroll_in("luzhou", "male", "1964-01-01", "2024-01-02"),
        deemed,
    ])
    .await;
    for month in months("2005-01", "2014-12") {
        let cheap = format!(
            r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"100.00","payer":"individual","date":"2024-01-10"}}"#
        );
        assert_eq!(code(l.submit_json(&cheap).await), "before_enrolment");
    }
    assert_eq!(
        l.head().expect("head").position,
        2,
        "none of the 120 written"
    );
    let retire = format!(r#"{{"type":"retire","member":"{M}","date":"2024-02-01"}}"#);
    assert_eq!(code(l.submit_json(&retire).await), "insufficient_years");
    // The shortfall is paid only as the lump sum: 120 × 7,000.00 × 9.75 % = 81,900.00.
    let lump =
        format!(r#"{{"type":"lump_sum_makeup","member":"{M}","date":"2024-01-20","months":120}}"#);
    let paid = l.submit_json(&lump).await.expect("lump sum");
    assert_eq!(common::event_json(&paid.events[0])["amount"], "81900.00");
    l.submit_json(&retire).await.expect("retire");
    let v = head(&l).await;
    assert_eq!((v.months.actual, v.months.total), (120, 360));
    assert_eq!(v.balance.to_string(), "0.00", "a lump sum credits nothing");
}

/// The same 120 cheap months, for a member enrolled before them: past months outside any
/// window, refused `makeup_not_allowed`; an employer may still declare them late.
#[tokio::test]
async fn r1_member_cannot_buy_past_years_outside_the_window() {
    let (_d, l) = given(&[enroll_in("luzhou", "male", "1964-01-01", "2004-12-01")]).await;
    for month in months("2005-01", "2014-12") {
        let cheap = format!(
            r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"100.00","payer":"individual","date":"2024-01-10"}}"#
        );
        assert_eq!(code(l.submit_json(&cheap).await), "makeup_not_allowed");
    }
    assert_eq!(l.head().expect("head").position, 1);
    let arrears = l
        .submit_json(&pay_on("2005-01", "employer", "2024-01-10"))
        .await
        .expect("an employer's late declaration");
    let rule = common::event_json(&arrears.events[0])["rule"].to_string();
    assert!(rule.contains("arrears"), "{rule}");
    assert_eq!(head(&l).await.months.actual, 1);
}

/// Employer paid 2024-01 … 03; April was never paid: the gap began 2024-04-01, its window
/// ends 90 days later, on 2024-06-30.
fn april_gap() -> Vec<String> {
    let mut lines = vec![enroll("2024-01-01")];
    lines.extend(
        months("2024-01", "2024-03")
            .iter()
            .map(|m| pay(m, "employer")),
    );
    lines
}

#[tokio::test]
async fn r1_member_pays_a_gap_month_the_day_before_and_of_the_window_end() {
    for day in ["2024-06-29", "2024-06-30"] {
        let (_d, l) = given(&april_gap()).await;
        l.submit_json(&pay_on("2024-04", "individual", day))
            .await
            .unwrap_or_else(|e| panic!("{day}: {e}"));
        // R2: the gap closed within its window; its days are covered, as now known.
        let gap_day = on(&l, "2024-06-15").await;
        assert_eq!(status(&gap_day), "active", "{day}");
        assert_eq!(from(&gap_day).as_deref(), Some("2024-01-01"), "{day}");
    }
}

#[tokio::test]
async fn r1_member_cannot_pay_a_gap_month_the_day_after_the_window() {
    let (_d, l) = given(&april_gap()).await;
    let late = l
        .submit_json(&pay_on("2024-04", "individual", "2024-07-01"))
        .await;
    assert_eq!(code(late), "makeup_not_allowed");
    // Nor a month of an older gap, once a newer one is the current gap.
    assert_eq!(status(&on(&l, "2024-06-30").await), "suspended");
}

#[tokio::test]
async fn r1_a_month_paid_by_its_due_day_is_no_makeup() {
    // April is due by 2024-05-31: the member pays it that day, on time, with no gap.
    let (_d, l) = given(&april_gap()).await;
    l.submit_json(&pay_on("2024-04", "individual", "2024-05-31"))
        .await
        .expect("on time");
    assert_eq!(status(&on(&l, "2024-05-31").await), "active");
}

// ---------------------------------------------------------------- R2 coverage follows payment

#[tokio::test]
async fn r2_a_month_is_overdue_the_day_after_its_due_day() {
    // Luzhou sets no due day: March is due by the last day of April [ill].
    let (_d, l) = given(&[
        enroll("2024-01-01"),
        pay("2024-01", "employer"),
        pay("2024-02", "employer"),
    ])
    .await;
    assert_eq!(status(&on(&l, "2024-04-29").await), "active");
    assert_eq!(status(&on(&l, "2024-04-30").await), "active");
    let after = on(&l, "2024-05-01").await;
    assert_eq!(status(&after), "suspended", "the gap began 2024-03-01");
    assert_eq!(from(&after), None);
}

#[tokio::test]
async fn r2_chongqing_due_day_20_sets_the_boundary() {
    let (_d, l) = given(&[
        enroll_in("chongqing", "male", "1980-01-01", "2024-01-01"),
        pay("2024-01", "employer"),
        pay("2024-02", "employer"),
    ])
    .await;
    assert_eq!(status(&on(&l, "2024-04-19").await), "active");
    assert_eq!(status(&on(&l, "2024-04-20").await), "active");
    assert_eq!(status(&on(&l, "2024-04-21").await), "suspended");
}

/// Finding 2: employer paid 2023-01 and 2023-02, then nothing until the member paid 2024-06
/// himself.
#[tokio::test]
async fn regression_2_a_gap_without_suspend_and_a_six_month_wait() {
    let (_d, l) = given(&[
        enroll("2023-01-01"),
        pay("2023-01", "employer"),
        pay("2023-02", "employer"),
        pay("2024-06", "individual"),
    ])
    .await;
    assert_eq!(status(&on(&l, "2023-04-30").await), "active");
    for day in ["2023-05-01", "2023-12-31", "2024-06-29"] {
        let v = on(&l, day).await;
        assert_eq!((status(&v), from(&v)), ("suspended".into(), None), "{day}");
    }
    let resumed = head(&l).await;
    assert_eq!(status(&resumed), "waiting");
    assert_eq!(from(&resumed), None, "six paid months are not yet known");
    for month in months("2024-07", "2024-11") {
        l.submit_json(&pay(&month, "individual"))
            .await
            .expect("pays on");
    }
    let v = head(&l).await;
    assert_eq!(
        (status(&v), from(&v).as_deref()),
        ("waiting".into(), Some("2024-12-01"))
    );
    assert_eq!(status(&on(&l, "2024-11-30").await), "waiting");
    assert_eq!(status(&on(&l, "2024-12-01").await), "active");
    assert_eq!(v.months.actual, 8);
}

/// Suspended 2023-01-31 after the employer paid 2022-12 and 2023-01: the gap began 2023-02-01,
/// its window ends 2023-05-02.
fn suspended_end_of_january() -> Vec<String> {
    vec![
        enroll("2022-12-01"),
        pay("2022-12", "employer"),
        pay("2023-01", "employer"),
        suspend("2023-01-31"),
    ]
}

/// Finding 3: on 2023-09-15 the member paid 2023-02 … 07 and had benefits from 2023-08-01
/// with no wait; within 90 days continuity was kept although the gap months were never paid.
#[tokio::test]
async fn regression_3_back_months_neither_skip_the_wait_nor_keep_continuity() {
    let mut lines = suspended_end_of_january();
    lines.push(pay_on("2023-04", "individual", "2023-04-10"));
    let (_d, l) = given(&lines).await;
    // The window is open and February, March are unpaid: waiting, no date yet.
    for day in ["2023-04-10", "2023-05-02"] {
        let v = on(&l, day).await;
        assert_eq!((status(&v), from(&v)), ("waiting".into(), None), "{day}");
    }
    assert_eq!(status(&on(&l, "2023-03-15").await), "suspended");
    for month in months("2023-05", "2023-09") {
        l.submit_json(&pay(&month, "individual"))
            .await
            .expect("pays on");
    }
    for month in months("2023-02", "2023-07") {
        let back = l
            .submit_json(&pay_on(&month, "individual", "2023-09-15"))
            .await;
        assert_eq!(code(back), "makeup_not_allowed", "{month}");
    }
    // Six months from April (April … September): benefits from 2023-10-01.
    let v = head(&l).await;
    assert_eq!(from(&v).as_deref(), Some("2023-10-01"));
    assert_eq!(status(&on(&l, "2023-09-30").await), "waiting");
    assert_eq!(status(&on(&l, "2023-10-01").await), "active");
}

#[tokio::test]
async fn r2_gap_closed_within_the_window_keeps_benefits_continuous() {
    let mut lines = suspended_end_of_january();
    for month in ["2023-02", "2023-03", "2023-04"] {
        lines.push(pay_on(month, "individual", "2023-04-10"));
    }
    let (_d, l) = given(&lines).await;
    for day in ["2023-02-15", "2023-04-10", "2023-06-01"] {
        let v = on(&l, day).await;
        assert_eq!(
            (status(&v), from(&v).as_deref()),
            ("active".into(), Some("2022-12-01")),
            "{day}"
        );
    }
}

#[tokio::test]
async fn r2_resuming_through_an_employer_starts_on_the_declaration_date_and_arrears_resume_nothing()
{
    let mut lines = suspended_end_of_january();
    // The new employer declares its first month, then the old one's arrears, both late.
    lines.push(pay_on("2023-09", "employer", "2023-09-20"));
    lines.push(pay_on("2023-02", "employer", "2023-09-25"));
    let (_d, l) = given(&lines).await;
    assert_eq!(status(&on(&l, "2023-09-19").await), "suspended");
    let v = on(&l, "2023-09-20").await;
    assert_eq!(
        (status(&v), from(&v).as_deref()),
        ("active".into(), Some("2023-09-20"))
    );
    assert_eq!(status(&on(&l, "2023-03-01").await), "suspended", "arrears");
    assert_eq!(head(&l).await.months.actual, 4);
}

/// Finding 5: enrolled 2024-01-05, the employer declared 2024-01 on 2024-04-10: benefits were
/// shown from 2024-01-05.
#[tokio::test]
async fn regression_5_a_late_first_declaration_starts_benefits_on_its_date() {
    let (_d, l) = given(&[
        enroll("2024-01-05"),
        pay_on("2024-01", "employer", "2024-04-10"),
    ])
    .await;
    let before = on(&l, "2024-03-01").await;
    assert_eq!(
        (status(&before), from(&before).as_deref()),
        ("waiting".into(), Some("2024-04-10"))
    );
    assert_eq!(from(&head(&l).await).as_deref(), Some("2024-04-10"));
}

#[tokio::test]
async fn r2_a_first_declaration_by_its_due_day_covers_from_enrolment() {
    // 2024-01 is due by 2024-02-29: declared that day, benefits from enrolment; a day later,
    // from the declaration.
    for (posted, expected) in [
        ("2024-01-31", "2024-01-05"),
        ("2024-02-29", "2024-01-05"),
        ("2024-03-01", "2024-03-01"),
    ] {
        let (_d, l) = given(&[enroll("2024-01-05"), pay_on("2024-01", "employer", posted)]).await;
        assert_eq!(from(&head(&l).await).as_deref(), Some(expected), "{posted}");
    }
}

#[tokio::test]
async fn regression_5_a_first_time_individual_waits_six_paid_months() {
    let mut lines = vec![enroll("2024-01-05")];
    lines.extend(
        months("2024-01", "2024-05")
            .iter()
            .map(|m| pay(m, "individual")),
    );
    let (_d, l) = given(&lines).await;
    let five = head(&l).await;
    assert_eq!((status(&five), from(&five)), ("waiting".into(), None));
    l.submit_json(&pay("2024-06", "individual"))
        .await
        .expect("sixth");
    assert_eq!(from(&head(&l).await).as_deref(), Some("2024-07-01"));
    assert_eq!(status(&on(&l, "2024-06-30").await), "waiting");
    assert_eq!(status(&on(&l, "2024-07-01").await), "active");
}

fn transfer_in(date: &str, last_paid: &str) -> String {
    format!(
        r#"{{"type":"transfer_in","member":"{M}","date":"{date}","from_region":"chongqing","balance":"1000.00","months":12,"last_paid_month":"{last_paid}"}}"#
    )
}

#[tokio::test]
async fn r2_transfer_window_runs_from_the_origins_last_paid_month() {
    // Origin paid through 2024-01: the gap began 2024-02-01, window to 2024-05-01. Enrolled
    // 2024-02-10, paid 02 and 03 on 2024-03-20; the funds arrive on 2024-06-01.
    let (_d, l) = given(&[
        enroll("2024-02-10"),
        pay_on("2024-02", "individual", "2024-03-20"),
        pay_on("2024-03", "individual", "2024-03-20"),
        transfer_in("2024-06-01", "2024-01"),
    ])
    .await;
    let v = on(&l, "2024-03-01").await;
    assert_eq!(
        (status(&v), from(&v).as_deref()),
        ("active".into(), Some("2024-02-10"))
    );
}

/// Finding 5: a transfer-in's 90 days ran from the day the funds arrived.
#[tokio::test]
async fn regression_5_transfer_window_does_not_run_from_the_funds() {
    // Origin paid through 2023-10: the window ended 2024-01-30, before the enrolment on
    // 2024-02-10. The funds arrive 2024-03-01, 10 days after the first payment.
    let (_d, l) = given(&[
        enroll("2024-02-10"),
        pay_on("2024-02", "individual", "2024-02-20"),
        transfer_in("2024-03-01", "2023-10"),
    ])
    .await;
    let v = head(&l).await;
    assert_eq!((status(&v), from(&v)), ("waiting".into(), None));
    for month in months("2024-03", "2024-07") {
        l.submit_json(&pay(&month, "individual"))
            .await
            .expect("pays on");
    }
    assert_eq!(from(&head(&l).await).as_deref(), Some("2024-08-01"));
}

#[tokio::test]
async fn r2_at_position_shows_what_was_known_then() {
    let (_d, l) = given(&[
        enroll("2024-01-01"),
        pay("2024-01", "employer"),
        pay("2024-02", "employer"),
        pay("2024-03", "employer"),
        pay_on("2024-04", "individual", "2024-06-20"),
        pay_on("2024-05", "individual", "2024-06-20"),
    ])
    .await;
    // Before the makeup (position 4) the view judged on its latest event, 2024-03-31, is active;
    // as now known the gap of April closed on 2024-06-20, inside its window (to 2024-06-30).
    let then = l.account(id(), ViewAt::Position(4)).await.expect("view");
    assert_eq!(status(&then), "active");
    assert_eq!(status(&on(&l, "2024-06-10").await), "active");
    let known_then = l.account(id(), ViewAt::Position(4)).await.expect("view");
    assert_eq!(known_then.months.actual, 3);
}

/// Enrolled 2024-01-01, the employer's payments for January to March, suspended on 10 April.
fn paid_to_march_suspended_in_april() -> Vec<String> {
    let mut lines = vec![enroll("2024-01-01")];
    lines.extend(
        months("2024-01", "2024-03")
            .iter()
            .map(|m| pay(m, "employer")),
    );
    lines.push(suspend("2024-04-10"));
    lines
}

/// Given a member whose employer paid January to March and who is suspended on 10 April with
/// April unpaid, then from 1 April the member is in a gap (`suspended`, no first day of benefits:
/// "the suspended month itself stays covered if paid"); when the employer pays April on its last
/// day, April shows covered as now known, while the view of that date as known at the
/// suspension (`--as-of` with `--at`) still shows the gap. Given instead a member's own payment
/// for May on 10 May, then the member is `waiting` while the gap's window is open (April unpaid).
#[tokio::test]
async fn r2_an_unpaid_suspended_month_is_a_gap_from_its_first_day() {
    let lines = paid_to_march_suspended_in_april();
    let (_dir, l) = given(&lines).await;
    let v = on(&l, "2024-03-31").await;
    assert_eq!(
        (status(&v), from(&v)),
        ("active".into(), Some("2024-01-01".into()))
    );
    for day in ["2024-04-01", "2024-04-15"] {
        let v = on(&l, day).await;
        assert_eq!((status(&v), from(&v)), ("suspended".into(), None), "{day}");
    }
    let suspended_at = l.head().expect("head").position;

    let paid = l.submit_json(&pay("2024-04", "employer")).await;
    assert!(paid.is_ok(), "{paid:?}");
    let v = on(&l, "2024-04-15").await;
    assert_eq!(
        (status(&v), from(&v)),
        ("active".into(), Some("2024-01-01".into()))
    );
    // The same date as the ledger knew it at the suspension (`--as-of` with `--at`).
    let then = l
        .account(
            id(),
            ViewAt::AsOfAt("2024-04-15".parse().expect("date"), suspended_at),
        )
        .await
        .expect("view");
    assert_eq!((status(&then), from(&then)), ("suspended".into(), None));
    assert_eq!(then.position, suspended_at);
    assert_eq!(then.months.actual, 3, "April's payment was not known then");

    let mut lines = paid_to_march_suspended_in_april();
    lines.push(pay_on("2024-05", "individual", "2024-05-10"));
    let (_dir, l) = given(&lines).await;
    let v = on(&l, "2024-05-15").await;
    assert_eq!((status(&v), from(&v)), ("waiting".into(), None));
}

/// Given a member enrolled on 1 January, when the employer's first declaration, for February,
/// is posted on 20 January (a later month than the posting month, R2), then it is accepted and
/// benefits start on its posting date; a member's own payment for a month not yet begun, or a
/// declaration posted before the enrolment, is `invalid_input` and writes nothing.
#[tokio::test]
async fn r2_an_employer_may_declare_a_later_month_than_it_posts_in() {
    let (_dir, l) = given(&[enroll("2024-01-01")]).await;
    let early = l
        .submit_json(&pay_on("2024-03", "individual", "2024-02-20"))
        .await;
    assert!(
        matches!(&early, Err(SubmitError::Rejected(r)) if r.code.as_str() == "invalid_input"),
        "{early:?}"
    );
    let before = l
        .submit_json(&pay_on("2024-02", "employer", "2023-12-20"))
        .await;
    assert!(
        matches!(&before, Err(SubmitError::Rejected(r)) if r.code.as_str() == "invalid_input"),
        "{before:?}"
    );
    assert_eq!(l.head().expect("head").position, 1, "nothing written");
    let declared = l
        .submit_json(&pay_on("2024-02", "employer", "2024-01-20"))
        .await;
    assert!(declared.is_ok(), "{declared:?}");
    let v = on(&l, "2024-02-15").await;
    assert_eq!(
        (status(&v), from(&v)),
        ("active".into(), Some("2024-01-20".into()))
    );
    assert_eq!(v.months.actual, 1);
}
