//! The member statement: every event with its effect on balance and months, and running totals.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::domain::{wire_name, BenefitChange, Event, MemberId, MemberState};
use crate::money::Money;
use crate::policy::PolicySet;
use crate::projection::explain::explain;
use crate::store::{StoreError, StoredEvent};

/// One line of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// Log position.
    pub position: u64,
    /// The stored event's id (what a `reverse` names).
    pub event_id: uuid::Uuid,
    /// The policy version the event was decided under.
    pub policy_version: String,
    /// Effective date.
    pub date: NaiveDate,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What happened, in words.
    pub description: String,
    /// The rule that decided it, with its rule tag, when one did.
    pub rule: Option<String>,
    /// Each amount spelled out as the rule that produced it, with its rule tag
    /// (`account credit 2% of base 10000.00 = 200.00 [§2, luzhou from 2023-01-01]`).
    pub explanation: Vec<String>,
    /// Change to the personal-account balance.
    pub balance_change: Money,
    /// Balance after the event (running, in log order).
    pub balance: Money,
    /// Change to actual months.
    pub months_actual_change: i64,
    /// Change to deemed months.
    pub months_deemed_change: i64,
    /// Actual months after the event.
    pub months_actual: u32,
    /// Deemed months after the event.
    pub months_deemed: u32,
    /// Everything credited so far (running).
    pub credited: Money,
    /// Everything debited so far (running).
    pub debited: Money,
    /// Position of the reversal that cancelled this event, if any.
    pub reversed_by: Option<u64>,
    /// The client that submitted the event (its name in the server's tokens file), when one
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
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
    /// Builds the statement from the member's events (in log order). The explanations name the
    /// region but not the dates parameters took effect (that needs the policy: see
    /// [`Statement::build_with_policies`]), so the result depends on the events alone.
    pub fn build(
        member: MemberId,
        events: &[StoredEvent],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement, StoreError> {
        Statement::build_with_policies(member, events, from, to, None)
    }

    /// Like [`Statement::build`], with each explanation naming the date its policy parameter
    /// took effect.
    pub fn build_with_policies(
        member: MemberId,
        events: &[StoredEvent],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        policies: Option<&PolicySet>,
    ) -> Result<Statement, StoreError> {
        let mut state = MemberState::new(member);
        let mut lines = Vec::new();
        let mut opening: Option<Money> = None;
        let in_range = |d: NaiveDate| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t);
        let mut reversed_by = std::collections::BTreeMap::new();
        let mut decoded = Vec::with_capacity(events.len());
        for stored in events.iter().filter(|e| e.member == member) {
            let event = codec::decode(stored)?;
            if let Event::Reversed { event_id, .. } = &event {
                reversed_by.insert(*event_id, stored.position);
            }
            decoded.push((stored, event));
        }
        for (stored, event) in decoded {
            let (balance_before, actual_before, deemed_before) =
                (state.balance, state.months_actual(), state.months_deemed());
            state.apply(&event);
            if !in_range(stored.effective_date) {
                continue;
            }
            opening.get_or_insert(balance_before);
            lines.push(StatementLine {
                position: stored.position,
                event_id: stored.event_id,
                policy_version: stored.policy_version.clone(),
                date: stored.effective_date,
                event_type: stored.event_type.clone(),
                description: describe(&event),
                rule: rule_of(&event),
                explanation: {
                    let region = state.profile.as_ref().map_or("", |p| p.region.as_str());
                    let policy = policies.and_then(|p| p.region(region));
                    explain(&event, region, policy)
                },
                balance_change: state.balance - balance_before,
                balance: state.balance,
                months_actual_change: i64::from(state.months_actual()) - i64::from(actual_before),
                months_deemed_change: i64::from(state.months_deemed()) - i64::from(deemed_before),
                months_actual: state.months_actual(),
                months_deemed: state.months_deemed(),
                credited: state.credited,
                debited: state.debited,
                reversed_by: reversed_by.get(&stored.event_id).copied(),
                actor: stored.actor.clone(),
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

    /// Plain text for a clerk: one line per event.
    pub fn to_text(&self) -> String {
        self.render(false)
    }

    /// Plain text with, under each event, the rule that decided it (rule tag, policy parameter
    /// and value), its effect on months, and the running totals: the answer to "why is my
    /// balance this?".
    pub fn to_explained_text(&self) -> String {
        self.render(true)
    }

    fn render(&self, explain: bool) -> String {
        let mut out = format!("Statement of member {}\n", self.member);
        out.push_str(&format!(
            "{:>6}  {:<10}  {:<28} {:>10} {:>11} {:>7}  {}\n",
            "pos", "date", "event", "change", "balance", "months", "details"
        ));
        for l in &self.lines {
            let reversed = l
                .reversed_by
                .map_or_else(String::new, |p| format!(" [REVERSED by position {p}]"));
            let by = l
                .actor
                .as_ref()
                .map_or_else(String::new, |a| format!(" [submitted by {a}]"));
            out.push_str(&format!(
                "{:>6}  {:<10}  {:<28} {:>10} {:>11} {:>7}  {}{reversed}{by}\n",
                l.position,
                l.date,
                l.event_type,
                l.balance_change,
                l.balance,
                l.months_actual + l.months_deemed,
                l.description
            ));
            if explain {
                for step in &l.explanation {
                    out.push_str(&format!("{:>8}why: {step}\n", ""));
                }
                out.push_str(&format!(
                    "{:>8}effect: balance {}, actual months {:+}, deemed months {:+}; totals: credited {}, debited {}, balance {}, months {} actual + {} deemed = {}; decided under {}; event {}{}\n",
                    "",
                    signed(l.balance_change),
                    l.months_actual_change,
                    l.months_deemed_change,
                    l.credited,
                    l.debited,
                    l.balance,
                    l.months_actual,
                    l.months_deemed,
                    l.months_actual + l.months_deemed,
                    l.policy_version,
                    l.event_id,
                    l.actor
                        .as_ref()
                        .map_or_else(String::new, |a| format!("; submitted by {a}"))
                ));
            }
        }
        out.push_str(&format!(
            "opening balance {}, closing balance {}\n",
            self.opening_balance, self.closing_balance
        ));
        out
    }
}

/// A change with its sign: `+36.00`, `-12.00`, `0.00`.
fn signed(change: Money) -> String {
    if change.is_positive() {
        format!("+{change}")
    } else {
        change.to_string()
    }
}

fn rule_of(event: &Event) -> Option<String> {
    match event {
        Event::ContributionPosted(c) => {
            // Events decided before R2 recorded a benefit change; coverage is now derived.
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
        | Event::RetireeAllocationCredited { rule, .. }
        | Event::InterestCredited { rule, .. }
        | Event::SurchargeCharged { rule, .. } => Some(rule.clone()),
        _ => None,
    }
}

/// One line of words for an event.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Enrolled { region, scheme, .. } => {
            format!("enrolled in {region}, {} scheme", wire_name(scheme))
        }
        Event::DeemedRecognized { months, basis, .. } => {
            format!("{months} deemed months recognised ({})", wire_name(basis))
        }
        Event::ContributionPosted(c) => {
            let dup = if c.counts_month {
                ""
            } else {
                " (duplicate payment: the month already counts)"
            };
            format!(
                "{} contribution by {}: base {}, employee {}, employer {}, account credit {}{dup}",
                c.month,
                wire_name(&c.payer),
                c.base,
                c.employee,
                c.employer,
                c.account_credit
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
        Event::Suspended { reason, .. } => {
            format!("contributions suspended ({})", wire_name(reason))
        }
        Event::TransferredIn {
            from_region,
            balance,
            months,
            from_member,
            ..
        } => format!(
            "transferred in from {from_region}{}: balance {balance}, {months} months as deemed",
            from_member.map_or_else(String::new, |m| format!(" (account {m} of this ledger)"))
        ),
        Event::TransferredOut {
            to_region,
            balance,
            to_member,
            ..
        } => format!(
            "transferred out to {to_region}{}: balance {balance}; account closed",
            to_member.map_or_else(String::new, |m| format!(" (account {m} of this ledger)"))
        ),
        Event::ContributionRefunded {
            reason,
            payments,
            amount,
            ..
        } => {
            let months: Vec<String> = payments.iter().map(|p| p.month.to_string()).collect();
            format!(
                "refund ({}) of {}: {amount} paid back outside the account",
                wire_name(reason),
                months.join(", ")
            )
        }
        Event::PremiumRefunded {
            coverage_year,
            amount,
            reason,
            ..
        } => format!(
            "premium for {coverage_year} refunded ({}): {amount}",
            wire_name(reason)
        ),
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
            Some(b) => format!("spent {amount} on {} for {b}", wire_name(purpose)),
            None => format!("spent {amount} on {}", wire_name(purpose)),
        },
        Event::DeathRecorded { .. } => "death recorded".to_string(),
        Event::InheritanceSettled {
            balance, shares, ..
        } => {
            let parts: Vec<String> = shares
                .iter()
                .map(|s| format!("{} {} ({})", s.name, s.amount, wire_name(&s.destination)))
                .collect();
            format!(
                "inheritance of {balance} settled: {}; account closed",
                parts.join(", ")
            )
        }
        Event::InheritanceReceived { from, amount, .. } => {
            format!("inherited {amount} from member {from}")
        }
        Event::Reversed {
            position,
            reason,
            original,
            ..
        } => format!(
            "reversal of position {position} ({}): {reason}; cancels: {}",
            original.type_name(),
            describe(original)
        ),
        Event::StatementIssued {
            year,
            date,
            closing_balance,
            months_total,
            digest,
            ..
        } => format!(
            "annual statement of {year} issued on {date}: balance {closing_balance} and {months_total} months on {year}-12-31 (digest {})",
            digest.get(..16).unwrap_or(digest)
        ),
        Event::VoidedAfterDeath {
            month,
            payer,
            died_on,
            credited,
            refunded,
            surcharges,
            ..
        } => {
            let total: Money = surcharges.iter().map(|s| s.amount).sum();
            let back = if surcharges.is_empty() {
                String::new()
            } else {
                format!("; surcharges {total} back")
            };
            match payer {
                Some(payer) => format!(
                    "{month} contribution by {} voided: after the death on {died_on}; {refunded} back to the payer, credit {credited} removed{back}",
                    wire_name(payer)
                ),
                None => format!(
                    "{month} retiree allocation voided: after the death on {died_on}; {credited} back to the pooled fund{back}"
                ),
            }
        }
        other => describe_rule_event(other),
    }
}

/// Words for the events of the policy-model rules (R4, R5, R8, R14).
fn describe_rule_event(event: &Event) -> String {
    match event {
        Event::InterestCredited {
            year,
            amount,
            through,
            ..
        } => format!("interest for {year} (through {through}): {amount}"),
        Event::PensionSet { pension, .. } => format!("monthly pension recorded: {pension}"),
        Event::RelativeRegistered {
            relation,
            relative,
            name,
            ..
        } => format!(
            "relative registered: {name} ({}){}",
            wire_name(relation),
            relative.map_or_else(String::new, |m| format!(", member {m}"))
        ),
        Event::SurchargeCharged {
            month, surcharges, ..
        } => {
            let total: Money = surcharges.iter().map(|s| s.amount).sum();
            format!("surcharges for {month}: {total}, not from the account")
        }
        other => other.type_name().to_string(),
    }
}
