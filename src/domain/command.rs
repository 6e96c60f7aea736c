//! Commands: the contract's JSON requests, parsed strictly into typed values.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    DeemedBasis, MemberId, Purpose, RefundReason, Rejection, Relation, Share, SuspendReason,
};
use crate::money::Money;
use crate::month::Month;
use crate::terms::{EmployerClass, Payer, Scheme, Sex, Tier};

/// Longest idempotency key accepted, in bytes.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 256;

/// A command of docs/CONTRACT.md. `"type"` selects the variant; unknown fields are refused: a typo
/// never passes silently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)] // The fields are the contract's; docs/CONTRACT.md documents each.
pub enum Command {
    /// Enrol a member in a region and scheme.
    Enroll {
        member: MemberId,
        region: String,
        scheme: Scheme,
        sex: Sex,
        birth_date: NaiveDate,
        date: NaiveDate,
        /// The tier chosen at enrolment (R3; default `with_account`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier: Option<Tier>,
    },
    /// Recognise deemed months (pre-1997 service, military, other).
    RecognizeDeemed {
        member: MemberId,
        date: NaiveDate,
        months: u32,
        basis: DeemedBasis,
    },
    /// Post a monthly contribution.
    Contribute {
        member: MemberId,
        month: Month,
        wage: Money,
        payer: Payer,
        #[serde(default)]
        employer_class: EmployerClass,
        #[serde(default)]
        date: Option<NaiveDate>,
    },
    /// Pay a resident-scheme premium for a coverage year.
    PayPremium {
        member: MemberId,
        coverage_year: i32,
        personal: Money,
        subsidy: Money,
        date: NaiveDate,
        /// The premium category paid in (R10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        /// Earlier missed years paid now (R9).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repair_years: Option<u32>,
    },
    /// Stop contributions.
    Suspend {
        member: MemberId,
        date: NaiveDate,
        reason: SuspendReason,
    },
    /// Receive a member's balance and months from another region.
    TransferIn {
        member: MemberId,
        date: NaiveDate,
        from_region: String,
        balance: Money,
        months: u32,
        /// The calendar months paid in the origin (R6): months and ranges `YYYY-MM..YYYY-MM`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paid_months: Option<Vec<MonthSpan>>,
        /// The origin's last paid month (R2); defaults to the latest of `paid_months`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_paid_month: Option<Month>,
    },
    /// Send the balance to another region and close the account. With `to_member` (an addition
    /// to the contract), the member's account in `to_region` held in this same ledger receives
    /// the balance and the months in the same append.
    TransferOut {
        member: MemberId,
        date: NaiveDate,
        to_region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_member: Option<MemberId>,
    },
    /// Refund months (employee) or a coverage year (resident).
    Refund {
        member: MemberId,
        date: NaiveDate,
        reason: RefundReason,
        #[serde(default)]
        months: Option<RefundMonths>,
        #[serde(default)]
        coverage_year: Option<i32>,
    },
    /// Convert to retiree.
    Retire {
        member: MemberId,
        date: NaiveDate,
        /// The retiree's monthly pension (R4), where an allocation depends on it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pension: Option<Money>,
        /// A woman's category for the statutory age (R12); default `female_worker`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<RetirementCategory>,
        /// Flexible early retirement (弹性提前退休), R12.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        early: bool,
    },
    /// Record a change of a retiree's monthly pension (R4).
    SetPension {
        member: MemberId,
        date: NaiveDate,
        pension: Money,
    },
    /// Pay a retirement shortfall in one sum.
    LumpSumMakeup {
        member: MemberId,
        date: NaiveDate,
        months: u32,
    },
    /// Credit the monthly retiree allocation (one member, or every retiree).
    CreditRetireeAllocation {
        month: Month,
        #[serde(default)]
        member: Option<MemberId>,
    },
    /// Spend from the personal account.
    Spend {
        member: MemberId,
        date: NaiveDate,
        amount: Money,
        purpose: Purpose,
        #[serde(default)]
        beneficiary: Option<String>,
        /// The relative's coverage year, for `relative_premium` (R14).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coverage_year: Option<i32>,
    },
    /// Register a relative for family mutual aid (R14).
    RegisterRelative {
        member: MemberId,
        date: NaiveDate,
        relation: Relation,
        /// The relative's member id when the relative is in the ledger.
        #[serde(default)]
        relative: Option<MemberId>,
        name: String,
    },
    /// Credit a year's interest (one member, or every member): R8.
    CreditInterest {
        year: i32,
        #[serde(default)]
        member: Option<MemberId>,
    },
    /// Record a member's death.
    RecordDeath { member: MemberId, date: NaiveDate },
    /// Hand a deceased member's balance to heirs (or the pooled fund).
    SettleInheritance {
        member: MemberId,
        date: NaiveDate,
        heirs: Vec<Heir>,
    },
    /// Cancel an erroneous event's effects on money and months with a compensating event.
    Reverse { event: uuid::Uuid, reason: String },
    /// Record that the annual statement of `year` was issued to one member, or to every member
    /// of `region` who has one (docs/RULES.md §12 R15). `date` is the issue date (default: 1
    /// January after the year).
    IssueStatement {
        #[serde(default)]
        member: Option<MemberId>,
        #[serde(default)]
        region: Option<String>,
        year: i32,
        #[serde(default)]
        date: Option<NaiveDate>,
    },
}

/// The months a refund names: a list of `YYYY-MM`, or a count (the latest refundable months).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefundMonths {
    /// These months.
    List(Vec<Month>),
    /// One month.
    One(Month),
    /// The latest `n` refundable months.
    Count(u32),
}

/// One heir of a settlement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heir {
    /// The heir's member id when the heir is a member, else `null`.
    #[serde(default)]
    pub heir: Option<MemberId>,
    /// The heir's name.
    pub name: String,
    /// The heir's share, a decimal or a fraction (`"1/3"`); the shares sum to 1.
    pub share: Share,
}

/// A woman's category for the statutory retirement age. docs/RULES.md §12 R12.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetirementCategory {
    /// A woman worker (50, rising to 55): the default.
    #[default]
    FemaleWorker,
    /// A woman cadre (55, rising to 58).
    FemaleCadre,
}

/// One month `YYYY-MM` or a range `YYYY-MM..YYYY-MM` (both ends included) of a transfer's
/// paid months. docs/RULES.md §12 R6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthSpan {
    /// First month.
    pub from: Month,
    /// Last month (equal to `from` for one month).
    pub to: Month,
}

impl std::str::FromStr for MonthSpan {
    type Err = String;
    fn from_str(text: &str) -> Result<MonthSpan, String> {
        let (from, to) = match text.split_once("..") {
            Some((a, b)) => (a.parse::<Month>()?, b.parse::<Month>()?),
            None => {
                let m = text.parse::<Month>()?;
                (m, m)
            }
        };
        if to < from {
            return Err(format!("range '{text}' ends before it begins"));
        }
        Ok(MonthSpan { from, to })
    }
}

impl Serialize for MonthSpan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.from == self.to {
            serializer.serialize_str(&self.from.to_string())
        } else {
            serializer.serialize_str(&format!("{}..{}", self.from, self.to))
        }
    }
}

impl<'de> Deserialize<'de> for MonthSpan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Command {
    /// The member the command is about, when it names exactly one.
    pub fn member(&self) -> Option<MemberId> {
        match self {
            Command::Enroll { member, .. }
            | Command::RecognizeDeemed { member, .. }
            | Command::Contribute { member, .. }
            | Command::PayPremium { member, .. }
            | Command::Suspend { member, .. }
            | Command::TransferIn { member, .. }
            | Command::TransferOut { member, .. }
            | Command::Refund { member, .. }
            | Command::Retire { member, .. }
            | Command::LumpSumMakeup { member, .. }
            | Command::Spend { member, .. }
            | Command::RecordDeath { member, .. }
            | Command::SettleInheritance { member, .. }
            | Command::SetPension { member, .. }
            | Command::RegisterRelative { member, .. } => Some(*member),
            Command::CreditRetireeAllocation { member, .. }
            | Command::CreditInterest { member, .. }
            | Command::IssueStatement { member, .. } => *member,
            Command::Reverse { .. } => None,
        }
    }

    /// Every member whose state the decision reads (the subject and, for a settlement, the heirs).
    /// An allocation to every retiree reads the retiree index instead; a reversal reads the
    /// member of the event it names (found by the ledger).
    pub fn members_read(&self) -> Vec<MemberId> {
        let mut ids: Vec<MemberId> = self.member().into_iter().collect();
        if let Command::SettleInheritance { heirs, .. } = self {
            ids.extend(heirs.iter().filter_map(|h| h.heir));
        }
        if let Command::TransferOut {
            to_member: Some(to),
            ..
        } = self
        {
            ids.push(*to);
        }
        ids.extend(self.relative_read());
        ids.sort();
        ids.dedup();
        ids
    }

    /// The relative a family-mutual-aid command reads (R14): the relative registered by id, or
    /// the beneficiary of a relative's premium when it is a member id.
    fn relative_read(&self) -> Option<MemberId> {
        match self {
            Command::RegisterRelative { relative, .. } => *relative,
            Command::Spend {
                purpose: Purpose::RelativePremium,
                beneficiary: Some(b),
                ..
            } => b.trim().parse().ok(),
            _ => None,
        }
    }

    /// The command's type as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Command::Enroll { .. } => "enroll",
            Command::RecognizeDeemed { .. } => "recognize_deemed",
            Command::Contribute { .. } => "contribute",
            Command::PayPremium { .. } => "pay_premium",
            Command::Suspend { .. } => "suspend",
            Command::TransferIn { .. } => "transfer_in",
            Command::TransferOut { .. } => "transfer_out",
            Command::Refund { .. } => "refund",
            Command::Retire { .. } => "retire",
            Command::LumpSumMakeup { .. } => "lump_sum_makeup",
            Command::CreditRetireeAllocation { .. } => "credit_retiree_allocation",
            Command::Spend { .. } => "spend",
            Command::RecordDeath { .. } => "record_death",
            Command::SettleInheritance { .. } => "settle_inheritance",
            Command::Reverse { .. } => "reverse",
            Command::SetPension { .. } => "set_pension",
            Command::RegisterRelative { .. } => "register_relative",
            Command::CreditInterest { .. } => "credit_interest",
            Command::IssueStatement { .. } => "issue_statement",
        }
    }
}

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
fn is_iso_date(text: &str) -> bool {
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
