//! A death: recorded once, and every contribution and allocation for a month after it voided
//! with the surcharges it carried, provided the balance stays above zero.
//! docs/RULES.md §9, §12 R11.

use chrono::NaiveDate;

use super::{open_on, subject, Context, Decision, Subject};
use crate::domain::{ErrorCode, Event, MemberId, Rejection, SurchargePaid};
use crate::money::Money;
use crate::month::Month;
use crate::terms::Payer;

pub(super) fn record_death(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "date of death")?;
    if let Some(died) = s.state.died_on {
        return Err(Rejection::new(
            ErrorCode::AlreadyDeceased,
            format!("the member's death is already recorded on {died}"),
        ));
    }
    if date < s.profile.birth_date {
        return Err(Rejection::invalid(format!(
            "date of death {date} is before the birth date"
        )));
    }
    let mut decision = vec![(member, Event::DeathRecorded { date })];
    let voided = voided_after(&s, date);
    check_voided_balance(&s, &voided)?;
    decision.extend(voided.into_iter().map(|e| (member, e)));
    Ok(decision)
}

/// R11: every unrefunded contribution and every allocation for a month after the death month,
/// each cancelled on its own date with the surcharges charged with it (R5).
fn voided_after(s: &Subject<'_>, died_on: NaiveDate) -> Vec<Event> {
    let after = Month::of(died_on).next();
    let mut voided = Vec::new();
    for (month, cover) in s.state.months.range(after..) {
        for payer in [Payer::Employer, Payer::Individual] {
            let Some(p) = cover.payment(payer).filter(|p| !p.refunded) else {
                continue;
            };
            voided.push(Event::VoidedAfterDeath {
                date: p.posted,
                died_on,
                month: *month,
                payer: Some(payer),
                base: p.base,
                employee: p.employee,
                employer: p.employer,
                credited: p.credit,
                refunded: p.paid(),
                surcharges: carried_surcharges(s, *month, payer),
            });
        }
    }
    for (month, (date, amount)) in s.state.allocation_credits.range(after..) {
        voided.push(Event::VoidedAfterDeath {
            date: *date,
            died_on,
            month: *month,
            payer: None,
            base: Money::ZERO,
            employee: Money::ZERO,
            employer: Money::ZERO,
            credited: *amount,
            refunded: Money::ZERO,
            surcharges: s
                .state
                .rules
                .allocation_surcharges
                .get(month)
                .cloned()
                .unwrap_or_default(),
        });
    }
    voided
}

/// The surcharges (R5) the month's payment by `payer` carried: voided with it, paid back.
fn carried_surcharges(s: &Subject<'_>, month: Month, payer: Payer) -> Vec<SurchargePaid> {
    match s.state.rules.contribution_surcharges.get(&month) {
        Some((carrier, surcharges)) if *carrier == payer => surcharges.clone(),
        _ => Vec::new(),
    }
}

/// Taking the credits back may not drive the balance below zero on any date: spending after the
/// death that relied on them is reversed first.
fn check_voided_balance(s: &Subject<'_>, voided: &[Event]) -> Result<(), Rejection> {
    let mut deltas = s.state.balance_by_date.clone();
    for e in voided {
        *deltas.entry(e.effective_date()).or_default() += e.balance_delta();
    }
    let mut running = Money::ZERO;
    for (day, delta) in deltas {
        running += delta;
        if running.is_negative() {
            let msg = format!(
                "the contributions and allocations for months after the death would leave the account at {running} on {day}: spending relied on them; reverse that spending first [R11]"
            );
            return Err(Rejection::new(ErrorCode::InsufficientBalance, msg));
        }
    }
    Ok(())
}
