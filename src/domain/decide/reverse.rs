//! Corrections without deletion: a reversal appends a compensating event that cancels an
//! erroneous event's effects on money and months. The original stays in the log, shown as
//! reversed; the reversal takes effect on the original's effective date, so an as-of view treats
//! the error as never in force while an `--at` view still shows what the ledger said before.
//!
//! Refused: reversing twice, a reversal that would drive the balance below zero on any date (a
//! later spending relied on the credit), one that would take away months a retirement relied
//! on, a refunded payment (reverse the refund first), and types whose effects are not money or
//! months alone (enrolment, suspension, retirement, death, transfer out, inheritance).

use super::{subject, Context, Decision};
use crate::domain::{Contribution, ErrorCode, Event, Rejection, ReversalTarget};

/// Decides `reverse`: the compensating event, or why not.
pub(super) fn reverse(
    ctx: &Context<'_>,
    event_id: uuid::Uuid,
    reason: &str,
) -> Result<Decision, Rejection> {
    if reason.trim().is_empty() {
        return Err(Rejection::invalid(
            "a reversal needs a reason a clerk can read later",
        ));
    }
    let target = ctx
        .target
        .filter(|t| t.event_id == event_id)
        .ok_or_else(|| {
            Rejection::new(
                ErrorCode::UnknownEvent,
                format!("no event {event_id} in the log; give the event_id of a stored event"),
            )
        })?;
    let s = subject(ctx, target.member)?;
    if let Some(closed) = s.state.closed_on {
        return Err(Rejection::new(
            ErrorCode::AccountClosed,
            format!(
                "member {}'s account closed on {closed}; its events can no longer be reversed",
                target.member
            ),
        ));
    }
    if s.state.reversed.contains(&event_id) {
        return Err(Rejection::new(
            ErrorCode::AlreadyReversed,
            format!(
                "event {event_id} (position {}) is already reversed",
                target.position
            ),
        ));
    }
    check_reversible(s.state, target)?;
    check_balance(s.state, target)?;
    check_retirement(s.state, target)?;
    let reversal = Event::Reversed {
        date: target.event.effective_date(),
        event_id,
        position: target.position,
        reason: reason.trim().to_string(),
        original: Box::new(target.event.clone()),
    };
    Ok(vec![(target.member, reversal)])
}

fn not_reversible(target: &ReversalTarget, why: &str) -> Rejection {
    Rejection::new(
        ErrorCode::NotReversible,
        format!(
            "event {} ({} at position {}) cannot be reversed: {why}",
            target.event_id,
            target.event.type_name(),
            target.position
        ),
    )
}

/// Only events whose effects are money and months can be cancelled by a compensating event.
fn check_reversible(
    state: &crate::domain::MemberState,
    target: &ReversalTarget,
) -> Result<(), Rejection> {
    match &target.event {
        Event::ContributionPosted(c) => check_payment_on_record(state, target, c),
        Event::PremiumPaid { coverage_year, .. } => match state.coverage.get(coverage_year) {
            Some(c) if c.refunded => Err(not_reversible(
                target,
                "the premium was refunded since; reverse the refund first",
            )),
            Some(_) => Ok(()),
            None => Err(not_reversible(target, "the coverage year is not on record")),
        },
        Event::TransferredIn {
            from_member: Some(from),
            ..
        } => Err(not_reversible(
            target,
            &format!("it arrived from account {from} of this ledger in one transfer, which closed that account"),
        )),
        Event::DeemedRecognized { .. }
        | Event::TransferredIn { .. }
        | Event::RetireeAllocationCredited { .. }
        | Event::Spent { .. }
        | Event::LumpSumPaid { .. }
        | Event::ContributionRefunded { .. }
        | Event::PremiumRefunded { .. }
        | Event::InterestCredited { .. } => Ok(()),
        Event::PensionSet { .. }
        | Event::RelativeRegistered { .. }
        | Event::SurchargeCharged { .. } => Err(not_reversible(
            target,
            "it moves no money in the account; a pension is changed by set_pension",
        )),
        Event::Reversed { .. } => Err(not_reversible(
            target,
            "it is itself a reversal; post the original again instead",
        )),
        Event::StatementIssued { .. } => Err(not_reversible(
            target,
            "it records what the member was told; issue a corrected statement instead",
        )),
        Event::VoidedAfterDeath { .. } => Err(not_reversible(
            target,
            "it was decided with the death it follows from [R11]",
        )),
        Event::Enrolled { .. }
        | Event::Suspended { .. }
        | Event::TransferredOut { .. }
        | Event::Retired { .. }
        | Event::DeathRecorded { .. }
        | Event::InheritanceSettled { .. }
        | Event::InheritanceReceived { .. } => Err(not_reversible(
            target,
            "it changes the member's status, not only money and months",
        )),
    }
}

/// A contribution is reversed only while its payment is the one on record for the month, and
/// not refunded.
fn check_payment_on_record(
    state: &crate::domain::MemberState,
    target: &ReversalTarget,
    c: &Contribution,
) -> Result<(), Rejection> {
    let payment = state
        .months
        .get(&c.month)
        .and_then(|cover| cover.payment(c.payer));
    match payment {
        Some(p) if p.refunded => Err(not_reversible(
            target,
            "the payment was refunded since; reverse the refund first",
        )),
        Some(p) if p.posted == c.date && p.credit == c.account_credit => Ok(()),
        _ => Err(not_reversible(
            target,
            "a later payment replaced it for that month",
        )),
    }
}

/// Taking back a credit lowers the balance on every date from the credit's date on: it must fit
/// in the lowest balance from then on (a later spending may have used it).
fn check_balance(
    state: &crate::domain::MemberState,
    target: &ReversalTarget,
) -> Result<(), Rejection> {
    let taken_back = target.event.balance_delta();
    if !taken_back.is_positive() {
        return Ok(());
    }
    let date = target.event.effective_date();
    let lowest = state.balance_floor_from(date);
    if lowest >= taken_back {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::InsufficientBalance,
        format!(
            "reversing the credit of {taken_back} dated {date} would take the balance below zero \
             (the lowest balance since then is {lowest}: later spending relied on it); \
             reverse that spending first"
        ),
    ))
}

/// Months a retirement relied on cannot be taken away.
fn check_retirement(
    state: &crate::domain::MemberState,
    target: &ReversalTarget,
) -> Result<(), Rejection> {
    let (Some(retired_on), Some(required)) = (state.retired_on, state.retirement_required) else {
        return Ok(());
    };
    let mut after = state.clone();
    after.apply(&Event::Reversed {
        date: target.event.effective_date(),
        event_id: target.event_id,
        position: target.position,
        reason: String::new(),
        original: Box::new(target.event.clone()),
    });
    let meets = |s: &crate::domain::MemberState| {
        s.months_total() >= required.total && s.months_actual() >= required.actual
    };
    if meets(state) && !meets(&after) {
        return Err(Rejection::new(
            ErrorCode::InsufficientYears,
            format!(
                "the retirement on {retired_on} relied on these months: without them the member \
                 would have {} months ({} actual), short of the {} ({} actual) required",
                after.months_total(),
                after.months_actual(),
                required.total,
                required.actual
            ),
        ));
    }
    Ok(())
}
