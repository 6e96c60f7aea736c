//! A member's state, folded from events. `apply` holds no rule and never fails: an event that
//! would break an invariant (a balance below zero) is a bug or a corrupt log, and it asserts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{BenefitChange, Event, HeirDestination, MemberId, Payer, Scheme, Sex, SuspendReason};
use crate::money::Money;
use crate::month::Month;

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
    /// Whether the member enjoyed benefits when suspended.
    pub had_benefits: bool,
}

/// A waiting period after a late re-enrolment. DOMAIN §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingPeriod {
    /// First month paid since resuming.
    pub from_month: Month,
    /// Full months needed.
    pub months_needed: u32,
}

/// One payment covering a month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Contribution base.
    pub base: Money,
    /// Employee share.
    pub employee: Money,
    /// Employer share.
    pub employer: Money,
    /// Credited to the personal account.
    pub credit: Money,
    /// Posting date.
    pub posted: NaiveDate,
    /// Whether it was refunded.
    pub refunded: bool,
}

impl Payment {
    /// What the payer paid (both shares).
    pub fn paid(&self) -> Money {
        self.employee + self.employer
    }
}

/// The payments covering one contribution month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCover {
    /// The employer's payment.
    pub employer: Option<Payment>,
    /// The member's own payment as a flexible worker.
    pub individual: Option<Payment>,
}

impl MonthCover {
    /// The payment of one payer.
    pub fn payment(&self, payer: Payer) -> Option<&Payment> {
        match payer {
            Payer::Employer => self.employer.as_ref(),
            Payer::Individual => self.individual.as_ref(),
        }
    }

    fn slot(&mut self, payer: Payer) -> &mut Option<Payment> {
        match payer {
            Payer::Employer => &mut self.employer,
            Payer::Individual => &mut self.individual,
        }
    }

    /// Whether an unrefunded payment by `payer` exists.
    pub fn paid_by(&self, payer: Payer) -> bool {
        self.payment(payer).is_some_and(|p| !p.refunded)
    }

    /// Whether any unrefunded payment covers the month: it counts once toward contribution years.
    pub fn counts(&self) -> bool {
        self.paid_by(Payer::Employer) || self.paid_by(Payer::Individual)
    }
}

/// One calendar year's contribution totals (the statement's year table). DOMAIN §3.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearTotals {
    /// Sum of bases.
    pub base: Money,
    /// Employee shares.
    pub employee: Money,
    /// Employer shares.
    pub employer: Money,
    /// Credits to the personal account (contributions and retiree allocations).
    pub personal_account: Money,
    /// Refunds.
    pub refunded: Money,
}

/// A paid resident coverage year. DOMAIN §4, §11.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Personal premium.
    pub personal: Money,
    /// Government subsidy.
    pub subsidy: Money,
    /// Payment date.
    pub paid_on: NaiveDate,
    /// Benefits start.
    pub benefits_from: NaiveDate,
    /// Refunded (no longer covered).
    pub refunded: bool,
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
    /// When the current benefit period began (or begins), once known.
    pub benefits_from: Option<NaiveDate>,
    /// A waiting period in progress.
    pub waiting: Option<WaitingPeriod>,
    /// A suspension in force.
    pub suspended: Option<Suspension>,
    /// Retirement date.
    pub retired_on: Option<NaiveDate>,
    /// Death date.
    pub died_on: Option<NaiveDate>,
    /// Date the account closed.
    pub closed_on: Option<NaiveDate>,
    /// Latest transfer-in date.
    pub transferred_in_on: Option<NaiveDate>,
    /// Whether any contribution was ever posted.
    pub has_contributed: bool,
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
    /// Payments by contribution month.
    pub months: BTreeMap<Month, MonthCover>,
    /// Deemed months.
    pub months_deemed: u32,
    /// Months bought by lump-sum makeup (actual local months without a calendar month).
    pub months_lump_sum: u32,
    /// Totals by calendar year.
    pub years: BTreeMap<i32, YearTotals>,
    /// Resident coverage years.
    pub coverage: BTreeMap<i32, Coverage>,
    /// Months a retiree allocation was credited for.
    pub allocations: BTreeSet<Month>,
    /// Net balance change per effective date, for checks on back-dated debits.
    pub balance_by_date: BTreeMap<NaiveDate, Money>,
    /// Latest effective date of any event.
    pub last_event_on: Option<NaiveDate>,
    /// Latest day the member used account benefits for himself.
    pub last_benefit_use: Option<NaiveDate>,
    /// What the retirement required, once retired.
    #[serde(default)]
    pub retirement_required: Option<RetirementRequirement>,
    /// Ids of the member's events that were reversed.
    #[serde(default)]
    pub reversed: BTreeSet<uuid::Uuid>,
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

    /// Actual local months: counted calendar months plus lump-sum months plus resident years. DOMAIN §3.
    pub fn months_actual(&self) -> u32 {
        let counted = self.months.values().filter(|c| c.counts()).count();
        let resident = self.coverage.values().filter(|c| !c.refunded).count() * 12;
        u32::try_from(counted + resident)
            .unwrap_or(u32::MAX)
            .saturating_add(self.months_lump_sum)
    }

    /// Actual + deemed months. DOMAIN §3.
    pub fn months_total(&self) -> u32 {
        self.months_actual().saturating_add(self.months_deemed)
    }

    /// Status on `on`. DOMAIN §4 and CONTRACT.md.
    pub fn status_on(&self, on: NaiveDate) -> Status {
        if self.closed_on.is_some() {
            return Status::Closed;
        }
        if self.died_on.is_some() {
            return Status::Deceased;
        }
        if self.retired_on.is_some() {
            return Status::Retired;
        }
        if self.suspended.is_some() {
            return Status::Suspended;
        }
        match self.profile.as_ref().map(|p| p.scheme) {
            Some(Scheme::Resident) => self.resident_status_on(on),
            _ => match self.benefits_from {
                Some(from) if from <= on && self.waiting.is_none() => Status::Active,
                _ => Status::Waiting,
            },
        }
    }

    fn resident_status_on(&self, on: NaiveDate) -> Status {
        let year = chrono::Datelike::year(&on);
        let paid: Vec<(&i32, &Coverage)> =
            self.coverage.iter().filter(|(_, c)| !c.refunded).collect();
        match paid.iter().find(|(y, _)| **y == year) {
            Some((_, c)) if c.benefits_from <= on => Status::Active,
            Some(_) => Status::Waiting,
            None if paid.iter().any(|(y, _)| **y > year) || paid.is_empty() => Status::Waiting,
            None => Status::Suspended,
        }
    }

    /// The date benefits start, as the view shows it on `on`.
    pub fn benefits_from_on(&self, on: NaiveDate) -> Option<NaiveDate> {
        if self
            .profile
            .as_ref()
            .is_some_and(|p| p.scheme == Scheme::Resident)
        {
            let year = chrono::Datelike::year(&on);
            let paid = self.coverage.iter().filter(|(_, c)| !c.refunded);
            let current = paid
                .clone()
                .find(|(y, _)| **y >= year)
                .or_else(|| paid.clone().next_back());
            return current.map(|(_, c)| c.benefits_from);
        }
        if self.waiting.is_some() {
            return None;
        }
        self.benefits_from
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

    /// Folds one event into the state. Never fails; asserts the invariants it relies on.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        let date = event.effective_date();
        self.last_event_on = Some(self.last_event_on.map_or(date, |d| d.max(date)));
        let delta = event.balance_delta();
        if !delta.is_zero() {
            let net = self.balance_by_date.entry(date).or_default();
            *net += delta;
            if net.is_zero() {
                self.balance_by_date.remove(&date);
            }
        }
        match event {
            Event::Enrolled {
                region,
                scheme,
                sex,
                birth_date,
                date,
            } => {
                let profile = Profile {
                    region: region.clone(),
                    scheme: *scheme,
                    sex: *sex,
                    birth_date: *birth_date,
                    enrolled_on: *date,
                };
                self.profile = Some(profile);
            }
            Event::DeemedRecognized { months, .. } => self.months_deemed += months,
            Event::ContributionPosted(c) => self.apply_contribution(c),
            Event::PremiumPaid {
                coverage_year,
                date,
                personal,
                subsidy,
                benefits_from,
                ..
            } => {
                let coverage = Coverage {
                    personal: *personal,
                    subsidy: *subsidy,
                    paid_on: *date,
                    benefits_from: *benefits_from,
                    refunded: false,
                };
                self.coverage.insert(*coverage_year, coverage);
                let year = self.years.entry(*coverage_year).or_default();
                year.employee += *personal;
                year.employer += *subsidy;
            }
            Event::Suspended { date, reason } => {
                let had_benefits =
                    self.benefits_from.is_some_and(|d| d <= *date) && self.waiting.is_none();
                self.suspended = Some(Suspension {
                    date: *date,
                    reason: *reason,
                    had_benefits,
                });
            }
            Event::TransferredIn {
                date,
                balance,
                months,
                ..
            } => {
                self.credit(*balance);
                self.months_deemed += months;
                self.transferred_in_on = Some(*date);
            }
            Event::TransferredOut { date, balance, .. } => {
                self.debit(*balance);
                self.closed_on = Some(*date);
            }
            Event::ContributionRefunded { payments, .. } => self.apply_refund(payments),
            Event::PremiumRefunded {
                coverage_year,
                amount,
                ..
            } => {
                if let Some(c) = self.coverage.get_mut(coverage_year) {
                    c.refunded = true;
                }
                self.refunded += *amount;
                self.years.entry(*coverage_year).or_default().refunded += *amount;
            }
            Event::Retired {
                date,
                benefits_from,
                months_required_total,
                months_required_actual,
                ..
            } => {
                self.retirement_required = Some(RetirementRequirement {
                    total: *months_required_total,
                    actual: *months_required_actual,
                });
                self.retired_on = Some(*date);
                self.benefits_from = *benefits_from;
                self.suspended = None;
                self.waiting = None;
            }
            Event::LumpSumPaid { months, amount, .. } => {
                self.months_lump_sum += months;
                self.lump_sum_paid += *amount;
            }
            Event::RetireeAllocationCredited { month, amount, .. } => {
                self.credit(*amount);
                self.allocations.insert(*month);
                self.years.entry(month.year()).or_default().personal_account += *amount;
            }
            Event::Spent {
                date,
                amount,
                purpose,
                ..
            } => {
                self.debit(*amount);
                if !purpose.is_for_relative() {
                    self.last_benefit_use =
                        Some(self.last_benefit_use.map_or(*date, |d| d.max(*date)));
                }
            }
            Event::DeathRecorded { date } => self.died_on = Some(*date),
            Event::InheritanceSettled {
                date,
                balance,
                shares,
            } => {
                let handed: Money = shares.iter().map(|s| s.amount).sum();
                assert!(
                    shares.is_empty() || handed == *balance,
                    "inheritance shares {handed} != balance {balance}"
                );
                assert!(
                    shares
                        .iter()
                        .all(|s| s.destination != HeirDestination::PooledFund)
                        || shares.len() == 1
                );
                self.debit(*balance);
                self.closed_on = Some(*date);
            }
            Event::InheritanceReceived { amount, .. } => self.credit(*amount),
            Event::Reversed {
                event_id, original, ..
            } => {
                let fresh = self.reversed.insert(*event_id);
                assert!(fresh, "event {event_id} reversed twice");
                self.undo(original);
            }
        }
        assert!(
            !self.balance.is_negative(),
            "member {} balance below zero: {}",
            self.member,
            self.balance
        );
        assert_eq!(
            self.credited - self.debited,
            self.balance,
            "member {}: credited − debited ≠ balance",
            self.member
        );
    }

    /// Cancels a reversible event's effects on money and months (the decision checked that it
    /// is reversible and that nothing later relies on it).
    fn undo(&mut self, original: &Event) {
        match original {
            Event::DeemedRecognized { months, .. } => {
                assert!(self.months_deemed >= *months, "deemed months below zero");
                self.months_deemed -= months;
            }
            Event::ContributionPosted(c) => {
                let cover = self.months.entry(c.month).or_default();
                let slot = cover.slot(c.payer);
                assert!(
                    slot.is_some_and(|p| !p.refunded && p.credit == c.account_credit),
                    "reversed contribution for {} is not the payment on record",
                    c.month
                );
                *slot = None;
                if cover.employer.is_none() && cover.individual.is_none() {
                    self.months.remove(&c.month);
                }
                self.uncredit(c.account_credit);
                let year = self.years.entry(c.month.year()).or_default();
                year.base -= c.base;
                year.employee -= c.employee;
                year.employer -= c.employer;
                year.personal_account -= c.account_credit;
                self.drop_empty_year(c.month.year());
            }
            Event::PremiumPaid {
                coverage_year,
                personal,
                subsidy,
                ..
            } => {
                self.coverage.remove(coverage_year);
                let year = self.years.entry(*coverage_year).or_default();
                year.employee -= *personal;
                year.employer -= *subsidy;
                self.drop_empty_year(*coverage_year);
            }
            Event::TransferredIn {
                balance, months, ..
            } => {
                self.uncredit(*balance);
                assert!(self.months_deemed >= *months, "deemed months below zero");
                self.months_deemed -= months;
            }
            Event::RetireeAllocationCredited { month, amount, .. } => {
                self.uncredit(*amount);
                self.allocations.remove(month);
                self.years.entry(month.year()).or_default().personal_account -= *amount;
                self.drop_empty_year(month.year());
            }
            Event::Spent { amount, .. } => {
                assert!(!amount.is_negative());
                self.balance += *amount;
                self.debited -= *amount;
            }
            Event::LumpSumPaid { months, amount, .. } => {
                assert!(
                    self.months_lump_sum >= *months,
                    "lump-sum months below zero"
                );
                self.months_lump_sum -= months;
                self.lump_sum_paid -= *amount;
            }
            Event::ContributionRefunded { payments, .. } => {
                for p in payments {
                    if let Some(payment) = self
                        .months
                        .get_mut(&p.month)
                        .and_then(|c| c.slot(p.payer).as_mut())
                    {
                        payment.refunded = false;
                    }
                    self.refunded -= p.amount;
                    self.years.entry(p.month.year()).or_default().refunded -= p.amount;
                }
            }
            Event::PremiumRefunded {
                coverage_year,
                amount,
                ..
            } => {
                if let Some(c) = self.coverage.get_mut(coverage_year) {
                    c.refunded = false;
                }
                self.refunded -= *amount;
                self.years.entry(*coverage_year).or_default().refunded -= *amount;
            }
            other => panic!("a {} event cannot be reversed", other.type_name()),
        }
    }

    /// Forgets a year row a reversal emptied, so the view equals the one before the error.
    fn drop_empty_year(&mut self, year: i32) {
        let empty = self
            .years
            .get(&year)
            .is_some_and(|t| *t == YearTotals::default());
        let paid = self.months.keys().any(|m| m.year() == year)
            || self.coverage.contains_key(&year)
            || self.allocations.iter().any(|m| m.year() == year);
        if empty && !paid {
            self.years.remove(&year);
        }
    }

    fn uncredit(&mut self, amount: Money) {
        assert!(!amount.is_negative());
        self.balance -= amount;
        self.credited -= amount;
    }

    fn credit(&mut self, amount: Money) {
        assert!(!amount.is_negative());
        self.balance += amount;
        self.credited += amount;
    }

    fn debit(&mut self, amount: Money) {
        assert!(!amount.is_negative());
        self.balance -= amount;
        self.debited += amount;
    }

    fn apply_contribution(&mut self, c: &super::Contribution) {
        let payment = Payment {
            base: c.base,
            employee: c.employee,
            employer: c.employer,
            credit: c.account_credit,
            posted: c.date,
            refunded: false,
        };
        *self.months.entry(c.month).or_default().slot(c.payer) = Some(payment);
        self.has_contributed = true;
        self.credit(c.account_credit);
        let year = self.years.entry(c.month.year()).or_default();
        year.base += c.base;
        year.employee += c.employee;
        year.employer += c.employer;
        year.personal_account += c.account_credit;
        match &c.benefits {
            Some(BenefitChange::Starts { benefits_from, .. }) => {
                self.benefits_from = Some(*benefits_from);
                self.waiting = None;
                self.suspended = None;
            }
            Some(BenefitChange::Continues { .. }) => {
                if self.benefits_from.is_none() {
                    self.benefits_from = Some(c.month.first_day());
                }
                self.suspended = None;
            }
            Some(BenefitChange::Waits {
                from_month,
                months_needed,
                ..
            }) => {
                self.waiting = Some(WaitingPeriod {
                    from_month: *from_month,
                    months_needed: *months_needed,
                });
                self.benefits_from = None;
                self.suspended = None;
            }
            None => {}
        }
    }

    fn apply_refund(&mut self, payments: &[super::RefundedPayment]) {
        for p in payments {
            let cover = self.months.entry(p.month).or_default();
            if let Some(payment) = cover.slot(p.payer).as_mut() {
                assert!(!payment.refunded, "payment for {} refunded twice", p.month);
                payment.refunded = true;
            }
            self.refunded += p.amount;
            self.years.entry(p.month.year()).or_default().refunded += p.amount;
        }
    }

    /// Contribution months of the year that count (for the year table).
    pub fn months_in_year(&self, year: i32) -> u32 {
        let counted = self
            .months
            .iter()
            .filter(|(m, c)| m.year() == year && c.counts())
            .count();
        let resident = usize::from(self.coverage.get(&year).is_some_and(|c| !c.refunded)) * 12;
        u32::try_from(counted + resident).unwrap_or(u32::MAX)
    }
}
