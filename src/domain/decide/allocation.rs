//! Retirees' monthly allocations (a flat amount or a fraction of the pension, from the month the
//! policy says), their surcharges, and the pension they are computed from.
//! docs/RULES.md §2, §12 R4, R5.

use chrono::NaiveDate;

use super::{alive_on, credit, employee_scheme, open_on, subject, Context, Decision};
use crate::domain::{ErrorCode, Event, MemberId, MemberState, Rejection};
use crate::money::Money;
use crate::month::{age_on, Month};
use crate::terms::Tier;

/// Decides `credit_retiree_allocation`: one retiree's allocation (and surcharges), or every
/// retiree's for whom the month is allocatable.
pub(super) fn credit_retiree_allocation(
    ctx: &Context<'_>,
    month: Month,
    member: Option<MemberId>,
) -> Result<Decision, Rejection> {
    if let Some(member) = member {
        let s = subject(ctx, member)?;
        return allocation(ctx, s.state, month);
    }
    // Every retiree: those for whom the month is not allocatable (already credited, after death,
    // before the first allocated month, no pension recorded where the allocation needs one) are
    // skipped, so a rerun of the month credits only the missing ones.
    Ok(ctx
        .states
        .values()
        .filter(|s| s.retired_on.is_some())
        .filter_map(|s| allocation(ctx, s, month).ok())
        .flatten()
        .collect())
}

/// One retiree's allocation for `month`, followed by the retiree's surcharges for it (R5).
fn allocation(ctx: &Context<'_>, state: &MemberState, month: Month) -> Result<Decision, Rejection> {
    let s = subject(ctx, state.member)?;
    let Some(retired_on) = state.retired_on else {
        return Err(Rejection::new(
            ErrorCode::NotRetired,
            format!(
                "member {} has not retired; allocations are for retirees",
                state.member
            ),
        ));
    };
    if month.last_day() < retired_on {
        return Err(Rejection::invalid(format!(
            "{month} ends before the member retired on {retired_on}"
        )));
    }
    let (first, _) = s.policy.first_allocation_month(retired_on);
    if month < first {
        return Err(Rejection::invalid(format!(
            "allocations start with {first}, the month after the retirement on {retired_on} (allocation_starts: month_after) [R4]"
        )));
    }
    let date = month.first_day().max(retired_on);
    open_on(&s, date, "allocation date")?;
    alive_on(&s, month.first_day(), "allocation month starting")?;
    if state.allocations.contains(&month) {
        return Err(Rejection::new(
            ErrorCode::DuplicateMonth,
            format!("the allocation for {month} is already credited"),
        ));
    }
    if state.rules.tier == Tier::PoolOnly {
        return Err(Rejection::invalid(format!(
            "member {} is in the pool_only tier: no personal account to allocate to [R3]",
            state.member
        )));
    }
    let event = allocation_event(&s, month, date)?;
    let mut decision = vec![(state.member, event)];
    let (surcharges, rule) = credit::retiree_surcharges(&s, month);
    if !surcharges.is_empty() {
        let charged = Event::SurchargeCharged {
            month,
            date,
            surcharges,
            rule,
        };
        decision.push((state.member, charged));
    }
    Ok(decision)
}

/// The allocation for a month: the band at the age on the month's last day, a flat amount or
/// the pension in force that day × the band's rate, rounded half-up. R4.
fn allocation_event(
    s: &super::Subject<'_>,
    month: Month,
    date: NaiveDate,
) -> Result<Event, Rejection> {
    let age_day = month.last_day();
    let age = age_on(s.profile.birth_date, age_day);
    let (band, source) = s.policy.retiree_allocation(month, age)?;
    let (amount, pension, rule) = match (band.amount, band.pension_rate) {
        (_, Some(rate)) => {
            let Some(pension) = s.state.rules.pension_on(age_day) else {
                return Err(Rejection::invalid(format!(
                    "the allocation for {month} is {} of the retiree's pension, and none is recorded by {age_day}; give retire a pension or use set_pension [R4]",
                    rate.percent()
                )));
            };
            let amount = pension.times_rate(rate);
            let rule = format!(
                "retiree allocation {} of pension {pension} = {amount} at age {age} on {age_day} {source}",
                rate.percent()
            );
            (amount, Some((pension, rate)), rule)
        }
        (amount, None) => {
            let amount = amount.unwrap_or(Money::ZERO);
            let rule = format!("retiree allocation {amount} at age {age} on {age_day} {source}");
            (amount, None, rule)
        }
    };
    Ok(Event::RetireeAllocationCredited {
        month,
        date,
        age,
        amount,
        rule,
        age_on: Some(age_day),
        pension: pension.map(|(p, _)| p),
        pension_rate: pension.map(|(_, r)| r),
    })
}

/// A pension given to `retire`: recorded by a `pension_set` dated on the retirement, appended
/// after the `retired` event in the same write. R4.
pub(super) fn pension_at_retirement(
    member: MemberId,
    date: NaiveDate,
    pension: Option<Money>,
) -> Result<Decision, Rejection> {
    let Some(pension) = pension else {
        return Ok(Vec::new());
    };
    check_pension(pension)?;
    Ok(vec![(member, Event::PensionSet { date, pension })])
}

fn check_pension(pension: Money) -> Result<(), Rejection> {
    if pension.is_positive() {
        Ok(())
    } else {
        Err(Rejection::invalid(format!(
            "pension {pension} must be positive"
        )))
    }
}

/// Decides `set_pension`: a retiree's pension from `date` on. Refused when an allocation already
/// credited for a month ending on or after `date` was computed from the pension (reverse those
/// allocations first, or date the change after them). R4.
pub(super) fn set_pension(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
    pension: Money,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "pension date")?;
    employee_scheme(&s, "a pension")?;
    alive_on(&s, date, "pension date")?;
    check_pension(pension)?;
    let Some(retired_on) = s.state.retired_on else {
        return Err(Rejection::new(
            ErrorCode::NotRetired,
            format!("member {member} has not retired; a pension is a retiree's"),
        ));
    };
    if date < retired_on {
        return Err(Rejection::invalid(format!(
            "pension date {date} is before the retirement on {retired_on}"
        )));
    }
    let relied_on = s.state.allocations.iter().find(|m| {
        m.last_day() >= date
            && s.policy
                .retiree_allocation(**m, age_on(s.profile.birth_date, m.last_day()))
                .is_ok_and(|(band, _)| band.pension_rate.is_some())
    });
    if let Some(month) = relied_on {
        return Err(Rejection::invalid(format!(
            "the allocation for {month} was computed from the pension in force then; date the change after {} or reverse that allocation first [R4]",
            month.last_day()
        )));
    }
    Ok(vec![(member, Event::PensionSet { date, pension })])
}
