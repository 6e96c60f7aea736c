//! The fold: [`MemberState::apply`] takes one event into the state, one function per family of
//! events (standing, money and months in, money out; corrections and the §12 rules' events have
//! their own files), and asserts the balance invariants after each.

use super::{
    forget_one, Coverage, IssuedStatement, MemberState, Payment, Profile, RetirementRequirement,
    Suspension,
};
use crate::domain::{Contribution, Event, HeirDestination, RefundedPayment};
use crate::money::Money;
use crate::month::Month;

impl MemberState {
    /// Folds one event into the state. Never fails; asserts the invariants it relies on.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        self.note_date(event);
        match event {
            Event::Enrolled { .. }
            | Event::Suspended { .. }
            | Event::Retired { .. }
            | Event::DeathRecorded { .. }
            | Event::StatementIssued { .. } => self.apply_standing(event),
            Event::DeemedRecognized { .. }
            | Event::ContributionPosted(_)
            | Event::PremiumPaid { .. }
            | Event::TransferredIn { .. }
            | Event::LumpSumPaid { .. }
            | Event::RetireeAllocationCredited { .. }
            | Event::InheritanceReceived { .. } => self.apply_inflow(event),
            Event::Spent { .. }
            | Event::ContributionRefunded { .. }
            | Event::PremiumRefunded { .. }
            | Event::TransferredOut { .. }
            | Event::InheritanceSettled { .. } => self.apply_outflow(event),
            Event::Reversed { .. } | Event::VoidedAfterDeath { .. } => self.apply_correction(event),
            Event::InterestCredited { .. }
            | Event::PensionSet { .. }
            | Event::RelativeRegistered { .. }
            | Event::SurchargeCharged { .. } => self.apply_rule_event(event),
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

    /// The event's date: the latest date something happened, and the day's net balance change.
    fn note_date(&mut self, event: &Event) {
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
    }

    /// Enrolment, suspension, retirement, death and issued statements: where the member stands.
    fn apply_standing(&mut self, event: &Event) {
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
            Event::Suspended { date, reason } => {
                self.suspended = Some(Suspension {
                    date: *date,
                    reason: *reason,
                });
                self.suspensions.push(*date);
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
            Event::DeathRecorded { date } => self.died_on = Some(*date),
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
            _ => unreachable!("dispatched by family"),
        }
    }

    /// Months and money coming in: deemed months, payments, transfers in, lump sums, retiree
    /// allocations and inheritances received.
    fn apply_inflow(&mut self, event: &Event) {
        match event {
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
            Event::InheritanceReceived { amount, .. } => self.credit(*amount),
            _ => unreachable!("dispatched by family"),
        }
    }

    /// Money going out: spending, refunds, a transfer out and an inheritance settled.
    fn apply_outflow(&mut self, event: &Event) {
        match event {
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
            Event::TransferredOut { date, balance, .. } => {
                self.debit(*balance);
                self.closed_on = Some(*date);
            }
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
            _ => unreachable!("dispatched by family"),
        }
    }

    /// A contribution: the month's payment by its payer, the credit, the surcharges it carried
    /// and the year's totals; a payment for the current month ends a suspension (R2).
    fn apply_contribution(&mut self, c: &Contribution) {
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
    pub(super) fn add_transferred_months(
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

    /// Marks refunded payments, counting what went back to the member outside the account.
    fn apply_refund(&mut self, payments: &[RefundedPayment]) {
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
}
