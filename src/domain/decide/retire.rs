//! Retirement: the statutory age, the months a retirement needs, benefit continuity at
//! conversion, and the lump sum that pays a shortfall. docs/RULES.md §5, §12 R12.

use chrono::NaiveDate;

use super::lifecycle::months_in_range;
use super::{alive_on, employee_scheme, not_retired, open_on, subject, Context, Decision, Subject};
use crate::domain::{
    coverage_on, Command, ErrorCode, Event, MemberId, Rejection, RetirementCategory, Status,
};
use crate::month::{add_months, Month};
use crate::terms::{EmployerClass, Sex};

/// Months short of retirement: the larger of the total and the actual-local shortfalls.
/// docs/RULES.md §5.
fn shortfall(s: &Subject<'_>, date: NaiveDate) -> Result<(u32, u32, u32), Rejection> {
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
/// (or the conversion, retiring early). docs/RULES.md §5 [000 Q58], §12 R12.
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
    let (employer_rate, _) = s.policy.employer_rate(month, EmployerClass::Enterprise)?;
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
