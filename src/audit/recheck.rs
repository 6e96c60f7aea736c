//! Recomputes every stored amount from the inputs stored beside it: the check that no figure in
//! the log was computed wrongly or altered together with its hash.
//!
//! Two depths: the arithmetic inside the event (shares = base × stored rates, refund = paid −
//! credited, heirs' shares sum to the balance), always; and, when the ledger still has the
//! policy version the event names, the rates and bases themselves asked of that policy again.
//! An event decided under a policy version this ledger no longer has is checked for arithmetic
//! only, and counted as such.

use crate::domain::accrual::{accrue, interest_of, yuan_days};
use crate::domain::{Contribution, CreditParts, Event, MemberState, SurchargePaid};
use crate::money::Money;
use crate::month::{age_on, Month};
use crate::policy::{credit_of, PolicySet, RegionPolicy, SurchargeGroup};

/// How deeply an event's amounts were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// The event carries no computed amount.
    Nothing,
    /// Arithmetic inside the event only (its policy version is not loaded).
    Arithmetic,
    /// Arithmetic and every policy value asked again of the policy version it names.
    Policy,
}

/// Checks one event's amounts against its stored inputs, given the member's state before it.
/// `Err` says which figure does not recompute.
pub fn recheck(
    event: &Event,
    before: &MemberState,
    policies: &PolicySet,
    policy_version: &str,
) -> Result<Depth, String> {
    let region = before.profile.as_ref().map(|p| p.region.as_str());
    let policy = region
        .filter(|r| policies.version(r) == Some(policy_version))
        .and_then(|r| policies.region(r));
    let birth = before.profile.as_ref().map(|p| p.birth_date);
    match event {
        Event::ContributionPosted(c) => contribution(c, policy.zip(birth)),
        Event::LumpSumPaid {
            date,
            months,
            makeup_base,
            rate,
            amount,
            ..
        } => {
            expect(
                "lump sum",
                *amount,
                makeup_base.times(*months).times_rate(*rate),
            )?;
            if let Some(policy) = policy {
                let base = policy.makeup_base(*date).map_err(|e| e.to_string())?;
                expect("makeup base", *makeup_base, base.value)?;
            }
            Ok(depth(policy.is_some()))
        }
        Event::RetireeAllocationCredited { .. } => allocation(event, before, policy.zip(birth)),
        Event::InterestCredited { .. } => interest(event, before, policy),
        Event::SurchargeCharged {
            month, surcharges, ..
        } => {
            let Some(policy) = policy else {
                return Ok(Depth::Nothing);
            };
            for charge in surcharges {
                surcharge_in_policy(policy, *month, charge, SurchargeGroup::Retiree)?;
            }
            Ok(Depth::Policy)
        }
        Event::ContributionRefunded {
            payments, amount, ..
        } => {
            for p in payments {
                expect(
                    &format!("refund of {}", p.month),
                    p.amount,
                    p.paid - p.credited,
                )?;
            }
            expect(
                "refund total",
                *amount,
                payments.iter().map(|p| p.amount).sum(),
            )?;
            Ok(depth(false))
        }
        _ => balances(event, before),
    }
}

/// The checks of events that move the whole balance or need it (closing, retirement, reversal,
/// spending).
fn balances(event: &Event, before: &MemberState) -> Result<Depth, String> {
    match event {
        Event::TransferredOut { balance, .. } => {
            expect("transferred balance", *balance, before.balance)?;
            Ok(depth(false))
        }
        Event::InheritanceSettled {
            balance, shares, ..
        } => {
            expect("inherited balance", *balance, before.balance)?;
            if !shares.is_empty() {
                expect(
                    "sum of the heirs' shares",
                    *balance,
                    shares.iter().map(|s| s.amount).sum(),
                )?;
            }
            Ok(depth(false))
        }
        Event::Retired {
            months_actual,
            months_deemed,
            ..
        } => {
            if *months_actual != before.months_actual() || *months_deemed != before.months_deemed()
            {
                return Err(format!(
                    "retired with {months_actual} actual and {months_deemed} deemed months, but the \
                     events before it give {} and {}",
                    before.months_actual(),
                    before.months_deemed()
                ));
            }
            Ok(depth(false))
        }
        Event::VoidedAfterDeath {
            month,
            payer,
            employee,
            employer,
            credited,
            refunded,
            surcharges,
            ..
        } => {
            expect("voided refund", *refunded, *employee + *employer)?;
            voided_surcharges(before, *month, *payer, surcharges)?;
            let on_record = match payer {
                Some(payer) => before
                    .months
                    .get(month)
                    .and_then(|c| c.payment(*payer))
                    .filter(|p| !p.refunded)
                    .map(|p| p.credit),
                None => before.allocation_credits.get(month).map(|(_, a)| *a),
            };
            match on_record {
                Some(credit) => expect("voided credit", *credited, credit)?,
                None => return Err(format!("voids {month}, which has no credit on record")),
            }
            Ok(depth(false))
        }
        Event::Reversed { original, .. } if original.balance_delta().is_positive() => {
            if before.balance < original.balance_delta() {
                return Err("the reversal takes back more than the balance".into());
            }
            Ok(depth(false))
        }
        Event::Spent { amount, .. } if before.balance < *amount => Err(format!(
            "spending {amount} exceeds the balance {} before it",
            before.balance
        )),
        _ => Ok(Depth::Nothing),
    }
}

fn depth(checked_policy: bool) -> Depth {
    if checked_policy {
        Depth::Policy
    } else {
        Depth::Arithmetic
    }
}

/// R11 with R5: a void returns exactly the surcharges the voided payment (or the retiree's
/// allocation, `payer` `None`) carried for the month.
fn voided_surcharges(
    before: &MemberState,
    month: Month,
    payer: Option<crate::terms::Payer>,
    surcharges: &[SurchargePaid],
) -> Result<(), String> {
    let on_record = match payer {
        Some(payer) => before
            .rules
            .contribution_surcharges
            .get(&month)
            .filter(|(carrier, _)| *carrier == payer)
            .map(|(_, s)| s.as_slice()),
        None => before
            .rules
            .allocation_surcharges
            .get(&month)
            .map(Vec::as_slice),
    };
    if on_record.unwrap_or_default() == surcharges {
        return Ok(());
    }
    Err(format!(
        "the void of {month} returns surcharges that the voided payment did not carry"
    ))
}

fn expect<T: PartialEq + std::fmt::Display>(
    what: &str,
    stored: T,
    computed: T,
) -> Result<(), String> {
    if stored == computed {
        Ok(())
    } else {
        Err(format!(
            "{what} is {stored} but recomputes to {computed} from the stored inputs"
        ))
    }
}

fn not_in_force(e: crate::policy::NotInForce) -> String {
    e.to_string()
}

/// A contribution: its shares, surcharges and credit from its own rates; with the policy,
/// the base and every rate again. Events decided before R3/R7 (no `credit`) are checked as
/// they were decided: own rate plus the employer part by age, each rounded.
fn contribution(
    c: &Contribution,
    policy: Option<(&RegionPolicy, chrono::NaiveDate)>,
) -> Result<Depth, String> {
    expect(
        "employee share",
        c.employee,
        c.base.times_rate(c.employee_rate),
    )?;
    expect(
        "employer share",
        c.employer,
        c.base.times_rate(c.employer_rate),
    )?;
    if let Some(m) = &c.mutual_aid {
        expect(
            "mutual-aid employer amount",
            m.employer,
            c.base.times_rate(m.employer_rate),
        )?;
    }
    for charge in &c.surcharges {
        if let Some(rate) = charge.rate {
            expect(
                &format!("surcharge {}", charge.name),
                charge.amount,
                c.base.times_rate(rate),
            )?;
        }
    }
    if let Some(parts) = &c.credit {
        let computed = credit_of(
            c.base,
            parts.own_rate,
            parts.employer_part_rate,
            parts.rounding,
        );
        expect("account credit", c.account_credit, computed)?;
    }
    let Some((policy, birth)) = policy else {
        if c.credit.is_none() {
            let one_rounding = c.base.times_rate(c.credit_rate);
            if (c.account_credit - one_rounding).abs() > Money::from_fen(1) {
                return Err(format!(
                    "account credit {} is not {} × {}",
                    c.account_credit,
                    c.base,
                    c.credit_rate.percent()
                ));
            }
        }
        return Ok(depth(false));
    };
    expect(
        "contribution base",
        c.base,
        policy
            .contribution_base(c.month, c.wage)
            .map_err(not_in_force)?,
    )?;
    let age = age_on(birth, c.month.last_day());
    match &c.credit {
        Some(parts) => contribution_terms(c, parts, policy, age)?,
        None => legacy_contribution_terms(c, policy, age)?,
    }
    for charge in &c.surcharges {
        surcharge_in_policy(policy, c.month, charge, SurchargeGroup::InService)?;
    }
    Ok(depth(true))
}

/// R3, R7: the event's rates are the policy's terms for its payer, class, tier and age.
fn contribution_terms(
    c: &Contribution,
    parts: &CreditParts,
    policy: &RegionPolicy,
    age: u32,
) -> Result<(), String> {
    let terms = policy
        .contribution_terms(c.month, c.payer, c.employer_class, parts.tier, age)
        .map_err(not_in_force)?;
    let stored = (
        c.employee_rate,
        c.employer_rate,
        parts.own_rate,
        parts.employer_part_rate,
        parts.rounding,
    );
    let policy_terms = (
        terms.employee_rate,
        terms.employer_rate,
        terms.own_rate,
        terms.employer_part_rate,
        terms.rounding,
    );
    if stored != policy_terms {
        return Err(format!(
            "rates and credit parts {stored:?} differ from the policy's {policy_terms:?}"
        ));
    }
    Ok(())
}

/// Before R3/R7: the employee and employer rates of the month, own rate + employer part by age.
fn legacy_contribution_terms(
    c: &Contribution,
    policy: &RegionPolicy,
    age: u32,
) -> Result<(), String> {
    let (employee_rate, _) = policy.employee_rate(c.month).map_err(not_in_force)?;
    let (employer_rate, _) = policy
        .employer_rate(c.month, c.employer_class)
        .map_err(not_in_force)?;
    if employee_rate != c.employee_rate || employer_rate != c.employer_rate {
        return Err(format!(
            "rates {} / {} differ from the policy's {} / {}",
            c.employee_rate.percent(),
            c.employer_rate.percent(),
            employee_rate.percent(),
            employer_rate.percent()
        ));
    }
    let (own, part, _) = policy
        .account_credit_rate(c.month, age)
        .map_err(not_in_force)?;
    expect(
        "account credit",
        c.account_credit,
        c.base.times_rate(own) + c.base.times_rate(part),
    )
}

/// A charged surcharge is one the policy has for the month and group, with its rate or amount.
fn surcharge_in_policy(
    policy: &RegionPolicy,
    month: Month,
    charge: &SurchargePaid,
    group: SurchargeGroup,
) -> Result<(), String> {
    let listed = policy.surcharges_of(month).and_then(|e| {
        e.value
            .iter()
            .find(|s| s.name == charge.name && s.applies(group))
    });
    let matches = listed.is_some_and(|s| match (s.rate, s.amount, s.per) {
        (Some(rate), _, _) => charge.rate == Some(rate),
        (None, Some(amount), Some(per)) => {
            charge.amount == amount && charge.period == per.period_of(month)
        }
        _ => false,
    });
    if matches {
        Ok(())
    } else {
        Err(format!(
            "surcharge {} of {} for {month} is not the policy's",
            charge.name, charge.amount
        ))
    }
}

/// A retiree allocation: the age on the day it was taken (the month's last day since R4, the
/// first day before), the pension × rate, and with the policy the band.
fn allocation(
    event: &Event,
    before: &MemberState,
    policy: Option<(&RegionPolicy, chrono::NaiveDate)>,
) -> Result<Depth, String> {
    let Event::RetireeAllocationCredited {
        month,
        age,
        amount,
        age_on: age_day,
        pension,
        pension_rate,
        ..
    } = event
    else {
        return Ok(Depth::Nothing);
    };
    if let (Some(pension), Some(rate)) = (pension, pension_rate) {
        expect("allocation", *amount, pension.times_rate(*rate))?;
    }
    let Some((policy, birth)) = policy else {
        return Ok(depth(false));
    };
    let day = age_day.unwrap_or_else(|| month.first_day());
    let computed_age = age_on(birth, day);
    if computed_age != *age {
        return Err(format!("age {age} differs from {computed_age} on {day}"));
    }
    let (band, _) = policy
        .retiree_allocation(*month, *age)
        .map_err(not_in_force)?;
    match (band.amount, band.pension_rate) {
        (_, Some(rate)) => {
            let recorded = before.rules.pension_on(day);
            if *pension_rate != Some(rate) || *pension != recorded {
                return Err(format!(
                    "allocation of {pension_rate:?} × {pension:?} is not the policy's {} × the pension on record {recorded:?}",
                    rate.percent()
                ));
            }
        }
        (flat, None) => expect("retiree allocation", *amount, flat.unwrap_or(Money::ZERO))?,
    }
    Ok(depth(true))
}

/// Interest: the amount from the periods, the opening balance and each period's yuan-days from
/// the balances before it; with the policy, the periods themselves.
fn interest(
    event: &Event,
    before: &MemberState,
    policy: Option<&RegionPolicy>,
) -> Result<Depth, String> {
    let Event::InterestCredited {
        year,
        opening_balance,
        through,
        periods,
        amount,
        ..
    } = event
    else {
        return Ok(Depth::Nothing);
    };
    expect("interest", *amount, interest_of(periods))?;
    for p in periods {
        let (carried, current) = yuan_days(before, p.from, p.to);
        expect(
            &format!("carried yuan-days {}..{}", p.from, p.to),
            p.carried_yuan_days,
            carried,
        )?;
        expect(
            &format!("current yuan-days {}..{}", p.from, p.to),
            p.current_yuan_days,
            current,
        )?;
    }
    let Some(policy) = policy else {
        return Ok(depth(false));
    };
    let accrual = accrue(before, policy, *year, *through)
        .ok_or_else(|| format!("no accrual of {year} through {through}"))?;
    expect("opening balance", *opening_balance, accrual.opening)?;
    if accrual.periods != *periods {
        return Err(format!(
            "interest periods differ from the policy's rates: {:?}",
            accrual.periods
        ));
    }
    Ok(depth(true))
}
