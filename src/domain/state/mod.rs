//! A member's state, folded from events. `apply` holds no rule and never fails: an event that
//! would break an invariant (a balance below zero) is a bug or a corrupt log, and it asserts.
//!
//! This file holds [`MemberState`] and the small records it keeps; the rest is by job:
//! `months` (the payments by month and the months that count, docs/RULES.md §3),
//! `months_binary` (their compact form in a snapshot), `resident` (a
//! resident's paid coverage years, §4, §11), `rules` (what the §12 rules keep), `apply` (the
//! fold, one function per family of events) and `correct` (taking an event back off the record:
//! reversals and months voided after a death).

mod apply;
mod correct;
mod months;
mod months_binary;
mod resident;
mod rules;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use months::{MonthCover, Payment};
pub use resident::Coverage;
pub use rules::{Relative, RuleState};

use super::{MemberId, SuspendReason};
use crate::money::Money;
use crate::month::Month;
use crate::terms::{Scheme, Sex};

/// Who the member is, set at enrolment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Pooling region.
    pub region: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Sex.
    pub sex: Sex,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Enrolment date.
    pub enrolled_on: NaiveDate,
}

/// A suspension in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// The day contributions stopped.
    pub date: NaiveDate,
    /// Why.
    pub reason: SuspendReason,
}

/// One calendar year's contribution totals (the statement's year table). docs/RULES.md §3.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearTotals {
    /// Sum of bases.
    pub base: Money,
    /// Employee shares (resident scheme: personal premium).
    pub employee: Money,
    /// Employer shares (resident scheme: subsidy).
    pub employer: Money,
    /// Credits to the personal account (contributions and retiree allocations).
    pub personal_account: Money,
    /// Refunds.
    pub refunded: Money,
    /// Interest credited for the year (R8).
    #[serde(default)]
    pub interest: Money,
}

/// What a retirement required, kept so that a later reversal cannot take the months away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetirementRequirement {
    /// Total months (actual + deemed) required.
    pub total: u32,
    /// Actual local months required.
    pub actual: u32,
}

/// The member's status as the contract names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Enjoys benefits.
    Active,
    /// In a waiting period.
    Waiting,
    /// Stopped contributing (a gap).
    Suspended,
    /// Retired.
    Retired,
    /// Death recorded, balance unsettled.
    Deceased,
    /// Transferred out or inherited.
    Closed,
}

/// Everything the ledger knows about one member, folded from the member's events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// The member.
    pub member: MemberId,
    /// Number of events applied (the member version).
    pub version: u64,
    /// Set at enrolment; `None` for an unknown member.
    pub profile: Option<Profile>,
    /// When a retiree's benefits start, as the retirement decided (an in-service member's
    /// benefits are derived from payments: [`crate::domain::coverage_on`]).
    pub benefits_from: Option<NaiveDate>,
    /// A `suspend` in force: contributions stopped and no payment has resumed them since.
    pub suspended: Option<Suspension>,
    /// Every suspension date, in order (R2 walks them).
    #[serde(default)]
    pub suspensions: Vec<NaiveDate>,
    /// The origin's last paid month of the latest transfer in that carried one (R2, R6), with
    /// how many transfers named each month.
    #[serde(default)]
    pub origin_last_paid_months: BTreeMap<Month, u32>,
    /// The latest of `origin_last_paid_months`.
    #[serde(default)]
    pub origin_last_paid: Option<Month>,
    /// Retirement date.
    pub retired_on: Option<NaiveDate>,
    /// Death date.
    pub died_on: Option<NaiveDate>,
    /// Date the account closed.
    pub closed_on: Option<NaiveDate>,
    /// Personal-account balance.
    pub balance: Money,
    /// Everything credited to the account.
    pub credited: Money,
    /// Everything debited from the account (spending, transfer out, inheritance out).
    pub debited: Money,
    /// Refunds paid to the member outside the account.
    pub refunded: Money,
    /// Lump sums paid.
    pub lump_sum_paid: Money,
    /// Payments by contribution month (compact bytes in a binary serialisation: a snapshot).
    #[serde(with = "months_binary")]
    pub months: BTreeMap<Month, MonthCover>,
    /// Deemed months without a calendar month (pre-1997 service, military, transfers that named
    /// no months); see [`MemberState::months_deemed`].
    #[serde(alias = "months_deemed")]
    pub months_deemed_uncalendared: u32,
    /// Calendar months transferred in as deemed, with how many transfers carried each (R6): a
    /// month counts once, and as actual once a local payment covers it.
    #[serde(default)]
    pub deemed_calendar: BTreeMap<Month, u32>,
    /// Months bought by lump-sum makeup (actual local months without a calendar month).
    pub months_lump_sum: u32,
    /// Totals by calendar year.
    pub years: BTreeMap<i32, YearTotals>,
    /// Resident coverage years.
    pub coverage: BTreeMap<i32, Coverage>,
    /// Months a retiree allocation was credited for.
    pub allocations: BTreeSet<Month>,
    /// Each allocation's date and amount, by month (R11 voids those after a death).
    #[serde(default)]
    pub allocation_credits: BTreeMap<Month, (NaiveDate, Money)>,
    /// Net balance change per effective date, for checks on back-dated debits.
    #[serde(serialize_with = "crate::month::serialize_dated_map")]
    pub balance_by_date: BTreeMap<NaiveDate, Money>,
    /// Latest effective date of any event.
    pub last_event_on: Option<NaiveDate>,
    /// Latest day the member used account benefits for himself.
    pub last_benefit_use: Option<NaiveDate>,
    /// Every day the member used account benefits for himself, with the number of uses (R13).
    #[serde(default, serialize_with = "crate::month::serialize_dated_map")]
    pub benefit_use_days: BTreeMap<NaiveDate, u32>,
    /// What the retirement required, once retired.
    #[serde(default)]
    pub retirement_required: Option<RetirementRequirement>,
    /// Ids of the member's events that were reversed.
    #[serde(default)]
    pub reversed: BTreeSet<uuid::Uuid>,
    /// What the rules of docs/RULES.md §12 R3–R14 keep about the member.
    #[serde(default)]
    pub rules: RuleState,
    /// The latest annual statement issued for each year (docs/RULES.md §12 R15).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub statements: BTreeMap<i32, IssuedStatement>,
}

/// An annual statement as issued: what the member was told, sealed by its figures' digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedStatement {
    /// The issue date.
    pub date: NaiveDate,
    /// Hex SHA-256 of the figures' canonical text.
    pub digest: String,
    /// The template it was printed with.
    pub template_version: String,
}

/// Takes one count of `key` away, forgetting the key at zero.
fn forget_one<K: Ord>(counts: &mut BTreeMap<K, u32>, key: K) {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
    }
}

impl MemberState {
    /// The state of a member with no events.
    pub fn new(member: MemberId) -> MemberState {
        MemberState {
            member,
            ..MemberState::default()
        }
    }

    /// The largest of the state's running sums, in absolute value: the balance and the totals
    /// credited, debited, refunded and paid as lump sums. What must stay within what the ledger
    /// stores ([`crate::money::MONEY_YUAN_MAX`]), or the state could not be kept.
    ///
    /// The other sums follow from these and from the bound on a month's wage, so checking
    /// these alone bounds them all: a day's balance change is at most what was credited or
    /// debited in all; a year's `personal_account` and `refunded` are parts of `credited` and
    /// `refunded`; a year's `base`, `employee` and `employer` come from at most two payments a
    /// month (employer and individual) of a wage within [`crate::money::WAGE_YUAN_MAX`], or one
    /// premium a coverage year.
    pub fn largest_amount(&self) -> Money {
        [
            self.balance,
            self.credited,
            self.debited,
            self.refunded,
            self.lump_sum_paid,
        ]
        .into_iter()
        .map(Money::abs)
        .max()
        .unwrap_or(Money::ZERO)
    }

    /// Whether the member has enrolled.
    pub fn is_known(&self) -> bool {
        self.profile.is_some()
    }

    /// The lowest balance at any effective date from `from` on: a debit dated `from` must fit in it.
    pub fn balance_floor_from(&self, from: NaiveDate) -> Money {
        let before: Money = self.balance_by_date.range(..from).map(|(_, d)| *d).sum();
        let mut running = before;
        // With nothing dated `from` itself, the balance on that day is the one before it.
        let mut lowest = (!self.balance_by_date.contains_key(&from)).then_some(before);
        for delta in self.balance_by_date.range(from..).map(|(_, d)| *d) {
            running += delta;
            lowest = Some(lowest.map_or(running, |l| l.min(running)));
        }
        lowest.unwrap_or(running)
    }

    fn credit(&mut self, amount: Money) {
        assert!(!amount.is_negative());
        self.balance += amount;
        self.credited += amount;
    }

    fn uncredit(&mut self, amount: Money) {
        assert!(!amount.is_negative());
        self.balance -= amount;
        self.credited -= amount;
    }

    fn debit(&mut self, amount: Money) {
        assert!(!amount.is_negative());
        self.balance -= amount;
        self.debited += amount;
    }
}
