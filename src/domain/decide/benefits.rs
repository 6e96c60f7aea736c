//! When benefits apply after a contribution: the 90-day rule and the 6-month wait. DOMAIN §4.

use chrono::NaiveDate;

use super::Subject;
use crate::domain::{BenefitChange, Payer, Rejection};
use crate::month::{days_between, Month};

/// The benefit change a counted contribution for `month`, posted on `date`, brings, if any.
pub(super) fn after_contribution(
    s: &Subject<'_>,
    month: Month,
    date: NaiveDate,
    payer: Payer,
) -> Result<Option<BenefitChange>, Rejection> {
    let state = s.state;
    if state.died_on.is_some() {
        return Ok(None);
    }
    let rejoin = s.policy.rejoin(date)?;
    let (window_days, waiting_months) = (rejoin.value.window_days, rejoin.value.waiting_months);
    let src = &rejoin.source;
    if let Some(suspension) = state.suspended {
        if month.first_day() < suspension.date {
            return Ok(None); // a makeup of a month before the gap, not a resumption
        }
        let days = days_between(suspension.date, date);
        return Ok(Some(match payer {
            Payer::Employer => starts(month.first_day(), format!("new employer's declaration for {month} {src}")),
            Payer::Individual if days <= i64::from(window_days) && suspension.had_benefits => BenefitChange::Continues {
                rule: format!("resumed as an individual {days} days after the gap began (within {window_days}): benefits continue {src}"),
            },
            Payer::Individual => waits(s, month, waiting_months, format!("resumed as an individual {days} days after the gap began (over {window_days}) {src}")),
        }));
    }
    if !state.has_contributed {
        let reference = state.transferred_in_on.unwrap_or(s.profile.enrolled_on);
        let from = month.first_day().max(s.profile.enrolled_on);
        let days = days_between(reference, date);
        return Ok(Some(match payer {
            Payer::Employer => starts(from, format!("employer's declaration for {month} {src}")),
            Payer::Individual if days <= i64::from(window_days) => {
                starts(from, format!("individual paid {days} days after enrolment or transfer (within {window_days}) {src}"))
            }
            Payer::Individual => waits(s, month, waiting_months, format!("individual paid {days} days after enrolment or transfer (over {window_days}) {src}")),
        }));
    }
    let Some(waiting) = state.waiting else {
        return Ok(None);
    };
    if payer == Payer::Employer {
        return Ok(Some(starts(
            month.first_day(),
            format!("employer's declaration for {month} ends the wait {src}"),
        )));
    }
    Ok(
        full_months_reached(s, waiting.from_month, waiting.months_needed, month).map(|from| {
            starts(
                from,
                format!(
                    "{} full months paid since {} {src}",
                    waiting.months_needed, waiting.from_month
                ),
            )
        }),
    )
}

fn starts(benefits_from: NaiveDate, rule: String) -> BenefitChange {
    BenefitChange::Starts {
        benefits_from,
        rule,
    }
}

/// Starts a wait from `month`; if that month alone completes it (a policy of one month), benefits start.
fn waits(s: &Subject<'_>, month: Month, months_needed: u32, why: String) -> BenefitChange {
    match full_months_reached(s, month, months_needed, month) {
        Some(from) => starts(from, format!("{why}: {months_needed} full months paid")),
        None => BenefitChange::Waits {
            from_month: month,
            months_needed,
            rule: format!("{why}: benefits after {months_needed} full months"),
        },
    }
}

/// With `adding` newly paid, whether `needed` counted months from `from_month` on are paid; then
/// benefits start the first day of the month after the last of them.
fn full_months_reached(
    s: &Subject<'_>,
    from_month: Month,
    needed: u32,
    adding: Month,
) -> Option<NaiveDate> {
    let mut paid: Vec<Month> = s
        .state
        .months
        .iter()
        .filter(|(m, c)| **m >= from_month && c.counts())
        .map(|(m, _)| *m)
        .collect();
    if !paid.contains(&adding) {
        paid.push(adding);
    }
    paid.sort();
    let count = u32::try_from(paid.len()).unwrap_or(u32::MAX);
    (count >= needed).then(|| paid.last().map_or(adding, |m| *m).next().first_day())
}
