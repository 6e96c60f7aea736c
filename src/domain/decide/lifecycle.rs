//! Enrolment, deemed months, suspension, transfers, retirement, lump sums and death.
//! DOMAIN §1, §3, §4, §5, §6, §9.

use chrono::NaiveDate;

use super::{
    alive_on, check_date, credit, employee_scheme, interest, not_before_last_event, not_retired,
    open_on, subject, Context, Decision, Subject,
};
use crate::domain::{
    Command, DeemedBasis, ErrorCode, Event, MemberId, Rejection, Sex, SuspendReason,
};
use crate::month::{add_months, Month};

/// Most months one command may add: 100 years.
pub const MONTHS_PER_COMMAND_MAX: u32 = 1200;

fn months_in_range(months: u32, what: &str) -> Result<(), Rejection> {
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

pub(super) fn transfer_in(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::TransferIn {
        member,
        date,
        from_region,
        balance,
        months,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    open_on(&s, *date, "transfer date")?;
    employee_scheme(&s, "a transfer of a personal account")?;
    alive_on(&s, *date, "transfer date")?;
    not_retired(&s, "a transfer in")?;
    if balance.is_negative() {
        return Err(Rejection::invalid(format!(
            "transferred balance {balance} must not be negative"
        )));
    }
    if *months > MONTHS_PER_COMMAND_MAX {
        return Err(Rejection::invalid(format!(
            "transferred months {months} exceed {MONTHS_PER_COMMAND_MAX}"
        )));
    }
    if from_region.trim().is_empty() {
        return Err(Rejection::invalid(
            "from_region must name the region the member comes from",
        ));
    }
    let event = Event::TransferredIn {
        date: *date,
        from_region: from_region.clone(),
        balance: *balance,
        months: *months,
        from_member: None,
    };
    Ok(vec![(*member, event)])
}

pub(super) fn transfer_out(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
    to_region: &str,
    to_member: Option<MemberId>,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "transfer date")?;
    employee_scheme(&s, "a transfer of a personal account")?;
    alive_on(&s, date, "transfer date")?;
    not_retired(&s, "a transfer out [nat 2021-43]")?;
    if s.state.suspended.is_none() {
        let msg = "suspend the member first (reason transfer_out); the balance leaves only after contributions stop [000 Q35]";
        return Err(Rejection::new(ErrorCode::NotSuspended, msg));
    }
    not_before_last_event(&s, date, "transfer date")?;
    if to_region.trim().is_empty() {
        return Err(Rejection::invalid(
            "to_region must name the receiving region",
        ));
    }
    // R8: the interest up to the closing is credited in the same append and leaves with it.
    let (interest, interest_total) = interest::at_closing(&s, date)?;
    let balance = s.state.balance + interest_total;
    let mut decision: Decision = interest.into_iter().map(|e| (member, e)).collect();
    let out = Event::TransferredOut {
        date,
        to_region: to_region.to_string(),
        balance,
        months_actual: s.state.months_actual(),
        months_deemed: s.state.months_deemed,
        to_member,
    };
    decision.push((member, out));
    let Some(to) = to_member else {
        return Ok(decision);
    };
    receiving_account(ctx, &s, to, to_region, date)?;
    // Both sides in one decision, so in one append: the balance moves whole, to the fen, and the
    // months arrive as deemed months in the receiving region. DOMAIN §6 [000 Q28, Q35].
    let arriving = Event::TransferredIn {
        date,
        from_region: s.profile.region.clone(),
        balance,
        months: s.state.months_total(),
        from_member: Some(member),
    };
    decision.push((to, arriving));
    Ok(decision)
}

/// The member's account in the receiving region of an in-ledger transfer: enrolled there, in the
/// employee scheme, open, alive and not retired on the transfer date.
fn receiving_account(
    ctx: &Context<'_>,
    from: &Subject<'_>,
    to: MemberId,
    to_region: &str,
    date: NaiveDate,
) -> Result<(), Rejection> {
    if to == from.state.member {
        return Err(Rejection::invalid(
            "to_member is the transferring account itself; name the member's account in the receiving region",
        ));
    }
    let r = subject(ctx, to)?;
    if r.profile.region != to_region {
        let msg = format!(
            "to_member {to} is enrolled in {}, not in to_region {to_region}",
            r.profile.region
        );
        return Err(Rejection::invalid(msg));
    }
    if r.profile.region == from.profile.region {
        let msg = format!("both accounts are in {to_region}: a transfer goes to another region");
        return Err(Rejection::invalid(msg));
    }
    open_on(&r, date, "transfer date (receiving account)")?;
    employee_scheme(&r, "receiving a personal account")?;
    alive_on(&r, date, "transfer date (receiving account)")?;
    not_retired(&r, "receiving a transfer")?;
    Ok(())
}

/// Months short of retirement: the larger of the total and the actual-local shortfalls. DOMAIN §5.
pub(super) fn shortfall(s: &Subject<'_>, date: NaiveDate) -> Result<(u32, u32, u32), Rejection> {
    let rules = s.policy.retirement(date)?;
    let required_total = match s.profile.sex {
        Sex::Male => rules.value.months_total_male,
        Sex::Female => rules.value.months_total_female,
    };
    let required_actual = rules.value.months_actual_min;
    let short_total = required_total.saturating_sub(s.state.months_total());
    let short_actual = required_actual.saturating_sub(s.state.months_actual());
    Ok((
        short_total.max(short_actual),
        required_total,
        required_actual,
    ))
}

pub(super) fn retire(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "retirement date")?;
    employee_scheme(&s, "retirement conversion")?;
    alive_on(&s, date, "retirement date")?;
    not_retired(&s, "retirement")?;
    let (short, required_total, required_actual) = shortfall(&s, date)?;
    if short > 0 {
        let msg = format!(
            "{short} months short: total {} of {required_total}, actual local {} of {required_actual}; pay a lump_sum_makeup of {short} months or defer retirement [000 Q58]",
            s.state.months_total(),
            s.state.months_actual()
        );
        return Err(Rejection::new(ErrorCode::InsufficientYears, msg));
    }
    let rules = s.policy.retirement(date)?;
    let (benefits_from, rule) = retired_benefits(
        &s,
        date,
        rules.value.continuity_window_months,
        rules.value.no_benefit_wait_months,
    );
    let rule = format!("{rule} {}", rules.source);
    let event = Event::Retired {
        date,
        months_actual: s.state.months_actual(),
        months_deemed: s.state.months_deemed,
        months_required_total: required_total,
        months_required_actual: required_actual,
        benefits_from,
        rule,
    };
    Ok(vec![(member, event)])
}

/// Benefit continuity at conversion. DOMAIN §5 [000 Q58].
fn retired_benefits(
    s: &Subject<'_>,
    date: NaiveDate,
    window_months: u32,
    wait_months: u32,
) -> (Option<NaiveDate>, String) {
    let month_after = Month::of(date).next().first_day();
    let enjoying =
        |on: NaiveDate| s.state.waiting.is_none() && s.state.benefits_from.is_some_and(|d| d <= on);
    match s.state.suspended {
        None if enjoying(date) => (s.state.benefits_from, "enjoying benefits at conversion: continuous".to_string()),
        Some(gap) if gap.had_benefits && add_months(gap.date, window_months) >= date => {
            (s.state.benefits_from, format!("converted within {window_months} months of leaving work while enjoying benefits: continuous"))
        }
        Some(gap) if gap.had_benefits => {
            (Some(month_after), format!("converted more than {window_months} months after leaving work: benefits from the month after conversion"))
        }
        _ => {
            let from = Month::of(date).plus(wait_months + 1).first_day();
            (Some(from), format!("not enjoying benefits at conversion: benefits after {wait_months} months"))
        }
    }
}

pub(super) fn lump_sum_makeup(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
    months: u32,
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "payment date")?;
    employee_scheme(&s, "a lump-sum makeup")?;
    alive_on(&s, date, "payment date")?;
    not_retired(
        &s,
        "a lump-sum makeup (the years were settled at retirement)",
    )?;
    months_in_range(months, "lump-sum months")?;
    let (short, _, _) = shortfall(&s, date)?;
    if months > short {
        let msg = format!("a lump sum pays a retirement shortfall; the member is {short} months short, not {months}");
        return Err(Rejection::invalid(msg));
    }
    let base = s.policy.makeup_base(date)?;
    let month = Month::of(date);
    let (employer_rate, _) = s
        .policy
        .employer_rate(month, crate::domain::EmployerClass::Enterprise)?;
    let (employee_rate, _) = s.policy.employee_rate(month)?;
    let rate = employer_rate.plus(employee_rate);
    let amount = base.value.times(months).times_rate(rate);
    let rule = format!(
        "{months} months × makeup base {} {} × {} (employer + employee) [000 Q58]",
        base.value,
        base.source,
        rate.percent()
    );
    Ok(vec![(
        member,
        Event::LumpSumPaid {
            date,
            months,
            makeup_base: base.value,
            rate,
            amount,
            rule,
        },
    )])
}

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
    Ok(vec![(member, Event::DeathRecorded { date })])
}
