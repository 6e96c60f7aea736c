//! The employee-scheme rules of the policy model, given / when / then, each named for its rule
//! tag (docs/RULES.md §12): flexible workers and tiers (R3), retiree allocations by pension (R4),
//! surcharges (R5), the credit rounded once (R7), and a base year from July (issue 9). The regions
//! are the README's examples (`samples/policy-examples/`) and the shipped ones.

use member_ledger::projection::ViewAt;
use member_ledger::{Ledger, Receipt, SubmitError};
use serde_json::{json, Value};

mod common;
use common::{event_json, example_policies, given, given_with, verified};

const M: &str = "00000000-0000-4000-8000-000000000501";

fn enroll(region: &str, birth: &str, date: &str) -> String {
    json!({"type":"enroll","member":M,"region":region,"scheme":"employee","sex":"male","birth_date":birth,"date":date}).to_string()
}

fn contribute(month: &str, wage: &str, payer: &str) -> String {
    json!({"type":"contribute","member":M,"month":month,"wage":wage,"payer":payer}).to_string()
}

/// A man who can retire: 360 deemed months and 120 actual months bought as a lump sum.
fn retiree_setup(region: &str, birth: &str, enrolled: &str) -> Vec<String> {
    vec![
        enroll(region, birth, enrolled),
        json!({"type":"recognize_deemed","member":M,"date":enrolled,"months":360,"basis":"pre_1997_service"}).to_string(),
        json!({"type":"lump_sum_makeup","member":M,"date":enrolled,"months":120}).to_string(),
    ]
}

fn retire(date: &str, pension: Option<&str>) -> String {
    let mut v = json!({"type":"retire","member":M,"date":date});
    if let Some(p) = pension {
        v["pension"] = json!(p);
    }
    v.to_string()
}

fn allocate(month: &str) -> String {
    json!({"type":"credit_retiree_allocation","month":month,"member":M}).to_string()
}

fn first(r: &Receipt) -> Value {
    event_json(&r.events[0])
}

async fn when(l: &Ledger, line: &str) -> Result<Receipt, SubmitError> {
    l.submit_json(line).await
}

async fn balance(l: &Ledger) -> String {
    let id = M.parse().expect("uuid");
    l.account(id, ViewAt::Head)
        .await
        .expect("view")
        .balance
        .to_string()
}

fn code(r: Result<Receipt, SubmitError>) -> String {
    r.expect_err("refused").code().to_string()
}

// ---- R3 flexible workers and tiers ----

#[tokio::test]
async fn r3_an_individual_pays_the_individual_rate_and_is_credited_only_his_own_part() {
    // Given a man of 60 in flexible_workers (individual 8 %, own part 3 %), before the reform.
    let (_d, l) = given_with(
        example_policies(),
        &[enroll("flexible_workers", "1960-01-01", "2020-01-01")],
    )
    .await;
    // When he pays 2020-05 himself, then 8 % of 5,000.00: own 150.00 credited, 250.00 pooled.
    let r = when(&l, &contribute("2020-05", "5000.00", "individual"))
        .await
        .expect("ok");
    let e = first(&r);
    assert_eq!(
        (&e["employee"], &e["employer"], &e["account_credit"]),
        (&json!("150.00"), &json!("250.00"), &json!("150.00"))
    );
    assert_eq!(e["credit"]["employer_part_rate"], "0");
    // And an employer's declaration the next month is credited own 2 % + 2 % of the employer
    // share at 60: 200.00, so the individual's 150.00 holds no employer share.
    let r = when(&l, &contribute("2020-06", "5000.00", "employer"))
        .await
        .expect("ok");
    assert_eq!(first(&r)["account_credit"], "200.00");
    assert_eq!(balance(&l).await, "350.00");
    verified(&l, 2).await;
}

#[tokio::test]
async fn r3_the_individual_rate_changes_on_its_date_2024_12_then_2025_01() {
    let (_d, l) = given_with(
        example_policies(),
        &[enroll("flexible_workers", "1990-01-01", "2024-12-01")],
    )
    .await;
    let december = when(&l, &contribute("2024-12", "5000.00", "individual"))
        .await
        .expect("ok");
    let january = when(&l, &contribute("2025-01", "5000.00", "individual"))
        .await
        .expect("ok");
    assert_eq!(first(&december)["employer"], "250.00", "8 % − 3 % in 2024");
    assert_eq!(first(&january)["employer"], "300.00", "9 % − 3 % from 2025");
    assert_eq!(first(&january)["account_credit"], "150.00");
}

#[tokio::test]
async fn r3_the_pool_only_tier_pays_its_rate_and_credits_nothing() {
    let mut e = enroll("flexible_workers", "1990-01-01", "2024-01-01");
    e = e.replace(
        r#""type":"enroll""#,
        r#""type":"enroll","tier":"pool_only""#,
    );
    let (_d, l) = given_with(example_policies(), &[e]).await;
    let own = when(&l, &contribute("2024-01", "5000.00", "individual"))
        .await
        .expect("ok");
    let ev = first(&own);
    assert_eq!(
        (&ev["employee"], &ev["employer"], &ev["account_credit"]),
        (&json!("0.00"), &json!("300.00"), &json!("0.00")),
        "6 % to the pooled fund"
    );
    let declared = when(&l, &contribute("2024-02", "5000.00", "employer"))
        .await
        .expect("ok");
    assert_eq!(first(&declared)["account_credit"], "0.00");
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(serde_json::to_value(v.tier).expect("tier"), "pool_only");
    assert_eq!((v.balance.to_string(), v.months.actual), ("0.00".into(), 2));
    verified(&l, 2).await;
}

#[tokio::test]
async fn r3_a_tier_the_region_does_not_offer_is_refused_and_writes_nothing() {
    let (_d, l) = given(&[]).await;
    let pool = enroll("luzhou", "1990-01-01", "2024-01-01").replace(
        r#""type":"enroll""#,
        r#""type":"enroll","tier":"pool_only""#,
    );
    assert_eq!(code(when(&l, &pool).await), "invalid_input");
    assert_eq!(l.head().expect("head").position, 0);
    let (_d, l) = given_with(example_policies(), &[]).await;
    let resident = pool
        .replace("luzhou", "family_aid")
        .replace("employee", "resident");
    assert_eq!(code(when(&l, &resident).await), "wrong_scheme");
}

#[tokio::test]
async fn r3_luzhou_individual_before_the_reform_is_credited_own_2_percent_only_ill() {
    // 45 and over in 2015: an employer's declaration would credit 4 %; an individual's 2 %.
    let (_d, l) = given(&[enroll("luzhou", "1960-01-01", "2015-01-01")]).await;
    let r = when(&l, &contribute("2015-01", "5000.00", "individual"))
        .await
        .expect("ok");
    let e = first(&r);
    assert_eq!(
        (&e["employee"], &e["employer"], &e["account_credit"]),
        (&json!("100.00"), &json!("387.50"), &json!("100.00"))
    );
}

// ---- R7 credit rounded once ----

#[tokio::test]
async fn r7_a_combined_credit_is_rounded_once() {
    // 2.8 % of 5,000.20 = 140.0056 → 140.01 once; separately 100.00 + 40.00 = 140.00.
    let lines = [
        enroll("credit_once", "1990-01-01", "2015-01-01"),
        contribute("2015-01", "5000.20", "employer"),
    ];
    let (_d, l) = given_with(example_policies(), &lines).await;
    assert_eq!(balance(&l).await, "140.01");
    let (_d, l) = given(&[
        enroll("luzhou", "1990-01-01", "2015-01-01"),
        contribute("2015-01", "5000.20", "employer"),
    ])
    .await;
    assert_eq!(balance(&l).await, "140.00", "Luzhou rounds each part");
}

// ---- R4 retiree allocation ----

#[tokio::test]
async fn r4_allocation_is_a_share_of_the_pension_from_the_month_after_retirement() {
    let mut lines = retiree_setup("pension_allocation", "1960-06-15", "2024-01-01");
    lines.push(retire("2025-03-15", Some("3456.78")));
    let (_d, l) = given_with(example_policies(), &lines).await;
    // March, the retirement month, is before the first allocated month.
    assert_eq!(code(when(&l, &allocate("2025-03")).await), "invalid_input");
    let april = when(&l, &allocate("2025-04")).await.expect("april");
    let e = first(&april);
    assert_eq!(e["amount"], "69.14", "2 % of 3,456.78 = 69.1356, half-up");
    assert_eq!(
        (&e["pension"], &e["age_on"]),
        (&json!("3456.78"), &json!("2025-04-30"))
    );
    // A later pension is used from its date on; a change an allocation relied on is refused.
    let back = json!({"type":"set_pension","member":M,"date":"2025-04-15","pension":"3600.00"});
    assert_eq!(code(when(&l, &back.to_string()).await), "invalid_input");
    let raise = json!({"type":"set_pension","member":M,"date":"2025-07-01","pension":"3333.25"});
    when(&l, &raise.to_string()).await.expect("raise");
    let june = when(&l, &allocate("2025-06")).await.expect("june");
    let july = when(&l, &allocate("2025-07")).await.expect("july");
    assert_eq!(
        first(&june)["amount"],
        "69.14",
        "the pension in force on 30 June"
    );
    assert_eq!(
        first(&july)["amount"],
        "66.67",
        "2 % of 3,333.25 = 66.665, half-up"
    );
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(v.pension.map(|p| p.to_string()).as_deref(), Some("3333.25"));
    verified(&l, 4).await;
}

#[tokio::test]
async fn r4_age_bands_use_the_age_on_the_months_last_day() {
    // Born 1955-07-31: 69 on 30 June 2025, 70 on 31 July (2 % then 2.5 % of 4,000.00).
    let mut lines = retiree_setup("pension_allocation", "1955-07-31", "2024-01-01");
    lines.push(retire("2025-03-15", Some("4000.00")));
    let (_d, l) = given_with(example_policies(), &lines).await;
    let june = when(&l, &allocate("2025-06")).await.expect("june");
    let july = when(&l, &allocate("2025-07")).await.expect("july");
    assert_eq!(
        (&first(&june)["age"], &first(&june)["amount"]),
        (&json!(69), &json!("80.00"))
    );
    assert_eq!(
        (&first(&july)["age"], &first(&july)["amount"]),
        (&json!(70), &json!("100.00"))
    );
}

#[tokio::test]
async fn r4_luzhou_bands_by_the_last_day_born_on_30_june_or_1_july_ill() {
    // Luzhou before the reform: 100.00 under 70, 110.00 from 70.
    for (birth, expected) in [("1952-06-30", "110.00"), ("1952-07-01", "100.00")] {
        let mut lines = retiree_setup("luzhou", birth, "2021-01-01");
        lines.push(retire("2021-06-01", None));
        let (_d, l) = given(&lines).await;
        let june = when(&l, &allocate("2022-06")).await.expect("june");
        assert_eq!(first(&june)["amount"], expected, "born {birth}");
    }
}

#[tokio::test]
async fn r4_a_share_of_an_unrecorded_pension_is_refused_alone_and_skipped_in_the_monthly_run() {
    let mut lines = retiree_setup("pension_allocation", "1960-06-15", "2024-01-01");
    lines.push(retire("2025-03-15", None));
    let (_d, l) = given_with(example_policies(), &lines).await;
    assert_eq!(code(when(&l, &allocate("2025-04")).await), "invalid_input");
    let all = json!({"type":"credit_retiree_allocation","month":"2025-04"}).to_string();
    assert!(when(&l, &all).await.expect("run").events.is_empty());
    let early = json!({"type":"set_pension","member":"00000000-0000-4000-8000-000000000599","date":"2025-01-01","pension":"1.00"});
    assert_eq!(code(when(&l, &early.to_string()).await), "unknown_member");
}

// ---- R5 surcharges ----

#[tokio::test]
async fn r5_surcharges_are_charged_once_per_period_never_credited() {
    let (_d, l) = given_with(
        example_policies(),
        &[enroll("surcharges", "1990-01-01", "2024-01-01")],
    )
    .await;
    let names = |r: &Receipt| -> Vec<(String, String, String)> {
        first(r)["surcharges"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
                        (text("name"), text("period"), text("amount"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let jan = when(&l, &contribute("2024-01", "6000.00", "employer"))
        .await
        .expect("jan");
    assert_eq!(
        names(&jan),
        [
            ("serious_illness".into(), "2024".into(), "90.00".into()),
            ("mutual_aid".into(), "2024-H1".into(), "30.00".into()),
            (
                "employer_supplement".into(),
                "2024-01".into(),
                "30.00".into()
            ),
        ]
    );
    let jun = when(&l, &contribute("2024-06", "6000.00", "employer"))
        .await
        .expect("jun");
    assert_eq!(names(&jun).len(), 1, "only the rate of the base");
    let jul = when(&l, &contribute("2024-07", "6000.00", "employer"))
        .await
        .expect("jul");
    assert_eq!(names(&jul)[0].1, "2024-H2");
    let twice = when(&l, &contribute("2024-07", "6000.00", "individual"))
        .await
        .expect("a duplicate payment");
    assert!(names(&twice).is_empty(), "the month already carries them");
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        v.balance.to_string(),
        "480.00",
        "3 × 120.00 + 120.00: no surcharge"
    );
    assert_eq!(v.months.actual, 3);
    verified(&l, 4).await;
}

#[tokio::test]
async fn r5_a_retiree_pays_the_yearly_fund_with_the_first_allocation_of_the_year() {
    let mut lines = retiree_setup("surcharges", "1960-06-15", "2024-01-01");
    lines.push(retire("2024-03-15", None));
    let (_d, l) = given_with(example_policies(), &lines).await;
    let march = when(&l, &allocate("2024-03")).await.expect("march");
    assert_eq!(march.events.len(), 2);
    let charged = event_json(&march.events[1]);
    assert_eq!(charged["type"], "surcharge_charged");
    assert_eq!(charged["surcharges"][0]["amount"], "90.00");
    assert_eq!(charged["surcharges"][0]["period"], "2024");
    let april = when(&l, &allocate("2024-04")).await.expect("april");
    assert_eq!(april.events.len(), 1, "once a year");
    let january = when(&l, &allocate("2025-01")).await.expect("january");
    assert_eq!(
        event_json(&january.events[1])["surcharges"][0]["period"],
        "2025"
    );
    assert_eq!(balance(&l).await, "300.00", "three allocations of 100.00");
    verified(&l, 6).await;
}

#[tokio::test]
async fn r5_chongqing_retirees_pay_2_yuan_a_month_too_004() {
    let mut lines = retiree_setup("chongqing", "1960-06-15", "2024-01-01");
    lines.push(retire("2024-12-01", None));
    let (_d, l) = given(&lines).await;
    for month in ["2025-01", "2025-02"] {
        let r = when(&l, &allocate(month)).await.expect("allocation");
        assert_eq!(first(&r)["amount"], "70.00");
        let charged = event_json(&r.events[1]);
        assert_eq!(charged["surcharges"][0]["name"], "mutual_aid_personal");
        assert_eq!(charged["surcharges"][0]["amount"], "2.00");
        assert_eq!(charged["surcharges"][0]["period"], month);
    }
    assert_eq!(balance(&l).await, "140.00", "never taken from the account");
    verified(&l, 5).await;
}

// ---- Issue 9: a base year from July to June ----

#[tokio::test]
async fn i9_the_base_year_runs_july_to_june() {
    let (_d, l) = given_with(
        example_policies(),
        &[enroll("base_year", "1990-01-01", "2023-07-01")],
    )
    .await;
    let base = |r: &Receipt| first(r)["base"].as_str().unwrap_or_default().to_string();
    let july_2023 = when(&l, &contribute("2023-07", "3000.00", "employer"))
        .await
        .expect("ok");
    let june = when(&l, &contribute("2024-06", "3000.00", "employer"))
        .await
        .expect("ok");
    let july = when(&l, &contribute("2024-07", "3000.00", "employer"))
        .await
        .expect("ok");
    let capped = when(&l, &contribute("2024-05", "30000.00", "employer"))
        .await
        .expect("ok");
    assert_eq!(base(&july_2023), "4200.00", "60 % of 2022's 7,000.00");
    assert_eq!(
        base(&june),
        "4200.00",
        "June 2024 is still in the 2023 base year"
    );
    assert_eq!(base(&july), "4500.00", "60 % of 2023's 7,500.00");
    assert_eq!(base(&capped), "21000.00", "300 % of 7,000.00");
    verified(&l, 4).await;
}

#[tokio::test]
async fn i9_shenyang_keeps_3715_after_its_last_base_year_003_ill() {
    let (_d, l) = given(&[enroll("shenyang", "1980-01-01", "2013-01-01")]).await;
    for month in ["2013-06", "2013-07", "2014-07"] {
        let r = when(&l, &contribute(month, "3000.00", "employer"))
            .await
            .expect("ok");
        assert_eq!(first(&r)["base"], "3715.00", "{month}");
    }
}

// ---- Where the policy model meets R11 (deaths and heirs) ----

const HEIR: &str = "00000000-0000-4000-8000-000000000502";

fn death(date: &str) -> String {
    json!({"type":"record_death","member":M,"date":date}).to_string()
}

/// A month voided after a death (R11) is no longer covered, so the surcharges charged with it
/// (R5) go back with the two shares; the months before the death keep theirs.
#[tokio::test]
async fn r11_a_contribution_voided_after_death_pays_back_its_surcharges_r5() {
    // Given a Chongqing member whose employer declared 2024-01 … 2024-04 on 5,000.00: each
    // month 2 % = 100.00 credited, and 1 % = 50.00 (employer) + 2.00 (member) to the fund.
    let mut lines = vec![enroll("chongqing", "1980-01-01", "2024-01-01")];
    for month in ["2024-01", "2024-02", "2024-03", "2024-04"] {
        lines.push(contribute(month, "5000.00", "employer"));
    }
    let (_d, l) = given(&lines).await;
    // When the death on 2024-02-10 is recorded, March and April are voided with their funds.
    let r = when(&l, &death("2024-02-10")).await.expect("death");
    assert_eq!(r.events.len(), 3);
    for (event, month) in r.events[1..].iter().zip(["2024-03", "2024-04"]) {
        let v = event_json(event);
        assert_eq!(
            (&v["month"], &v["refunded"], &v["credited"]),
            (&json!(month), &json!("500.00"), &json!("100.00"))
        );
        let back: Vec<(&Value, &Value)> = v["surcharges"]
            .as_array()
            .expect("surcharges")
            .iter()
            .map(|s| (&s["name"], &s["amount"]))
            .collect();
        assert_eq!(
            back,
            vec![
                (&json!("mutual_aid_employer"), &json!("50.00")),
                (&json!("mutual_aid_personal"), &json!("2.00"))
            ]
        );
    }
    assert_eq!(balance(&l).await, "200.00");
    verified(&l, 4).await;
}

/// A retiree's allocation voided after the death (R11) takes the month's surcharge (R5) with it.
#[tokio::test]
async fn r11_an_allocation_voided_after_death_pays_back_the_retirees_surcharge_r5() {
    let mut lines = retiree_setup("chongqing", "1960-06-15", "2024-01-01");
    lines.push(retire("2024-12-01", None));
    for month in ["2025-01", "2025-02", "2025-03"] {
        lines.push(allocate(month));
    }
    let (_d, l) = given(&lines).await;
    assert_eq!(balance(&l).await, "210.00", "three allocations of 70.00");
    let r = when(&l, &death("2025-01-20")).await.expect("death");
    let voided: Vec<(Value, Value, Value)> = r.events[1..]
        .iter()
        .map(|e| {
            let v = event_json(e);
            (
                v["month"].clone(),
                v["credited"].clone(),
                v["surcharges"][0]["amount"].clone(),
            )
        })
        .collect();
    assert_eq!(
        voided,
        vec![
            (json!("2025-02"), json!("70.00"), json!("2.00")),
            (json!("2025-03"), json!("70.00"), json!("2.00"))
        ]
    );
    assert_eq!(balance(&l).await, "70.00");
    verified(&l, 7).await;
}

/// An heir of the same region in the `pool_only` tier (R3) has no personal account, so his share
/// is paid out (R11), as an heir insured elsewhere is.
#[tokio::test]
async fn r11_an_heir_in_the_pool_only_tier_is_paid_out_r3() {
    let heir = json!({"type":"enroll","member":HEIR,"region":"flexible_workers","scheme":"employee","sex":"female","birth_date":"1985-01-01","date":"2024-01-01","tier":"pool_only"}).to_string();
    let lines = vec![
        enroll("flexible_workers", "1960-01-01", "2024-01-01"),
        heir,
        contribute("2024-01", "5000.00", "employer"),
        death("2024-01-31"),
    ];
    let (_d, l) = given_with(example_policies(), &lines).await;
    let before = balance(&l).await;
    let shares = json!([{"heir": HEIR, "name": "daughter", "share": "1"}]);
    let settle = json!({"type":"settle_inheritance","member":M,"date":"2024-02-15","heirs":shares});
    let r = when(&l, &settle.to_string()).await.expect("settled");
    assert_eq!(r.events.len(), 1, "no inheritance_received");
    let share = &first(&r)["shares"][0];
    assert_eq!(share["destination"], "payout");
    assert_eq!(share["amount"], json!(before));
    let heir_view = l
        .account(HEIR.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(heir_view.balance.to_string(), "0.00");
    verified(&l, 1).await;
}
