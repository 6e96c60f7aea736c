//! The member's annual statement (年度对账单): one year of the personal account as a member reads
//! it, its figures sealed by a digest that `statement_issued` records. docs/RULES.md §12 R15.
//!
//! - [`AnnualStatement`]: the typed statement, built from the member's events by
//!   [`AnnualStatement::build`]: opening balance, each credit and debit in effective-date order
//!   with the running balance (a reversed event and its reversal netted out, listed apart),
//!   totals by kind and by month, refunds, premiums, what else happened, the figures on
//!   31 December (equal to `account --as-of Y-12-31`), and the corrections made since the
//!   member's previous statement.
//! - [`digest`]: the canonical text of the figures and its SHA-256 (what `statement_issued`
//!   carries), form [`FIGURES_FORM`].
//! - [`recheck`]: `verify`'s check of each `statement_issued` against the statement rebuilt
//!   from the member's events as they stood when it was issued.
//! - [`page`]: the HTML page (A4, Chinese) and the clerk's text, from the templates in
//!   `templates/annual/` through minijinja with auto-escaping; [`page::template_version`].
//! - [`seals_for`]: the figures an `issue_statement` decision records; [`issued_of_year`]: the
//!   latest statement of a year as issued (the [`crate::Ledger`] methods `annual_statement`,
//!   `annual_members` and `issued_statement` use these).
//!
//! **Which year an event belongs to**: its effective date's (for a contribution, the posting
//! date, not the contribution month), so that the statement's closing balance is the balance in
//! force on 31 December. A December contribution posted in January is on the next year's
//! statement, labelled with its month (docs/DECISIONS.md).

mod build;
mod corrections;
pub mod digest;
pub mod page;
mod query;
pub mod recheck;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{MemberId, Purpose, RefundReason, Status};
use crate::money::Money;
use crate::month::Month;
use crate::projection::YearRow;
use crate::terms::{Payer, Scheme};

pub use build::seals_for;
pub use digest::FIGURES_FORM;
pub use query::issued_of_year;

/// One member's annual statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualStatement {
    /// The member.
    pub member: MemberId,
    /// The calendar year.
    pub year: i32,
    /// Pooling region.
    pub region: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Status on 31 December.
    pub status: Status,
    /// Enrolment date.
    pub enrolled_on: NaiveDate,
    /// The log position the statement reflects (what the ledger knew).
    pub known_at: u64,
    /// The figures on 31 December of the year before.
    pub opening: YearEnd,
    /// The figures on 31 December of the year.
    pub closing: YearEnd,
    /// The account view's row of the year, as in force on 31 December.
    pub year_row: Option<YearRow>,
    /// Credits and debits of the year by kind.
    pub totals: KindTotals,
    /// Twelve rows: each month's credits, debits and closing balance.
    pub months: Vec<MonthRow>,
    /// Every credit and debit of the year, in effective-date order, with the running balance.
    pub lines: Vec<AnnualLine>,
    /// Refunds paid to the member outside the account.
    pub refunds: Vec<RefundLine>,
    /// Resident premiums paid in the year.
    pub premiums: Vec<PremiumLine>,
    /// What else happened (enrolment, suspension, retirement, …): no money on the account.
    pub notices: Vec<Notice>,
    /// Events of the year that were reversed, with their reversal: netted out of the lines.
    pub netted: Vec<NettedPair>,
    /// The rates and amounts the year's credits used, for the plain-language explanation.
    pub rates: RatesSeen,
    /// This year's statements issued so far (known at `known_at`), oldest first.
    pub issued: Vec<IssuedRef>,
    /// Corrections recorded since the member's previous statement.
    pub corrections: Corrections,
    /// The canonical form the digest covers.
    pub figures_form: u32,
    /// Hex SHA-256 of the figures' canonical text ([`digest`]).
    pub digest: String,
}

/// The account's figures on one date (31 December).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearEnd {
    /// The date.
    pub date: NaiveDate,
    /// Balance.
    pub balance: Money,
    /// Everything credited up to then.
    pub credited: Money,
    /// Everything debited up to then.
    pub debited: Money,
    /// Actual months.
    pub months_actual: u32,
    /// Deemed months.
    pub months_deemed: u32,
    /// Actual + deemed.
    pub months_total: u32,
}

/// Credits and debits of a year (or a month) by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindTotals {
    /// Contributions credited (个人账户划入).
    pub contributions: Money,
    /// Retiree allocations (退休人员划入).
    pub allocations: Money,
    /// Interest (利息).
    pub interest: Money,
    /// Transfers in and inheritances received.
    pub transfers_in: Money,
    /// Any other credit.
    pub other_credits: Money,
    /// All credits.
    pub credits: Money,
    /// Spending (own and relatives').
    pub spending: Money,
    /// Transfers out and inheritances handed on.
    pub transfers_out: Money,
    /// Credits voided after a death (R11) and any other debit.
    pub other_debits: Money,
    /// All debits.
    pub debits: Money,
}

impl KindTotals {
    /// Adds one line.
    fn add(&mut self, line: &AnnualLine) {
        let field = match line.kind {
            LineKind::Contribution => &mut self.contributions,
            LineKind::Allocation => &mut self.allocations,
            LineKind::Interest => &mut self.interest,
            LineKind::TransferIn | LineKind::InheritanceIn => &mut self.transfers_in,
            LineKind::OtherCredit => &mut self.other_credits,
            LineKind::Spending => &mut self.spending,
            LineKind::TransferOut | LineKind::InheritanceOut => &mut self.transfers_out,
            LineKind::Voided | LineKind::OtherDebit => &mut self.other_debits,
        };
        *field += line.credit + line.debit;
        self.credits += line.credit;
        self.debits += line.debit;
    }
}

/// One calendar month of the year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRow {
    /// The month.
    pub month: Month,
    /// Its credits and debits by kind.
    pub totals: KindTotals,
    /// The balance at the month's end.
    pub balance: Money,
}

/// What a line of the statement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A contribution's account credit.
    Contribution,
    /// A retiree's monthly allocation.
    Allocation,
    /// Interest (R8).
    Interest,
    /// A balance transferred in from another region.
    TransferIn,
    /// A share of a deceased member's balance.
    InheritanceIn,
    /// Any other credit.
    OtherCredit,
    /// Spending from the account.
    Spending,
    /// The balance transferred out.
    TransferOut,
    /// The balance handed to heirs.
    InheritanceOut,
    /// A month's credit cancelled because it came after the member's death (R11).
    Voided,
    /// Any other debit.
    OtherDebit,
}

impl LineKind {
    /// The kind as the canonical text and the templates spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Contribution => "contribution",
            LineKind::Allocation => "allocation",
            LineKind::Interest => "interest",
            LineKind::TransferIn => "transfer_in",
            LineKind::InheritanceIn => "inheritance_in",
            LineKind::OtherCredit => "other_credit",
            LineKind::Spending => "spending",
            LineKind::TransferOut => "transfer_out",
            LineKind::InheritanceOut => "inheritance_out",
            LineKind::Voided => "voided",
            LineKind::OtherDebit => "other_debit",
        }
    }
}

/// One credit or debit of the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualLine {
    /// Log position of the event.
    pub position: u64,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// Effective date.
    pub date: NaiveDate,
    /// What it is.
    pub kind: LineKind,
    /// The contribution or allocation month, when it is one.
    pub month: Option<Month>,
    /// Into the account.
    pub credit: Money,
    /// Out of the account.
    pub debit: Money,
    /// The balance after it (running, in effective-date order).
    pub balance: Money,
    /// A contribution's base.
    pub base: Option<Money>,
    /// A contribution's payer.
    pub payer: Option<Payer>,
    /// Whether a contribution added its month (false for a second payment of a counted month).
    pub counts_month: Option<bool>,
    /// What spending paid for.
    pub purpose: Option<Purpose>,
    /// Whom spending was for (a relative), or the heirs' names of an inheritance.
    pub beneficiary: Option<String>,
    /// The other region of a transfer.
    pub counterpart: Option<String>,
    /// The rule that decided it, with its rule tag (for audits; the page explains in words).
    pub rule: Option<String>,
}

/// A refund paid outside the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    /// Log position.
    pub position: u64,
    /// Effective date.
    pub date: NaiveDate,
    /// Why.
    pub reason: RefundReason,
    /// The contribution months refunded (employee scheme).
    pub months: Vec<Month>,
    /// The coverage year refunded (resident scheme).
    pub coverage_year: Option<i32>,
    /// Paid back to the member.
    pub amount: Money,
}

/// A resident premium paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PremiumLine {
    /// Log position.
    pub position: u64,
    /// Payment date.
    pub date: NaiveDate,
    /// The year it covers.
    pub coverage_year: i32,
    /// The member's part.
    pub personal: Money,
    /// The government's subsidy.
    pub subsidy: Money,
    /// When benefits start.
    pub benefits_from: NaiveDate,
}

/// Something that happened to the member in the year with no money on the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Log position.
    pub position: u64,
    /// Effective date.
    pub date: NaiveDate,
    /// The event's type (`enrolled`, `suspended`, `retired`, …).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Months it added (deemed months, a lump sum), when any.
    pub months: Option<u32>,
    /// Money it moved outside the account (a lump sum), when any.
    pub amount: Option<Money>,
    /// The reason or basis as the contract spells it, when any.
    pub reason: Option<String>,
}

/// A reversed event of the year and its reversal, both left out of the lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NettedPair {
    /// The date both are effective.
    pub date: NaiveDate,
    /// The reversed event's type.
    pub original_type: String,
    /// The reversed event's position.
    pub original_position: u64,
    /// The reversal's position.
    pub reversal_position: u64,
    /// What the reversed event did to the balance (undone).
    pub balance_change: Money,
    /// The clerk's reason.
    pub reason: String,
}

/// The rates and fixed amounts behind the year's credits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatesSeen {
    /// Each distinct (credited share of base, own rate, employer part) of the contributions.
    pub contribution_credits: Vec<CreditShare>,
    /// Each distinct monthly retiree allocation.
    pub allocations: Vec<Money>,
    /// Whether a payment as a flexible worker (individual payer) was credited.
    pub individual_payer: bool,
    /// Whether a payment for a month already counted was credited.
    pub second_payment: bool,
}

/// How much of a contribution base went into the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditShare {
    /// The credited share of base (`2%`).
    pub credited: String,
    /// The member's own rate (`2%`).
    pub own: String,
    /// The part of the employer share credited (`0%` after the reform).
    pub employer_part: String,
}

/// A statement of the year issued earlier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRef {
    /// The `statement_issued` event's position.
    pub position: u64,
    /// Issue date.
    pub date: NaiveDate,
    /// The digest it recorded.
    pub digest: String,
    /// Its template.
    pub template_version: String,
    /// The closing balance it stated.
    pub closing_balance: Money,
    /// The months it stated.
    pub months_total: u32,
}

/// Corrections recorded after the member's previous statement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corrections {
    /// The previous statement (any year), when one was issued.
    pub since: Option<PreviousStatement>,
    /// Entries recorded after it that take effect in an earlier year (or in this year, when
    /// this year's statement was issued before), in log order.
    pub entries: Vec<LateEntry>,
    /// Each issued statement whose figures these entries changed: what it said and what stands.
    pub restated: Vec<Restated>,
}

/// The statement a correction is measured from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousStatement {
    /// Its year.
    pub year: i32,
    /// Issue date.
    pub date: NaiveDate,
    /// The `statement_issued` event's position.
    pub position: u64,
}

/// An event recorded after the previous statement that changes an earlier year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateEntry {
    /// Log position.
    pub position: u64,
    /// Effective date.
    pub date: NaiveDate,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// For a reversal: the reversed event's type and date.
    pub reverses: Option<(String, NaiveDate)>,
    /// The contribution or allocation month, when it is one.
    pub month: Option<Month>,
    /// Its effect on the balance.
    pub balance_change: Money,
    /// A reversal's reason.
    pub reason: Option<String>,
}

/// An issued statement whose figures changed since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restated {
    /// The year.
    pub year: i32,
    /// As issued.
    pub issued: IssuedRef,
    /// The closing balance that stands now.
    pub closing_balance: Money,
    /// The months that stand now.
    pub months_total: u32,
    /// The digest of the figures that stand now.
    pub digest: String,
    /// Whether the figures rebuilt as known when it was issued give its recorded digest (they
    /// should: otherwise the statement's figures were computed differently then).
    pub reproduced: bool,
}
