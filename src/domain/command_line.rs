//! Reading a command line: the contract's JSON, strictly, into a [`Command`] and its key.
//!
//! Three readings, each giving what the next would give: the `contribute` line in one typed pass
//! ([`super::contribute_line`]); any command in one scan and one typed parse
//! ([`parse_plain_command`]); and the general reading through a JSON value
//! ([`parse_command_value`]), which words every refusal.

use super::command::{Command, IDEMPOTENCY_KEY_BYTES_MAX};
use super::Rejection;

/// The command types of the contract.
const COMMAND_TYPE_NAMES: [&str; 19] = [
    "enroll",
    "recognize_deemed",
    "contribute",
    "pay_premium",
    "suspend",
    "transfer_in",
    "transfer_out",
    "refund",
    "retire",
    "lump_sum_makeup",
    "credit_retiree_allocation",
    "spend",
    "record_death",
    "settle_inheritance",
    "reverse",
    "set_pension",
    "register_relative",
    "credit_interest",
    "issue_statement",
];

/// The command types of the contract, for messages.
fn command_types() -> String {
    COMMAND_TYPE_NAMES.join(", ")
}

/// Parses one JSON command (a line of `submit`), returning it with its idempotency key.
///
/// Every fault is an [`super::ErrorCode::InvalidInput`] rejection naming the field.
pub fn parse_command(text: &str) -> Result<(Command, Option<String>), Rejection> {
    if let Some(parsed) = super::contribute_line::read(text) {
        return Ok(parsed);
    }
    if let Some(parsed) = parse_plain_command(text) {
        return Ok(parsed);
    }
    // Strict: a key named twice is refused, never resolved to its last value.
    let value = super::strict_json::parse_strict(text)
        .map_err(|e| Rejection::invalid(format!("not a JSON command: {e}")))?;
    parse_command_value(value)
}

/// The common case of [`parse_command`] in one scan and one typed parse, building no JSON value:
/// a command that passes every check, with no key or a key that is a valid string. `None` for
/// anything else (a fault of any kind, a `null` key), which the full parse then answers with
/// its exact message.
///
/// *Invariant*: where this gives a command, the full parse gives the same command and key:
/// the scan refuses what the strict parse refuses (repeated keys at any depth, malformed or
/// trailing text), and checks the key, the type and the dates as the full parse does before the
/// typed parse, which reads the other fields from the text as it would from the value.
fn parse_plain_command(text: &str) -> Option<(Command, Option<String>)> {
    let mut known_type = false;
    let mut key = None;
    let plain = super::strict_json::scan_object(text, |field, value| match field {
        "key" => {
            key = value
                .filter(|k| !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_BYTES_MAX)
                .map(str::to_string);
            key.is_some()
        }
        "type" => {
            known_type = value.is_some_and(|t| COMMAND_TYPE_NAMES.contains(&t));
            known_type
        }
        _ if DATE_FIELDS.contains(&field) => value.is_none_or(is_iso_date),
        _ => true,
    });
    if !(plain && known_type) {
        return None;
    }
    let command = super::strict_json::from_str_without(text, "key").ok()?;
    Some((command, key))
}

/// Like [`parse_command`], from an already parsed JSON value.
pub fn parse_command_value(
    mut value: serde_json::Value,
) -> Result<(Command, Option<String>), Rejection> {
    let object = value
        .as_object_mut()
        .ok_or_else(|| Rejection::invalid("a command is a JSON object with a \"type\""))?;
    let key = match object.remove("key") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(k))
            if !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_BYTES_MAX =>
        {
            Some(k)
        }
        Some(_) => {
            let msg = format!(
                "\"key\" must be a non-empty string of at most {IDEMPOTENCY_KEY_BYTES_MAX} bytes"
            );
            return Err(Rejection::invalid(msg));
        }
    };
    let type_name = match object.get("type") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(_) => return Err(Rejection::invalid("\"type\" must be a string")),
        None => {
            return Err(Rejection::invalid(format!(
                "missing \"type\"; one of: {}",
                command_types()
            )))
        }
    };
    if !COMMAND_TYPE_NAMES.contains(&type_name.as_str()) {
        return Err(Rejection::invalid(format!(
            "unknown command type '{type_name}'; one of: {}",
            command_types()
        )));
    }
    if let Some(object) = value.as_object() {
        for field in DATE_FIELDS {
            if let Some(serde_json::Value::String(text)) = object.get(*field) {
                if !is_iso_date(text) {
                    return Err(Rejection::invalid(format!(
                        "{type_name}: \"{field}\" '{text}' is not a date in the form YYYY-MM-DD"
                    )));
                }
            }
        }
    }
    let command: Command = serde_json::from_value(value)
        .map_err(|e| Rejection::invalid(format!("{type_name}: {e}")))?;
    Ok((command, key))
}

/// The command fields that hold a date.
const DATE_FIELDS: &[&str] = &["date", "birth_date"];

/// `YYYY-MM-DD` exactly, as the contract writes dates (chrono alone also takes `2024-1-5`).
pub(super) fn is_iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::EmployerClass;

    // Every listed type is a command serde knows: one without its fields is refused for a
    // missing field, never as an unknown type or variant.
    #[test]
    fn every_listed_type_is_a_command() {
        for name in COMMAND_TYPE_NAMES {
            let Err(refused) = parse_command(&format!("{{\"type\":\"{name}\"}}")) else {
                panic!("{name} without its fields was accepted");
            };
            assert!(
                refused.message.contains("missing field"),
                "{name}: {}",
                refused.message
            );
        }
    }

    #[test]
    fn parses_a_contribution_with_defaults_and_key() {
        let text = r#"{"type":"contribute","member":"00000000-0000-4000-8000-000000000001","month":"2024-01","wage":"8000.00","payer":"employer","key":"r-1"}"#;
        let (command, key) = parse_command(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key.as_deref(), Some("r-1"));
        assert!(matches!(
            command,
            Command::Contribute {
                employer_class: EmployerClass::Enterprise,
                date: None,
                ..
            }
        ));
    }

    /// The full parse alone: the strict value, then the command read from it.
    fn full_parse(text: &str) -> Result<(Command, Option<String>), Rejection> {
        let value = crate::domain::strict_json::parse_strict(text)
            .map_err(|e| Rejection::invalid(format!("not a JSON command: {e}")))?;
        parse_command_value(value)
    }

    const PLAIN_LINES: [&str; 3] = [
        r#"{"type":"contribute","member":"00000000-0000-4000-8000-000000000001","month":"2024-01","wage":"8000.00","payer":"employer"}"#,
        r#"{"type":"enroll","member":"00000000-0000-4000-8000-000000600000","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2000-01-01"}"#,
        r#"{"type":"settle_inheritance","member":"00000000-0000-4000-8000-000000000001","date":"2024-01-05","heirs":[{"heir":"00000000-0000-4000-8000-000000000002","name":"Li Hua","share":"1/3"},{"heir":null,"name":"Li \u5927","share":"2/3"}]}"#,
    ];

    /// Edits that make a line anything from plain to faulty: each replaces the closing brace.
    const TAILS: [&str; 17] = [
        "}",
        r#","key":"k-1"}"#,
        r#","key":null}"#,
        r#","key":""}"#,
        r#","key":7}"#,
        r#","key":"k-1","key":"k-2"}"#,
        r#","extra":{"key":1}}"#,
        r#","wage":"1.00"}"#,
        r#","wage":"1.00"}"#,
        r#","type":"contribute"}"#,
        r#","colour":"red"}"#,
        r#","date":"2024-1-5"}"#,
        r#","date":7}"#,
        r#","extra":{"a":1,"a":2}}"#,
        "} trailing",
        "}
",
        r#","wage":1000}"#,
    ];

    // Invariant: the one-scan parse of a plain command never changes an answer: every line,
    // plain or faulty, parses (or is refused, with the same message) as the full parse does,
    // and the plain lines do take the one-scan path.
    #[test]
    fn the_one_scan_parse_answers_as_the_full_parse_does() {
        for line in PLAIN_LINES {
            assert!(parse_plain_command(line).is_some(), "{line}");
            let keyed = line.replacen('{', r#"{"key":"k-\u00e9","#, 1);
            assert!(parse_plain_command(&keyed).is_some_and(|(_, k)| k.as_deref() == Some("k-é")));
            assert_eq!(parse_command(&keyed), full_parse(&keyed), "{keyed}");
            let body = line.strip_suffix('}').unwrap_or(line);
            for tail in TAILS {
                let text = format!("{body}{tail}");
                assert_eq!(parse_command(&text), full_parse(&text), "{text}");
            }
            let retyped = line.replace(r#""type":"#, r#""type":"withdraw_cash","was":"#);
            assert_eq!(parse_command(&retyped), full_parse(&retyped), "{retyped}");
            let nested = line.replace(r#""share":"1/3""#, r#""share":"1/3","share":"0""#);
            assert_eq!(parse_command(&nested), full_parse(&nested), "{nested}");
        }
        for text in [
            "[]",
            "null",
            "{}",
            r#"{"type":7}"#,
            "{",
            r#"{"type":"contribute"}"#,
        ] {
            assert_eq!(parse_command(text), full_parse(text), "{text}");
        }
    }

    #[test]
    fn refuses_a_date_not_written_yyyy_mm_dd() {
        let short = r#"{"type":"record_death","member":"00000000-0000-4000-8000-000000000001","date":"2024-1-5"}"#;
        assert!(parse_command(short).is_err_and(|r| r.message.contains("YYYY-MM-DD")));
        let fine = r#"{"type":"record_death","member":"00000000-0000-4000-8000-000000000001","date":"2024-01-05"}"#;
        assert!(parse_command(fine).is_ok());
    }

    #[test]
    fn refuses_unknown_type_fields_and_three_decimals() {
        let unknown = parse_command(r#"{"type":"withdraw_cash","member":"x"}"#);
        assert!(unknown.is_err_and(|r| r.message.contains("unknown command type")));
        let extra = r#"{"type":"record_death","member":"00000000-0000-4000-8000-000000000001","date":"2024-01-01","colour":"red"}"#;
        assert!(parse_command(extra).is_err_and(|r| r.message.contains("colour")));
        let fen = r#"{"type":"spend","member":"00000000-0000-4000-8000-000000000001","date":"2024-01-01","amount":"1.234","purpose":"pharmacy"}"#;
        assert!(parse_command(fen).is_err_and(|r| r.message.contains("two decimals")));
    }
}
