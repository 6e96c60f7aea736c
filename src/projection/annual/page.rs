//! The annual statement as a page a member reads (HTML, A4, simplified Chinese) and as text for
//! a clerk, from the templates in `templates/annual/` rendered by minijinja.
//!
//! Every value reaches the HTML through the template engine, which escapes it (auto-escaping by
//! the template's `.html` name); the code builds no markup. The member is named by id; a
//! deployment fills the name and ID-card slots from its register ([`Register`], the template
//! variable `holder`). The templates are versioned: [`template_version`] names the series and a
//! hash of their text, so any edit gives a new version, which `statement_issued` records.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AnnualStatement, IssuedRef, LineKind};
use crate::domain::MemberId;

/// The series of the shipped templates; the version adds a hash of their text.
pub const TEMPLATE_SERIES: &str = "annual-zh-CN/1";
/// Longest value of a register field, in characters (a name, an ID number, an address).
pub const REGISTER_FIELD_CHARS_MAX: usize = 200;
/// Most fields one register entry may carry.
pub const REGISTER_FIELDS_MAX: usize = 16;

const HTML_NAME: &str = "statement.html";
const TEXT_NAME: &str = "statement.txt";
const HTML: &str = include_str!("../../../templates/annual/statement.html");
const TEXT: &str = include_str!("../../../templates/annual/statement.txt");
const REGIONS: &str = include_str!("../../../templates/annual/regions.json");
/// The register fields a template may show; absent ones render as blank slots.
const HOLDER_FIELDS: [&str; 3] = ["name", "id_card", "address"];

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// The template failed (a bug in a template: a name it uses is missing).
    #[error("the annual-statement template failed: {0}")]
    Template(#[from] minijinja::Error),
    /// The register file is not a map of member ids to fields.
    #[error("the register is refused: {0}")]
    Register(String),
}

/// The version of the shipped templates: `annual-zh-CN/1+` and the first 12 hex digits of the
/// SHA-256 of their text.
pub fn template_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash = Sha256::new();
        for part in [HTML, TEXT, REGIONS] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        let hex = hex::encode(hash.finalize());
        format!("{TEMPLATE_SERIES}+{}", &hex[..12])
    })
}

/// The deployment's register: for each member id, the fields the bureau holds (`name`,
/// `id_card`, `address`), which the ledger itself never stores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Register(BTreeMap<MemberId, BTreeMap<String, String>>);

impl Register {
    /// Parses `{"<member id>": {"name": "…", "id_card": "…", "address": "…"}, …}`. Values are
    /// strings of at most [`REGISTER_FIELD_CHARS_MAX`] characters, at most
    /// [`REGISTER_FIELDS_MAX`] per member.
    pub fn from_json(text: &str) -> Result<Register, PageError> {
        let refuse = |why: String| PageError::Register(why);
        let raw: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(text)
            .map_err(|e| refuse(format!("not a map of member ids to string fields: {e}")))?;
        let mut out = BTreeMap::new();
        for (id, fields) in raw {
            let member: MemberId = id
                .parse()
                .map_err(|_| refuse(format!("'{id}' is not a member id (a UUID)")))?;
            if fields.len() > REGISTER_FIELDS_MAX {
                return Err(refuse(format!(
                    "member {member} has {} fields; at most {REGISTER_FIELDS_MAX}",
                    fields.len()
                )));
            }
            if let Some((key, _)) = fields
                .iter()
                .find(|(_, v)| v.chars().count() > REGISTER_FIELD_CHARS_MAX)
            {
                return Err(refuse(format!(
                    "member {member}: \"{key}\" is longer than {REGISTER_FIELD_CHARS_MAX} characters"
                )));
            }
            out.insert(member, fields);
        }
        Ok(Register(out))
    }

    /// The fields for a member, with every field a template shows present (empty when the
    /// register does not hold it).
    pub fn holder(&self, member: MemberId) -> BTreeMap<String, String> {
        let mut fields = self.0.get(&member).cloned().unwrap_or_default();
        for name in HOLDER_FIELDS {
            fields.entry(name.to_string()).or_default();
        }
        fields
    }
}

/// What the templates see besides the statement.
#[derive(Serialize)]
struct Present {
    kinds: Vec<&'static str>,
    late_posting: bool,
    lump_sum: bool,
    unreproduced: bool,
}

/// The statement as one HTML page (A4, simplified Chinese), printable as it stands.
pub fn render_html(statement: &AnnualStatement, register: &Register) -> Result<String, PageError> {
    render(HTML_NAME, statement, register)
}

/// The statement as plain text for a clerk's terminal.
pub fn render_text(statement: &AnnualStatement, register: &Register) -> Result<String, PageError> {
    render(TEXT_NAME, statement, register)
}

fn render(
    name: &str,
    statement: &AnnualStatement,
    register: &Register,
) -> Result<String, PageError> {
    let env = environment()?;
    let regions: BTreeMap<String, String> = serde_json::from_str(REGIONS).unwrap_or_default();
    let region_name = regions
        .get(&statement.region)
        .cloned()
        .unwrap_or_else(|| statement.region.clone());
    let issued: Option<&IssuedRef> = statement
        .issued
        .iter()
        .rev()
        .find(|i| i.digest == statement.digest);
    let template = env.get_template(name)?;
    Ok(template.render(context! {
        s => statement,
        holder => register.holder(statement.member),
        region_name => region_name,
        template_version => template_version(),
        issued => issued,
        present => present(statement),
    })?)
}

fn present(s: &AnnualStatement) -> Present {
    let mut kinds: Vec<&'static str> = s.lines.iter().map(|l| l.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let late_posting = s
        .lines
        .iter()
        .any(|l| l.kind == LineKind::Contribution && l.month.is_some_and(|m| m.year() != s.year));
    let lump_sum = s.notices.iter().any(|n| n.event_type == "lump_sum_paid");
    let unreproduced = s.corrections.restated.iter().any(|r| !r.reproduced);
    Present {
        kinds,
        late_posting,
        lump_sum,
        unreproduced,
    }
}

/// The environment with both templates and the filters they use, built once.
fn environment() -> Result<&'static Environment<'static>, PageError> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    let built = ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.add_filter("yuan", yuan);
        env.add_filter("month_zh", month_zh);
        env.add_filter("date_zh", date_zh);
        env.add_filter("mask_id", mask_id);
        env.add_filter("signed", signed);
        env.add_template(HTML_NAME, HTML)
            .and_then(|()| env.add_template(TEXT_NAME, TEXT))
            .map_err(|e| e.to_string())?;
        Ok(env)
    });
    built.as_ref().map_err(|e| {
        PageError::Template(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            e.clone(),
        ))
    })
}

/// `1234.5` or `"1234.50"` → `¥1,234.50`; negative `-¥12.00`. Money arrives as its decimal
/// string; anything else is shown as it is.
pub fn yuan(value: String) -> String {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "00"));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return value;
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let fraction = format!("{fraction:0<2}");
    let sign = if negative && !(whole.bytes().all(|b| b == b'0') && fraction == "00") {
        "-"
    } else {
        ""
    };
    format!("{sign}¥{grouped}.{fraction}")
}

/// A balance change with its sign: `+¥12.00`, `-¥12.00`.
pub fn signed(value: String) -> String {
    let shown = yuan(value);
    if shown.starts_with('-') || shown == "¥0.00" {
        shown
    } else {
        format!("+{shown}")
    }
}

/// `2024-03` → `2024年3月`.
pub fn month_zh(value: String) -> String {
    match value.split_once('-') {
        Some((y, m)) => match m.parse::<u32>() {
            Ok(m) => format!("{y}年{m}月"),
            Err(_) => value,
        },
        None => value,
    }
}

/// `2024-11-03` → `2024年11月3日`.
pub fn date_zh(value: String) -> String {
    let parts: Vec<&str> = value.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => match (m.parse::<u32>(), d.parse::<u32>()) {
            (Ok(m), Ok(d)) => format!("{y}年{m}月{d}日"),
            _ => value,
        },
        _ => value,
    }
}

/// An ID number with all but its first six and last four characters hidden (a statement goes by
/// post): `510502199001011234` → `510502********1234`. Short values are hidden whole.
pub fn mask_id(value: String) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let hidden = "*".repeat(chars.len() - 10);
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{hidden}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_groups_thousands_and_keeps_the_fen() {
        assert_eq!(yuan("32739.50".into()), "¥32,739.50");
        assert_eq!(yuan("0.00".into()), "¥0.00");
        assert_eq!(yuan("-88.50".into()), "-¥88.50");
        assert_eq!(yuan("1234567.05".into()), "¥1,234,567.05");
        assert_eq!(yuan("100".into()), "¥100.00");
        assert_eq!(signed("12.00".into()), "+¥12.00");
        assert_eq!(signed("-12.00".into()), "-¥12.00");
    }

    #[test]
    fn dates_and_months_in_chinese_and_ids_masked() {
        assert_eq!(month_zh("2024-03".into()), "2024年3月");
        assert_eq!(date_zh("2024-11-03".into()), "2024年11月3日");
        assert_eq!(mask_id("510502199001011234".into()), "510502********1234");
        assert_eq!(mask_id("12345".into()), "*****");
    }

    #[test]
    fn a_register_refuses_bad_ids_and_overlong_fields() {
        let bad = Register::from_json(r#"{"li":{"name":"李"}}"#);
        assert!(bad.is_err_and(|e| e.to_string().contains("not a member id")));
        let long = "x".repeat(REGISTER_FIELD_CHARS_MAX + 1);
        let text = format!(r#"{{"00000000-0000-4000-8000-00000000d002":{{"name":"{long}"}}}}"#);
        assert!(Register::from_json(&text).is_err_and(|e| e.to_string().contains("longer")));
        let ok = Register::from_json(r#"{"00000000-0000-4000-8000-00000000d002":{"name":"李某"}}"#)
            .unwrap_or_default();
        let id: MemberId = "00000000-0000-4000-8000-00000000d002"
            .parse()
            .unwrap_or_default();
        assert_eq!(ok.holder(id)["name"], "李某");
        assert_eq!(ok.holder(id)["id_card"], "");
    }
}
