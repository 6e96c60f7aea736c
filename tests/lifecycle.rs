//! Months cross regions once (R6), deaths, heirs and shares (R11), the statutory retirement age
//! (R12), refund overlap by month (R13) and Sichuan's average wage (issue 14, finding 9), given /
//! when / then. The `regression_N` tests replay the histories of issue 14's findings.

use member_ledger::projection::{AccountView, ViewAt};
use member_ledger::{Ledger, SubmitError};

mod common;
use common::{event_json, given};

const A: &str = "00000000-0000-4000-8000-000000000f01";
const B: &str = "00000000-0000-4000-8000-000000000f02";
const C: &str = "00000000-0000-4000-8000-000000000f03";

fn enroll(who: &str, region: &str, sex: &str, birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{who}","region":"{region}","scheme":"employee","sex":"{sex}","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn pay(who: &str, month: &str, payer: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{who}","month":"{month}","wage":"5000.00","payer":"{payer}"}}"#
    )
}

fn year_2023(who: &str) -> Vec<String> {
    (1..=12)
        .map(|m| pay(who, &format!("2023-{m:02}"), "employer"))
        .collect()
}

async fn view(l: &Ledger, who: &str) -> AccountView {
    l.account(who.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view")
}

fn code(result: Result<member_ledger::Receipt, SubmitError>) -> String {
    match result {
        Err(SubmitError::Rejected(r)) => r.code.as_str().to_string(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ---------------------------------------------------------------- R6 months cross regions once

/// Finding 4: the same calendar year paid in Luzhou and in Chongqing showed 24 months in
/// Chongqing after an in-ledger transfer.
#[tokio::test]
async fn regression_4_a_year_paid_in_two_regions_counts_once_after_the_transfer() {
    let mut lines = vec![
        enroll(A, "luzhou", "female", "1985-01-01", "2023-01-01"),
        enroll(B, "chongqing", "female", "1985-01-01", "2023-01-01"),
    ];
    lines.extend(year_2023(A));
    lines.extend(year_2023(B));
    lines.push(format!(
        r#"{{"type":"suspend","member":"{A}","date":"2023-12-31","reason":"transfer_out"}}"#
    ));
    let (_d, l) = given(&lines).await;
    let sent = view(&l, A).await.balance;
    let before = view(&l, B).await.balance;
    let out = format!(
        r#"{{"type":"transfer_out","member":"{A}","date":"2024-01-10","to_region":"chongqing","to_member":"{B}"}}"#
    );
    let receipt = l.submit_json(&out).await.expect("transfer");
    let arrived = event_json(&receipt.events[1]);
    assert_eq!(arrived["paid_months"].as_array().map(Vec::len), Some(12));
    assert_eq!(arrived["last_paid_month"], "2023-12");
    let v = view(&l, B).await;
    assert_eq!(
        (v.months.actual, v.months.deemed, v.months.total),
        (12, 0, 12)
    );
    assert_eq!(v.balance, before + sent, "the balance moves whole");
}

fn transfer_in(who: &str, months: u32, paid: &str) -> String {
    format!(
        r#"{{"type":"transfer_in","member":"{who}","date":"2024-02-01","from_region":"chengdu","balance":"500.00","months":{months},"paid_months":{paid}}}"#
    )
}

#[tokio::test]
async fn r6_transferred_months_already_counted_here_are_not_counted_again() {
    let (_d, l) = given(&[
        enroll(A, "luzhou", "male", "1980-01-01", "2023-01-01"),
        pay(A, "2023-06", "employer"),
        transfer_in(A, 12, r#"["2023-01..2023-12"]"#),
    ])
    .await;
    let v = view(&l, A).await;
    assert_eq!(
        (v.months.actual, v.months.deemed, v.months.total),
        (1, 11, 12)
    );
    // A local payment posted later for a deemed month counts as actual, and the month once.
    let arrears = format!(
        r#"{{"type":"contribute","member":"{A}","month":"2023-07","wage":"5000.00","payer":"employer","date":"2024-02-20"}}"#
    );
    l.submit_json(&arrears).await.expect("arrears");
    let v = view(&l, A).await;
    assert_eq!(
        (v.months.actual, v.months.deemed, v.months.total),
        (2, 10, 12)
    );
}

#[tokio::test]
async fn r6_paid_months_must_match_months_name_each_month_once_and_not_lie_ahead() {
    let (_d, l) = given(&[enroll(A, "luzhou", "male", "1980-01-01", "2023-01-01")]).await;
    for (months, paid) in [
        (11, r#"["2023-01..2023-12"]"#),
        (13, r#"["2023-01..2023-12","2023-12"]"#),
        (2, r#"["2024-02","2024-03"]"#),
        (1, r#"["2023-12..2023-01"]"#),
    ] {
        let refused = l.submit_json(&transfer_in(A, months, paid)).await;
        assert_eq!(code(refused), "invalid_input", "{months} {paid}");
    }
    assert_eq!(l.head().expect("head").position, 1);
}

// ---------------------------------------------------------------- R11 deaths, heirs, shares

fn four_months(who: &str) -> Vec<String> {
    (1..=4)
        .map(|m| pay(who, &format!("2024-{m:02}"), "employer"))
        .collect()
}

fn death(who: &str, date: &str) -> String {
    format!(r#"{{"type":"record_death","member":"{who}","date":"{date}"}}"#)
}

fn settle(who: &str, heirs: &str) -> String {
    format!(
        r#"{{"type":"settle_inheritance","member":"{who}","date":"2024-06-01","heirs":{heirs}}}"#
    )
}

/// Finding 6: employer paid 2024-01 … 04; a death recorded on 2024-02-10 left 400.00 and 4
/// months, all inherited.
#[tokio::test]
async fn regression_6_a_back_dated_death_voids_the_months_after_it() {
    let mut lines = vec![enroll(A, "luzhou", "male", "1980-01-01", "2024-01-01")];
    lines.extend(four_months(A));
    let (_d, l) = given(&lines).await;
    assert_eq!(view(&l, A).await.balance.to_string(), "400.00");
    let receipt = l.submit_json(&death(A, "2024-02-10")).await.expect("death");
    let types: Vec<String> = receipt
        .events
        .iter()
        .map(|e| event_json(e)["type"].as_str().expect("type").to_string())
        .collect();
    assert_eq!(
        types,
        ["death_recorded", "voided_after_death", "voided_after_death"]
    );
    let march = event_json(&receipt.events[1]);
    assert_eq!(
        (&march["month"], &march["refunded"], &march["credited"]),
        (
            &serde_json::json!("2024-03"),
            &serde_json::json!("487.50"),
            &serde_json::json!("100.00")
        )
    );
    let v = view(&l, A).await;
    assert_eq!(
        (v.balance.to_string(), v.months.actual),
        ("200.00".into(), 2)
    );
    // As of any date, the voided months never show.
    let march_end = l
        .account(
            A.parse().expect("uuid"),
            ViewAt::AsOf("2024-03-31".parse().expect("date")),
        )
        .await
        .expect("as of");
    assert_eq!(march_end.balance.to_string(), "200.00");
    let settled = l
        .submit_json(&settle(A, r#"[{"heir":null,"name":"spouse","share":"1"}]"#))
        .await
        .expect("settle");
    assert_eq!(event_json(&settled.events[0])["balance"], "200.00");
}

#[tokio::test]
async fn r11_a_death_is_refused_while_spending_relied_on_the_voided_credits() {
    let mut lines = vec![enroll(A, "luzhou", "male", "1980-01-01", "2024-01-01")];
    lines.extend(four_months(A));
    lines.push(format!(
        r#"{{"type":"spend","member":"{A}","date":"2024-05-02","amount":"350.00","purpose":"pharmacy"}}"#
    ));
    let (_d, l) = given(&lines).await;
    assert_eq!(
        code(l.submit_json(&death(A, "2024-02-10")).await),
        "insufficient_balance"
    );
    assert_eq!(l.head().expect("head").position, 6, "nothing written");
}

/// Finding 6: an heir insured in Chongqing received a Luzhou share into his account.
#[tokio::test]
async fn regression_6_an_heir_insured_in_another_region_is_paid_out() {
    let mut lines = vec![
        enroll(A, "luzhou", "male", "1950-01-01", "2024-01-01"),
        enroll(B, "chongqing", "male", "1980-01-01", "2024-01-01"),
        enroll(C, "luzhou", "female", "1982-01-01", "2024-01-01"),
    ];
    lines.extend(four_months(A));
    lines.push(death(A, "2024-04-30"));
    let (_d, l) = given(&lines).await;
    let heirs = format!(
        r#"[{{"heir":"{B}","name":"son","share":"1/2"}},{{"heir":"{C}","name":"daughter","share":"1/2"}}]"#
    );
    let r = l.submit_json(&settle(A, &heirs)).await.expect("settle");
    let shares = event_json(&r.events[0])["shares"].clone();
    assert_eq!(shares[0]["destination"], "payout", "Chongqing heir");
    assert_eq!(shares[1]["destination"], "account", "Luzhou heir");
    assert_eq!(r.events.len(), 2, "only the Luzhou heir's account receives");
    assert_eq!(view(&l, B).await.balance.to_string(), "0.00");
    assert_eq!(view(&l, C).await.balance.to_string(), "200.00");
}

/// An estate of 0.00 left to an heir insured here: the settlement names the share, no account
/// receives anything, and `verify` matches the two sides (found by the model test in CI: a zero
/// share was counted as sent and never received, so `verify` reported the ledger broken).
#[tokio::test]
async fn r11_an_empty_estate_settles_to_an_insured_heir_and_the_ledger_verifies() {
    let lines = vec![
        enroll(A, "luzhou", "male", "1950-01-01", "2024-01-01"),
        enroll(C, "luzhou", "female", "1982-01-01", "2024-01-01"),
        death(A, "2024-04-30"),
    ];
    let (_d, l) = given(&lines).await;
    let heirs = format!(r#"[{{"heir":"{C}","name":"daughter","share":"1"}}]"#);
    let r = l.submit_json(&settle(A, &heirs)).await.expect("settle");
    let settled = event_json(&r.events[0]);
    assert_eq!(settled["balance"], "0.00");
    assert_eq!(settled["shares"][0]["destination"], "account");
    assert_eq!(r.events.len(), 1, "no inheritance_received for 0.00");
    let report = l.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.pairs_matched, 0);
}

async fn split_400(shares: [&str; 3]) -> Result<Vec<String>, String> {
    let mut lines = vec![enroll(A, "luzhou", "male", "1950-01-01", "2024-01-01")];
    lines.extend(four_months(A));
    lines.push(death(A, "2024-04-30"));
    let (_d, l) = given(&lines).await;
    let heirs: Vec<String> = shares
        .iter()
        .zip(["A", "B", "C"])
        .map(|(s, n)| format!(r#"{{"heir":null,"name":"{n}","share":"{s}"}}"#))
        .collect();
    let r = l
        .submit_json(&settle(A, &format!("[{}]", heirs.join(","))))
        .await
        .map_err(|e| e.code().to_string())?;
    let shares = event_json(&r.events[0])["shares"].clone();
    Ok((0..3)
        .map(|i| shares[i]["amount"].as_str().expect("amount").to_string())
        .collect())
}

/// Finding 6: shares "1/3" were refused; four-digit shares split 400.00 as 133.32/133.32/133.36.
#[tokio::test]
async fn regression_6_400_in_thirds_is_133_34_133_33_133_33() {
    assert_eq!(
        split_400(["1/3", "1/3", "1/3"]).await,
        Ok(vec!["133.34".into(), "133.33".into(), "133.33".into()])
    );
    // Decimals are taken as written: 0.3333 of 400.00 is 133.32.
    assert_eq!(
        split_400(["0.3333", "0.3333", "0.3334"]).await,
        Ok(vec!["133.32".into(), "133.32".into(), "133.36".into()])
    );
    // Mixed forms sum exactly; shares that do not make 1 are refused.
    assert_eq!(
        split_400(["1/2", "0.25", "1/4"]).await,
        Ok(vec!["200.00".into(), "100.00".into(), "100.00".into()])
    );
    assert_eq!(
        split_400(["1/2", "1/3", "1/7"]).await,
        Err("invalid_input".into())
    );
}

// ---------------------------------------------------------------- R12 retirement age

fn deemed(who: &str, months: u32) -> String {
    format!(
        r#"{{"type":"recognize_deemed","member":"{who}","date":"2024-01-02","months":{months},"basis":"pre_1997_service"}}"#
    )
}

fn retire(who: &str, date: &str, extra: &str) -> String {
    format!(r#"{{"type":"retire","member":"{who}","date":"{date}"{extra}}}"#)
}

/// A member enrolled in 2024 with 360 deemed months and 120 paid months (a lump sum).
async fn ready_to_retire(sex: &str, birth: &str) -> (tempfile::TempDir, Ledger) {
    given(&[
        enroll(A, "luzhou", sex, birth, "2024-01-01"),
        deemed(A, 360),
        format!(r#"{{"type":"lump_sum_makeup","member":"{A}","date":"2024-01-03","months":120}}"#),
    ])
    .await
}

/// Finding 7: a man born 1994 retired at 30 with 600 deemed months.
#[tokio::test]
async fn regression_7_a_man_of_30_cannot_retire() {
    let (_d, l) = given(&[
        enroll(A, "luzhou", "male", "1994-05-01", "2024-01-01"),
        deemed(A, 600),
    ])
    .await;
    assert_eq!(
        code(l.submit_json(&retire(A, "2024-06-01", "")).await),
        "below_retirement_age"
    );
}

/// (sex, birth date, extra fields, day before, day reached) for the statutory ages of R12.
const AGE_CASES: [(&str, &str, &str, &str, &str); 7] = [
    // Born before the delay: 60.
    ("male", "1964-12-20", "", "2024-12-19", "2024-12-20"),
    // A cohort's first birth months already get one month: 60 years 1 month.
    ("male", "1965-01-15", "", "2025-02-14", "2025-02-15"),
    ("male", "1965-04-15", "", "2025-05-14", "2025-05-15"),
    // The fifth birth month gets two.
    ("male", "1965-05-15", "", "2025-07-14", "2025-07-15"),
    // Women workers: one month every 2 birth months from 1975-01.
    ("female", "1975-03-10", "", "2025-05-09", "2025-05-10"),
    // Women cadres: 55, one month every 4 birth months from 1970-01.
    (
        "female",
        "1970-01-10",
        r#","category":"female_cadre""#,
        "2025-02-09",
        "2025-02-10",
    ),
    // Men born 1980 are at the cap: 63.
    ("male", "1980-01-31", "", "2043-01-30", "2043-01-31"),
];

#[tokio::test]
async fn r12_statutory_age_by_birth_month_day_before_and_of() {
    for (sex, birth, extra, before, reached) in AGE_CASES {
        let (_d, l) = ready_to_retire(sex, birth).await;
        assert_eq!(
            code(l.submit_json(&retire(A, before, extra)).await),
            "below_retirement_age",
            "{birth} on {before}"
        );
        l.submit_json(&retire(A, reached, extra))
            .await
            .unwrap_or_else(|e| panic!("{birth} on {reached}: {e}"));
    }
}

#[tokio::test]
async fn r12_the_day_after_the_age_is_reached_retirement_is_allowed() {
    let (_d, l) = ready_to_retire("male", "1965-01-15").await;
    l.submit_json(&retire(A, "2025-02-16", ""))
        .await
        .expect("a day after");
}

#[tokio::test]
async fn r12_flexible_early_retirement_at_most_3_years_never_below_the_original_age() {
    // Born 1970-06-10: statutory 61 years 5 months (2031-11-10); 3 years earlier is below 60,
    // so the earliest is 60 (2030-06-10).
    let (_d, l) = ready_to_retire("male", "1970-06-10").await;
    let early = r#","early":true"#;
    assert_eq!(
        code(l.submit_json(&retire(A, "2030-06-09", early)).await),
        "below_retirement_age"
    );
    assert_eq!(
        code(l.submit_json(&retire(A, "2030-06-10", "")).await),
        "below_retirement_age",
        "not early: the statutory age"
    );
    l.submit_json(&retire(A, "2030-06-10", early))
        .await
        .expect("early at 60");
}

#[tokio::test]
async fn r12_a_category_is_for_women() {
    let (_d, l) = ready_to_retire("male", "1960-01-01").await;
    let cadre = r#","category":"female_cadre""#;
    assert_eq!(
        code(l.submit_json(&retire(A, "2024-06-01", cadre)).await),
        "invalid_input"
    );
}

#[tokio::test]
async fn r12_not_enjoying_benefits_waits_until_the_same_day_12_months_after_conversion() {
    // Nothing paid as an employee since enrolment: no benefits at 60.
    let (_d, l) = ready_to_retire("male", "1964-01-01").await;
    l.submit_json(&retire(A, "2024-03-15", ""))
        .await
        .expect("retire");
    let v = view(&l, A).await;
    assert_eq!(serde_json::to_value(v.status).expect("json"), "retired");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2025-03-15")
    );
}

// ---------------------------------------------------------------- R13 refund overlap

fn duplicates_q1() -> Vec<String> {
    let mut lines = vec![enroll(A, "luzhou", "female", "1990-01-01", "2024-01-01")];
    for m in ["2024-01", "2024-02", "2024-03"] {
        lines.push(pay(A, m, "employer"));
        lines.push(pay(A, m, "individual"));
    }
    lines
}

fn spend_on(date: &str) -> String {
    format!(
        r#"{{"type":"spend","member":"{A}","date":"{date}","amount":"10.00","purpose":"pharmacy"}}"#
    )
}

fn refund(months: &str) -> String {
    format!(
        r#"{{"type":"refund","member":"{A}","date":"2024-07-01","reason":"duplicate","months":{months}}}"#
    )
}

/// Finding 8: 3 × 387.50 refused because of a pharmacy purchase months after the overlap.
#[tokio::test]
async fn regression_8_use_after_the_overlap_does_not_block_the_refund() {
    let mut lines = duplicates_q1();
    lines.push(spend_on("2024-06-15"));
    let (_d, l) = given(&lines).await;
    let r = l
        .submit_json(&refund(r#"["2024-01","2024-02","2024-03"]"#))
        .await
        .expect("refund");
    assert_eq!(event_json(&r.events[0])["amount"], "1162.50");
}

#[tokio::test]
async fn r13_a_use_inside_the_overlap_blocks_its_month_and_earlier_ones_only() {
    let mut lines = duplicates_q1();
    lines.push(spend_on("2024-02-10"));
    let (_d, l) = given(&lines).await;
    for month in ["2024-01", "2024-02"] {
        let refused = l.submit_json(&refund(&format!(r#"["{month}"]"#))).await;
        assert_eq!(code(refused), "refund_not_allowed", "{month}");
    }
    let r = l
        .submit_json(&refund(r#"["2024-03"]"#))
        .await
        .expect("after the last use");
    assert_eq!(event_json(&r.events[0])["amount"], "387.50");
}

// ---------------------------------------------------------------- finding 9: average wage

/// Finding 9: the shipped Luzhou policy had no average-wage table, so a wage of 100.00 was the
/// base. Sichuan's 2024 all-caliber average (7,646.00 a month) now bounds 2025's bases.
#[tokio::test]
async fn regression_9_sichuans_average_wage_bounds_the_2025_base() {
    let contribute = |month: &str, wage: &str| {
        format!(
            r#"{{"type":"contribute","member":"{A}","month":"{month}","wage":"{wage}","payer":"employer"}}"#
        )
    };
    let (_d, l) = given(&[enroll(A, "luzhou", "female", "1990-01-01", "2024-12-01")]).await;
    let base = |r: &member_ledger::Receipt| event_json(&r.events[0])["base"].clone();
    // 2024: no published 2023 figure in the data, the declared wage is the base.
    let r = l
        .submit_json(&contribute("2024-12", "100.00"))
        .await
        .expect("2024");
    assert_eq!(base(&r), "100.00");
    // 2025: floor 90 % of 7,646.00 = 6,881.40; cap 300 % = 22,938.00.
    let r = l
        .submit_json(&contribute("2025-01", "100.00"))
        .await
        .expect("floor");
    assert_eq!(base(&r), "6881.40");
    assert_eq!(event_json(&r.events[0])["account_credit"], "137.63");
    let r = l
        .submit_json(&contribute("2025-02", "30000.00"))
        .await
        .expect("cap");
    assert_eq!(base(&r), "22938.00");
}
