//! Refunds of contributions (employee scheme) and premiums (resident scheme). docs/RULES.md §7.

use chrono::NaiveDate;

use super::{open_on, resident, subject, Context, Decision, Subject};
use crate::domain::{
    coverage_on, Command, ErrorCode, Event, RefundMonths, RefundReason, RefundedPayment, Rejection,
};
use crate::money::Money;
use crate::month::Month;
use crate::terms::{Payer, Scheme};

/// Most months one refund may name.
pub const REFUND_MONTHS_MAX: usize = 600;

pub(super) fn refund(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::Refund {
        member,
        date,
        reason,
        months,
        coverage_year,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    open_on(&s, *date, "refund date")?;
    if s.profile.scheme == Scheme::Resident {
        let year = coverage_year
            .ok_or_else(|| Rejection::invalid("a resident refund names its coverage_year"))?;
        return resident::refund_premium(&s, *date, *reason, year);
    }
    let months = months
        .as_ref()
        .ok_or_else(|| Rejection::invalid("an employee-scheme refund names its months"))?;
    let months = resolve_months(&s, *date, *reason, months)?;
    let mut payments = Vec::with_capacity(months.len());
    for month in months {
        payments.push(refund_one(&s, *date, *reason, month)?);
    }
    let amount = payments.iter().map(|p| p.amount).sum();
    Ok(vec![(
        *member,
        Event::ContributionRefunded {
            date: *date,
            reason: *reason,
            payments,
            amount,
        },
    )])
}

fn resolve_months(
    s: &Subject<'_>,
    date: NaiveDate,
    reason: RefundReason,
    months: &RefundMonths,
) -> Result<Vec<Month>, Rejection> {
    let list = match months {
        RefundMonths::List(list) => list.clone(),
        RefundMonths::One(month) => vec![*month],
        RefundMonths::Count(n) => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            let eligible: Vec<Month> = s
                .state
                .months
                .keys()
                .rev()
                .filter(|m| refund_one(s, date, reason, **m).is_ok())
                .take(n)
                .copied()
                .collect();
            if eligible.len() < n {
                let msg = format!(
                    "only {} months are refundable for reason {reason:?}, not {n}",
                    eligible.len()
                );
                return Err(Rejection::new(ErrorCode::RefundNotAllowed, msg));
            }
            eligible
        }
    };
    if list.is_empty() || list.len() > REFUND_MONTHS_MAX {
        return Err(Rejection::invalid(format!(
            "a refund names between 1 and {REFUND_MONTHS_MAX} months"
        )));
    }
    let mut sorted = list.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != list.len() {
        return Err(Rejection::invalid("a month is named twice in the refund"));
    }
    Ok(sorted)
}

/// One month's refund: which payment, how much, and whether the rules allow it.
fn refund_one(
    s: &Subject<'_>,
    date: NaiveDate,
    reason: RefundReason,
    month: Month,
) -> Result<RefundedPayment, Rejection> {
    let cover = s.state.months.get(&month).copied().unwrap_or_default();
    let not_allowed = |why: String| Err(Rejection::new(ErrorCode::RefundNotAllowed, why));
    let payer = match reason {
        RefundReason::Duplicate => {
            if !(cover.paid_by(Payer::Employer) && cover.paid_by(Payer::Individual)) {
                return not_allowed(format!("{month} was not paid by both the employer and the member; only duplicates are refunded [000 Q56]"));
            }
            if let Some(used) = use_in_overlap_from(s, month) {
                return not_allowed(format!("benefits were used on {used}, inside the overlap in {month} or a later month of it: {month} is not refunded [R13, 000 Q56]"));
            }
            Payer::Individual
        }
        // An error follows the window of the other reasons (§7): none once benefits began;
        // before that, the member's payment, else the employer's declaration.
        RefundReason::Error => {
            let payer = if cover.paid_by(Payer::Individual) {
                Payer::Individual
            } else if cover.paid_by(Payer::Employer) {
                Payer::Employer
            } else {
                return not_allowed(format!("{month} has no payment to refund"));
            };
            if let Some(from) = benefits_began(s, date)? {
                return not_allowed(format!("the benefit period began on {from}; an error is corrected, not refunded, once it has begun [§7, 000 Q31, Q56]"));
            }
            payer
        }
        _ => {
            if !cover.paid_by(Payer::Individual) {
                return not_allowed(format!("{month} has no payment by the member; employer declarations are refunded only for errors"));
            }
            if let Some(from) = benefits_began(s, date)? {
                return not_allowed(format!("the benefit period began on {from}; an individual's contributions are no longer refunded [000 Q56]"));
            }
            Payer::Individual
        }
    };
    let Some(payment) = cover.payment(payer).copied() else {
        return not_allowed(format!("{month} has no payment to refund"));
    };
    let other = match payer {
        Payer::Employer => Payer::Individual,
        Payer::Individual => Payer::Employer,
    };
    // Duplicate refund = own contribution − what it credited to the account [nat 2021-43]; the
    // credit stays in the account, so a refund never moves the balance.
    let amount: Money = payment.paid() - payment.credit;
    Ok(RefundedPayment {
        month,
        payer,
        paid: payment.paid(),
        credited: payment.credit,
        amount,
        month_still_counts: cover.paid_by(other),
    })
}

/// The first day of the benefit period in force on `date`, when it has begun by then.
fn benefits_began(s: &Subject<'_>, date: NaiveDate) -> Result<Option<NaiveDate>, Rejection> {
    Ok(coverage_on(s.state, s.policy, date)?
        .benefits_from
        .filter(|from| *from <= date))
}

/// R13: a day the member used benefits inside the overlap (a month paid by both the employer and
/// the member) falling in `month` or a later month of the overlap, if any.
fn use_in_overlap_from(s: &Subject<'_>, month: Month) -> Option<NaiveDate> {
    let in_overlap = |m: &Month| {
        s.state
            .months
            .get(m)
            .is_some_and(|c| c.paid_by(Payer::Employer) && c.paid_by(Payer::Individual))
    };
    s.state
        .benefit_use_days
        .range(month.first_day()..)
        .map(|(day, _)| *day)
        .find(|day| in_overlap(&Month::of(*day)))
}
