//! Why each figure is what it is: an event's amounts spelled out as the rule that produced them,
//! e.g. `account credit 2% of base 10000.00 = 200.00 [§2, luzhou from 2023-01-01]`.
//!
//! The amounts and rates come from the event (what was decided then); the policy only supplies
//! the date from which the parameter was in force, for the reader. Without a policy the tag
//! names the region alone.

use chrono::NaiveDate;

use crate::domain::{wire_name, BenefitChange, Event};
use crate::policy::{RegionPolicy, Series};

/// The steps that explain one event, each ending with its rule tag.
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
        Event::ContributionPosted(c) => contribution_steps(c, region, policy),
        Event::PremiumPaid {
            coverage_year,
            personal,
            subsidy,
            benefits_from,
            rule,
            date,
            ..
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
            month,
            age,
            amount,
            pension,
            pension_rate,
            ..
        } => {
            let of_pension = match (pension, pension_rate) {
                (Some(p), Some(r)) => format!(" ({} of pension {p})", r.percent()),
                _ => String::new(),
            };
            vec![format!(
                "retiree allocation for {month} at age {age} = {amount}{of_pension} {}",
                tag("§2, §12 R4", from(policy, |p| &p.retiree_allocation, month.first_day()))
            )]
        }
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
        Event::StatementIssued {
            year,
            digest,
            figures_form,
            template_version,
            ..
        } => vec![format!(
            "the {year} annual statement as issued: figures (form {figures_form}) digest {digest}, template {template_version}; money and months unchanged {}",
            tag("§12 R15", None)
        )],
        Event::VoidedAfterDeath {
            month,
            died_on,
            credited,
            refunded,
            surcharges,
            ..
        } => vec![format!(
            "{month} is after the death month ({died_on}): its payment is voided, {refunded} back to the payer, {credited} taken from the account{} [§12 R11]",
            surcharges_back(surcharges)
        )],
        other => explain_rule_event(other, region, policy),
    }
}

/// The steps of a contribution: base, shares, credit, surcharges, the month, benefits.
fn contribution_steps(
    c: &crate::domain::Contribution,
    region: &str,
    policy: Option<&RegionPolicy>,
) -> Vec<String> {
    let tag = |section: &str, from: Option<NaiveDate>| match from {
        Some(d) => format!("[{section}, {region} from {d}]"),
        None => format!("[{section}, {region}]"),
    };
    let on = c.month.first_day();
    let held = if c.base == c.wage {
        format!("= declared wage {}", c.wage)
    } else {
        format!(
            "{} (declared wage {} held to the floor and cap)",
            c.base, c.wage
        )
    };
    let bounds = tag("§2", from(policy, |p| &p.base_bounds, on));
    let mut steps = vec![format!("contribution base {held} {bounds}")];
    steps.extend(share_steps(c, &tag, policy));
    steps.push(credit_step(
        c,
        tag("§2", from(policy, |p| &p.account_credit, on)),
    ));
    if let Some(m) = &c.mutual_aid {
        steps.push(format!(
            "mutual-aid fund: employer {} of base {} = {}, member {} for the month; not credited to the account {}",
            m.employer_rate.percent(),
            c.base,
            m.employer,
            m.personal,
            tag("§2", None)
        ));
    }
    for charge in &c.surcharges {
        steps.push(surcharge_step(
            charge,
            c.base,
            tag("§12 R5", from(policy, |p| &p.surcharges, on)),
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

/// The two shares of a contribution: employee and employer, or an individual's own part and
/// the pooled part (R3).
fn share_steps(
    c: &crate::domain::Contribution,
    tag: &dyn Fn(&str, Option<NaiveDate>) -> String,
    policy: Option<&RegionPolicy>,
) -> [String; 2] {
    let on = c.month.first_day();
    let individual = c.credit.is_some() && c.payer == crate::terms::Payer::Individual;
    let (own, pooled, section) = if individual {
        ("the member's own part", "the pooled part", "§2, §12 R3")
    } else {
        ("employee share", "employer share", "§2")
    };
    [
        format!(
            "{own} {} of base {} = {} {}",
            c.employee_rate.percent(),
            c.base,
            c.employee,
            tag(section, from(policy, |p| &p.employee_rate, on))
        ),
        format!(
            "{pooled} {} of base {} = {} {}",
            c.employer_rate.percent(),
            c.base,
            c.employer,
            tag(section, from(policy, |p| &p.employer_rate, on))
        ),
    ]
}

/// The account credit of a contribution: its rate of the base, and what R3 and R7 added to the
/// rule when the event records its parts.
fn credit_step(c: &crate::domain::Contribution, tag: String) -> String {
    let step = format!(
        "account credit {} of base {} = {}",
        c.credit_rate.percent(),
        c.base,
        c.account_credit
    );
    let Some(parts) = &c.credit else {
        return format!("{step} {tag}");
    };
    if parts.tier == crate::terms::Tier::PoolOnly {
        return format!("{step}: pool_only tier, no personal account [§12 R3] {tag}");
    }
    let mut notes = String::new();
    if c.payer == crate::terms::Payer::Individual {
        notes.push_str(", the member's own part only [§12 R3]");
    }
    if parts.rounding == crate::policy::CreditRounding::Combined {
        notes.push_str(&format!(
            " (own {} + employer part {}, rounded once [§12 R7])",
            parts.own_rate.percent(),
            parts.employer_part_rate.percent()
        ));
    }
    format!("{step}{notes} {tag}")
}

fn surcharge_step(
    charge: &crate::domain::SurchargePaid,
    base: crate::money::Money,
    tag: String,
) -> String {
    match charge.rate {
        Some(rate) => format!(
            "surcharge {}: {} of base {base} = {}, not credited to the account {tag}",
            charge.name,
            rate.percent(),
            charge.amount
        ),
        None => format!(
            "surcharge {}: {} for {}, not credited to the account {tag}",
            charge.name, charge.amount, charge.period
        ),
    }
}

/// The steps of the events of the policy-model rules (R4, R5, R8, R14).
fn explain_rule_event(event: &Event, region: &str, policy: Option<&RegionPolicy>) -> Vec<String> {
    let tag = |section: &str, from: Option<NaiveDate>| match from {
        Some(d) => format!("[{section}, {region} from {d}]"),
        None => format!("[{section}, {region}]"),
    };
    match event {
        Event::InterestCredited {
            year,
            opening_balance,
            periods,
            amount,
            through,
            ..
        } => {
            let mut steps: Vec<String> = periods
                .iter()
                .map(|p| {
                    format!(
                        "{}..{}: carried part {} yuan-days × {} + current part {} yuan-days × {} {}",
                        p.from,
                        p.to,
                        p.carried_yuan_days,
                        p.carried_rate.percent(),
                        p.current_yuan_days,
                        p.current_rate.percent(),
                        tag("§12 R8", from(policy, |x| &x.interest, p.from))
                    )
                })
                .collect();
            steps.push(format!(
                "interest {year} through {through} (carried part at most the opening balance {opening_balance}): sum ÷ 360 rounded once = {amount} {}",
                tag("§12 R8", None)
            ));
            steps
        }
        Event::PensionSet { pension, date } => vec![format!(
            "monthly pension {pension} from {date}: allocations that are a share of it use it {}",
            tag("§12 R4", None)
        )],
        Event::RelativeRegistered {
            relation,
            name,
            date,
            ..
        } => vec![format!(
            "{name} registered as {} on {date}: the account may pay for this relative {}",
            wire_name(relation),
            tag("§12 R14", since_family(policy))
        )],
        Event::SurchargeCharged {
            month, surcharges, ..
        } => surcharges
            .iter()
            .map(|charge| {
                format!(
                    "retiree surcharge {}: {} for {}, not from the account {}",
                    charge.name,
                    charge.amount,
                    charge.period,
                    tag("§12 R5", from(policy, |x| &x.surcharges, month.first_day()))
                )
            })
            .collect(),
        other => vec![format!("{} {}", other.type_name(), tag("§12", None))],
    }
}

fn since_family(policy: Option<&RegionPolicy>) -> Option<NaiveDate> {
    policy.and_then(|p| p.family_mutual_aid_from.as_ref().map(|f| f.value))
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

/// The surcharges a void pays back (R5 with R11), as words after the amounts.
fn surcharges_back(surcharges: &[crate::domain::SurchargePaid]) -> String {
    if surcharges.is_empty() {
        return String::new();
    }
    let total: crate::money::Money = surcharges.iter().map(|s| s.amount).sum();
    format!(", surcharges {total} back to whoever paid them [§12 R5]")
}
