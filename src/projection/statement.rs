//! The member statement: every event with its effect on balance and months, and running totals.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::domain::{BenefitChange, Event, MemberId, MemberState};
use crate::money::Money;
use crate::store::{StoreError, StoredEvent};

/// One line of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// Log position.
    pub position: u64,
    /// Effective date.
    pub date: NaiveDate,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What happened, in words.
    pub description: String,
    /// The rule that decided it, with its DOMAIN tag, when one did.
    pub rule: Option<String>,
    /// Change to the personal-account balance.
    pub balance_change: Money,
    /// Balance after the event (running, in log order).
    pub balance: Money,
    /// Change to actual months.
    pub months_actual_change: i64,
    /// Actual months after the event.
    pub months_actual: u32,
    /// Deemed months after the event.
    pub months_deemed: u32,
}

/// A member's statement over a date range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The member.
    pub member: MemberId,
    /// First effective date shown, if limited.
    pub from: Option<NaiveDate>,
    /// Last effective date shown, if limited.
    pub to: Option<NaiveDate>,
    /// Balance before the first line shown (in log order).
    pub opening_balance: Money,
    /// Balance after the last line shown.
    pub closing_balance: Money,
    /// The lines.
    pub lines: Vec<StatementLine>,
}

impl Statement {
    /// Builds the statement from the member's events (in log order).
    pub fn build(
        member: MemberId,
        events: &[StoredEvent],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement, StoreError> {
        let mut state = MemberState::new(member);
        let mut lines = Vec::new();
        let mut opening: Option<Money> = None;
        let in_range = |d: NaiveDate| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t);
        for stored in events.iter().filter(|e| e.member == member) {
            let event = codec::decode(stored)?;
            let (balance_before, actual_before) = (state.balance, state.months_actual());
            state.apply(&event);
            if !in_range(stored.effective_date) {
                continue;
            }
            opening.get_or_insert(balance_before);
            lines.push(StatementLine {
                position: stored.position,
                date: stored.effective_date,
                event_type: stored.event_type.clone(),
                description: describe(&event),
                rule: rule_of(&event),
                balance_change: state.balance - balance_before,
                balance: state.balance,
                months_actual_change: i64::from(state.months_actual()) - i64::from(actual_before),
                months_actual: state.months_actual(),
                months_deemed: state.months_deemed,
            });
        }
        let closing = lines
            .last()
            .map_or(opening.unwrap_or(Money::ZERO), |l| l.balance);
        Ok(Statement {
            member,
            from,
            to,
            opening_balance: opening.unwrap_or(Money::ZERO),
            closing_balance: closing,
            lines,
        })
    }

    /// Plain text for a clerk.
    pub fn to_text(&self) -> String {
        let mut out = format!("Statement of member {}\n", self.member);
        out.push_str(&format!(
            "{:>6}  {:<10}  {:<28} {:>10} {:>11} {:>7}  {}\n",
            "pos", "date", "event", "change", "balance", "months", "details"
        ));
        for l in &self.lines {
            out.push_str(&format!(
                "{:>6}  {:<10}  {:<28} {:>10} {:>11} {:>7}  {}\n",
                l.position,
                l.date,
                l.event_type,
                l.balance_change,
                l.balance,
                l.months_actual + l.months_deemed,
                l.description
            ));
        }
        out.push_str(&format!("closing balance {}\n", self.closing_balance));
        out
    }
}

fn rule_of(event: &Event) -> Option<String> {
    match event {
        Event::ContributionPosted(c) => {
            let benefit = c.benefits.as_ref().map(|b| match b {
                BenefitChange::Starts { rule, .. }
                | BenefitChange::Continues { rule }
                | BenefitChange::Waits { rule, .. } => rule.clone(),
            });
            Some(match benefit {
                Some(b) => format!("{}; {b}", c.rule),
                None => c.rule.clone(),
            })
        }
        Event::PremiumPaid { rule, .. }
        | Event::Retired { rule, .. }
        | Event::LumpSumPaid { rule, .. }
        | Event::RetireeAllocationCredited { rule, .. } => Some(rule.clone()),
        _ => None,
    }
}

/// One line of words for an event.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Enrolled { region, scheme, .. } => {
            format!("enrolled in {region}, {scheme:?} scheme")
        }
        Event::DeemedRecognized { months, basis, .. } => {
            format!("{months} deemed months recognised ({basis:?})")
        }
        Event::ContributionPosted(c) => {
            let dup = if c.counts_month {
                ""
            } else {
                " (duplicate payment: the month already counts)"
            };
            format!(
                "{} contribution {:?}: base {}, employee {}, employer {}, account credit {}{dup}",
                c.month, c.payer, c.base, c.employee, c.employer, c.account_credit
            )
        }
        Event::PremiumPaid {
            coverage_year,
            personal,
            subsidy,
            benefits_from,
            ..
        } => {
            format!("premium for {coverage_year}: personal {personal}, subsidy {subsidy}; benefits from {benefits_from}")
        }
        Event::Suspended { reason, .. } => format!("contributions suspended ({reason:?})"),
        Event::TransferredIn {
            from_region,
            balance,
            months,
            ..
        } => format!(
            "transferred in from {from_region}: balance {balance}, {months} months as deemed"
        ),
        Event::TransferredOut {
            to_region, balance, ..
        } => format!("transferred out to {to_region}: balance {balance}; account closed"),
        Event::ContributionRefunded {
            reason,
            payments,
            amount,
            ..
        } => {
            let months: Vec<String> = payments.iter().map(|p| p.month.to_string()).collect();
            format!(
                "refund ({reason:?}) of {}: {amount} paid back outside the account",
                months.join(", ")
            )
        }
        Event::PremiumRefunded {
            coverage_year,
            amount,
            reason,
            ..
        } => format!("premium for {coverage_year} refunded ({reason:?}): {amount}"),
        Event::Retired {
            months_actual,
            months_deemed,
            benefits_from,
            ..
        } => {
            let from = benefits_from.map_or_else(|| "not yet known".to_string(), |d| d.to_string());
            format!("retired with {months_actual} actual and {months_deemed} deemed months; benefits from {from}")
        }
        Event::LumpSumPaid { months, amount, .. } => {
            format!("lump-sum makeup of {months} months: {amount} to the pooled fund")
        }
        Event::RetireeAllocationCredited { month, amount, .. } => {
            format!("retiree allocation for {month}: {amount}")
        }
        Event::Spent {
            amount,
            purpose,
            beneficiary,
            ..
        } => match beneficiary {
            Some(b) => format!("spent {amount} on {purpose:?} for {b}"),
            None => format!("spent {amount} on {purpose:?}"),
        },
        Event::DeathRecorded { .. } => "death recorded".to_string(),
        Event::InheritanceSettled {
            balance, shares, ..
        } => {
            let parts: Vec<String> = shares
                .iter()
                .map(|s| format!("{} {} ({:?})", s.name, s.amount, s.destination))
                .collect();
            format!(
                "inheritance of {balance} settled: {}; account closed",
                parts.join(", ")
            )
        }
        Event::InheritanceReceived { from, amount, .. } => {
            format!("inherited {amount} from member {from}")
        }
    }
}
