//! Enrolment, deemed months and suspension: how a member enters the ledger and stops paying.
//! docs/RULES.md §1, §3, §4.

use chrono::NaiveDate;

use super::{
    alive_on, check_date, credit, employee_scheme, not_retired, open_on, subject, Context, Decision,
};
use crate::domain::{Command, DeemedBasis, ErrorCode, Event, MemberId, Rejection, SuspendReason};

/// Most months one command may add: 100 years.
pub(super) const MONTHS_PER_COMMAND_MAX: u32 = 1200;

/// A count of months one command adds: at least one, at most [`MONTHS_PER_COMMAND_MAX`].
pub(super) fn months_in_range(months: u32, what: &str) -> Result<(), Rejection> {
    if months == 0 || months > MONTHS_PER_COMMAND_MAX {
        return Err(Rejection::invalid(format!(
            "{what} must be between 1 and {MONTHS_PER_COMMAND_MAX} months, got {months}"
        )));
    }
    Ok(())
}

pub(super) fn enroll(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::Enroll {
        member,
        region,
        scheme,
        sex,
        birth_date,
        date,
        tier,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    if ctx.states.get(member).is_some_and(|s| s.is_known()) {
        return Err(Rejection::new(
            ErrorCode::AlreadyEnrolled,
            format!("member {member} is already enrolled"),
        ));
    }
    let Some(policy) = ctx.policies.region(region) else {
        let known: Vec<&str> = ctx.policies.region_names().collect();
        let msg = format!(
            "region '{region}' has no policy in this ledger; known: {}",
            known.join(", ")
        );
        return Err(Rejection::new(ErrorCode::UnknownRegion, msg));
    };
    if !policy.offers(*scheme) {
        let msg = format!(
            "region '{region}' has no {} scheme in this ledger's policy (it offers: {})",
            scheme.as_str(),
            policy
                .schemes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(Rejection::new(ErrorCode::WrongScheme, msg));
    }
    check_date(*birth_date, "birth date")?;
    check_date(*date, "enrolment date")?;
    let tier = tier.unwrap_or_default();
    credit::check_tier(policy, *scheme, tier, *date)?;
    if date < birth_date {
        return Err(Rejection::invalid(format!(
            "enrolment date {date} is before the birth date {birth_date}"
        )));
    }
    let event = Event::Enrolled {
        region: region.clone(),
        scheme: *scheme,
        sex: *sex,
        birth_date: *birth_date,
        date: *date,
        tier,
    };
    Ok(vec![(*member, event)])
}

pub(super) fn recognize_deemed(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
    months: u32,
    basis: DeemedBasis,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "recognition date")?;
    employee_scheme(&s, "deemed months")?;
    alive_on(&s, date, "recognition date")?;
    not_retired(
        &s,
        "recognising months (the years were settled at retirement)",
    )?;
    months_in_range(months, "deemed months")?;
    Ok(vec![(
        member,
        Event::DeemedRecognized {
            date,
            months,
            basis,
        },
    )])
}

pub(super) fn suspend(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
    reason: SuspendReason,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "suspension date")?;
    alive_on(&s, date, "suspension date")?;
    not_retired(&s, "suspension")?;
    if let Some(since) = s.state.suspended {
        return Err(Rejection::new(
            ErrorCode::AlreadySuspended,
            format!("the member is already suspended since {}", since.date),
        ));
    }
    Ok(vec![(member, Event::Suspended { date, reason })])
}
