//! Interest on the personal account (docs/RULES.md §12 R8), given / when / then, in the README's
//! `interest` example region: the carried-over part (at most the balance on 1 January) earns
//! 1.10 %, the current year's part 0.35 %, day by day ÷ 360, rounded once a year.
//!
//! The figures below are worked by hand in the test that asserts them.

use member_ledger::projection::ViewAt;
use member_ledger::{Ledger, Receipt, SubmitError};
use serde_json::json;

mod common;
use common::{event_json, example_policies, given, given_with, verified};

const M: &str = "00000000-0000-4000-8000-000000000601";
const N: &str = "00000000-0000-4000-8000-000000000602";

fn enroll(member: &str, region: &str) -> String {
    json!({"type":"enroll","member":member,"region":region,"scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2024-01-01"}).to_string()
}

fn transfer_in(member: &str, date: &str, balance: &str) -> String {
    json!({"type":"transfer_in","member":member,"date":date,"from_region":"elsewhere","balance":balance,"months":0}).to_string()
}

fn credit_interest(year: i32, member: Option<&str>) -> String {
    match member {
        Some(m) => json!({"type":"credit_interest","year":year,"member":m}),
        None => json!({"type":"credit_interest","year":year}),
    }
    .to_string()
}

/// 10,000.00 arrives on 2024-12-01; 1,000.00 is credited on 2025-07-01 (2 % of a 50,000.00
/// wage, the June contribution posted then); 5,000.00 is spent on 2025-10-01.
fn history() -> Vec<String> {
    vec![
        enroll(M, "interest"),
        transfer_in(M, "2024-12-01", "10000.00"),
        json!({"type":"contribute","member":M,"month":"2025-06","wage":"50000.00","payer":"employer","date":"2025-07-01"}).to_string(),
        json!({"type":"spend","member":M,"date":"2025-10-01","amount":"5000.00","purpose":"inpatient"}).to_string(),
    ]
}

async fn when(l: &Ledger, line: &str) -> Result<Receipt, SubmitError> {
    l.submit_json(line).await
}

async fn balance(l: &Ledger, member: &str) -> String {
    l.account(member.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view")
        .balance
        .to_string()
}

#[tokio::test]
async fn r8_the_carried_part_earns_the_time_rate_and_the_current_part_the_demand_rate() {
    let (_d, l) = given_with(example_policies(), &history()).await;
    // 2024: 31 days (1..31 December) of 10,000.00, all raised in 2024: current part.
    // 10,000.00 × 31 × 0.35 % ÷ 360 = 3.0138… → 3.01, dated 31 December.
    let y2024 = when(&l, &credit_interest(2024, Some(M)))
        .await
        .expect("2024");
    let e = event_json(&y2024.events[0]);
    assert_eq!(
        (&e["amount"], &e["date"]),
        (&json!("3.01"), &json!("2024-12-31"))
    );
    assert_eq!(e["periods"][0]["current_yuan_days"], "310000.00");
    // 2025, opening 10,003.01: 181 days at 10,003.01; 92 days at 11,003.01 (10,003.01 carried,
    // 1,000.00 current); 92 days at 6,003.01 (all carried: spending takes the current part first).
    // carried 10,003.01 × 273 + 6,003.01 × 92 = 3,283,098.65 yuan-days; current 92,000.00.
    // (3,283,098.65 × 1.10 % + 92,000.00 × 0.35 %) ÷ 360 = 101.2113… → 101.21.
    let y2025 = when(&l, &credit_interest(2025, Some(M)))
        .await
        .expect("2025");
    let e = event_json(&y2025.events[0]);
    assert_eq!(e["opening_balance"], "10003.01");
    assert_eq!(e["periods"][0]["carried_yuan_days"], "3283098.65");
    assert_eq!(e["periods"][0]["current_yuan_days"], "92000.00");
    assert_eq!(
        (&e["amount"], &e["date"]),
        (&json!("101.21"), &json!("2025-12-31"))
    );
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(v.balance.to_string(), "6104.22");
    let row = v.years.iter().find(|y| y.year == 2025).expect("2025 row");
    assert_eq!(row.totals.interest.to_string(), "101.21");
    assert_eq!(
        code(when(&l, &credit_interest(2025, Some(M))).await),
        "duplicate_month"
    );
    verified(&l, 3).await;
}

fn code(r: Result<Receipt, SubmitError>) -> String {
    r.expect_err("refused").code().to_string()
}

#[tokio::test]
async fn r8_a_year_waits_for_the_interest_of_the_year_before() {
    let (_d, l) = given_with(example_policies(), &history()).await;
    let head = l.head().expect("head").position;
    assert_eq!(
        code(when(&l, &credit_interest(2025, Some(M))).await),
        "invalid_input"
    );
    assert_eq!(l.head().expect("head").position, head, "nothing written");
    let all = when(&l, &credit_interest(2025, None)).await.expect("run");
    assert!(all.events.is_empty(), "every member's run skips it too");
}

#[tokio::test]
async fn r8_closing_credits_the_part_year_to_the_day_before_inside_the_closing_append() {
    let mut lines = history();
    lines.push(credit_interest(2024, Some(M)));
    lines.push(
        json!({"type":"suspend","member":M,"date":"2026-02-15","reason":"transfer_out"})
            .to_string(),
    );
    let (_d, l) = given_with(example_policies(), &lines).await;
    // 2025 not yet credited: the closing credits it (101.21, on 31 December), then 2026 to
    // 28 February: 6,104.22 carried × 59 days × 1.10 % ÷ 360 = 11.0045… → 11.00.
    let out = json!({"type":"transfer_out","member":M,"date":"2026-03-01","to_region":"chengdu"});
    let r = when(&l, &out.to_string()).await.expect("transfer out");
    let types: Vec<String> = r
        .events
        .iter()
        .map(|e| {
            event_json(e)["type"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        ["interest_credited", "interest_credited", "transferred_out"]
    );
    let part = event_json(&r.events[1]);
    assert_eq!(
        (&part["amount"], &part["date"], &part["through"]),
        (&json!("11.00"), &json!("2026-03-01"), &json!("2026-02-28"))
    );
    assert_eq!(event_json(&r.events[0])["amount"], "101.21");
    assert_eq!(event_json(&r.events[2])["balance"], "6115.22");
    assert_eq!(balance(&l, M).await, "0.00");
    verified(&l, 4).await;
}

#[tokio::test]
async fn r8_every_members_run_credits_each_once() {
    let lines = [
        enroll(M, "interest"),
        enroll(N, "interest"),
        transfer_in(M, "2024-12-01", "10000.00"),
        transfer_in(N, "2024-12-31", "36000.00"),
    ];
    let (_d, l) = given_with(example_policies(), &lines).await;
    let run = when(&l, &credit_interest(2024, None)).await.expect("run");
    // N's money arrived on the year's last day: one day, 36,000.00 × 0.35 % ÷ 360 = 0.35.
    let amounts: Vec<(String, String)> = run
        .events
        .iter()
        .map(|e| (e.member.to_string(), event_json(e)["amount"].to_string()))
        .collect();
    assert_eq!(
        amounts,
        [
            (M.to_string(), "\"3.01\"".to_string()),
            (N.to_string(), "\"0.35\"".to_string())
        ]
    );
    assert!(when(&l, &credit_interest(2024, None))
        .await
        .expect("rerun")
        .events
        .is_empty());
    verified(&l, 2).await;
}

#[tokio::test]
async fn r8_a_region_without_interest_rates_credits_none() {
    let (_d, l) = given(&[
        enroll(M, "luzhou"),
        json!({"type":"transfer_in","member":M,"date":"2024-02-01","from_region":"chongqing","balance":"1000.00","months":0}).to_string(),
    ])
    .await;
    assert_eq!(
        code(when(&l, &credit_interest(2024, Some(M))).await),
        "policy_missing"
    );
    assert!(when(&l, &credit_interest(2024, None))
        .await
        .expect("run")
        .events
        .is_empty());
}

#[tokio::test]
async fn r8_a_rate_changed_mid_year_splits_the_year_on_its_date() {
    // The example's rates, and lower ones from 2025-07-01: 1.00 % carried, 0.20 % current.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/policy-examples/interest.json");
    let mut policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    policy["interest"]
        .as_array_mut()
        .expect("interest")
        .push(json!({
            "effective_from": "2025-07-01",
            "value": {"carried_rate": "0.01", "current_rate": "0.002"},
            "source": "[ill] a lower rate from 2025-07-01"
        }));
    let policies = member_ledger::policy::PolicySet::from_files([(
        "interest.json".to_string(),
        policy.to_string(),
    )])
    .expect("policy");
    let mut lines = history();
    lines.push(credit_interest(2024, Some(M)));
    let (_d, l) = given_with(policies, &lines).await;
    let r = when(&l, &credit_interest(2025, Some(M)))
        .await
        .expect("2025");
    let e = event_json(&r.events[0]);
    // To 30 June: 10,003.01 × 181 = 1,810,544.81 carried at 1.10 %; from 1 July: carried
    // 10,003.01 × 92 + 6,003.01 × 92 = 1,472,553.84 at 1.00 % and current 92,000.00 at 0.20 %:
    // (19,915.99291 + 14,725.5384 + 184) ÷ 360 = 96.7375… → 96.74.
    let periods = e["periods"].as_array().expect("periods");
    assert_eq!(periods.len(), 2);
    assert_eq!(
        (&periods[0]["to"], &periods[0]["carried_yuan_days"]),
        (&json!("2025-06-30"), &json!("1810544.81"))
    );
    assert_eq!(
        (&periods[1]["from"], &periods[1]["carried_yuan_days"]),
        (&json!("2025-07-01"), &json!("1472553.84"))
    );
    assert_eq!(e["amount"], "96.74");
    verified(&l, 3).await;
}

/// Invariant: any balance the ledger holds earns its interest. Yuan-days are not money: a
/// year of a balance near the ledger's bound (100,000,000,000.00) is far beyond it, and must
/// neither be refused nor block the other members of the yearly run.
#[tokio::test]
async fn r8_a_balance_far_above_what_money_fields_hold_in_yuan_days_still_earns_interest() {
    let lines = vec![
        enroll(M, "interest"),
        transfer_in(M, "2024-12-01", "900000000.00"),
        enroll(N, "interest"),
        transfer_in(N, "2024-12-01", "100.00"),
    ];
    let (_d, l) = given_with(example_policies(), &lines).await;
    // 2024: 900,000,000.00 × 31 days = 27,900,000,000.00 yuan-days × 0.35 % ÷ 360 = 271,250.00;
    // 100.00 × 31 × 0.35 % ÷ 360 = 0.0301… → 0.03.
    let y2024 = when(&l, &credit_interest(2024, None)).await.expect("2024");
    let amounts: Vec<serde_json::Value> = y2024
        .events
        .iter()
        .map(|e| event_json(e)["amount"].clone())
        .collect();
    assert_eq!(amounts, vec![json!("271250.00"), json!("0.03")]);
    // 2025, all carried over: 900,271,250.00 × 365 = 328,599,006,250.00 yuan-days (beyond
    // 100,000,000,000.00) × 1.10 % ÷ 360 = 10,040,525.19; 100.03 × 365 × 1.10 % ÷ 360 = 1.12.
    let y2025 = when(&l, &credit_interest(2025, None)).await.expect("2025");
    let big = event_json(&y2025.events[0]);
    assert_eq!(big["periods"][0]["carried_yuan_days"], "328599006250.00");
    assert_eq!(big["amount"], "10040525.19");
    assert_eq!(event_json(&y2025.events[1])["amount"], "1.12");
    assert_eq!(balance(&l, M).await, "910311775.19");
    verified(&l, 4).await;
}

/// Invariant: no account's sums go beyond what the ledger holds, and one account that would
/// does not stop the yearly run for the others.
#[tokio::test]
async fn r8_interest_beyond_the_ledgers_bound_is_refused_alone_and_the_run_goes_on() {
    let lines = vec![
        enroll(M, "interest"),
        transfer_in(M, "2024-12-01", "99999999000.00"),
        enroll(N, "interest"),
        transfer_in(N, "2024-12-01", "100.00"),
    ];
    let (_d, l) = given_with(example_policies(), &lines).await;
    // 99,999,999,000.00 × 31 × 0.35 % ÷ 360 = 30,138,888.59: the balance would pass 10^11.
    let alone = when(&l, &credit_interest(2024, Some(M))).await;
    let Err(SubmitError::Rejected(r)) = alone else {
        panic!("{alone:?}")
    };
    assert_eq!(r.code.as_str(), "amount_out_of_range");
    assert!(r.message.contains("30138888.59"), "{}", r.message);
    let run = when(&l, &credit_interest(2024, None)).await.expect("run");
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.events[0].member.to_string(), N);
    assert_eq!(event_json(&run.events[0])["amount"], "0.03");
    assert_eq!(balance(&l, M).await, "99999999000.00");
}

/// A death recorded after a year's interest was credited voids the later months' credits (R11)
/// but leaves that interest as it was credited, on the balance then on record; a clerk who wants
/// it recomputed reverses it and credits the year again.
#[tokio::test]
async fn r11_interest_credited_before_a_back_dated_death_stays_until_reversed_r8() {
    let mut lines = vec![enroll(M, "interest")];
    for month in [
        "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06",
    ] {
        lines.push(json!({"type":"contribute","member":M,"month":month,"wage":"5000.00","payer":"employer"}).to_string());
    }
    let (_d, l) = given_with(example_policies(), &lines).await;
    // 100.00 credited at each month's end: 156,500.00 current yuan-days × 0.35 % ÷ 360 = 1.52.
    let credited = when(&l, &credit_interest(2024, Some(M)))
        .await
        .expect("2024");
    assert_eq!(event_json(&credited.events[0])["amount"], "1.52");
    let death = json!({"type":"record_death","member":M,"date":"2024-03-10"}).to_string();
    let r = when(&l, &death).await.expect("death");
    assert_eq!(r.events.len(), 4, "death and April, May, June voided");
    assert_eq!(
        balance(&l, M).await,
        "301.52",
        "the interest stays as credited"
    );
    verified(&l, 7).await;
    // Reversed and credited again: 91,900.00 yuan-days (100.00, 200.00, then 300.00 from
    // 31 March) × 0.35 % ÷ 360 = 0.89.
    let reverse = json!({"type":"reverse","event":credited.events[0].event_id.to_string(),"reason":"recompute after the death"}).to_string();
    when(&l, &reverse).await.expect("reversed");
    let again = when(&l, &credit_interest(2024, Some(M)))
        .await
        .expect("again");
    assert_eq!(event_json(&again.events[0])["amount"], "0.89");
    assert_eq!(balance(&l, M).await, "300.89");
    verified(&l, 8).await;
}
