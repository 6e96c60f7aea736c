//! Rule tests, given / when / then, each named for its docs/RULES.md section and tag (`s4_…`: §4).

use member_ledger::projection::ViewAt;
use member_ledger::Ledger;

mod common;
use common::given;

const M: &str = "00000000-0000-4000-8000-000000000001";

fn enroll(sex: &str, birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"employee","sex":"{sex}","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn contribute(month: &str, wage: &str, payer: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"{wage}","payer":"{payer}"}}"#
    )
}

#[tokio::test]
async fn s2_post_reform_credit_is_own_two_percent_000_q43_nat_2021() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00", "employer"),
    ])
    .await;
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(v.balance.to_string(), "160.00");
    assert_eq!(v.years[0].totals.employer.to_string(), "620.00"); // 7.75 %
}

#[tokio::test]
async fn s2_pre_reform_credit_adds_age_band_nat_1998_ill() {
    // Age 45+ in 2015: own 2 % + 2 % of the employer share.
    let (_d, l) = given(&[
        enroll("male", "1960-01-01", "2015-01-01"),
        contribute("2015-01", "5000.00", "employer"),
    ])
    .await;
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(v.balance.to_string(), "200.00");
}

#[tokio::test]
async fn s3_one_month_counts_once_duplicate_is_rejected() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00", "employer"),
    ])
    .await;
    let err = l
        .submit_json(&contribute("2024-01", "8000.00", "employer"))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), "duplicate_month");
    assert_eq!(
        l.head().expect("head").position,
        2,
        "a rejection writes nothing"
    );
}

#[tokio::test]
async fn s4_late_rejoin_waits_six_months_000_q27() {
    let mut lines = vec![
        enroll("female", "1980-01-01", "2020-01-01"),
        contribute("2020-01", "5000.00", "employer"),
    ];
    lines.push(format!(
        r#"{{"type":"suspend","member":"{M}","date":"2020-01-31","reason":"left_employer"}}"#
    ));
    for m in ["2020-06", "2020-07", "2020-08", "2020-09", "2020-10"] {
        lines.push(contribute(m, "5000.00", "individual"));
    }
    let (_d, l) = given(&lines).await;
    let id = M.parse().expect("uuid");
    assert!(l
        .account(id, ViewAt::Head)
        .await
        .expect("view")
        .benefits_from
        .is_none());
    l.submit_json(&contribute("2020-11", "5000.00", "individual"))
        .await
        .expect("sixth month");
    let v = l.account(id, ViewAt::Head).await.expect("view");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2020-12-01")
    );
}

#[tokio::test]
async fn s5_retirement_needs_360_months_for_men_000_q28() {
    let (_d, l) = given(&[
        enroll("male", "1960-01-01", "2015-01-01"),
        contribute("2015-01", "5000.00", "employer"),
    ])
    .await;
    let err = l
        .submit_json(&format!(
            r#"{{"type":"retire","member":"{M}","date":"2020-01-01"}}"#
        ))
        .await
        .expect_err("short");
    assert_eq!(err.code(), "insufficient_years");
}

#[tokio::test]
async fn s8_spending_never_below_zero() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00", "employer"),
    ])
    .await;
    let spend = format!(
        r#"{{"type":"spend","member":"{M}","date":"2024-02-05","amount":"160.01","purpose":"pharmacy"}}"#
    );
    assert_eq!(
        l.submit_json(&spend).await.expect_err("too much").code(),
        "insufficient_balance"
    );
}

#[tokio::test]
async fn idempotency_same_key_same_result_other_payload_key_reused() {
    let (_d, l) = given(&[enroll("female", "1990-01-01", "2024-01-01")]).await;
    let with_key = |m: &str| {
        format!(
            r#"{{"type":"contribute","member":"{M}","month":"{m}","wage":"8000.00","payer":"employer","key":"k1"}}"#
        )
    };
    let first = l.submit_json(&with_key("2024-01")).await.expect("first");
    let again = l.submit_json(&with_key("2024-01")).await.expect("again");
    assert_eq!(first, again);
    assert_eq!(
        l.submit_json(&with_key("2024-02"))
            .await
            .expect_err("reused")
            .code(),
        "key_reused"
    );
    assert_eq!(l.head().expect("head").position, 2);
}

#[tokio::test]
async fn replay_equals_checkpoints_after_the_demo_sample() {
    let lines: Vec<String> = include_str!("../samples/demo.jsonl")
        .lines()
        .map(str::to_string)
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(dir.path()).await.expect("open");
    assert!(l.submit_json_batch(&lines).await.iter().all(Result::is_ok));
    let report = l.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        l.replay_all().await.expect("replay"),
        l.checkpoints().await.expect("checkpoints")
    );
}

fn cmd(json: &str) -> String {
    json.replace("$M", M)
}

#[tokio::test]
async fn s4_resident_outside_window_waits_180_days_000_q32() {
    let enroll = cmd(
        r#"{"type":"enroll","member":"$M","region":"luzhou","scheme":"resident","sex":"male","birth_date":"1980-01-01","date":"2024-01-01"}"#,
    );
    let pay = cmd(
        r#"{"type":"pay_premium","member":"$M","coverage_year":2024,"personal":"380.00","subsidy":"640.00","date":"2024-03-01"}"#,
    );
    let (_d, l) = given(&[enroll, pay]).await;
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2024-08-28")
    );
    assert_eq!(format!("{:?}", v.status), "Waiting");
}

#[tokio::test]
async fn s6_transfer_out_needs_suspension_and_closes_000_q35() {
    let (_d, l) = given(&[
        enroll("male", "1980-01-01", "2024-01-01"),
        contribute("2024-01", "5000.00", "employer"),
    ])
    .await;
    let out =
        cmd(r#"{"type":"transfer_out","member":"$M","date":"2024-03-01","to_region":"chengdu"}"#);
    assert_eq!(
        l.submit_json(&out).await.expect_err("not suspended").code(),
        "not_suspended"
    );
    l.submit_json(&cmd(
        r#"{"type":"suspend","member":"$M","date":"2024-02-01","reason":"transfer_out"}"#,
    ))
    .await
    .expect("suspend");
    l.submit_json(&out).await.expect("transfer out");
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        (v.balance.to_string(), format!("{:?}", v.status)),
        ("0.00".to_string(), "Closed".to_string())
    );
    assert_eq!(
        l.submit_json(&contribute("2024-02", "5000.00", "employer"))
            .await
            .expect_err("closed")
            .code(),
        "account_closed"
    );
}

#[tokio::test]
async fn s7_duplicate_refund_is_paid_minus_credited_nat_2021_43() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "5000.00", "employer"),
        contribute("2024-01", "5000.00", "individual"),
    ])
    .await;
    let r = l.submit_json(&cmd(r#"{"type":"refund","member":"$M","date":"2024-02-10","reason":"duplicate","months":["2024-01"]}"#)).await.expect("refund");
    // Individual paid 9.75 % of 5,000 = 487.50; 2 % (100.00) was credited and stays: 387.50 back.
    assert_eq!(common::event_json(&r.events[0])["amount"], "387.50");
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        v.months.actual, 1,
        "the employer's payment still counts the month once"
    );
}

#[tokio::test]
async fn s9_no_contribution_after_death_and_inheritance_splits_to_the_fen() {
    let (_d, l) = given(&[
        enroll("male", "1980-01-01", "2024-01-01"),
        contribute("2024-01", "5000.01", "employer"),
        cmd(r#"{"type":"record_death","member":"$M","date":"2024-02-10"}"#),
    ])
    .await;
    assert_eq!(
        l.submit_json(&contribute("2024-03", "5000.00", "employer"))
            .await
            .expect_err("dead")
            .code(),
        "after_death"
    );
    let settle = cmd(
        r#"{"type":"settle_inheritance","member":"$M","date":"2024-03-01","heirs":[{"heir":null,"name":"A","share":"0.3333"},{"heir":null,"name":"B","share":"0.3333"},{"heir":null,"name":"C","share":"0.3334"}]}"#,
    );
    let r = l.submit_json(&settle).await.expect("settle");
    let shares = common::event_json(&r.events[0])["shares"]
        .as_array()
        .expect("shares")
        .clone();
    let total: i64 = shares
        .iter()
        .map(|s| {
            member_ledger::money::Money::parse(s["amount"].as_str().expect("amount"))
                .expect("money")
                .fen()
        })
        .sum();
    assert_eq!(
        total, 10000,
        "100.00 split without losing or creating a fen"
    );
}

#[tokio::test]
async fn s5_lump_sum_counts_as_actual_months_and_then_retirement_passes_000_q58() {
    let (_d, l) = given(&[enroll("female", "1970-01-01", "2024-01-01"), cmd(r#"{"type":"recognize_deemed","member":"$M","date":"2024-01-02","months":200,"basis":"pre_1997_service"}"#)]).await;
    let retire = cmd(r#"{"type":"retire","member":"$M","date":"2024-06-01"}"#);
    assert_eq!(
        l.submit_json(&retire).await.expect_err("short").code(),
        "insufficient_years"
    );
    l.submit_json(&cmd(
        r#"{"type":"lump_sum_makeup","member":"$M","date":"2024-05-20","months":120}"#,
    ))
    .await
    .expect("lump sum");
    l.submit_json(&retire).await.expect("retire");
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        (v.months.actual, v.months.total, v.balance.to_string()),
        (120, 320, "0.00".to_string())
    );
}

fn suspend(date: &str) -> String {
    format!(r#"{{"type":"suspend","member":"{M}","date":"{date}","reason":"left_employer"}}"#)
}

fn contribute_on(month: &str, wage: &str, payer: &str, date: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"{wage}","payer":"{payer}","date":"{date}"}}"#
    )
}

fn id() -> uuid::Uuid {
    M.parse().expect("uuid")
}

/// A woman with 180 deemed and 120 paid months (2005-01..2014-12): exactly the 300 / 120 she
/// needs [000 Q28].
fn career_of_300_months() -> Vec<String> {
    let mut lines = vec![
        enroll("female", "1960-01-01", "2005-01-01"),
        format!(
            r#"{{"type":"recognize_deemed","member":"{M}","date":"2005-01-02","months":180,"basis":"pre_1997_service"}}"#
        ),
    ];
    for i in 0..120 {
        lines.push(contribute(
            &format!("{}-{:02}", 2005 + i / 12, i % 12 + 1),
            "3000.00",
            "employer",
        ));
    }
    lines
}

#[tokio::test]
async fn s4_rejoin_as_individual_within_90_days_keeps_benefits_000_q27() {
    let (_d, l) = given(&[
        enroll("male", "1980-01-01", "2020-01-01"),
        contribute("2020-01", "6000.00", "employer"),
        contribute("2020-02", "6000.00", "employer"),
        suspend("2020-02-29"),
    ])
    .await;
    // R2: the suspended month, paid, stays covered; the gap begins on 2020-03-01.
    let on = |d: &str| ViewAt::AsOf(d.parse().expect("date"));
    let last_day = l.account(id(), on("2020-02-29")).await.expect("view");
    assert_eq!(
        serde_json::to_value(last_day.status).expect("json"),
        "active"
    );
    let before = l.account(id(), on("2020-03-01")).await.expect("view");
    assert_eq!(
        serde_json::to_value(before.status).expect("json"),
        "suspended"
    );
    // 79 days after the gap began: pays the gap months and goes on as an individual with the
    // current month (R2: every month after the suspended one is a gap month until then).
    for month in ["2020-03", "2020-04", "2020-05"] {
        l.submit_json(&contribute_on(month, "6000.00", "individual", "2020-05-19"))
            .await
            .expect("rejoin");
    }
    let after = l.account(id(), ViewAt::Head).await.expect("view");
    assert_eq!(serde_json::to_value(after.status).expect("json"), "active");
    assert_eq!(
        after.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2020-01-01"),
        "no break"
    );
    assert_eq!(after.months.actual, 5);
    // As now known, the gap days are covered.
    let gap_day = l.account(id(), on("2020-03-15")).await.expect("view");
    assert_eq!(
        serde_json::to_value(gap_day.status).expect("json"),
        "active"
    );
}

/// A woman cadre born 1960-01-01 reaches 55 on 2015-01-01 (R12); her career pays 2005-01 …
/// 2015-01 and she leaves work on 2015-01-31.
fn cadre_leaving_after_her_birthday() -> Vec<String> {
    let mut lines = career_of_300_months();
    lines.push(contribute("2015-01", "3000.00", "employer"));
    lines.push(suspend("2015-01-31"));
    lines
}

fn retire_cadre(date: &str) -> String {
    format!(r#"{{"type":"retire","member":"{M}","date":"{date}","category":"female_cadre"}}"#)
}

#[tokio::test]
async fn s5_converted_while_enjoying_benefits_is_continuous_000_q58() {
    // Converted nine days after reaching the statutory age of 55 while enjoying benefits.
    let mut lines = career_of_300_months();
    lines.push(retire_cadre("2015-01-10"));
    let (_d, l) = given(&lines).await;
    let v = l.account(id(), ViewAt::Head).await.expect("view");
    assert_eq!(serde_json::to_value(v.status).expect("json"), "retired");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2005-01-01"),
        "benefits continue from the first employer declaration"
    );
}

#[tokio::test]
async fn s5_converted_more_than_3_months_after_reaching_the_age_starts_the_month_after_000_q58_r12()
{
    let mut lines = cadre_leaving_after_her_birthday();
    lines.push(retire_cadre("2015-06-10"));
    let (_d, l) = given(&lines).await;
    let v = l.account(id(), ViewAt::Head).await.expect("view");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2015-07-01")
    );
}

#[tokio::test]
async fn s5_converted_within_3_months_of_reaching_the_age_stays_continuous_000_q58_r12() {
    let mut lines = cadre_leaving_after_her_birthday();
    lines.push(retire_cadre("2015-03-20"));
    let (_d, l) = given(&lines).await;
    let v = l.account(id(), ViewAt::Head).await.expect("view");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2005-01-01")
    );
}

#[tokio::test]
async fn s2_retiree_allocation_is_100_before_the_reform_and_70_after_ill() {
    let mut lines = career_of_300_months();
    lines.push(retire_cadre("2015-01-10"));
    for month in ["2022-12", "2023-01"] {
        lines.push(format!(
            r#"{{"type":"credit_retiree_allocation","month":"{month}","member":"{M}"}}"#
        ));
    }
    let (_d, l) = given(&lines).await;
    let v = l.account(id(), ViewAt::Head).await.expect("view");
    let year = |y: i32| {
        v.years
            .iter()
            .find(|r| r.year == y)
            .map(|r| r.totals.personal_account.to_string())
    };
    // Aged 62 in 2022 (under 70): 100.00; from 2023-01-01 the frozen 70.00.
    assert_eq!(year(2022).as_deref(), Some("100.00"));
    assert_eq!(year(2023).as_deref(), Some("70.00"));
    // A month is allocated once.
    let again = l
        .submit_json(&format!(
            r#"{{"type":"credit_retiree_allocation","month":"2023-01","member":"{M}"}}"#
        ))
        .await;
    assert!(
        matches!(again, Err(member_ledger::SubmitError::Rejected(r)) if r.code.as_str() == "duplicate_month")
    );
}

#[tokio::test]
async fn s2_age_band_changes_with_age_in_the_contribution_month_nat_1998_ill() {
    // Born 1980-06-15: 34 in May 2015 (0.8 %), 35 in June 2015 (1.0 %) of base 10,000.00.
    let (_d, l) = given(&[
        enroll("male", "1980-06-15", "2015-05-01"),
        contribute("2015-05", "10000.00", "employer"),
    ])
    .await;
    let may = l.account(id(), ViewAt::Head).await.expect("view").balance;
    assert_eq!(may.to_string(), "280.00"); // 2 % + 0.8 %
    l.submit_json(&contribute("2015-06", "10000.00", "employer"))
        .await
        .expect("june");
    let june = l.account(id(), ViewAt::Head).await.expect("view").balance;
    assert_eq!(june.to_string(), "580.00"); // + 2 % + 1.0 %
}

fn resident(birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"resident","sex":"female","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn premium(year: i32, date: &str) -> String {
    format!(
        r#"{{"type":"pay_premium","member":"{M}","coverage_year":{year},"personal":"320.00","subsidy":"640.00","date":"{date}"}}"#
    )
}

#[tokio::test]
async fn s4_newborn_paid_within_3_months_is_covered_from_birth_000_q33() {
    let (_d, l) = given(&[
        resident("2024-02-10", "2024-03-01"),
        premium(2024, "2024-04-20"),
    ])
    .await;
    let v = l.account(id(), ViewAt::Head).await.expect("view");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2024-02-10")
    );
    assert_eq!(
        v.months.actual, 12,
        "a paid coverage year counts as a year [§3]"
    );
}

#[tokio::test]
async fn s7_resident_premium_refundable_before_the_year_starts_not_after_000_q31() {
    let refund = |date: &str, year: i32| {
        format!(
            r#"{{"type":"refund","member":"{M}","date":"{date}","reason":"hukou_moved","coverage_year":{year}}}"#
        )
    };
    let (_d, l) = given(&[
        resident("1980-01-01", "2023-01-01"),
        premium(2024, "2023-10-15"),
        premium(2025, "2024-10-15"),
    ])
    .await;
    // 2025 has not begun on 2024-12-01: refundable, and the year no longer counts.
    l.submit_json(&refund("2024-12-01", 2025))
        .await
        .expect("refund before the year");
    let v = l.account(id(), ViewAt::Head).await.expect("view");
    assert_eq!(v.refunded.to_string(), "320.00");
    assert_eq!(v.months.actual, 12);
    // 2024 has begun: refused, nothing written.
    let head = l.head().expect("head").position;
    let late = l.submit_json(&refund("2024-12-02", 2024)).await;
    assert!(
        matches!(&late, Err(member_ledger::SubmitError::Rejected(r)) if r.code.as_str() == "refund_not_allowed"),
        "{late:?}"
    );
    assert_eq!(l.head().expect("head").position, head);
}

/// Given an employee-scheme member paying as an individual (benefits from 1 July 2024, after six
/// paid months), a refund for reason `error` follows the window of the other reasons (§7): the
/// member's payment for February is refunded on 10 March, before the benefit period; once the
/// period has begun, a refund for `error` of August is `refund_not_allowed` and writes nothing.
#[tokio::test]
async fn s7_an_employee_refund_for_error_stops_once_benefits_began_000_q56() {
    let pay = |month: &str, date: &str| {
        format!(
            r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"5000.00","payer":"individual","date":"{date}"}}"#
        )
    };
    let refund = |date: &str, month: &str| {
        format!(
            r#"{{"type":"refund","member":"{M}","date":"{date}","reason":"error","months":["{month}"]}}"#
        )
    };
    let (_d, l) = given(&[
        enroll("male", "1985-01-01", "2024-01-01"),
        pay("2024-01", "2024-01-05"),
        pay("2024-02", "2024-02-05"),
        pay("2024-03", "2024-03-05"),
    ])
    .await;
    l.submit_json(&refund("2024-03-10", "2024-02"))
        .await
        .expect("refunded before the benefit period");
    for (month, date) in [("2024-04", "2024-04-05"), ("2024-05", "2024-05-05")] {
        l.submit_json(&pay(month, date)).await.expect("paid");
    }
    for month in ["2024-06", "2024-07", "2024-08", "2024-09"] {
        let date = format!("{month}-05");
        l.submit_json(&pay(month, &date)).await.expect("paid");
    }
    let v = l
        .account(id(), ViewAt::AsOf("2024-09-10".parse().expect("date")))
        .await
        .expect("view");
    let began = v.benefits_from.expect("benefits began");
    assert!(began <= "2024-09-10".parse().expect("date"), "{began}");
    let head = l.head().expect("head").position;
    let late = l.submit_json(&refund("2024-09-10", "2024-08")).await;
    assert!(
        matches!(&late, Err(member_ledger::SubmitError::Rejected(r)) if r.code.as_str() == "refund_not_allowed"),
        "{late:?}"
    );
    assert_eq!(l.head().expect("head").position, head, "nothing written");
}
