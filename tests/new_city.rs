//! A city written from scratch as one policy file (`samples/new-city/jiangcheng.json`, shown in
//! the README) and a member's figures under it (`samples/new-city/commands.jsonl`): this test runs
//! that very file and those very commands, and checks the figures the README states.

use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;

mod common;
use common::{event_json, given_with, verified};

const MOTHER: &str = "00000000-0000-4000-8000-00000000e001";
const SON: &str = "00000000-0000-4000-8000-00000000e002";

#[tokio::test]
async fn a_new_city_in_one_file_decides_a_members_figures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/new-city");
    let policies = PolicySet::from_dir(&dir).expect("the new city's file is valid");
    let commands = std::fs::read_to_string(dir.join("commands.jsonl")).expect("commands");
    let lines: Vec<String> = commands.lines().map(str::to_string).collect();
    let (_d, l) = given_with(policies, &[]).await;
    let mut receipts = Vec::new();
    for line in &lines {
        receipts.push(
            l.submit_json(line)
                .await
                .unwrap_or_else(|e| panic!("{line}: {e}")),
        );
    }
    // A flexible worker: the wage 5,000.00 is held to 60 % of 2024's 8,400.00 = 5,040.00; she
    // pays 10 %: her own 2 % = 100.80 is credited, 8 % = 403.20 goes to the pooled fund, and
    // 10.00 a month to the big-illness fund beside it.
    let january = event_json(&receipts[1].events[0]);
    assert_eq!(
        (&january["base"], &january["employee"], &january["employer"]),
        (&"5040.00".into(), &"100.80".into(), &"403.20".into())
    );
    assert_eq!(january["account_credit"], "100.80");
    assert_eq!(january["surcharges"][0]["amount"], "10.00");
    // Her son's 2026 premium paid from her account: 250.00 + the subsidy 670.00, his benefits
    // from 1 January 2026, in the same write as her spending.
    let premium = &receipts[9];
    assert_eq!(premium.events.len(), 2);
    let his = event_json(&premium.events[1]);
    assert_eq!(
        (&his["personal"], &his["subsidy"]),
        (&"250.00".into(), &"670.00".into())
    );
    assert_eq!(his["benefits_from"], "2026-01-01");
    // 2025's interest, all of it current-year money: 144,651.20 yuan-days × 0.35 % ÷ 360 = 1.41.
    let interest = event_json(&receipts[10].events[0]);
    assert_eq!(interest["periods"][0]["current_yuan_days"], "144651.20");
    assert_eq!(interest["amount"], "1.41");
    let her = l
        .account(MOTHER.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(
        her.balance.to_string(),
        "356.21",
        "6 × 100.80 − 250.00 + 1.41"
    );
    assert_eq!(her.months.actual, 6);
    let son = l
        .account(
            SON.parse().expect("uuid"),
            ViewAt::AsOf("2026-01-01".parse().expect("date")),
        )
        .await
        .expect("view");
    assert_eq!(format!("{:?}", son.status), "Active");
    verified(&l, 6).await;
}
