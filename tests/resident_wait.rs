//! The resident scheme's rules of the policy model, given / when / then: the national waiting
//! period from 2025 (docs/RULES.md §12 R9) in the shipped Luzhou data and the README's
//! `resident_wait` example (window to the end of February, the first gap year free), and premium
//! categories (R10) in Luzhou (the child premium of 320) and the `premium_categories` example.

use chrono::NaiveDate;
use member_ledger::projection::{AccountView, ViewAt};
use member_ledger::{Ledger, Receipt, SubmitError};
use serde_json::{json, Value};

mod common;
use common::{event_json, example_policies, given, given_with, verified};

const M: &str = "00000000-0000-4000-8000-000000000701";

fn enroll(region: &str, birth: &str, date: &str) -> String {
    json!({"type":"enroll","member":M,"region":region,"scheme":"resident","sex":"female","birth_date":birth,"date":date}).to_string()
}

fn premium(year: i32, personal: &str, subsidy: &str, date: &str) -> Value {
    json!({"type":"pay_premium","member":M,"coverage_year":year,"personal":personal,"subsidy":subsidy,"date":date})
}

/// An adult's premium in Luzhou (no adult figure is shipped: any amount is taken as paid).
fn adult(year: i32, date: &str) -> String {
    premium(year, "400.00", "670.00", date).to_string()
}

/// A child's premium in Luzhou: 320 + 640, with repaired years paid at 320 each.
fn child(year: i32, date: &str, repair_years: u32) -> String {
    let personal = format!("{}.00", 320 * (1 + repair_years));
    let mut v = premium(year, &personal, "640.00", date);
    if repair_years > 0 {
        v["repair_years"] = json!(repair_years);
    }
    v.to_string()
}

async fn when(l: &Ledger, line: &str) -> Result<Receipt, SubmitError> {
    l.submit_json(line).await
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

async fn view(l: &Ledger, at: ViewAt) -> AccountView {
    l.account(M.parse().expect("uuid"), at).await.expect("view")
}

async fn benefits_from(l: &Ledger) -> Option<String> {
    view(l, ViewAt::Head)
        .await
        .benefits_from
        .map(|d| d.to_string())
}

fn code(r: Result<Receipt, SubmitError>) -> String {
    r.expect_err("refused").code().to_string()
}

// ---- R9 the national wait from 2025 ----

#[tokio::test]
async fn r9_a_late_payer_waits_3_months_counted_day_exact_from_the_payment() {
    let (_d, l) = given(&[
        enroll("luzhou", "1980-01-01", "2024-06-01"),
        adult(2025, "2025-03-12"),
    ])
    .await;
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2025-06-12"));
    let status = |v: AccountView| format!("{:?}", v.status);
    assert_eq!(
        status(view(&l, ViewAt::AsOf(day("2025-06-11"))).await),
        "Waiting"
    );
    assert_eq!(
        status(view(&l, ViewAt::AsOf(day("2025-06-12"))).await),
        "Active"
    );
}

#[tokio::test]
async fn r9_luzhou_keeps_180_days_for_2024_and_takes_the_national_wait_from_2025_000_q32() {
    let (_d, l) = given(&[
        enroll("luzhou", "1980-01-01", "2024-01-01"),
        adult(2024, "2024-03-01"),
    ])
    .await;
    assert_eq!(
        benefits_from(&l).await.as_deref(),
        Some("2024-08-28"),
        "180 days"
    );
    let next = M.replace("701", "702");
    let (_d, l) = given(&[
        enroll("luzhou", "1980-01-01", "2024-01-01").replace(M, &next),
        adult(2025, "2025-03-01").replace(M, &next),
    ])
    .await;
    let v = l
        .account(next.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    // 2024 unpaid but it is the enrolment year: no gap year, 3 months from the payment.
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2025-06-01")
    );
}

#[tokio::test]
async fn r9_each_gap_year_adds_a_month_counted_from_the_benefit_years_start() {
    // Enrolled 2020, paid 2021, nothing for 2022-2024: three gap years; 2025 paid in the window.
    let (_d, l) = given(&[
        enroll("luzhou", "1980-01-01", "2020-01-01"),
        adult(2021, "2020-10-01"),
        adult(2025, "2024-11-01"),
    ])
    .await;
    assert_eq!(
        benefits_from(&l).await.as_deref(),
        Some("2025-07-01"),
        "3 + 3 months from 1 January"
    );
    let wait = view(&l, ViewAt::Head).await;
    assert_eq!(wait.consecutive_years, Some(0), "2024 is unpaid");
}

#[tokio::test]
async fn r9_repaired_years_shorten_the_wait_and_are_paid_at_the_years_premium() {
    let given_lines = [
        enroll("luzhou", "2015-03-03", "2020-01-01"),
        child(2021, "2020-10-01", 0),
    ];
    let (_d, l) = given(&given_lines).await;
    let underpaid = premium(2025, "320.00", "640.00", "2024-11-01");
    let mut underpaid = underpaid;
    underpaid["repair_years"] = json!(2);
    assert_eq!(
        code(when(&l, &underpaid.to_string()).await),
        "invalid_input"
    );
    assert_eq!(
        code(when(&l, &child(2025, "2024-11-01", 4)).await),
        "invalid_input",
        "only 3 years are missing"
    );
    let r = when(&l, &child(2025, "2024-11-01", 2))
        .await
        .expect("repair");
    let e = event_json(&r.events[0]);
    assert_eq!(e["personal"], "960.00", "320 × (1 + 2)");
    assert_eq!(e["wait"]["wait_months"], 4, "3 + (3 − 2)");
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2025-05-01"));
}

#[tokio::test]
async fn r9_after_four_gap_years_the_wait_is_at_least_6_months() {
    let lines = |repairs: u32| {
        vec![
            enroll("luzhou", "2015-03-03", "2019-01-01"),
            child(2020, "2019-10-01", 0),
            child(2025, "2024-11-01", repairs),
        ]
    };
    let (_d, l) = given(&lines(0)).await;
    assert_eq!(
        benefits_from(&l).await.as_deref(),
        Some("2025-08-01"),
        "3 + 4"
    );
    let (_d, l) = given(&lines(4)).await;
    assert_eq!(
        benefits_from(&l).await.as_deref(),
        Some("2025-07-01"),
        "3 + 0, at least 6"
    );
    let (_d, l) = given(&lines(3)).await;
    assert_eq!(
        benefits_from(&l).await.as_deref(),
        Some("2025-07-01"),
        "3 + 1, at least 6"
    );
}

#[tokio::test]
async fn r9_a_newborn_is_excepted() {
    let (_d, l) = given(&[
        enroll("luzhou", "2025-01-10", "2025-02-01"),
        child(2025, "2025-03-01", 0),
    ])
    .await;
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2025-01-10"));
}

#[tokio::test]
async fn r9_the_window_may_end_inside_the_benefit_year() {
    // resident_wait: the window runs on to the last day of February.
    let on_time = [
        enroll("resident_wait", "1980-01-01", "2024-06-01"),
        premium(2025, "400.00", "670.00", "2025-02-28").to_string(),
    ];
    let (_d, l) = given_with(example_policies(), &on_time).await;
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2025-01-01"));
    let late = [
        enroll("resident_wait", "1980-01-01", "2024-06-01"),
        premium(2025, "400.00", "670.00", "2025-03-01").to_string(),
    ];
    let (_d, l) = given_with(example_policies(), &late).await;
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2025-06-01"));
    // In a leap year the window's "02-29" is that day.
    let leap = [
        enroll("resident_wait", "1980-01-01", "2027-06-01"),
        premium(2028, "400.00", "670.00", "2028-02-29").to_string(),
    ];
    let (_d, l) = given_with(example_policies(), &leap).await;
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2028-01-01"));
}

#[tokio::test]
async fn r9_the_first_gap_year_is_free_where_the_region_reads_it_so() {
    // gap_years_free 1: three gap years give two variable months.
    let lines = [
        enroll("resident_wait", "1980-01-01", "2020-01-01"),
        premium(2021, "400.00", "670.00", "2020-10-01").to_string(),
        premium(2025, "400.00", "670.00", "2024-11-01").to_string(),
    ];
    let (_d, l) = given_with(example_policies(), &lines).await;
    assert_eq!(benefits_from(&l).await.as_deref(), Some("2025-06-01"));
}

#[tokio::test]
async fn r9_a_region_that_takes_no_late_premium_refuses_it_outside_the_window() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/policy-examples/resident_wait.json");
    let mut policy: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    policy["resident"][0]["value"]["accepts_late_payment"] = json!(false);
    let policies = member_ledger::policy::PolicySet::from_files([(
        "resident_wait.json".to_string(),
        policy.to_string(),
    )])
    .expect("policy");
    let (_d, l) = given_with(
        policies,
        &[enroll("resident_wait", "1980-01-01", "2024-06-01")],
    )
    .await;
    let late = premium(2025, "400.00", "670.00", "2025-03-01").to_string();
    assert_eq!(code(when(&l, &late).await), "outside_window");
    assert_eq!(l.head().expect("head").position, 1);
    let in_time = premium(2025, "400.00", "670.00", "2025-02-28").to_string();
    when(&l, &in_time).await.expect("in the window");
}

#[tokio::test]
async fn r9_consecutive_years_count_paid_years_in_a_row_to_the_view_dates_year() {
    let (_d, l) = given(&[
        enroll("luzhou", "1980-01-01", "2021-01-01"),
        adult(2022, "2021-10-01"),
        adult(2023, "2022-10-01"),
        adult(2024, "2023-10-01"),
        adult(2025, "2025-03-12"),
    ])
    .await;
    let years = |v: AccountView| v.consecutive_years;
    assert_eq!(
        years(view(&l, ViewAt::AsOf(day("2023-06-01"))).await),
        Some(2)
    );
    assert_eq!(
        years(view(&l, ViewAt::AsOf(day("2024-06-01"))).await),
        Some(3)
    );
    assert_eq!(
        years(view(&l, ViewAt::AsOf(day("2025-03-11"))).await),
        Some(0),
        "2025 not yet paid"
    );
    assert_eq!(
        years(view(&l, ViewAt::AsOf(day("2025-03-12"))).await),
        Some(4),
        "counted when paid, before its wait ends"
    );
    verified(&l, 0).await;
}

// ---- R10 premium categories ----

#[tokio::test]
async fn r10_a_luzhou_child_pays_320_with_a_subsidy_of_640_000_ill() {
    let (_d, l) = given(&[enroll("luzhou", "2015-03-03", "2023-09-01")]).await;
    let wrong = premium(2024, "300.00", "640.00", "2023-10-15").to_string();
    let err = when(&l, &wrong).await.expect_err("320");
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains("personal 320.00"), "{err}");
    let r = when(&l, &child(2024, "2023-10-15", 0)).await.expect("320");
    assert_eq!(event_json(&r.events[0])["category"], "child");
    let grown = M.replace("701", "703");
    l.submit_json(&enroll("luzhou", "1980-01-01", "2023-09-01").replace(M, &grown))
        .await
        .expect("enrol");
    let mut named = premium(2024, "320.00", "640.00", "2023-10-15");
    named["member"] = json!(grown);
    named["category"] = json!("child");
    assert_eq!(code(when(&l, &named.to_string()).await), "invalid_input");
    named["category"] = json!("senior");
    let err = when(&l, &named.to_string()).await.expect_err("unknown");
    assert!(err.to_string().contains("categories: child"), "{err}");
    let any = adult(2024, "2023-10-15").replace(M, &grown);
    l.submit_json(&any)
        .await
        .expect("no adult figure is shipped");
}

#[tokio::test]
async fn r10_each_category_has_its_own_personal_part_and_subsidy() {
    let (_d, l) = given_with(
        example_policies(),
        &[enroll("premium_categories", "2004-05-05", "2023-09-01")],
    )
    .await;
    // 19 on the payment date: adult and student both take her; she names one.
    let unnamed = premium(2024, "200.00", "670.00", "2023-10-15").to_string();
    let err = when(&l, &unnamed).await.expect_err("ambiguous");
    assert!(err.to_string().contains("adult, student"), "{err}");
    let mut student = premium(2024, "200.00", "670.00", "2023-10-15");
    student["category"] = json!("student");
    when(&l, &student.to_string()).await.expect("student");
    // At 25 the student category no longer takes her; adult is the only one.
    let mut late = premium(2030, "200.00", "670.00", "2029-10-15");
    late["category"] = json!("student");
    assert_eq!(code(when(&l, &late.to_string()).await), "invalid_input");
    let adult_premium = premium(2030, "400.00", "670.00", "2029-10-15").to_string();
    let r = when(&l, &adult_premium).await.expect("adult");
    assert_eq!(event_json(&r.events[0])["category"], "adult");
}
