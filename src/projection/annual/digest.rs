//! The figures' canonical text and digest: what `statement_issued` seals.
//!
//! Form 1 is UTF-8 text, one record per line, each line ended by `\n`, fields separated by one
//! space; money is written with two decimals and a leading `-` when negative (`1234.50`), dates
//! `YYYY-MM-DD`, months `YYYY-MM`, a missing value `-`:
//!
//! ```text
//! member-ledger annual statement figures 1
//! member <uuid>
//! year <YYYY>
//! scheme <employee|resident>
//! opening <balance> <months_actual> <months_deemed> <months_total>
//! line <date> <kind> <month|-> <credit> <debit> <balance>          (each line, in order)
//! refund <date> <reason> <months joined by ','|coverage year> <amount>   (each refund)
//! premium <date> <coverage_year> <personal> <subsidy>             (each premium)
//! closing <balance> <credited> <debited> <months_actual> <months_deemed> <months_total>
//! year_row <months> <base> <employee> <employer> <personal_account> <refunded>   (or `year_row -`)
//! ```
//!
//! `kind` is the line kind's snake_case name (`contribution`, `allocation`, `interest`,
//! `transfer_in`, `inheritance_in`, `other_credit`, `spending`, `transfer_out`,
//! `inheritance_out`, `voided`, `other_debit`), `reason` the contract's refund reason. The digest is the
//! lowercase hex SHA-256 of the text. It covers the figures the member is told, nothing of the
//! wording, the member's name, the notices, the corrections of other years, or the log's
//! bookkeeping (positions, the template): a statement printed with another template, or after an
//! event that changes no figure of the year, has the same digest.

use sha2::{Digest, Sha256};

use super::AnnualStatement;
use crate::domain::wire_name;

/// The version of the canonical form below.
pub const FIGURES_FORM: u32 = 1;

/// The canonical text of a statement's figures, form [`FIGURES_FORM`].
pub fn canonical_text(s: &AnnualStatement) -> String {
    let mut out = format!("member-ledger annual statement figures {FIGURES_FORM}\n");
    out.push_str(&format!("member {}\nyear {}\n", s.member, s.year));
    out.push_str(&format!("scheme {}\n", s.scheme.as_str()));
    let o = &s.opening;
    out.push_str(&format!(
        "opening {} {} {} {}\n",
        o.balance, o.months_actual, o.months_deemed, o.months_total
    ));
    for l in &s.lines {
        let month = l.month.map_or_else(|| "-".to_string(), |m| m.to_string());
        out.push_str(&format!(
            "line {} {} {month} {} {} {}\n",
            l.date,
            l.kind.as_str(),
            l.credit,
            l.debit,
            l.balance
        ));
    }
    for r in &s.refunds {
        let what = match r.coverage_year {
            Some(year) => year.to_string(),
            None => r
                .months
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(","),
        };
        let what = if what.is_empty() {
            "-".to_string()
        } else {
            what
        };
        let reason = wire_name(&r.reason);
        out.push_str(&format!("refund {} {reason} {what} {}\n", r.date, r.amount));
    }
    for p in &s.premiums {
        out.push_str(&format!(
            "premium {} {} {} {}\n",
            p.date, p.coverage_year, p.personal, p.subsidy
        ));
    }
    let c = &s.closing;
    out.push_str(&format!(
        "closing {} {} {} {} {} {}\n",
        c.balance, c.credited, c.debited, c.months_actual, c.months_deemed, c.months_total
    ));
    match &s.year_row {
        Some(y) => out.push_str(&format!(
            "year_row {} {} {} {} {} {}\n",
            y.months,
            y.totals.base,
            y.totals.employee,
            y.totals.employer,
            y.totals.personal_account,
            y.totals.refunded
        )),
        None => out.push_str("year_row -\n"),
    }
    out
}

/// Lowercase hex SHA-256 of [`canonical_text`].
pub fn digest(s: &AnnualStatement) -> String {
    hex::encode(Sha256::digest(canonical_text(s).as_bytes()))
}
