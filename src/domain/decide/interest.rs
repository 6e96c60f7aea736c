//! Crediting interest: a year's at its end (`credit_interest`, for one member or every member),
//! and the part year's when an account closes (inside the closing append). docs/RULES.md §12 R8.
//!
//! The interest of year Y is dated 31 December of Y. Years are credited in order: while the
//! year before has interest due and not credited, a year is refused (one member) or skipped
//! (every member), since its carried-over part starts from a balance that interest is part of.

use chrono::{Datelike, NaiveDate};

use super::{employee_scheme, subject, Context, Decision, Subject};
use crate::domain::accrual::{accrue, Accrual};
use crate::domain::{ErrorCode, Event, MemberId, MemberState, Rejection};
use crate::money::{Money, MONEY_YUAN_MAX};
use crate::month::{YEAR_MAX, YEAR_MIN};
use crate::terms::Scheme;

/// Decides `credit_interest` for `year`: one member's, or every open employee account's for
/// which the year is due (others are skipped, so a rerun credits only the missing ones).
pub(super) fn credit_interest(
    ctx: &Context<'_>,
    year: i32,
    member: Option<MemberId>,
) -> Result<Decision, Rejection> {
    if !(YEAR_MIN..YEAR_MAX).contains(&year) {
        return Err(Rejection::invalid(format!(
            "year {year} is outside {YEAR_MIN}..{YEAR_MAX}"
        )));
    }
    if let Some(member) = member {
        let s = subject(ctx, member)?;
        return year_credit(&s, year);
    }
    let mut decision = Vec::new();
    for state in ctx.states.values() {
        let employee = state
            .profile
            .as_ref()
            .is_some_and(|p| p.scheme == Scheme::Employee);
        if !employee || state.closed_on.is_some() {
            continue;
        }
        if let Ok(events) = subject(ctx, state.member).and_then(|s| year_credit(&s, year)) {
            decision.extend(events);
        }
    }
    Ok(decision)
}

/// One member's interest for a whole year, dated 31 December; nothing when it is zero.
fn year_credit(s: &Subject<'_>, year: i32) -> Result<Decision, Rejection> {
    employee_scheme(s, "interest on a personal account")?;
    if let Some(closed) = s.state.closed_on {
        return Err(Rejection::new(
            ErrorCode::AccountClosed,
            format!("the account closed on {closed}; its interest was credited then"),
        ));
    }
    let last_day = year_end(year)?;
    if s.state.rules.interest_years.contains(&year) {
        return Err(Rejection::new(
            ErrorCode::DuplicateMonth,
            format!("the interest for {year} is already credited"),
        ));
    }
    if last_day < s.profile.enrolled_on {
        return Err(Rejection::invalid(format!(
            "the member enrolled on {}, after {year}",
            s.profile.enrolled_on
        )));
    }
    if s.policy.interest_on(last_day).is_none() {
        return Err(Rejection::new(
            ErrorCode::PolicyMissing,
            format!(
                "region {} pays no interest in {year}: its policy has no interest rates by then",
                s.profile.region
            ),
        ));
    }
    if let Some(due) = uncredited(s.state, s, year - 1) {
        return Err(Rejection::invalid(format!(
            "the interest for {} ({due}) is not credited yet; credit it first: {year}'s carried-over part starts from the balance that includes it",
            year - 1
        )));
    }
    let Some(accrual) = accrue(s.state, s.policy, year, last_day) else {
        return Ok(Vec::new());
    };
    within_bound(s.state, accrual.amount)?;
    Ok(event(s, year, last_day, last_day, accrual)
        .map(|e| vec![(s.state.member, e)])
        .unwrap_or_default())
}

/// Interest that would take the account's sums beyond what the ledger holds is refused
/// `amount_out_of_range` here, in the decision, so that the run for every member skips that
/// account alone instead of failing whole.
fn within_bound(state: &MemberState, amount: Money) -> Result<(), Rejection> {
    if state.largest_amount() + amount <= Money::yuan(MONEY_YUAN_MAX) {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::AmountOutOfRange,
        format!(
            "interest of {amount} would take member {}'s account beyond the {MONEY_YUAN_MAX} yuan the ledger holds",
            state.member
        ),
    ))
}

/// The interest of a year that is due (positive) and not yet credited.
fn uncredited(state: &MemberState, s: &Subject<'_>, year: i32) -> Option<Money> {
    if year < YEAR_MIN || state.rules.interest_years.contains(&year) {
        return None;
    }
    let accrual = accrue(state, s.policy, year, year_end(year).ok()?)?;
    accrual.amount.is_positive().then_some(accrual.amount)
}

/// The interest credited when the account closes on `date` (transfer out, inheritance), in the
/// closing append before the closing event: the year before's if due and not yet credited
/// (dated 31 December), and the part year to the day before `date` (the money leaves that
/// day), dated `date`. Returns the events and their sum, which the closing moves too.
pub(super) fn at_closing(
    s: &Subject<'_>,
    date: NaiveDate,
) -> Result<(Vec<Event>, Money), Rejection> {
    if s.policy.interest.is_empty() {
        return Ok((Vec::new(), Money::ZERO));
    }
    let mut state = s.state.clone();
    let mut events = Vec::new();
    let previous = date.year() - 1;
    if let Some(end) = year_end(previous)
        .ok()
        .filter(|_| uncredited(&state, s, previous).is_some())
    {
        if let Some(e) =
            accrue(&state, s.policy, previous, end).and_then(|a| event(s, previous, end, end, a))
        {
            state.apply(&e);
            events.push(e);
        }
    }
    let through = date.pred_opt().filter(|d| d.year() == date.year());
    if let Some(through) = through.filter(|_| !state.rules.interest_years.contains(&date.year())) {
        if let Some(e) = accrue(&state, s.policy, date.year(), through)
            .and_then(|a| event(s, date.year(), date, through, a))
        {
            events.push(e);
        }
    }
    let total = events.iter().map(Event::balance_delta).sum();
    Ok((events, total))
}

/// The `interest_credited` event of an accrual, or nothing when the interest is zero.
fn event(
    s: &Subject<'_>,
    year: i32,
    date: NaiveDate,
    through: NaiveDate,
    accrual: Accrual,
) -> Option<Event> {
    if !accrual.amount.is_positive() {
        return None;
    }
    let parts: Vec<String> = accrual
        .periods
        .iter()
        .map(|p| {
            format!(
                "{}..{}: carried {} yuan-days × {} + current {} yuan-days × {}",
                p.from,
                p.to,
                p.carried_yuan_days,
                p.carried_rate.percent(),
                p.current_yuan_days,
                p.current_rate.percent()
            )
        })
        .collect();
    let source = s
        .policy
        .interest_on(through)
        .map_or_else(String::new, |(_, e)| e.source.clone());
    let rule = format!(
        "interest {year} through {through} on opening balance {}: {}; ÷ 360, rounded once = {} [R8] {source}",
        accrual.opening,
        parts.join("; "),
        accrual.amount
    );
    Some(Event::InterestCredited {
        year,
        date,
        opening_balance: accrual.opening,
        through,
        periods: accrual.periods,
        amount: accrual.amount,
        rule,
    })
}

fn year_end(year: i32) -> Result<NaiveDate, Rejection> {
    NaiveDate::from_ymd_opt(year, 12, 31)
        .ok_or_else(|| Rejection::invalid(format!("year {year} has no 31 December")))
}
