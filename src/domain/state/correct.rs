//! Taking an event back off the record: a `reversed` event cancels a reversible event's money and
//! months, and a month voided after a death (docs/RULES.md §12 R11) loses its payment or allocation
//! with the surcharges it carried. The decision has checked that nothing later relies on them.

use super::{forget_one, MemberState, YearTotals};
use crate::domain::Event;
use crate::money::Money;
use crate::month::Month;
use crate::terms::Payer;

impl MemberState {
    /// A reversal or a month voided after a death.
    pub(super) fn apply_correction(&mut self, event: &Event) {
        match event {
            Event::Reversed {
                event_id, original, ..
            } => {
                let fresh = self.reversed.insert(*event_id);
                assert!(fresh, "event {event_id} reversed twice");
                self.undo(original);
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
            _ => unreachable!("dispatched by family"),
        }
    }

    /// Cancels a reversible event's effects on money and months (the decision checked that it
    /// is reversible and that nothing later relies on it).
    fn undo(&mut self, original: &Event) {
        match original {
            Event::DeemedRecognized { .. }
            | Event::ContributionPosted(_)
            | Event::InterestCredited { .. }
            | Event::PremiumPaid { .. }
            | Event::TransferredIn { .. }
            | Event::RetireeAllocationCredited { .. }
            | Event::LumpSumPaid { .. } => self.undo_inflow(original),
            Event::Spent { .. }
            | Event::ContributionRefunded { .. }
            | Event::PremiumRefunded { .. } => self.undo_outflow(original),
            other => panic!("a {} event cannot be reversed", other.type_name()),
        }
    }

    /// Takes back months and money that came in: deemed months, a payment, interest, a
    /// premium, a transfer in, an allocation or a lump sum.
    fn undo_inflow(&mut self, original: &Event) {
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
            Event::LumpSumPaid { months, amount, .. } => {
                assert!(
                    self.months_lump_sum >= *months,
                    "lump-sum months below zero"
                );
                self.months_lump_sum -= months;
                self.lump_sum_paid -= *amount;
            }
            _ => unreachable!("dispatched by family"),
        }
    }

    /// Puts back money that went out: spending, or a refund of contributions or a premium.
    fn undo_outflow(&mut self, original: &Event) {
        match original {
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
            _ => unreachable!("dispatched by family"),
        }
    }

    fn undo_interest(&mut self, year: i32, amount: Money) {
        self.uncredit(amount);
        self.rules.interest_years.remove(&year);
        self.years.entry(year).or_default().interest -= amount;
        self.drop_empty_year(year);
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
}
