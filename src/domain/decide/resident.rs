//! The resident scheme: yearly premiums, the payment window, waits and refunds. DOMAIN §4, §7, §11.

use chrono::{Datelike, Duration, NaiveDate};

use super::{alive_on, open_on, subject, Context, Decision, Subject};
use crate::domain::{Command, ErrorCode, Event, RefundReason, Rejection, Scheme};
use crate::month::{add_months, YEAR_MAX, YEAR_MIN};

pub(super) fn pay_premium(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::PayPremium {
        member,
        coverage_year,
        personal,
        subsidy,
        date,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    open_on(&s, *date, "payment date")?;
    if s.profile.scheme != Scheme::Resident {
        return Err(Rejection::new(
            ErrorCode::WrongScheme,
            "premiums are for the resident scheme; this member is in the employee scheme",
        ));
    }
    alive_on(&s, *date, "payment date")?;
    if !(YEAR_MIN..=YEAR_MAX).contains(coverage_year) {
        return Err(Rejection::invalid(format!(
            "coverage year {coverage_year} is out of range"
        )));
    }
    if *coverage_year < date.year() {
        return Err(Rejection::invalid(format!(
            "coverage year {coverage_year} ended before the payment on {date}"
        )));
    }
    if personal.is_negative() || subsidy.is_negative() || !(*personal + *subsidy).is_positive() {
        return Err(Rejection::invalid(
            "personal and subsidy must not be negative, and the premium must be positive",
        ));
    }
    if s.state
        .coverage
        .get(coverage_year)
        .is_some_and(|c| !c.refunded)
    {
        return Err(Rejection::new(
            ErrorCode::DuplicateMonth,
            format!("coverage year {coverage_year} is already paid"),
        ));
    }
    let (benefits_from, rule) = premium_benefits_from(&s, *coverage_year, *date)?;
    let event = Event::PremiumPaid {
        coverage_year: *coverage_year,
        date: *date,
        personal: *personal,
        subsidy: *subsidy,
        benefits_from,
        rule,
    };
    Ok(vec![(*member, event)])
}

/// When a paid coverage year's benefits start: the year's first day when paid in the window (or
/// earlier); a newborn within its window from birth; otherwise 180 days after payment.
fn premium_benefits_from(
    s: &Subject<'_>,
    year: i32,
    date: NaiveDate,
) -> Result<(NaiveDate, String), Rejection> {
    let rules = s.policy.resident(date)?;
    let r = rules.value;
    let year_start = NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| Rejection::invalid("bad coverage year"))?;
    let birth = s.profile.birth_date;
    let newborn = date <= add_months(birth, r.newborn_window_months) && birth.year() >= year - 1;
    if newborn && r.newborn_covered_from_birth {
        let rule = format!(
            "newborn paid within {} months of birth: covered from birth {}",
            r.newborn_window_months, rules.source
        );
        return Ok((birth, rule));
    }
    if date < year_start {
        let rule = format!(
            "paid before {year} began (window months {}-{}): benefits from 1 January {}",
            r.window_first_month, r.window_last_month, rules.source
        );
        return Ok((year_start, rule));
    }
    let from = date + Duration::days(i64::from(r.new_enrollee_wait_days));
    let rule = format!(
        "paid outside the window: a new enrollee, benefits {} days after payment {}",
        r.new_enrollee_wait_days, rules.source
    );
    Ok((from, rule))
}

pub(super) fn refund_premium(
    s: &Subject<'_>,
    date: NaiveDate,
    reason: RefundReason,
    year: i32,
) -> Result<Decision, Rejection> {
    let Some(coverage) = s.state.coverage.get(&year).filter(|c| !c.refunded) else {
        return Err(Rejection::new(
            ErrorCode::RefundNotAllowed,
            format!("coverage year {year} has no paid premium to refund"),
        ));
    };
    let started = NaiveDate::from_ymd_opt(year, 1, 1).is_some_and(|d| date >= d);
    let allowed = match reason {
        RefundReason::Error => true,
        RefundReason::HukouMoved
        | RefundReason::Emigration
        | RefundReason::Death
        | RefundReason::Employed => !started,
        _ => false,
    };
    if !allowed {
        let msg = if started && reason != RefundReason::Duplicate {
            format!("the benefit year {year} has begun: no refunds and no changes [000 Q31]")
        } else {
            format!("reason {reason:?} does not allow a resident refund; allowed: hukou_moved, emigration, death, employed, or error [000 Q31]")
        };
        return Err(Rejection::new(ErrorCode::RefundNotAllowed, msg));
    }
    let event = Event::PremiumRefunded {
        date,
        reason,
        coverage_year: year,
        amount: coverage.personal,
    };
    Ok(vec![(s.state.member, event)])
}
