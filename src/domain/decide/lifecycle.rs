//! Enrolment, deemed months, suspension, transfers, retirement, lump sums and death.
//! DOMAIN §1, §3, §4, §5, §6, §9.

use chrono::NaiveDate;

use super::{
    alive_on, check_date, credit, employee_scheme, interest, not_before_last_event, not_retired,
    open_on, subject, Context, Decision, Subject,
};
use crate::domain::{
    coverage_on, Command, DeemedBasis, ErrorCode, Event, MemberId, MonthSpan, Rejection,
    RetirementCategory, Status, SurchargePaid, SuspendReason,
};
use crate::money::Money;
use crate::month::{add_months, Month};
use crate::terms::{Payer, Sex};

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
        paid_months,
        last_paid_month,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    open_on(&s, *date, "transfer date")?;
    let (paid_months, last_paid_month) =
        transferred_months(*date, *months, paid_months.as_deref(), *last_paid_month)?;
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
        paid_months,
        last_paid_month,
    };
    Ok(vec![(*member, event)])
}

/// R6: the origin's calendar months, expanded from months and ranges, each once, none after the
/// transfer's month and their number equal to `months`; and the origin's last paid month
/// (R2), no later than the transfer's month, the latest of the list when both are given.
fn transferred_months(
    date: NaiveDate,
    months: u32,
    spans: Option<&[MonthSpan]>,
    last_paid: Option<Month>,
) -> Result<(Vec<Month>, Option<Month>), Rejection> {
    let this_month = Month::of(date);
    if last_paid.is_some_and(|m| m > this_month) {
        return Err(Rejection::invalid(format!(
            "last_paid_month is after the transfer's month {this_month}"
        )));
    }
    let Some(spans) = spans else {
        return Ok((Vec::new(), last_paid));
    };
    let mut list = Vec::new();
    for span in spans {
        let length = span.from.months_until(span.to) + 1;
        let room =
            i64::from(MONTHS_PER_COMMAND_MAX) - i64::try_from(list.len()).unwrap_or(i64::MAX);
        if length > room {
            return Err(Rejection::invalid(format!(
                "paid_months name more than {MONTHS_PER_COMMAND_MAX} months"
            )));
        }
        let mut m = span.from;
        while m <= span.to {
            list.push(m);
            m = m.next();
        }
    }
    list.sort();
    if let Some(pair) = list.windows(2).find(|p| p[0] == p[1]) {
        return Err(Rejection::invalid(format!(
            "paid_months name {} twice; the origin counts each month once",
            pair[0]
        )));
    }
    let latest = list.last().copied();
    if latest.is_some_and(|m| m > this_month) {
        return Err(Rejection::invalid(format!(
            "paid_months go past the transfer's month {this_month}"
        )));
    }
    if u32::try_from(list.len()).ok() != Some(months) {
        return Err(Rejection::invalid(format!(
            "months {months} differs from the {} calendar months paid_months name [R6]",
            list.len()
        )));
    }
    if last_paid.is_some_and(|m| Some(m) != latest) {
        return Err(Rejection::invalid(
            "last_paid_month is not the latest of paid_months",
        ));
    }
    Ok((list, last_paid.or(latest)))
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
        months_deemed: s.state.months_deemed(),
        to_member,
    };
    decision.push((member, out));
    let Some(to) = to_member else {
        return Ok(decision);
    };
    receiving_account(ctx, &s, to, to_region, date)?;
    // Both sides in one decision, so in one append: the balance moves whole, to the fen, and the
    // months arrive as deemed months in the receiving region. DOMAIN §6 [000 Q28, Q35].
    // The sender's calendar months travel exactly (R6): the receiver counts each once.
    let paid_months: Vec<Month> = s.state.calendar_months().into_iter().collect();
    let arriving = Event::TransferredIn {
        date,
        from_region: s.profile.region.clone(),
        balance,
        months: s.state.months_total(),
        from_member: Some(member),
        last_paid_month: paid_months.last().copied(),
        paid_months,
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

pub(super) fn retire(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::Retire {
        member,
        date,
        category,
        early,
        ..
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let (member, date) = (*member, *date);
    let s = subject(ctx, member)?;
    open_on(&s, date, "retirement date")?;
    employee_scheme(&s, "retirement conversion")?;
    alive_on(&s, date, "retirement date")?;
    not_retired(&s, "retirement")?;
    let (statutory_on, reached_on) = retirement_age(&s, date, *category, *early)?;
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
    let (benefits_from, rule) = retired_benefits(&s, date, statutory_on.min(date), rules.value)?;
    let rule = format!("{rule} {}", rules.source);
    let event = Event::Retired {
        date,
        months_actual: s.state.months_actual(),
        months_deemed: s.state.months_deemed(),
        months_required_total: required_total,
        months_required_actual: required_actual,
        benefits_from,
        rule,
        age_reached_on: Some(reached_on),
    };
    Ok(vec![(member, event)])
}

/// R12: the day the member reaches the statutory age (by sex, category and birth month) and the
/// day the retirement needs (the earliest flexible early age with `early`); refused before it.
fn retirement_age(
    s: &Subject<'_>,
    date: NaiveDate,
    category: Option<RetirementCategory>,
    early: bool,
) -> Result<(NaiveDate, NaiveDate), Rejection> {
    let ages = s.policy.retirement_ages(date)?;
    let schedule = match (s.profile.sex, category) {
        (Sex::Male, None) => ages.value.male,
        (Sex::Male, Some(_)) => {
            return Err(Rejection::invalid(
                "category (female_worker, female_cadre) is for women",
            ))
        }
        (Sex::Female, None | Some(RetirementCategory::FemaleWorker)) => ages.value.female_worker,
        (Sex::Female, Some(RetirementCategory::FemaleCadre)) => ages.value.female_cadre,
    };
    let birth = s.profile.birth_date;
    let statutory_months = schedule.age_months(Month::of(birth));
    let needed_months = if early {
        statutory_months
            .saturating_sub(ages.value.early_months_max)
            .max(schedule.original_months)
    } else {
        statutory_months
    };
    // An age is reached on the birthday's day of the month (the month's last day when shorter).
    let on = |months: u32| birth.checked_add_months(chrono::Months::new(months));
    let (Some(statutory_on), Some(reached_on)) = (on(statutory_months), on(needed_months)) else {
        return Err(Rejection::invalid(
            "the statutory age falls outside the calendar",
        ));
    };
    if date < reached_on {
        let what = if early {
            "the earliest flexible early retirement age"
        } else {
            "the statutory retirement age"
        };
        let msg = format!(
            "retirement date {date} is before {what} of {} years {} months, reached on {reached_on} (statutory {} years {} months) {}",
            needed_months / 12,
            needed_months % 12,
            statutory_months / 12,
            statutory_months % 12,
            ages.source
        );
        return Err(Rejection::new(ErrorCode::BelowRetirementAge, msg));
    }
    Ok((statutory_on, reached_on))
}

/// Benefit continuity at conversion, counted from the day the member reached the statutory age
/// (or the conversion, retiring early). DOMAIN §5 [000 Q58], §12 R12.
fn retired_benefits(
    s: &Subject<'_>,
    date: NaiveDate,
    reference: NaiveDate,
    rules: crate::policy::RetirementRules,
) -> Result<(Option<NaiveDate>, String), Rejection> {
    let (window, wait) = (rules.continuity_window_months, rules.no_benefit_wait_months);
    let at_age = coverage_on(s.state, s.policy, reference)?;
    if at_age.status != Status::Active {
        let from = add_months(date, wait);
        return Ok((Some(from), format!("not enjoying benefits on {reference} (statutory age): benefits {wait} months after the conversion, from {from}")));
    }
    if date <= add_months(reference, window) {
        return Ok((at_age.benefits_from, format!("enjoying benefits on {reference} (statutory age) and converted within {window} months: continuous")));
    }
    let month_after = Month::of(date).next().first_day();
    Ok((Some(month_after), format!("converted more than {window} months after reaching the statutory age on {reference}: benefits from the month after conversion")))
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
        .employer_rate(month, crate::terms::EmployerClass::Enterprise)?;
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
