//! Why each figure is what it is: an event's amounts spelled out as the rule that produced them,
//! e.g. `account credit 2% of base 10000.00 = 200.00 [§2, luzhou from 2023-01-01]`.
//!
//! The amounts and rates come from the event (what was decided then); the policy only supplies
//! the date from which the parameter was in force, for the reader. Without a policy the tag
//! names the region alone.

use chrono::NaiveDate;

use crate::domain::{wire_name, BenefitChange, Event};
use crate::policy::{RegionPolicy, Series};

/// The steps that explain one event, each ending with its DOMAIN tag.
pub fn explain(event: &Event, region: &str, policy: Option<&RegionPolicy>) -> Vec<String> {
    let tag = |section: &str, from: Option<NaiveDate>| match from {
        Some(d) => format!("[{section}, {region} from {d}]"),
        None => format!("[{section}, {region}]"),
    };
    let since = |pick: fn(&RegionPolicy) -> Option<NaiveDate>| policy.and_then(pick);
    match event {
        Event::Enrolled { scheme, date, .. } => vec![format!(
            "enrolled in the {} scheme on {date} {}",
            wire_name(scheme),
            tag("§1", None)
        )],
        Event::DeemedRecognized { months, basis, .. } => vec![format!(
            "{months} deemed months ({}) added to contribution years, no money {}",
            wire_name(basis),
            tag("§3", None)
        )],
        Event::ContributionPosted(c) => {
            let on = c.month.first_day();
            let mut steps = Vec::new();
            if c.base == c.wage {
                steps.push(format!(
                    "contribution base = declared wage {} {}",
                    c.wage,
                    tag("§2", from(policy, |p| &p.base_bounds, on))
                ));
            } else {
                steps.push(format!(
                    "contribution base {} (declared wage {} held to the floor and cap) {}",
                    c.base,
                    c.wage,
                    tag("§2", from(policy, |p| &p.base_bounds, on))
                ));
            }
            steps.push(format!(
                "employee share {} of base {} = {} {}",
                c.employee_rate.percent(),
                c.base,
                c.employee,
                tag("§2", from(policy, |p| &p.employee_rate, on))
            ));
            steps.push(format!(
                "employer share {} of base {} = {} {}",
                c.employer_rate.percent(),
                c.base,
                c.employer,
                tag("§2", from(policy, |p| &p.employer_rate, on))
            ));
            steps.push(format!(
                "account credit {} of base {} = {} {}",
                c.credit_rate.percent(),
                c.base,
                c.account_credit,
                tag("§2", from(policy, |p| &p.account_credit, on))
            ));
            if let Some(m) = &c.mutual_aid {
                steps.push(format!(
                    "mutual-aid fund: employer {} of base {} = {}, member {} for the month; not credited to the account {}",
                    m.employer_rate.percent(),
                    c.base,
                    m.employer,
                    m.personal,
                    tag("§2", from(policy, |p| &p.mutual_aid, on))
                ));
            }
            steps.push(if c.counts_month {
                format!(
                    "month {} counts once toward contribution years {}",
                    c.month,
                    tag("§3", None)
                )
            } else {
                format!(
                    "month {} was already paid by the other payer: no extra month {}",
                    c.month,
                    tag("§3", None)
                )
            });
            if let Some(b) = &c.benefits {
                let (BenefitChange::Starts { rule, .. }
                | BenefitChange::Continues { rule }
                | BenefitChange::Waits { rule, .. }) = b;
                steps.push(format!(
                    "benefits: {rule} {}",
                    tag("§4", from(policy, |p| &p.rejoin, c.date))
                ));
            }
            steps
        }
        Event::PremiumPaid {
            coverage_year,
            personal,
            subsidy,
            benefits_from,
            rule,
            date,
        } => vec![format!(
            "premium for {coverage_year}: personal {personal} + subsidy {subsidy}; benefits from {benefits_from}: {rule} {}",
            tag("§11", from(policy, |p| &p.resident, *date))
        )],
        Event::Suspended { reason, .. } => vec![format!(
            "contributions stopped ({}): a gap begins {}",
            wire_name(reason),
            tag("§4", None)
        )],
        Event::TransferredIn {
            balance,
            months,
            from_region,
            ..
        } => vec![format!(
            "balance {balance} and {months} months from {from_region}; the months count as deemed {}",
            tag("§6", None)
        )],
        Event::TransferredOut {
            balance, to_region, ..
        } => vec![format!(
            "the whole balance {balance} leaves for {to_region}; the account closes {}",
            tag("§6", None)
        )],
        Event::ContributionRefunded { payments, .. } => payments
            .iter()
            .map(|p| {
                format!(
                    "refund of {}: paid {} − credited {} (kept in the account) = {} {}",
                    p.month,
                    p.paid,
                    p.credited,
                    p.amount,
                    tag("§7", None)
                )
            })
            .collect(),
        Event::PremiumRefunded {
            coverage_year,
            amount,
            ..
        } => vec![format!(
            "premium for {coverage_year} refunded: {amount} {}",
            tag("§7", None)
        )],
        Event::Retired { rule, date, .. } => vec![format!(
            "{rule} {}",
            tag("§5", from(policy, |p| &p.retirement, *date))
        )],
        Event::LumpSumPaid {
            months,
            makeup_base,
            rate,
            amount,
            date,
            ..
        } => vec![format!(
            "lump sum {months} months × makeup base {makeup_base} × {} = {amount}, to the pooled fund {}",
            rate.percent(),
            tag("§5", from(policy, |p| &p.makeup_base_monthly, *date))
        )],
        Event::RetireeAllocationCredited {
            month, age, amount, ..
        } => vec![format!(
            "retiree allocation for {month} at age {age} = {amount} {}",
            tag("§2", from(policy, |p| &p.retiree_allocation, month.first_day()))
        )],
        Event::Spent {
            amount, purpose, ..
        } => {
            let family = if purpose_is_family(purpose) {
                since(|p| p.family_mutual_aid_from.as_ref().map(|f| f.value))
            } else {
                None
            };
            vec![format!(
                "{amount} spent on {} from the balance {}",
                wire_name(purpose),
                tag("§8", family)
            )]
        }
        Event::DeathRecorded { date } => vec![format!(
            "death on {date}: nothing more is credited for later months {}",
            tag("§9", None)
        )],
        Event::InheritanceSettled {
            balance, shares, ..
        } => {
            let mut steps: Vec<String> = shares
                .iter()
                .map(|s| {
                    format!(
                        "{} {} of {balance} = {} ({}) {}",
                        s.name,
                        s.share,
                        s.amount,
                        wire_name(&s.destination),
                        tag("§9", None)
                    )
                })
                .collect();
            if shares.is_empty() {
                steps.push(format!(
                    "no heirs: {balance} to the pooled fund {}",
                    tag("§9", None)
                ));
            }
            steps
        }
        Event::InheritanceReceived { amount, from, .. } => vec![format!(
            "{amount} inherited from member {from} {}",
            tag("§9", None)
        )],
        Event::Reversed {
            position,
            reason,
            original,
            ..
        } => vec![format!(
            "correction: cancels the {} at position {position} ({reason}); the original stays in the log",
            original.type_name()
        )],
        Event::VoidedAfterDeath {
            month,
            died_on,
            credited,
            refunded,
            ..
        } => vec![format!(
            "{month} is after the death month ({died_on}): its payment is voided, {refunded} back to the payer, {credited} taken from the account [§12 R11]"
        )],
    }
}

fn purpose_is_family(purpose: &crate::domain::Purpose) -> bool {
    purpose.is_for_relative()
}

/// The first day the entry in force on `on` took effect.
fn from<T>(
    policy: Option<&RegionPolicy>,
    series: fn(&RegionPolicy) -> &Series<T>,
    on: NaiveDate,
) -> Option<NaiveDate> {
    policy
        .and_then(|p| series(p).at(on))
        .map(|d| d.effective_from)
}
