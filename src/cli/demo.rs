//! `demo`: builds a ledger from the shipped sample, prints statements and a summary.
//!
//! Every sample command carries an idempotency key, so a second run appends nothing and prints
//! the same figures.

use std::path::Path;

use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::domain::parse_command;

/// The shipped sample: several members whose histories use every command (samples/demo.jsonl).
const SAMPLE: &str = include_str!("../../samples/demo.jsonl");
/// The sample's double posting that `demo` reverses.
const POSTED_TWICE_KEY: &str = "demo-li-pharmacy-posted-twice";

pub(super) async fn run(data: &Path) -> u8 {
    let ledger = match super::common::open_or_create(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let lines: Vec<String> = SAMPLE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let before = ledger.head().map(|h| h.position).unwrap_or(0);
    let results = ledger.submit_json_batch(&lines).await;
    let mut rejected = 0;
    for (line, result) in lines.iter().zip(&results) {
        if let Err(e) = result {
            rejected += 1;
            eprintln!("demo: sample command rejected ({}): {e}: {line}", e.code());
        }
    }
    // The dispute of the README: Li's pharmacy sale of 2024-11-03 was posted twice. The clerk
    // reverses the second posting; the key makes a rerun of `demo` append nothing.
    let twice = lines.iter().zip(&results).find_map(|(line, result)| {
        let (_, key) = parse_command(line).ok()?;
        (key.as_deref() == Some(POSTED_TWICE_KEY))
            .then(|| result.as_ref().ok())
            .flatten()
            .and_then(|receipt| receipt.events.first())
            .map(|e| e.event_id)
    });
    if let Some(event_id) = twice {
        let reason = "the pharmacy's system posted sale 2024-11-03 twice (same receipt)";
        if let Err(e) = ledger
            .reverse(event_id, reason, Some("demo-reverse-0001".to_string()))
            .await
        {
            rejected += 1;
            eprintln!("demo: the reversal was rejected ({}): {e}", e.code());
        }
    }
    let mut members: Vec<_> = lines
        .iter()
        .filter_map(|l| parse_command(l).ok())
        .filter_map(|(c, _)| c.member())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    members.retain(|m| seen.insert(*m));
    for member in &members {
        match ledger.statement(*member, None, None).await {
            Ok(s) => println!("{}", s.to_text()),
            Err(e) => return fail(e),
        }
    }
    let after = ledger.head().map(|h| h.position).unwrap_or(0);
    println!("== summary ==");
    println!("ledger         {}", super::shown(data));
    println!(
        "commands       {} in the sample, {} rejected",
        lines.len(),
        rejected
    );
    println!(
        "events         {} appended now, {} in the log",
        after - before,
        after
    );
    for member in &members {
        if let Ok(v) = ledger
            .account(*member, member_ledger::projection::ViewAt::Head)
            .await
        {
            println!(
                "{}  {:<9} {:<8} {:<9} balance {:>10}  months {:>3} actual + {:>3} deemed",
                v.member,
                v.region,
                member_ledger::domain::wire_name(&v.scheme),
                member_ledger::domain::wire_name(&v.status),
                v.balance,
                v.months.actual,
                v.months.deemed
            );
        }
    }
    match ledger.verify(|_, _| {}).await {
        Ok(report) => println!("{report}"),
        Err(e) => return fail(format!("verify failed: {e}")),
    }
    if rejected > 0 {
        EXIT_REJECTED
    } else {
        EXIT_OK
    }
}
