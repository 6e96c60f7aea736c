//! Family mutual aid (家庭共济, docs/RULES.md §12 R14), given / when / then: a register of relatives,
//! spending only for a relative registered that day, close relatives from the region's date, and
//! a relative's premium paid from the account posted to the relative in the same write.

use member_ledger::projection::ViewAt;
use member_ledger::{Ledger, Receipt, SubmitError};
use serde_json::json;

mod common;
use common::{event_json, example_policies, given, given_with, verified};

/// The account holder (employee scheme).
const P: &str = "00000000-0000-4000-8000-000000000801";
/// His daughter, a resident member of the same ledger.
const C: &str = "00000000-0000-4000-8000-000000000802";

fn holder(region: &str) -> Vec<String> {
    let mut lines = vec![json!({"type":"enroll","member":P,"region":region,"scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2024-01-01"}).to_string()];
    for month in ["2024-01", "2024-02", "2024-03", "2024-04"] {
        lines.push(json!({"type":"contribute","member":P,"month":month,"wage":"10000.00","payer":"employer"}).to_string());
    }
    lines
}

fn register(relation: &str, relative: Option<&str>, name: &str, date: &str) -> String {
    json!({"type":"register_relative","member":P,"date":date,"relation":relation,"relative":relative,"name":name}).to_string()
}

fn care(beneficiary: &str, date: &str) -> String {
    json!({"type":"spend","member":P,"date":date,"amount":"100.00","purpose":"relative_care","beneficiary":beneficiary}).to_string()
}

fn premium_for(beneficiary: &str, amount: &str, year: Option<i32>) -> String {
    let mut v = json!({"type":"spend","member":P,"date":"2024-10-15","amount":amount,"purpose":"relative_premium","beneficiary":beneficiary});
    if let Some(year) = year {
        v["coverage_year"] = json!(year);
    }
    v.to_string()
}

async fn when(l: &Ledger, line: &str) -> Result<Receipt, SubmitError> {
    l.submit_json(line).await
}

fn code(r: Result<Receipt, SubmitError>) -> String {
    r.expect_err("refused").code().to_string()
}

async fn balance(l: &Ledger, member: &str) -> String {
    l.account(member.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view")
        .balance
        .to_string()
}

#[tokio::test]
async fn r14_spending_for_a_relative_needs_a_registration_in_force_that_day() {
    let mut lines = holder("luzhou");
    lines.push(register("parent", None, "Wang Li", "2024-05-02"));
    let (_d, l) = given(&lines).await;
    let head = l.head().expect("head").position;
    assert_eq!(
        code(when(&l, &care("Wang Li", "2024-05-01")).await),
        "relative_not_registered",
        "the day before the registration"
    );
    assert_eq!(
        code(when(&l, &care("Zhang San", "2024-05-02")).await),
        "relative_not_registered",
        "never registered"
    );
    assert_eq!(l.head().expect("head").position, head, "nothing written");
    when(&l, &care("Wang Li", "2024-05-02"))
        .await
        .expect("registered that day");
    assert_eq!(balance(&l, P).await, "700.00", "4 × 200.00 − 100.00");
}

#[tokio::test]
async fn r14_close_relatives_only_from_the_regions_date_ill() {
    let (_d, l) = given(&holder("luzhou")).await;
    let early = register("close_relative", None, "Li Mei (sister)", "2024-12-31");
    assert_eq!(code(when(&l, &early).await), "invalid_input");
    when(
        &l,
        &register("close_relative", None, "Li Mei (sister)", "2025-01-01"),
    )
    .await
    .expect("from 2025-01-01");
    let spouse_too_early = register("spouse", None, "Zhao Yun", "2020-12-31");
    let err = when(&l, &spouse_too_early).await.expect_err("before 2021");
    assert_eq!(err.code(), "invalid_input");
    when(&l, &register("spouse", None, "Zhao Yun", "2024-04-30"))
        .await
        .expect("spouse");
    assert_eq!(
        code(when(&l, &register("spouse", None, "Zhao Yun", "2024-05-01")).await),
        "invalid_input",
        "registered once"
    );
}

/// The holder and his daughter (born 2015, resident) in the `family_aid` example, registered.
fn family() -> Vec<String> {
    let mut lines = holder("family_aid");
    lines.push(json!({"type":"enroll","member":C,"region":"family_aid","scheme":"resident","sex":"female","birth_date":"2015-03-03","date":"2024-09-01"}).to_string());
    lines.push(register("child", Some(C), "Li Xiao", "2024-09-01"));
    lines
}

#[tokio::test]
async fn r14_a_relatives_premium_is_posted_to_the_relative_in_the_same_write() {
    let (_d, l) = given_with(example_policies(), &family()).await;
    let r = when(&l, &premium_for(C, "300.00", Some(2025)))
        .await
        .expect("premium");
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[0].member.to_string(), P);
    assert_eq!(r.events[1].member.to_string(), C);
    assert_eq!(r.events[1].position, r.events[0].position + 1, "one append");
    let premium = event_json(&r.events[1]);
    assert_eq!(premium["type"], "premium_paid");
    assert_eq!(
        (&premium["personal"], &premium["subsidy"]),
        (&json!("300.00"), &json!("640.00")),
        "the spend is the personal part; the subsidy the schedule's"
    );
    assert_eq!(premium["paid_from"], P);
    assert_eq!(premium["benefits_from"], "2025-01-01");
    assert_eq!(event_json(&r.events[0])["coverage_year"], 2025);
    assert_eq!(balance(&l, P).await, "500.00", "800.00 − 300.00");
    let child = l
        .account(C.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("child");
    assert_eq!(child.years[0].totals.employee.to_string(), "300.00");
    verified(&l, 4).await;
}

#[tokio::test]
async fn r14_a_relatives_premium_that_the_schedule_refuses_writes_nothing() {
    let (_d, l) = given_with(example_policies(), &family()).await;
    let head = l.head().expect("head").position;
    let err = when(&l, &premium_for(C, "250.00", Some(2025)))
        .await
        .expect_err("the minor premium is 300.00");
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains(C), "names the relative: {err}");
    assert_eq!(
        code(when(&l, &premium_for(C, "300.00", None)).await),
        "invalid_input",
        "a relative's premium names its coverage year"
    );
    assert_eq!(l.head().expect("head").position, head);
    assert_eq!(balance(&l, P).await, "800.00");
}

#[tokio::test]
async fn r14_a_premium_for_a_relative_outside_the_ledger_is_a_spending_only() {
    let mut lines = family();
    lines.push(register("parent", None, "Li Lao (father)", "2024-09-01"));
    let (_d, l) = given_with(example_policies(), &lines).await;
    let r = when(&l, &premium_for("Li Lao (father)", "380.00", Some(2025)))
        .await
        .expect("spend");
    assert_eq!(r.events.len(), 1);
    assert_eq!(event_json(&r.events[0])["beneficiary"], "Li Lao (father)");
    assert_eq!(balance(&l, P).await, "420.00");
}

#[tokio::test]
async fn r14_a_relatives_premium_in_a_batch_reads_and_writes_both_members() {
    let (_d, l) = given_with(example_policies(), &[]).await;
    let mut lines = family();
    lines.push(premium_for(C, "300.00", Some(2025)));
    let results = l.submit_json_batch(&lines).await;
    let last = results.last().expect("results").as_ref().expect("accepted");
    assert_eq!(last.events.len(), 2);
    assert_eq!(balance(&l, P).await, "500.00");
    let child = l
        .account(C.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("child");
    assert_eq!(
        child.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2025-01-01")
    );
    verified(&l, 4).await;
}

/// Given a Luzhou member before the region's start of mutual aid (2021-04-13), spending for a
/// relative is `relative_not_registered` (no registration can be in force that day, R14), and
/// writes nothing.
#[tokio::test]
async fn r14_spending_for_a_relative_before_the_regions_start_has_no_registration() {
    let mut lines = vec![json!({"type":"enroll","member":P,"region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2021-01-01"}).to_string()];
    for month in ["2021-01", "2021-02", "2021-03"] {
        lines.push(json!({"type":"contribute","member":P,"month":month,"wage":"10000.00","payer":"employer"}).to_string());
    }
    let (_d, l) = given(&lines).await;
    let head = l.head().expect("head").position;
    assert_eq!(
        code(when(&l, &care("Wang Li", "2021-04-12")).await),
        "relative_not_registered"
    );
    assert_eq!(l.head().expect("head").position, head, "nothing written");
}
