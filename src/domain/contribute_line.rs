//! The quick reading of the commonest command line, `contribute`: one typed pass over the text,
//! straight into the command's fields. The general reading scans the line for repeated keys,
//! then reads it as an internally tagged enum, which serde does by buffering every field first
//! (together 8.7 % of `submit`'s samples on the storage benchmark, whose lines are nearly all
//! contributions).
//!
//! *Invariant*: where [`read`] gives a command and key, the general reading of the same text
//! ([`super::command_line::parse_command_value`] of [`super::strict_json::parse_strict`]) gives the
//! same command and key. Anything it does not expect (another type, a field unknown or given
//! twice, a value of another shape, text with escapes, a key or date the general reading would
//! refuse, trailing text) gives `None`, and the general reading decides and words the refusal.
//! A contribution's fields are all scalars, so serde's refusal of a repeated field covers the
//! strict reading's refusal of a repeated key at any depth.

use chrono::NaiveDate;
use serde::Deserialize;

use super::command::{Command, IDEMPOTENCY_KEY_BYTES_MAX};
use super::command_line::is_iso_date;
use super::MemberId;
use crate::money::Money;
use crate::month::Month;
use crate::terms::{EmployerClass, Payer};

/// A `contribute` line's fields as written, the key and the date still to be checked. They
/// mirror `Command::Contribute`'s: the command is built from them field by field (a field taken
/// out of the command no longer compiles here), and a field the command gains is unknown here, so
/// its lines go to the general reading until it is added.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    key: Option<&'a str>,
    member: MemberId,
    month: Month,
    wage: Money,
    payer: Payer,
    #[serde(default)]
    employer_class: EmployerClass,
    #[serde(default, borrow)]
    date: Option<&'a str>,
}

/// The `contribute` command in `text` and its key; `None` where the general reading decides.
pub(super) fn read(text: &str) -> Option<(Command, Option<String>)> {
    if !text.contains("\"contribute\"") {
        return None;
    }
    let line: Line<'_> = serde_json::from_str(text).ok()?;
    if line.kind != "contribute" {
        return None;
    }
    let key = match line.key {
        None => None,
        Some(k) if !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_BYTES_MAX => Some(k.to_string()),
        Some(_) => return None,
    };
    let date = match line.date {
        None => None,
        // As chrono's own deserializer reads it, once the contract's shape is checked.
        Some(d) if is_iso_date(d) => Some(d.parse::<NaiveDate>().ok()?),
        Some(_) => return None,
    };
    let command = Command::Contribute {
        member: line.member,
        month: line.month,
        wage: line.wage,
        payer: line.payer,
        employer_class: line.employer_class,
        date,
    };
    Some((command, key))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::strict_json::parse_strict;

    /// The general reading, without either quick path.
    fn general(text: &str) -> Option<(Command, Option<String>)> {
        super::super::command_line::parse_command_value(parse_strict(text).ok()?).ok()
    }

    #[test]
    fn the_benchmark_line_is_read_quickly_and_as_the_general_reading_reads_it() {
        let line = r#"{"type":"contribute","member":"00000000-0000-4000-8000-000000600000","month":"2000-01","wage":"4200.00","payer":"employer","key":"c-1"}"#;
        let quick = read(line).expect("the common shape takes the quick path");
        assert_eq!(Some(quick), general(line));
    }

    /// One field of a generated line: its name and its JSON value, each drawn from valid and
    /// invalid variants.
    fn field() -> impl Strategy<Value = (String, String)> {
        let value = |name: &'static str, values: &'static [&'static str]| {
            proptest::sample::select(values).prop_map(move |v| (name.to_string(), v.to_string()))
        };
        prop_oneof![
            value(
                "type",
                &["\"contribute\"", "\"enroll\"", "\"contr\\u0069bute\"", "5"]
            ),
            value("key", &["\"k-1\"", "\"\"", "null", "7", "\"k\\\"2\""]),
            value(
                "member",
                &[
                    "\"00000000-0000-4000-8000-000000000009\"",
                    "\"nope\"",
                    "null"
                ]
            ),
            value(
                "month",
                &["\"2024-02\"", "\"2024-2\"", "\"2024-13\"", "202402"]
            ),
            value(
                "wage",
                &["\"8000.00\"", "8000", "8000.5", "\"-1\"", "\"1e3\"", "true"]
            ),
            value("payer", &["\"employer\"", "\"individual\"", "\"boss\""]),
            value(
                "employer_class",
                &["\"public\"", "\"enterprise\"", "\"other\"", "null"]
            ),
            value(
                "date",
                &[
                    "\"2024-02-29\"",
                    "\"2024-2-29\"",
                    "\"2023-02-29\"",
                    "null",
                    "20240229"
                ]
            ),
            value("region", &["\"luzhou\""]),
            value("nested", &["{\"a\":1,\"a\":2}"]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        // Invariant: whatever the fields (any order, missing, repeated, unknown, of any shape)
        // and whatever follows the object, a line the quick path reads is read the same by the
        // general reading.
        #[test]
        fn the_quick_reading_agrees_with_the_general_reading(
            base in proptest::bool::ANY,
            fields in proptest::collection::vec(field(), 0..9),
            tail in proptest::sample::select(&["", " ", "\n", " x", "{}", ","][..]),
        ) {
            let mut entries: Vec<(String, String)> = Vec::new();
            if base {
                // A complete line first, so that most cases are readable at all.
                entries.push(("type".into(), "\"contribute\"".into()));
                entries.push(("member".into(), "\"00000000-0000-4000-8000-000000000001\"".into()));
                entries.push(("month".into(), "\"2024-01\"".into()));
                entries.push(("wage".into(), "\"5000.00\"".into()));
                entries.push(("payer".into(), "\"employer\"".into()));
            }
            entries.extend(fields);
            let body: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let text = format!("{{{}}}{tail}", body.join(","));
            if let Some(quick) = read(&text) {
                prop_assert_eq!(Some(quick), general(&text), "{}", text);
            }
        }
    }
}
