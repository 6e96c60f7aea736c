//! Every figure of a region's policy in force on a date, with its source: what
//! `member-ledger policy explain REGION --date D` prints, so that a deployment can read its file
//! back before going live.
//!
//! The walk is over the policy as data (its JSON form), not a list of parameters: a parameter
//! added to the schema is explained without a change here.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::RegionPolicy;

/// One parameter as in force on a date.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// The parameter's key in the policy file (`employer_rate`).
    pub parameter: String,
    /// The value in force (the entry's `value`), as the file writes it.
    pub value: Value,
    /// The first day the entry is in force; `None` for a value that does not change with time.
    pub effective_from: Option<NaiveDate>,
    /// The entry's source (its docs/RULES.md tag); `None` for descriptive keys (`name`, `schemes`).
    pub source: Option<String>,
}

/// The figures of `policy` in force on `date` (every key, sorted), and the dated parameters
/// that have no entry in force that day (absent from the file, or starting later).
pub fn explain_region(policy: &RegionPolicy, date: NaiveDate) -> (Vec<Figure>, Vec<String>) {
    let Ok(Value::Object(keys)) = serde_json::to_value(policy) else {
        return (Vec::new(), Vec::new());
    };
    let mut figures = Vec::new();
    let mut not_in_force = Vec::new();
    for (parameter, value) in keys {
        match value {
            Value::Array(entries) if entries.iter().all(is_dated) && !entries.is_empty() => {
                match in_force(&entries, date) {
                    Some(entry) => figures.push(Figure {
                        parameter,
                        value: entry["value"].clone(),
                        effective_from: entry["effective_from"].as_str().and_then(parse_day),
                        source: entry["source"].as_str().map(str::to_string),
                    }),
                    None => not_in_force.push(parameter),
                }
            }
            Value::Object(fixed) if fixed.contains_key("source") && fixed.contains_key("value") => {
                figures.push(Figure {
                    parameter,
                    value: fixed["value"].clone(),
                    effective_from: None,
                    source: fixed["source"].as_str().map(str::to_string),
                })
            }
            Value::Null => not_in_force.push(parameter),
            Value::Array(empty) if empty.is_empty() => not_in_force.push(parameter),
            other => figures.push(Figure {
                parameter,
                value: other,
                effective_from: None,
                source: None,
            }),
        }
    }
    (figures, not_in_force)
}

fn is_dated(entry: &Value) -> bool {
    entry.get("effective_from").is_some()
        && entry.get("value").is_some()
        && entry.get("source").is_some()
}

fn parse_day(text: &str) -> Option<NaiveDate> {
    text.parse().ok()
}

/// The last entry whose `effective_from` is not after `date` (entries are in date order).
fn in_force(entries: &[Value], date: NaiveDate) -> Option<&Value> {
    entries.iter().rev().find(|e| {
        e["effective_from"]
            .as_str()
            .and_then(parse_day)
            .is_some_and(|from| from <= date)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySet;

    #[test]
    fn explains_the_entry_in_force_and_names_what_is_not() {
        let set = PolicySet::shipped();
        let luzhou = set
            .region("luzhou")
            .unwrap_or_else(|| panic!("luzhou shipped"));
        let day = |t: &str| t.parse::<NaiveDate>().unwrap_or_default();
        let (before, _) = explain_region(luzhou, day("2022-12-31"));
        let (after, missing) = explain_region(luzhou, day("2023-01-01"));
        let credit = |figures: &[Figure]| {
            figures
                .iter()
                .find(|f| f.parameter == "account_credit")
                .map(|f| (f.effective_from, f.value["employer_part_by_age"].clone()))
        };
        assert_eq!(credit(&before).map(|c| c.0), Some(Some(day("1997-01-01"))));
        assert_eq!(credit(&after).map(|c| c.0), Some(Some(day("2023-01-01"))));
        assert!(missing.iter().any(|m| m == "interest"), "{missing:?}");
    }
}
