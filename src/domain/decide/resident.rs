//! The resident scheme: yearly premiums, the payment window, waits and refunds. DOMAIN §4, §7, §11.

use chrono::{Datelike, Duration, NaiveDate};

use super::{alive_on, open_on, subject, Context, Decision, Subject};
use crate::domain::{Command, ErrorCode, Event, RefundReason, Rejection, Scheme};
use crate::money::Money;
use crate::month::{add_months, age_on, Month, YEAR_MAX, YEAR_MIN};

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
    let scheduled = check_schedule(&s, *coverage_year, *date, *personal, *subsidy)?;
    let (benefits_from, mut rule) = premium_benefits_from(&s, *coverage_year, *date)?;
    if let Some(scheduled) = scheduled {
        rule = format!("{scheduled}; {rule}");
    }
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

/// Where the region has a premium schedule, the amounts paid must be the coverage year's (the
/// schedule in force on its 1 January, wherever the window falls) for the member's age on the
/// payment date: the personal premium and the subsidy, or (a fully subsidised member) nothing
/// personal and the whole premium as subsidy. DOMAIN §11.
fn check_schedule(
    s: &Subject<'_>,
    year: i32,
    date: NaiveDate,
    personal: Money,
    subsidy: Money,
) -> Result<Option<String>, Rejection> {
    let Some(schedule) = NaiveDate::from_ymd_opt(year, 1, 1).and_then(|d| s.policy.premium(d))
    else {
        return Ok(None);
    };
    let p = schedule.value;
    let age = age_on(s.profile.birth_date, date);
    let (who, due) = if age >= p.adult_from_age {
        let Some(adult) = p.adult_personal else {
            let msg = format!(
                "the {} resident scheme is for members under {}; this member is {age} on {date} {}",
                s.profile.region, p.adult_from_age, schedule.source
            );
            return Err(Rejection::new(ErrorCode::WrongScheme, msg));
        };
        ("adult", adult)
    } else {
        ("minor", p.minor_personal)
    };
    let total = due + p.subsidy;
    if (personal, subsidy) == (due, p.subsidy) {
        return Ok(Some(format!(
            "{who} premium {due} + subsidy {} {}",
            p.subsidy, schedule.source
        )));
    }
    if personal.is_zero() && subsidy == total {
        return Ok(Some(format!(
            "fully subsidised {who}: subsidy {total} {}",
            schedule.source
        )));
    }
    let msg = format!(
        "a {who} ({age} on {date}) pays personal {due} with subsidy {}, or 0.00 with subsidy {total} when fully subsidised; not personal {personal} with subsidy {subsidy} {}",
        p.subsidy, schedule.source
    );
    Err(Rejection::invalid(msg))
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
    let late_newborn = r
        .late_newborn_from_payment_within_months
        .is_some_and(|m| date <= add_months(birth, m) && birth.year() >= year - 1);
    if late_newborn {
        let rule = format!(
            "newborn paid more than {} months after birth: covered from acceptance (the payment) {}",
            r.newborn_window_months, rules.source
        );
        return Ok((date, rule));
    }
    if let Some(months) = r.new_enrollee_wait_months {
        let from = Month::of(date).plus(months).first_day();
        let rule = format!(
            "paid outside the window: a late application, benefits from the first day of the month {months} months after the payment month {}",
            rules.source
        );
        return Ok((from, rule));
    }
    // Validation guarantees one of the two waits.
    let days = r.new_enrollee_wait_days.unwrap_or(0);
    let from = date + Duration::days(i64::from(days));
    let rule = format!(
        "paid outside the window: a new enrollee, benefits {days} days after payment {}",
        rules.source
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
