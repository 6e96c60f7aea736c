//! Events: immutable facts, stored with every amount and date their decision computed.
//!
//! An event is a compatibility boundary: its JSON (tag `type`, snake_case fields) is what the log
//! holds forever. The catalogue in `events/` keeps one example of each, and a test round-trips
//! them, so any change to what is persisted shows up in review.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::accrual::YuanDays;
use super::{DeemedBasis, MemberId, Purpose, RefundReason, Relation, Share, SuspendReason};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::policy::CreditRounding;
use crate::terms::{EmployerClass, Payer, Scheme, Sex, Tier};

/// The schema version of every event type written by this build.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// What happened to a member's account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)] // Field meanings are documented in events/README.md beside their examples.
pub enum Event {
    /// The member joined a region's scheme.
    Enrolled {
        region: String,
        scheme: Scheme,
        sex: Sex,
        birth_date: NaiveDate,
        date: NaiveDate,
        /// The tier chosen at enrolment (R3), left out when `with_account`.
        #[serde(default, skip_serializing_if = "Tier::is_default")]
        tier: Tier,
    },
    /// Months recognised as deemed contribution.
    DeemedRecognized {
        date: NaiveDate,
        months: u32,
        basis: DeemedBasis,
    },
    /// A monthly contribution was posted.
    ContributionPosted(Contribution),
    /// A resident premium was paid for a coverage year.
    PremiumPaid {
        coverage_year: i32,
        date: NaiveDate,
        personal: Money,
        subsidy: Money,
        benefits_from: NaiveDate,
        rule: String,
        /// The premium category paid in (R10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        /// Earlier missed years paid with it (R9); their premium is in `personal`.
        #[serde(default, skip_serializing_if = "is_zero")]
        repair_years: u32,
        /// The national resident wait applied (R9), when one was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait: Option<ResidentWaitApplied>,
        /// The employee account that paid it from its balance (家庭共济, R14).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paid_from: Option<MemberId>,
    },
    /// Contributions stopped.
    Suspended {
        date: NaiveDate,
        reason: SuspendReason,
    },
    /// A balance and months arrived from another region.
    TransferredIn {
        date: NaiveDate,
        from_region: String,
        balance: Money,
        months: u32,
        /// The sending account, when it is in this ledger (appended with its `transferred_out`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_member: Option<MemberId>,
        /// The calendar months the origin counted, when the transfer names them (R6); at most
        /// `months` of them. A month already counted here is not counted again.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        paid_months: Vec<Month>,
        /// The origin's last paid month: the transfer's gap begins the day after it (R2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_paid_month: Option<Month>,
    },
    /// The balance left for another region; the account closed.
    TransferredOut {
        date: NaiveDate,
        to_region: String,
        balance: Money,
        months_actual: u32,
        months_deemed: u32,
        /// The receiving account, when it is in this ledger (its `transferred_in` follows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_member: Option<MemberId>,
    },
    /// Contribution payments were refunded to the member (outside the account).
    ContributionRefunded {
        date: NaiveDate,
        reason: RefundReason,
        payments: Vec<RefundedPayment>,
        amount: Money,
    },
    /// A resident premium was refunded.
    PremiumRefunded {
        date: NaiveDate,
        reason: RefundReason,
        coverage_year: i32,
        amount: Money,
    },
    /// The member converted to retiree.
    Retired {
        date: NaiveDate,
        months_actual: u32,
        months_deemed: u32,
        months_required_total: u32,
        months_required_actual: u32,
        benefits_from: Option<NaiveDate>,
        rule: String,
        /// The day the member reached the statutory (or, retiring early, the earliest) age (R12).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        age_reached_on: Option<NaiveDate>,
    },
    /// A retirement shortfall was paid in one sum.
    LumpSumPaid {
        date: NaiveDate,
        months: u32,
        makeup_base: Money,
        rate: Rate,
        amount: Money,
        rule: String,
    },
    /// A retiree's monthly allocation was credited.
    RetireeAllocationCredited {
        month: Month,
        date: NaiveDate,
        age: u32,
        amount: Money,
        rule: String,
        /// The day the age was taken on (R4: the month's last day); absent in events decided
        /// before R4, which took it on the month's first day.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        age_on: Option<NaiveDate>,
        /// The monthly pension the allocation is a fraction of (R4), when it is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pension: Option<Money>,
        /// The fraction of the pension (R4), when the allocation is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pension_rate: Option<Rate>,
    },
    /// Money was spent from the account.
    Spent {
        date: NaiveDate,
        amount: Money,
        purpose: Purpose,
        beneficiary: Option<String>,
        /// The relative's coverage year of a `relative_premium` (R14).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coverage_year: Option<i32>,
    },
    /// The member died.
    DeathRecorded { date: NaiveDate },
    /// A deceased member's balance was handed on; the account closed.
    InheritanceSettled {
        date: NaiveDate,
        balance: Money,
        shares: Vec<InheritanceShare>,
    },
    /// This member's account received an inheritance.
    InheritanceReceived {
        date: NaiveDate,
        from: MemberId,
        amount: Money,
    },
    /// An erroneous event's effects on money and months were cancelled. Dated on the original's
    /// effective date; `original` is the reversed event as stored, so the fold undoes exactly it.
    Reversed {
        date: NaiveDate,
        event_id: uuid::Uuid,
        position: u64,
        reason: String,
        original: Box<Event>,
    },
    /// A contribution or retiree allocation for a month after the member's death, posted before
    /// the death was recorded, cancelled with it (R11): the payer gets back both shares, the
    /// credit leaves the account. Dated on the original's date, so an as-of view never shows it.
    VoidedAfterDeath {
        date: NaiveDate,
        died_on: NaiveDate,
        month: Month,
        /// Whose contribution; `None` for a retiree allocation (its amount returns to the
        /// pooled fund).
        payer: Option<Payer>,
        base: Money,
        employee: Money,
        employer: Money,
        /// Removed from the account.
        credited: Money,
        /// Paid back to the payer: employee + employer.
        refunded: Money,
        /// The surcharges charged with the voided payment or allocation (R5), paid back too:
        /// the month they were charged for is no longer covered.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        surcharges: Vec<SurchargePaid>,
    },
    /// A year's (or, at closing, a part year's) interest was credited. R8.
    InterestCredited {
        year: i32,
        date: NaiveDate,
        /// The balance on 1 January (the carried-over part's ceiling).
        opening_balance: Money,
        /// The last day accrued (31 December, or the day before the account closed).
        through: NaiveDate,
        /// The yuan-days accrued under each rate entry in force in the year.
        periods: Vec<InterestPeriod>,
        /// The sum of the periods' interest, rounded half-up once.
        amount: Money,
        rule: String,
    },
    /// A retiree's monthly pension (R4), in force from `date`.
    PensionSet { date: NaiveDate, pension: Money },
    /// A relative registered for family mutual aid (R14).
    RelativeRegistered {
        date: NaiveDate,
        relation: Relation,
        relative: Option<MemberId>,
        name: String,
    },
    /// A retiree's surcharges for a month, charged with the allocation (R5); never credited.
    SurchargeCharged {
        month: Month,
        date: NaiveDate,
        surcharges: Vec<SurchargePaid>,
        rule: String,
    },
    /// The member's annual statement (年度对账单) of `year` was issued: the digest of its
    /// figures in their canonical form (`projection::annual`), so that a later correction of
    /// that year is shown against what the member was told. docs/RULES.md §12 R15. Changes nothing
    /// on the account.
    StatementIssued {
        year: i32,
        /// The issue date (after the year's end).
        date: NaiveDate,
        /// Hex SHA-256 of the figures' canonical text, form `figures_form`.
        digest: String,
        /// The version of the canonical form the digest covers.
        figures_form: u32,
        /// The version of the template the statement was printed with.
        template_version: String,
        /// The balance on 31 December of `year`, as stated (for a clerk reading the log).
        closing_balance: Money,
        /// Actual + deemed months on 31 December of `year`, as stated.
        months_total: u32,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A posted contribution with everything its decision computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    /// The contribution month.
    pub month: Month,
    /// Posting date (the effective date).
    #[serde(serialize_with = "crate::month::serialize_date")]
    pub date: NaiveDate,
    /// Who paid.
    pub payer: Payer,
    /// Employer class that set the employer rate.
    pub employer_class: EmployerClass,
    /// Declared wage.
    pub wage: Money,
    /// Contribution base after floor and cap.
    pub base: Money,
    /// Employee rate applied.
    pub employee_rate: Rate,
    /// Employer rate applied.
    pub employer_rate: Rate,
    /// Employee share.
    pub employee: Money,
    /// Employer share.
    pub employer: Money,
    /// Share of base credited to the personal account (own + employer part).
    pub credit_rate: Rate,
    /// Amount credited to the personal account.
    pub account_credit: Money,
    /// Whether this payment adds the month (false when another payer already covers it).
    pub counts_month: bool,
    /// Chongqing's 大额医疗互助金 as events decided before R5 recorded it; new events carry
    /// `surcharges` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutual_aid: Option<MutualAidPaid>,
    /// Funds charged beside the contribution, never credited to the account (R5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surcharges: Vec<SurchargePaid>,
    /// How the credit was computed (R3, R7); absent in events decided before them (own rate
    /// plus the employer part by age, each rounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<CreditParts>,
    /// What the payment did to the member's benefits, when anything.
    pub benefits: Option<BenefitChange>,
    /// The rules applied, with their rule tags.
    pub rule: String,
}

/// What a month's mutual-aid fund took, beside the contribution. docs/RULES.md §2 [004].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutualAidPaid {
    /// The employer's rate, of the contribution base.
    pub employer_rate: Rate,
    /// The employer's amount: base × rate.
    pub employer: Money,
    /// The member's flat amount for the month.
    pub personal: Money,
}

/// The parts an account credit was computed from. docs/RULES.md §12 R3, R7.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditParts {
    /// The credited share of the member's own part.
    pub own_rate: Rate,
    /// The credited part of the employer share (zero for an individual's payment).
    pub employer_part_rate: Rate,
    /// `combined`: rounded once; absent: each part rounded.
    #[serde(default, skip_serializing_if = "CreditRounding::is_separate")]
    pub rounding: CreditRounding,
    /// The member's tier, when `pool_only` (nothing credited).
    #[serde(default, skip_serializing_if = "Tier::is_default")]
    pub tier: Tier,
}

/// One surcharge charged beside a contribution or an allocation. docs/RULES.md §12 R5.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurchargePaid {
    /// The policy's name for it.
    pub name: String,
    /// The period charged: `2024-03`, `2024-H1` or `2024`.
    pub period: String,
    /// The fraction of the base, for a surcharge by rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// The amount charged.
    pub amount: Money,
}

/// The yuan-days one interest rate entry applied to. docs/RULES.md §12 R8.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestPeriod {
    /// First day accrued under the entry.
    pub from: NaiveDate,
    /// Last day accrued under the entry.
    pub to: NaiveDate,
    /// Yearly rate on the carried-over part.
    pub carried_rate: Rate,
    /// Yearly rate on the current year's part.
    pub current_rate: Rate,
    /// Σ over the days of the carried-over part: min(balance on 1 January, the day's closing
    /// balance).
    pub carried_yuan_days: YuanDays,
    /// Σ over the days of the rest of the day's closing balance.
    pub current_yuan_days: YuanDays,
}

/// The national resident wait as applied to a premium. docs/RULES.md §12 R9.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentWaitApplied {
    /// Consecutive unpaid benefit years just before this one.
    pub gap_years: u32,
    /// Variable months: gap years beyond the free ones.
    pub variable_months: u32,
    /// Missed years paid now.
    pub repair_years: u32,
    /// The wait in months.
    pub wait_months: u32,
    /// The day the wait counts from (the benefit year's start, or the payment date).
    pub counted_from: NaiveDate,
}

/// A change to when benefits apply. docs/RULES.md §4.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)] // `rule` is the rule-tagged reason; the dates are named for what they are.
pub enum BenefitChange {
    /// Benefits apply from this date.
    Starts {
        benefits_from: NaiveDate,
        rule: String,
    },
    /// Resumed without a break: benefits continue.
    Continues { rule: String },
    /// A waiting period began: benefits after `months_needed` full months from `from_month`.
    Waits {
        from_month: Month,
        months_needed: u32,
        rule: String,
    },
}

/// One payment of a contribution refund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundedPayment {
    /// The month.
    pub month: Month,
    /// Whose payment is refunded.
    pub payer: Payer,
    /// What the payer paid for the month.
    pub paid: Money,
    /// What that payment had credited to the account (kept there).
    pub credited: Money,
    /// Paid back: `paid − credited`.
    pub amount: Money,
    /// Whether the month still counts (another payment covers it).
    pub month_still_counts: bool,
}

/// Where an heir's share went. docs/RULES.md §9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeirDestination {
    /// Into the heir's own personal account (the heir is insured here).
    Account,
    /// Paid out to the heir.
    Payout,
    /// No heir: to the pooled fund.
    PooledFund,
}

/// One heir's part of a settlement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritanceShare {
    /// The heir's member id, if a member.
    pub heir: Option<MemberId>,
    /// The heir's name.
    pub name: String,
    /// The share, as written (a decimal or a fraction such as `1/3`).
    pub share: Share,
    /// The amount, to the fen.
    pub amount: Money,
    /// Where it went.
    pub destination: HeirDestination,
}

impl Event {
    /// The event's type as stored.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Enrolled { .. } => "enrolled",
            Event::DeemedRecognized { .. } => "deemed_recognized",
            Event::ContributionPosted(_) => "contribution_posted",
            Event::PremiumPaid { .. } => "premium_paid",
            Event::Suspended { .. } => "suspended",
            Event::TransferredIn { .. } => "transferred_in",
            Event::TransferredOut { .. } => "transferred_out",
            Event::ContributionRefunded { .. } => "contribution_refunded",
            Event::PremiumRefunded { .. } => "premium_refunded",
            Event::Retired { .. } => "retired",
            Event::LumpSumPaid { .. } => "lump_sum_paid",
            Event::RetireeAllocationCredited { .. } => "retiree_allocation_credited",
            Event::Spent { .. } => "spent",
            Event::DeathRecorded { .. } => "death_recorded",
            Event::InheritanceSettled { .. } => "inheritance_settled",
            Event::InheritanceReceived { .. } => "inheritance_received",
            Event::Reversed { .. } => "reversed",
            Event::InterestCredited { .. } => "interest_credited",
            Event::PensionSet { .. } => "pension_set",
            Event::RelativeRegistered { .. } => "relative_registered",
            Event::SurchargeCharged { .. } => "surcharge_charged",
            Event::VoidedAfterDeath { .. } => "voided_after_death",
            Event::StatementIssued { .. } => "statement_issued",
        }
    }

    /// Every event type, for the catalogue test.
    pub const TYPE_NAMES: [&'static str; 23] = [
        "enrolled",
        "deemed_recognized",
        "contribution_posted",
        "premium_paid",
        "suspended",
        "transferred_in",
        "transferred_out",
        "contribution_refunded",
        "premium_refunded",
        "retired",
        "lump_sum_paid",
        "retiree_allocation_credited",
        "spent",
        "death_recorded",
        "inheritance_settled",
        "inheritance_received",
        "reversed",
        "interest_credited",
        "pension_set",
        "relative_registered",
        "surcharge_charged",
        "voided_after_death",
        "statement_issued",
    ];

    /// The date the event takes effect: what `--as-of` filters on.
    pub fn effective_date(&self) -> NaiveDate {
        match self {
            Event::Enrolled { date, .. }
            | Event::DeemedRecognized { date, .. }
            | Event::PremiumPaid { date, .. }
            | Event::Suspended { date, .. }
            | Event::TransferredIn { date, .. }
            | Event::TransferredOut { date, .. }
            | Event::ContributionRefunded { date, .. }
            | Event::PremiumRefunded { date, .. }
            | Event::Retired { date, .. }
            | Event::LumpSumPaid { date, .. }
            | Event::RetireeAllocationCredited { date, .. }
            | Event::Spent { date, .. }
            | Event::DeathRecorded { date }
            | Event::InheritanceSettled { date, .. }
            | Event::InheritanceReceived { date, .. }
            | Event::Reversed { date, .. }
            | Event::InterestCredited { date, .. }
            | Event::PensionSet { date, .. }
            | Event::RelativeRegistered { date, .. }
            | Event::SurchargeCharged { date, .. }
            | Event::VoidedAfterDeath { date, .. }
            | Event::StatementIssued { date, .. } => *date,
            Event::ContributionPosted(c) => c.date,
        }
    }

    /// The event's effect on the personal-account balance (credit positive, debit negative).
    pub fn balance_delta(&self) -> Money {
        match self {
            Event::ContributionPosted(c) => c.account_credit,
            Event::TransferredIn { balance, .. } => *balance,
            Event::RetireeAllocationCredited { amount, .. }
            | Event::InheritanceReceived { amount, .. }
            | Event::InterestCredited { amount, .. } => *amount,
            Event::Spent { amount, .. } => -*amount,
            Event::TransferredOut { balance, .. } | Event::InheritanceSettled { balance, .. } => {
                -*balance
            }
            Event::Reversed { original, .. } => -original.balance_delta(),
            Event::VoidedAfterDeath { credited, .. } => -*credited,
            _ => Money::ZERO,
        }
    }
}
