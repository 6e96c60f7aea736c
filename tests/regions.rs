//! Per-region rule tests, given / when / then, each named for its docs/RULES.md section and the tag
//! of its source (`004` Chongqing, `003` Shenyang and Fuzhou, `001` Shanghai children, `000 Q44`
//! Luzhou's base bounds with an [ill] wage table).

use member_ledger::projection::{AccountView, ViewAt};
use member_ledger::{Ledger, Receipt, SubmitError};
use serde_json::Value;

mod common;
use common::given;

const M: &str = "00000000-0000-4000-8000-000000000301";

fn enroll(region: &str, scheme: &str, birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{M}","region":"{region}","scheme":"{scheme}","sex":"female","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn contribute(month: &str, wage: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"{wage}","payer":"employer"}}"#
    )
}

fn premium(year: i32, personal: &str, subsidy: &str, date: &str) -> String {
    format!(
        r#"{{"type":"pay_premium","member":"{M}","coverage_year":{year},"personal":"{personal}","subsidy":"{subsidy}","date":"{date}"}}"#
    )
}

async fn when(l: &Ledger, line: &str) -> Result<Receipt, SubmitError> {
    l.submit_json(line).await
}

async fn view(l: &Ledger, at: ViewAt) -> AccountView {
    l.account(M.parse().expect("uuid"), at).await.expect("view")
}

fn data(r: &Receipt) -> Value {
    common::event_json(&r.events[0])
}

fn day(text: &str) -> chrono::NaiveDate {
    text.parse().expect("date")
}

// ---- Chongqing [004] ----

#[tokio::test]
async fn s2_chongqing_employer_8_and_employee_2_percent_004() {
    let (_d, l) = given(&[
        enroll("chongqing", "employee", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00"),
    ])
    .await;
    let v = view(&l, ViewAt::Head).await;
    assert_eq!(v.years[0].totals.employer.to_string(), "640.00");
    assert_eq!(v.years[0].totals.employee.to_string(), "160.00");
    assert_eq!(v.balance.to_string(), "160.00", "own 2 % after the reform");
}

#[tokio::test]
async fn s2_chongqing_mutual_aid_fund_1_percent_and_2_yuan_never_credited_004() {
    let (_d, l) = given(&[enroll("chongqing", "employee", "1990-01-01", "2024-01-01")]).await;
    let r = when(&l, &contribute("2024-01", "8000.01"))
        .await
        .expect("ok");
    let fields = data(&r);
    // Written as surcharges since R5: the same figures, by name.
    let aid = &fields["surcharges"];
    assert_eq!(aid[0]["name"], "mutual_aid_employer");
    assert_eq!(aid[0]["rate"], "0.01");
    assert_eq!(aid[0]["amount"], "80.00", "1 % of base 8,000.01, half-up");
    assert_eq!(aid[1]["name"], "mutual_aid_personal");
    assert_eq!(aid[1]["amount"], "2.00");
    assert_eq!(aid[1]["period"], "2024-01");
    assert_eq!(
        data(&r)["employer"],
        "640.00",
        "the fund is not in the employer share"
    );
    assert_eq!(view(&l, ViewAt::Head).await.balance.to_string(), "160.00");
}

#[tokio::test]
async fn s2_chongqing_young_member_gets_about_half_a_percent_of_the_employer_share_004() {
    let (_d, l) = given(&[enroll("chongqing", "employee", "1990-01-01", "2015-01-01")]).await;
    let r = when(&l, &contribute("2015-01", "6000.00"))
        .await
        .expect("ok");
    assert_eq!(data(&r)["credit_rate"], "0.025", "own 2 % + 0.5 % at 25");
    assert_eq!(data(&r)["account_credit"], "150.00");
}

#[tokio::test]
async fn s2_chongqing_contribution_is_due_before_the_20th_004() {
    let (_d, l) = given(&[enroll("chongqing", "employee", "1990-01-01", "2024-01-01")]).await;
    let on_time =
        contribute("2024-01", "8000.00").replace(r#""payer""#, r#""date":"2024-02-19","payer""#);
    let r = when(&l, &on_time).await.expect("ok");
    assert!(!data(&r)["rule"].as_str().expect("rule").contains("late"));
    let late =
        contribute("2024-02", "8000.00").replace(r#""payer""#, r#""date":"2024-03-20","payer""#);
    let r = when(&l, &late).await.expect("ok");
    assert!(data(&r)["rule"]
        .as_str()
        .expect("rule")
        .contains("not before the due date 2024-03-20: paid late [004]"));
}

#[tokio::test]
async fn s5_chongqing_retirement_needs_25_years_for_women_with_10_local_004() {
    let (_d, l) = given(&[
        enroll("chongqing", "employee", "1969-01-01", "2024-01-01"),
        format!(r#"{{"type":"recognize_deemed","member":"{M}","date":"2024-01-02","months":300,"basis":"pre_1997_service"}}"#),
    ])
    .await;
    let err = when(
        &l,
        &format!(r#"{{"type":"retire","member":"{M}","date":"2024-06-01"}}"#),
    )
    .await
    .expect_err("short of local years");
    assert_eq!(err.code(), "insufficient_years");
    assert!(
        err.to_string()
            .contains("total 300 of 300, actual local 0 of 120"),
        "{err}"
    );
}

#[tokio::test]
async fn s1_chongqing_has_no_resident_scheme_in_the_shipped_data_004() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(dir.path()).await.expect("open");
    let err = when(
        &l,
        &enroll("chongqing", "resident", "1990-01-01", "2024-01-01"),
    )
    .await
    .expect_err("no scheme");
    assert_eq!(err.code(), "wrong_scheme");
}

// ---- Shenyang [003] ----

#[tokio::test]
async fn s2_shenyang_employer_8_6_percent_including_maternity_and_employee_2_003() {
    let (_d, l) = given(&[
        enroll("shenyang", "employee", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00"),
    ])
    .await;
    let v = view(&l, ViewAt::Head).await;
    assert_eq!(v.years[0].totals.employer.to_string(), "688.00");
    assert_eq!(v.years[0].totals.employee.to_string(), "160.00");
}

#[tokio::test]
async fn s2_shenyang_minimum_base_3212_until_2012_06_and_3715_from_2012_07_003() {
    let (_d, l) = given(&[enroll("shenyang", "employee", "1980-01-01", "2011-01-01")]).await;
    let base = |r: &Receipt| data(r)["base"].as_str().expect("base").to_string();
    let before = when(&l, &contribute("2011-06", "3000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&before), "3000.00", "no minimum before 2011-07 [ill]");
    let june = when(&l, &contribute("2012-06", "3000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&june), "3212.00");
    assert_eq!(data(&june)["employee"], "64.24");
    let july = when(&l, &contribute("2012-07", "3000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&july), "3715.00");
    assert_eq!(data(&july)["employee"], "74.30");
    let above = when(&l, &contribute("2012-08", "9000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&above), "9000.00", "a minimum, no cap");
}

// ---- Luzhou base bounds [000 Q44], wage table [ill] ----

#[tokio::test]
async fn s2_luzhou_base_is_held_to_90_and_300_percent_of_the_previous_year_average_000_q44_ill() {
    // A deployment's policy directory with a wage table (the shipped data has none).
    let policies = member_ledger::policy::PolicySet::from_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/policy-luzhou-wage-table"),
    )
    .expect("the sample policy directory loads");
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open_with_policies(dir.path(), policies)
        .await
        .expect("open");
    when(
        &l,
        &enroll("luzhou", "employee", "1990-01-01", "2024-01-01"),
    )
    .await
    .expect("enrol");
    let base = |r: &Receipt| data(r)["base"].as_str().expect("base").to_string();
    let low = when(&l, &contribute("2024-01", "1000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&low), "4770.00", "90 % of the 2023 average 5,300.00");
    let high = when(&l, &contribute("2024-02", "50000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&high), "15900.00", "300 % of 5,300.00");
    let inside = when(&l, &contribute("2024-03", "4770.00"))
        .await
        .expect("ok");
    assert_eq!(base(&inside), "4770.00");
    let no_year = when(&l, &contribute("2025-01", "1000.00"))
        .await
        .expect("ok");
    assert_eq!(
        base(&no_year),
        "1000.00",
        "no 2024 average: the declared wage is the base"
    );
}

#[tokio::test]
async fn s2_luzhou_shipped_data_has_no_wage_table_so_the_declared_wage_is_the_base_000_q44() {
    let (_d, l) = given(&[enroll("luzhou", "employee", "1990-01-01", "2024-01-01")]).await;
    let base = |r: &Receipt| data(r)["base"].as_str().expect("base").to_string();
    let high = when(&l, &contribute("2024-01", "50000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&high), "50000.00");
    let low = when(&l, &contribute("2024-02", "1000.00"))
        .await
        .expect("ok");
    assert_eq!(base(&low), "1000.00");
}

// ---- Fuzhou residents [003] ----

#[tokio::test]
async fn s11_fuzhou_adult_150_minor_40_subsidy_260_then_300_from_2013_003() {
    let (_d, l) = given(&[enroll("fuzhou", "resident", "1980-01-01", "2011-10-01")]).await;
    when(&l, &premium(2012, "150.00", "260.00", "2011-10-10"))
        .await
        .expect("2012: subsidy 260");
    let old_subsidy = when(&l, &premium(2013, "150.00", "260.00", "2013-01-05"))
        .await
        .expect_err("2013: 300");
    assert_eq!(old_subsidy.code(), "invalid_input");
    assert!(
        old_subsidy.to_string().contains("subsidy 300.00"),
        "{old_subsidy}"
    );
    when(&l, &premium(2013, "150.00", "300.00", "2013-01-05"))
        .await
        .expect("2013: subsidy 300");
    when(&l, &premium(2014, "0.00", "450.00", "2013-10-05"))
        .await
        .expect("fully subsidised");
    let minor = "00000000-0000-4000-8000-000000000302";
    let child = enroll("fuzhou", "resident", "2010-05-05", "2013-10-01").replace(M, minor);
    l.submit_json(&child).await.expect("enrol child");
    let pay = premium(2014, "40.00", "300.00", "2013-10-05").replace(M, minor);
    l.submit_json(&pay).await.expect("minor 40");
}

#[tokio::test]
async fn s4_fuzhou_newborn_within_3_months_covered_from_birth_later_from_acceptance_003() {
    let (_d, l) = given(&[enroll("fuzhou", "resident", "2024-01-10", "2024-02-01")]).await;
    when(&l, &premium(2024, "40.00", "300.00", "2024-04-10"))
        .await
        .expect("within 3 months");
    assert_eq!(
        view(&l, ViewAt::Head).await.benefits_from,
        Some(day("2024-01-10"))
    );
    let late = "00000000-0000-4000-8000-000000000303";
    l.submit_json(&enroll("fuzhou", "resident", "2024-01-10", "2024-05-01").replace(M, late))
        .await
        .expect("enrol");
    l.submit_json(&premium(2024, "40.00", "300.00", "2024-05-20").replace(M, late))
        .await
        .expect("after 3 months");
    let v = l
        .account(late.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        v.benefits_from,
        Some(day("2024-05-20")),
        "from acceptance, no wait"
    );
}

#[tokio::test]
async fn s4_fuzhou_coverage_ends_on_31_december_of_the_paid_year_003() {
    let (_d, l) = given(&[
        enroll("fuzhou", "resident", "1980-01-01", "2023-10-01"),
        premium(2024, "150.00", "300.00", "2023-10-10"),
    ])
    .await;
    let status = |v: AccountView| format!("{:?}", v.status);
    assert_eq!(
        status(view(&l, ViewAt::AsOf(day("2024-12-31"))).await),
        "Active"
    );
    assert_eq!(
        status(view(&l, ViewAt::AsOf(day("2025-01-01"))).await),
        "Suspended"
    );
}

#[tokio::test]
async fn s1_fuzhou_has_no_employee_scheme_in_the_shipped_data_003() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(dir.path()).await.expect("open");
    let err = when(
        &l,
        &enroll("fuzhou", "employee", "1990-01-01", "2024-01-01"),
    )
    .await
    .expect_err("no scheme");
    assert_eq!(err.code(), "wrong_scheme");
}

// ---- Shanghai children [001] ----

#[tokio::test]
async fn s11_shanghai_children_pay_100_a_year_50_personal_50_subsidy_001() {
    let (_d, l) = given(&[enroll("shanghai", "resident", "2015-03-03", "2023-10-01")]).await;
    let wrong = when(&l, &premium(2024, "100.00", "0.00", "2023-10-10"))
        .await
        .expect_err("50 + 50");
    assert_eq!(wrong.code(), "invalid_input");
    when(&l, &premium(2024, "50.00", "50.00", "2023-10-10"))
        .await
        .expect("50 + 50");
    assert_eq!(
        view(&l, ViewAt::Head).await.benefits_from,
        Some(day("2024-01-01"))
    );
    let adult = "00000000-0000-4000-8000-000000000304";
    l.submit_json(&enroll("shanghai", "resident", "1990-01-01", "2023-10-01").replace(M, adult))
        .await
        .expect("enrol");
    let err = l
        .submit_json(&premium(2024, "50.00", "50.00", "2023-10-10").replace(M, adult))
        .await
        .expect_err("children only");
    assert_eq!(err.code(), "wrong_scheme");
}

#[tokio::test]
async fn s4_shanghai_newborn_within_3_months_is_covered_from_birth_001() {
    let (_d, l) = given(&[
        enroll("shanghai", "resident", "2024-02-15", "2024-03-01"),
        premium(2024, "50.00", "50.00", "2024-05-15"),
    ])
    .await;
    assert_eq!(
        view(&l, ViewAt::Head).await.benefits_from,
        Some(day("2024-02-15"))
    );
}

#[tokio::test]
async fn s4_shanghai_late_application_is_covered_from_the_4th_month_001() {
    let (_d, l) = given(&[
        enroll("shanghai", "resident", "2016-06-06", "2024-03-01"),
        premium(2024, "50.00", "50.00", "2024-03-10"),
    ])
    .await;
    let v = view(&l, ViewAt::Head).await;
    assert_eq!(
        v.benefits_from,
        Some(day("2024-06-01")),
        "March, April, May wait; from June"
    );
    assert_eq!(
        format!(
            "{:?}",
            view(&l, ViewAt::AsOf(day("2024-05-31"))).await.status
        ),
        "Waiting"
    );
    assert_eq!(
        format!(
            "{:?}",
            view(&l, ViewAt::AsOf(day("2024-06-01"))).await.status
        ),
        "Active"
    );
}
