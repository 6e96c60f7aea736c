//! `policy explain REGION [--date D]` and `policy check DIR`: a deployment reads its policy back
//! before going live, and validates a directory without opening a ledger.

use std::path::Path;

use chrono::NaiveDate;
use member_ledger::policy::{explain_region, Figure, PolicySet};

use super::{fail, EXIT_OK, EXIT_REJECTED};

/// Prints every figure of `region` in force on `date` (default: today) with its source.
pub(super) fn explain(policies: &PolicySet, region: &str, date: Option<&str>, json: bool) -> u8 {
    let date = match date {
        Some(text) => match text.parse::<NaiveDate>() {
            Ok(d) => d,
            Err(_) => return fail(format!("--date '{text}' is not a date YYYY-MM-DD")),
        },
        None => chrono::Local::now().date_naive(),
    };
    let Some(policy) = policies.region(region) else {
        let known: Vec<&str> = policies.region_names().collect();
        eprintln!(
            "member-ledger: region '{region}' has no policy here; known: {}",
            known.join(", ")
        );
        return EXIT_REJECTED;
    };
    let (figures, not_in_force) = explain_region(policy, date);
    let version = policies.version(region).unwrap_or("?");
    if json {
        let out = serde_json::json!({
            "region": region,
            "version": version,
            "date": date,
            "figures": figures,
            "not_in_force": not_in_force,
        });
        println!("{out:#}");
        return EXIT_OK;
    }
    println!("{region} ({version}): every figure in force on {date}, with its source");
    for figure in &figures {
        println!("{}", figure_text(figure));
    }
    if !not_in_force.is_empty() {
        println!("not in force on {date}: {}", not_in_force.join(", "));
    }
    EXIT_OK
}

fn figure_text(f: &Figure) -> String {
    let value = match &f.value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut text = format!("  {:<26} {value}", f.parameter);
    match (&f.effective_from, &f.source) {
        (Some(from), Some(source)) => {
            text.push_str(&format!("\n  {:<26} from {from}: {source}", ""));
        }
        (None, Some(source)) => text.push_str(&format!("\n  {:<26} {source}", "")),
        _ => {}
    }
    text
}

/// Validates every policy file of `dir` as a ledger would at open; exit 1 names the file, the
/// place and the reason of the first fault.
pub(super) fn check(dir: &Path) -> u8 {
    match PolicySet::from_dir(dir) {
        Ok(set) => {
            let names: Vec<String> = set
                .region_names()
                .map(|r| format!("{r} ({})", set.version(r).unwrap_or("?")))
                .collect();
            println!(
                "{}: {} region(s) valid: {}",
                dir.display(),
                names.len(),
                names.join(", ")
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("member-ledger: {}: {e}", dir.display());
            EXIT_REJECTED
        }
    }
}
