//! A member's state, folded from events. `apply` holds no rule and never fails: an event that
//! would break an invariant (a balance below zero) is a bug or a corrupt log, and it asserts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Event, HeirDestination, MemberId, Relation, SurchargePaid, SuspendReason};
use crate::money::Money;
use crate::month::Month;
use crate::terms::{Payer, Scheme, Sex, Tier};

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
    /// Interest credited for the year (R8).
    #[serde(default)]
    pub interest: Money,
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
    /// When a retiree's benefits start, as the retirement decided (an in-service member's
    /// benefits are derived from payments: [`super::coverage_on`]).
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
    /// Payments by contribution month.
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
    pub balance_by_date: BTreeMap<NaiveDate, Money>,
    /// Latest effective date of any event.
    pub last_event_on: Option<NaiveDate>,
    /// Latest day the member used account benefits for himself.
    pub last_benefit_use: Option<NaiveDate>,
    /// Every day the member used account benefits for himself, with the number of uses (R13).
    #[serde(default)]
    pub benefit_use_days: BTreeMap<NaiveDate, u32>,
    /// What the retirement required, once retired.
    #[serde(default)]
    pub retirement_required: Option<RetirementRequirement>,
    /// Ids of the member's events that were reversed.
    #[serde(default)]
    pub reversed: BTreeSet<uuid::Uuid>,
    /// What the rules of DOMAIN §12 R3–R14 keep about the member.
    #[serde(default)]
    pub rules: RuleState,
    /// The latest annual statement issued for each year (DOMAIN §12 R15).
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

/// What the policy-model rules keep about a member: tier (R3), pension history (R4), the
/// surcharge periods already charged (R5), the years whose interest is credited (R8) and the
/// registered relatives (R14).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// The tier chosen at enrolment.
    #[serde(default)]
    pub tier: Tier,
    /// Monthly pension by the date it is in force from.
    #[serde(default)]
    pub pensions: BTreeMap<NaiveDate, Money>,
    /// Half-yearly and yearly surcharges charged, as `name@period`.
    #[serde(default)]
    pub surcharged: BTreeSet<String>,
    /// Years whose interest is credited.
    #[serde(default)]
    pub interest_years: BTreeSet<i32>,
    /// Relatives registered for family mutual aid, in order.
    #[serde(default)]
    pub relatives: Vec<Relative>,
    /// The surcharges charged with each month's contribution, with the payer of the payment
    /// that carried them (one a month: a duplicate carries none). A month voided after a death
    /// returns them (R11).
    #[serde(default)]
    pub contribution_surcharges: BTreeMap<Month, (Payer, Vec<SurchargePaid>)>,
    /// A retiree's surcharges charged with each month's allocation (R5, R11).
    #[serde(default)]
    pub allocation_surcharges: BTreeMap<Month, Vec<SurchargePaid>>,
}

/// A registered relative. DOMAIN §12 R14.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relative {
    /// Registration date (in force from).
    pub date: NaiveDate,
    /// Relation to the member.
    pub relation: Relation,
    /// The relative's member id, when in the ledger.
    pub relative: Option<MemberId>,
    /// The registered name.
    pub name: String,
}

impl RuleState {
    /// The pension in force on a day, if any was recorded by then.
    pub fn pension_on(&self, on: NaiveDate) -> Option<Money> {
        self.pensions.range(..=on).next_back().map(|(_, p)| *p)
    }

    /// The relative a spending's beneficiary names, registered on or before `on`: by member
    /// id when the relative is in the ledger, else by the registered name.
    pub fn relative_for(&self, beneficiary: &str, on: NaiveDate) -> Option<&Relative> {
        let wanted = beneficiary.trim();
        self.relatives.iter().find(|r| {
            r.date <= on
                && match r.relative {
                    Some(id) => wanted.parse::<MemberId>().is_ok_and(|w| w == id),
                    None => r.name == wanted,
                }
        })
    }
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

    /// Actual local months: counted calendar months plus lump-sum months plus resident years. DOMAIN §3.
    pub fn months_actual(&self) -> u32 {
        let counted = self.months.values().filter(|c| c.counts()).count();
        let resident = self.coverage.values().filter(|c| !c.refunded).count() * 12;
        u32::try_from(counted + resident)
            .unwrap_or(u32::MAX)
            .saturating_add(self.months_lump_sum)
    }

    /// Deemed months: those without a calendar month, plus the transferred calendar months that
    /// no local payment covers (a month counts once, R6). DOMAIN §3.
    pub fn months_deemed(&self) -> u32 {
        let calendar = self
            .deemed_calendar
            .keys()
            .filter(|m| !self.months.get(m).is_some_and(MonthCover::counts))
            .count();
        u32::try_from(calendar)
            .unwrap_or(u32::MAX)
            .saturating_add(self.months_deemed_uncalendared)
    }

    /// The calendar months that count here, paid locally or transferred in (R6).
    pub fn calendar_months(&self) -> BTreeSet<Month> {
        let local = self
            .months
            .iter()
            .filter(|(_, c)| c.counts())
            .map(|(m, _)| *m);
        local.chain(self.deemed_calendar.keys().copied()).collect()
    }

    /// Actual + deemed months. DOMAIN §3.
    pub fn months_total(&self) -> u32 {
        self.months_actual().saturating_add(self.months_deemed())
    }

    /// A resident member's status on `on` from the paid coverage years. DOMAIN §4, §11.
    pub fn resident_status_on(&self, on: NaiveDate) -> Status {
        if self.closed_on.is_some() {
            return Status::Closed;
        }
        if self.died_on.is_some() {
            return Status::Deceased;
        }
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

    /// A resident member's first day of benefits for the view on `on`.
    pub fn resident_benefits_from_on(&self, on: NaiveDate) -> Option<NaiveDate> {
        let year = chrono::Datelike::year(&on);
        let paid = self.coverage.iter().filter(|(_, c)| !c.refunded);
        let current = paid
            .clone()
            .find(|(y, _)| **y >= year)
            .or_else(|| paid.clone().next_back());
        current.map(|(_, c)| c.benefits_from)
    }

    /// Paid resident benefit years in a row ending with the year of `on` (a year counts from
    /// its payment; an unpaid or refunded year resets the run to 0). DOMAIN §12 R9.
    pub fn consecutive_years_on(&self, on: NaiveDate) -> u32 {
        let paid = |year: i32| {
            self.coverage
                .get(&year)
                .is_some_and(|c| !c.refunded && c.paid_on <= on)
        };
        let mut year = chrono::Datelike::year(&on);
        let mut run = 0;
        while paid(year) {
            run += 1;
            year -= 1;
        }
        run
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
        // A statement reports on the account; nothing happens to it, so it moves no date (the
        // head view judges the status on the latest date something happened).
        if !matches!(event, Event::StatementIssued { .. }) {
            self.last_event_on = Some(self.last_event_on.map_or(date, |d| d.max(date)));
        }
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
                tier,
            } => {
                self.rules.tier = *tier;
                let profile = Profile {
                    region: region.clone(),
                    scheme: *scheme,
                    sex: *sex,
                    birth_date: *birth_date,
                    enrolled_on: *date,
                };
                self.profile = Some(profile);
            }
            Event::DeemedRecognized { months, .. } => self.months_deemed_uncalendared += months,
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
                self.suspended = Some(Suspension {
                    date: *date,
                    reason: *reason,
                });
                self.suspensions.push(*date);
            }
            Event::TransferredIn {
                balance,
                months,
                paid_months,
                last_paid_month,
                ..
            } => {
                self.credit(*balance);
                self.add_transferred_months(*months, paid_months, *last_paid_month, true);
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
            }
            Event::LumpSumPaid { months, amount, .. } => {
                self.months_lump_sum += months;
                self.lump_sum_paid += *amount;
            }
            Event::RetireeAllocationCredited {
                month,
                amount,
                date,
                ..
            } => {
                self.credit(*amount);
                self.allocations.insert(*month);
                self.allocation_credits.insert(*month, (*date, *amount));
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
                    *self.benefit_use_days.entry(*date).or_default() += 1;
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
            Event::StatementIssued {
                year,
                date,
                digest,
                template_version,
                ..
            } => {
                let issued = IssuedStatement {
                    date: *date,
                    digest: digest.clone(),
                    template_version: template_version.clone(),
                };
                self.statements.insert(*year, issued);
            }
            Event::VoidedAfterDeath {
                month,
                payer,
                base,
                employee,
                employer,
                credited,
                surcharges,
                ..
            } => {
                match payer {
                    Some(payer) => {
                        let paid = (*base, *employee, *employer, *credited);
                        self.remove_payment(*month, *payer, paid);
                    }
                    None => self.remove_allocation(*month, *credited),
                }
                self.forget_surcharges_of(*month, *payer);
                self.unnote_surcharges(surcharges);
            }
            other => self.apply_rule_event(other),
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

    /// Folds the events of the policy-model rules (R4, R5, R8, R14).
    fn apply_rule_event(&mut self, event: &Event) {
        match event {
            Event::InterestCredited { year, amount, .. } => {
                self.credit(*amount);
                self.rules.interest_years.insert(*year);
                self.years.entry(*year).or_default().interest += *amount;
            }
            Event::PensionSet { date, pension } => {
                self.rules.pensions.insert(*date, *pension);
            }
            Event::RelativeRegistered {
                date,
                relation,
                relative,
                name,
            } => self.rules.relatives.push(Relative {
                date: *date,
                relation: *relation,
                relative: *relative,
                name: name.clone(),
            }),
            Event::SurchargeCharged {
                month, surcharges, ..
            } => {
                self.note_surcharges(surcharges);
                self.rules
                    .allocation_surcharges
                    .insert(*month, surcharges.clone());
            }
            _ => {}
        }
    }

    /// Remembers the half-yearly and yearly surcharges charged, so each is charged once a period.
    fn note_surcharges(&mut self, surcharges: &[super::SurchargePaid]) {
        // A monthly surcharge needs no memory: a month is charged with the payment that
        // counts it, once.
        let periodic = surcharges
            .iter()
            .filter(|s| s.period.parse::<Month>().is_err());
        for s in periodic {
            self.rules
                .surcharged
                .insert(format!("{}@{}", s.name, s.period));
        }
    }

    /// Forgets the surcharges a month's payment by `payer` carried (`None`: the retiree's,
    /// charged with the allocation), when that payment leaves the record.
    fn forget_surcharges_of(&mut self, month: Month, payer: Option<Payer>) {
        match payer {
            Some(payer) => {
                let carried = self.rules.contribution_surcharges.get(&month);
                if carried.is_some_and(|(p, _)| *p == payer) {
                    self.rules.contribution_surcharges.remove(&month);
                }
            }
            None => {
                self.rules.allocation_surcharges.remove(&month);
            }
        }
    }

    fn unnote_surcharges(&mut self, surcharges: &[super::SurchargePaid]) {
        for s in surcharges {
            self.rules
                .surcharged
                .remove(&format!("{}@{}", s.name, s.period));
        }
    }

    fn undo_interest(&mut self, year: i32, amount: Money) {
        self.uncredit(amount);
        self.rules.interest_years.remove(&year);
        self.years.entry(year).or_default().interest -= amount;
        self.drop_empty_year(year);
    }

    /// Cancels a reversible event's effects on money and months (the decision checked that it
    /// is reversible and that nothing later relies on it).
    fn undo(&mut self, original: &Event) {
        match original {
            Event::DeemedRecognized { months, .. } => {
                assert!(
                    self.months_deemed_uncalendared >= *months,
                    "deemed months below zero"
                );
                self.months_deemed_uncalendared -= months;
            }
            Event::ContributionPosted(c) => {
                let paid = (c.base, c.employee, c.employer, c.account_credit);
                self.remove_payment(c.month, c.payer, paid);
                self.unnote_surcharges(&c.surcharges);
                if !c.surcharges.is_empty() {
                    self.forget_surcharges_of(c.month, Some(c.payer));
                }
            }
            Event::InterestCredited { year, amount, .. } => self.undo_interest(*year, *amount),
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
                balance,
                months,
                paid_months,
                last_paid_month,
                ..
            } => {
                self.uncredit(*balance);
                self.add_transferred_months(*months, paid_months, *last_paid_month, false);
            }
            Event::RetireeAllocationCredited { month, amount, .. } => {
                self.remove_allocation(*month, *amount);
            }
            Event::Spent {
                amount,
                date,
                purpose,
                ..
            } => {
                assert!(!amount.is_negative());
                self.balance += *amount;
                self.debited -= *amount;
                if !purpose.is_for_relative() {
                    forget_one(&mut self.benefit_use_days, *date);
                }
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

    /// Takes a payment off the record (a reversal, or a month voided after death): its month,
    /// credit and year totals. `paid` is (base, employee, employer, credit).
    fn remove_payment(&mut self, month: Month, payer: Payer, paid: (Money, Money, Money, Money)) {
        let (base, employee, employer, credit) = paid;
        let cover = self.months.entry(month).or_default();
        let slot = cover.slot(payer);
        assert!(
            slot.is_some_and(|p| !p.refunded && p.credit == credit),
            "removed contribution for {month} is not the payment on record"
        );
        *slot = None;
        if cover.employer.is_none() && cover.individual.is_none() {
            self.months.remove(&month);
        }
        self.uncredit(credit);
        let year = self.years.entry(month.year()).or_default();
        year.base -= base;
        year.employee -= employee;
        year.employer -= employer;
        year.personal_account -= credit;
        self.drop_empty_year(month.year());
    }

    /// Takes a retiree allocation off the record.
    fn remove_allocation(&mut self, month: Month, amount: Money) {
        self.uncredit(amount);
        self.allocations.remove(&month);
        self.allocation_credits.remove(&month);
        self.years.entry(month.year()).or_default().personal_account -= amount;
        self.drop_empty_year(month.year());
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
        self.credit(c.account_credit);
        self.note_surcharges(&c.surcharges);
        if !c.surcharges.is_empty() {
            let carried = (c.payer, c.surcharges.clone());
            self.rules.contribution_surcharges.insert(c.month, carried);
        }
        let year = self.years.entry(c.month.year()).or_default();
        year.base += c.base;
        year.employee += c.employee;
        year.employer += c.employer;
        year.personal_account += c.account_credit;
        // A payment for its own posting month or a later one, after the suspension, resumes
        // contributions (R2); a back month paid during the gap does not.
        let resumes = self.suspended.is_some_and(|sus| {
            c.date >= sus.date && c.month.first_day() >= sus.date && c.month >= Month::of(c.date)
        });
        if resumes {
            self.suspended = None;
        }
    }

    /// Adds (or, for a reversal, removes) a transfer's months: its calendar months once each
    /// (R6), the rest as months without a calendar month.
    fn add_transferred_months(
        &mut self,
        months: u32,
        paid_months: &[Month],
        last_paid: Option<Month>,
        adding: bool,
    ) {
        let calendar = u32::try_from(paid_months.len()).unwrap_or(u32::MAX);
        assert!(
            calendar <= months,
            "a transfer names more calendar months than it carries"
        );
        let last = last_paid.or_else(|| paid_months.iter().max().copied());
        if adding {
            self.months_deemed_uncalendared += months - calendar;
            for m in paid_months {
                *self.deemed_calendar.entry(*m).or_default() += 1;
            }
            if let Some(last) = last {
                *self.origin_last_paid_months.entry(last).or_default() += 1;
            }
        } else {
            assert!(
                self.months_deemed_uncalendared >= months - calendar,
                "deemed months below zero"
            );
            self.months_deemed_uncalendared -= months - calendar;
            for m in paid_months {
                forget_one(&mut self.deemed_calendar, *m);
            }
            if let Some(last) = last {
                forget_one(&mut self.origin_last_paid_months, last);
            }
        }
        self.origin_last_paid = self.origin_last_paid_months.keys().next_back().copied();
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
