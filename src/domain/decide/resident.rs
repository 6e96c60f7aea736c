//! The resident scheme: yearly premiums (by age and category), the payment window, waits
//! (newborns, the national wait from 2025) and refunds. docs/RULES.md §4, §7, §11, §12 R9, R10.

use chrono::{Datelike, Duration, NaiveDate};

use super::{alive_on, open_on, subject, Context, Decision, Subject};
use crate::domain::{
    Command, ErrorCode, Event, MemberId, RefundReason, Rejection, ResidentWaitApplied,
};
use crate::money::Money;
use crate::month::{add_months, age_on, Month, YEAR_MAX, YEAR_MIN};
use crate::policy::ResidentRules;
use crate::terms::Scheme;

/// Most missed years one premium may repair (R9): a century.
pub const REPAIR_YEARS_MAX: u32 = 100;

/// A premium to decide, from `pay_premium` or from a relative's account (R14).
pub(super) struct PremiumInput<'a> {
    /// The coverage (benefit) year.
    pub year: i32,
    /// The personal part paid.
    pub personal: Money,
    /// The subsidy; `None`: the schedule's (a premium paid from a relative's account).
    pub subsidy: Option<Money>,
    /// Payment date.
    pub date: NaiveDate,
    /// The category named, if any (R10).
    pub category: Option<&'a str>,
    /// Missed years paid now (R9).
    pub repair_years: u32,
    /// The account that paid it (R14).
    pub paid_from: Option<MemberId>,
}

pub(super) fn pay_premium(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::PayPremium {
        member,
        coverage_year,
        personal,
        subsidy,
        date,
        category,
        repair_years,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    let input = PremiumInput {
        year: *coverage_year,
        personal: *personal,
        subsidy: Some(*subsidy),
        date: *date,
        category: category.as_deref(),
        repair_years: repair_years.unwrap_or(0),
        paid_from: None,
    };
    Ok(vec![(*member, premium_event(&s, &input)?)])
}

/// The `premium_paid` of a resident member: checks, amounts against the schedule, and when
/// benefits start.
pub(super) fn premium_event(s: &Subject<'_>, p: &PremiumInput<'_>) -> Result<Event, Rejection> {
    open_on(s, p.date, "payment date")?;
    if s.profile.scheme != Scheme::Resident {
        return Err(Rejection::new(
            ErrorCode::WrongScheme,
            "premiums are for the resident scheme; this member is in the employee scheme",
        ));
    }
    alive_on(s, p.date, "payment date")?;
    check_year(s, p)?;
    let terms = schedule_terms(s, p.year, p.date, p.category)?;
    let subsidy = p
        .subsidy
        .unwrap_or_else(|| terms.as_ref().map_or(Money::ZERO, |t| t.subsidy));
    if p.personal.is_negative() || subsidy.is_negative() || !(p.personal + subsidy).is_positive() {
        return Err(Rejection::invalid(
            "personal and subsidy must not be negative, and the premium must be positive",
        ));
    }
    let scheduled = match &terms {
        Some(t) => Some(check_amounts(t, p.personal, subsidy, p.repair_years)?),
        None => None,
    };
    let (benefits_from, mut rule, wait) = premium_benefits_from(s, p.year, p.date, p.repair_years)?;
    if let Some(scheduled) = scheduled {
        rule = format!("{scheduled}; {rule}");
    }
    Ok(Event::PremiumPaid {
        coverage_year: p.year,
        date: p.date,
        personal: p.personal,
        subsidy,
        benefits_from,
        rule,
        category: terms.and_then(|t| t.category),
        repair_years: p.repair_years,
        wait,
        paid_from: p.paid_from,
    })
}

fn check_year(s: &Subject<'_>, p: &PremiumInput<'_>) -> Result<(), Rejection> {
    let year = p.year;
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        return Err(Rejection::invalid(format!(
            "coverage year {year} is out of range"
        )));
    }
    if year < p.date.year() {
        return Err(Rejection::invalid(format!(
            "coverage year {year} ended before the payment on {}",
            p.date
        )));
    }
    if p.repair_years > REPAIR_YEARS_MAX {
        return Err(Rejection::invalid(format!(
            "repair_years {} is above {REPAIR_YEARS_MAX}",
            p.repair_years
        )));
    }
    if s.state.coverage.get(&year).is_some_and(|c| !c.refunded) {
        return Err(Rejection::new(
            ErrorCode::DuplicateMonth,
            format!("coverage year {year} is already paid"),
        ));
    }
    Ok(())
}

/// What the schedule asks of a member for a coverage year.
struct Terms {
    who: String,
    personal: Money,
    subsidy: Money,
    category: Option<String>,
    source: String,
}

/// The schedule's premium for the member (the coverage year's schedule, in force on its
/// 1 January, for the member's age on the payment date): the category named (R10); else the
/// adult or minor premium; else the one category that takes the member's age. `None` where the
/// region has no figure for the member (any amount is then taken as paid). docs/RULES.md §11, R10.
fn schedule_terms(
    s: &Subject<'_>,
    year: i32,
    date: NaiveDate,
    category: Option<&str>,
) -> Result<Option<Terms>, Rejection> {
    let schedule = NaiveDate::from_ymd_opt(year, 1, 1).and_then(|d| s.policy.premium(d));
    let Some(schedule) = schedule else {
        return match category {
            Some(name) => Err(Rejection::invalid(format!(
                "category '{name}': region {} has no premium schedule for {year}",
                s.profile.region
            ))),
            None => Ok(None),
        };
    };
    let age = age_on(s.profile.birth_date, date);
    let sched = Schedule {
        s,
        dated: schedule,
        age,
        date,
    };
    match category {
        Some(name) => sched.named(name, year).map(Some),
        None => match sched.by_age()? {
            Some(terms) => Ok(Some(terms)),
            None => sched.fitting(),
        },
    }
}

/// A premium schedule asked about one member.
struct Schedule<'a> {
    s: &'a Subject<'a>,
    dated: &'a crate::policy::Dated<crate::policy::PremiumSchedule>,
    age: u32,
    date: NaiveDate,
}

impl Schedule<'_> {
    fn terms(&self, name: &str) -> Option<Terms> {
        self.dated.value.categories.get(name).map(|c| Terms {
            who: format!("category '{name}'"),
            personal: c.personal,
            subsidy: c.subsidy,
            category: Some(name.to_string()),
            source: self.dated.source.clone(),
        })
    }

    /// The category the payment names: it must be in the schedule and take the member's age.
    fn named(&self, name: &str, year: i32) -> Result<Terms, Rejection> {
        let categories = &self.dated.value.categories;
        let Some(terms) = self.terms(name) else {
            let known: Vec<&str> = categories.keys().map(String::as_str).collect();
            return Err(Rejection::invalid(format!(
                "category '{name}' is not in {}'s premium schedule for {year} (categories: {}) {}",
                self.s.profile.region,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
                self.dated.source
            )));
        };
        if categories.get(name).is_some_and(|c| !c.takes(self.age)) {
            return Err(Rejection::invalid(format!(
                "category '{name}' does not take a member aged {} on {} {}",
                self.age, self.date, self.dated.source
            )));
        }
        Ok(terms)
    }

    /// The adult or minor premium, where the schedule has them.
    fn by_age(&self) -> Result<Option<Terms>, Rejection> {
        let p = &self.dated.value;
        let (Some(adult_from), Some(minor), Some(subsidy)) =
            (p.adult_from_age, p.minor_personal, p.subsidy)
        else {
            return Ok(None);
        };
        let (age, date) = (self.age, self.date);
        let (who, personal) = if age >= adult_from {
            let Some(adult) = p.adult_personal else {
                let msg = format!(
                    "the {} resident scheme is for members under {adult_from}; this member is {age} on {date} {}",
                    self.s.profile.region, self.dated.source
                );
                return Err(Rejection::new(ErrorCode::WrongScheme, msg));
            };
            ("adult", adult)
        } else {
            ("minor", minor)
        };
        Ok(Some(Terms {
            who: format!("{who} ({age} on {date})"),
            personal,
            subsidy,
            category: None,
            source: self.dated.source.clone(),
        }))
    }

    /// The one category that takes the member's age; none: no figure; several: name one.
    fn fitting(&self) -> Result<Option<Terms>, Rejection> {
        let fitting: Vec<&str> = (self.dated.value.categories.iter())
            .filter(|(_, c)| c.takes(self.age))
            .map(|(n, _)| n.as_str())
            .collect();
        match fitting.as_slice() {
            [] => Ok(None),
            [one] => Ok(self.terms(one)),
            many => Err(Rejection::invalid(format!(
                "several categories take a member aged {}: name one with \"category\" ({}) {}",
                self.age,
                many.join(", "),
                self.dated.source
            ))),
        }
    }
}

/// The amounts paid must be the schedule's: the personal premium (× (1 + repaired years), R9)
/// and the subsidy, or (a fully subsidised member, no repairs) nothing personal and the whole
/// premium as subsidy.
fn check_amounts(
    t: &Terms,
    personal: Money,
    subsidy: Money,
    repairs: u32,
) -> Result<String, Rejection> {
    let due = t.personal.times(repairs.saturating_add(1));
    let repaired = if repairs > 0 {
        format!(" × (1 + {repairs} repaired years)")
    } else {
        String::new()
    };
    if (personal, subsidy) == (due, t.subsidy) {
        return Ok(format!(
            "{} premium {}{repaired} = {due} + subsidy {} {}",
            t.who, t.personal, t.subsidy, t.source
        ));
    }
    let total = t.personal + t.subsidy;
    if repairs == 0 && personal.is_zero() && subsidy == total {
        return Ok(format!(
            "fully subsidised {}: subsidy {total} {}",
            t.who, t.source
        ));
    }
    let msg = format!(
        "a {} pays personal {due}{repaired} with subsidy {}{}; not personal {personal} with subsidy {subsidy} {}",
        t.who,
        t.subsidy,
        if repairs == 0 {
            format!(", or 0.00 with subsidy {total} when fully subsidised")
        } else {
            String::new()
        },
        t.source
    );
    Err(Rejection::invalid(msg))
}

/// When benefits start and the rule, with the R9 wait applied when one was.
type Benefits = (NaiveDate, String, Option<ResidentWaitApplied>);

/// When a paid coverage year's benefits start: a newborn within its window from birth; paid in
/// the window (before the year, or up to `window_end` inside it) from the year's first day;
/// a late newborn from the payment; otherwise the national wait (R9, from its date) or the
/// region's own wait.
fn premium_benefits_from(
    s: &Subject<'_>,
    year: i32,
    date: NaiveDate,
    repairs: u32,
) -> Result<Benefits, Rejection> {
    let rules = s.policy.resident(date)?;
    let r = rules.value;
    let year_start = NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| Rejection::invalid("bad coverage year"))?;
    let birth = s.profile.birth_date;
    let newborn = date <= add_months(birth, r.newborn_window_months) && birth.year() >= year - 1;
    if newborn && r.newborn_covered_from_birth && repairs == 0 {
        let rule = format!(
            "newborn paid within {} months of birth: covered from birth {}",
            r.newborn_window_months, rules.source
        );
        return Ok((birth, rule, None));
    }
    let window_end = r.window_end.and_then(|w| w.in_year(year));
    let in_window = date < year_start || window_end.is_some_and(|end| date <= end);
    if let Some(wait) = s.policy.resident_wait_for(year_start) {
        let paid = Paid {
            year,
            year_start,
            date,
            in_window,
            repairs,
        };
        return national_wait(s, &paid, wait, &r, &rules.source);
    }
    if repairs > 0 {
        return Err(Rejection::invalid(format!(
            "repair_years belong to the national resident wait (R9), which {} has not in force for {year}",
            s.profile.region
        )));
    }
    if in_window {
        let rule = format!(
            "paid in the window (months {}-{} before {year}{}): benefits from 1 January {}",
            r.window_first_month,
            r.window_last_month,
            window_end.map_or_else(String::new, |e| format!(", or by {e}")),
            rules.source
        );
        return Ok((year_start, rule, None));
    }
    if let Some(late) = late_newborn(&r, birth, year, date, &rules.source) {
        return Ok((date, late, None));
    }
    late_payment_accepted(s, &r, year, date)?;
    let (from, rule) = regional_wait(&r, date, &rules.source);
    Ok((from, rule, None))
}

/// A premium payment as the national wait reads it.
struct Paid {
    year: i32,
    year_start: NaiveDate,
    date: NaiveDate,
    in_window: bool,
    repairs: u32,
}

/// The national resident wait (国办发〔2024〕38号), docs/RULES.md §12 R9: for a member who paid outside
/// the window or has gap years, 3 fixed months plus a month per gap year beyond the free ones,
/// less a month per repaired year, at least 6 after 4 gap years; counted in whole months from
/// the benefit year's start when paid in the window, else from the payment date (day-exact).
fn national_wait(
    s: &Subject<'_>,
    paid: &Paid,
    wait: &crate::policy::Dated<crate::policy::ResidentWait>,
    r: &ResidentRules,
    source: &str,
) -> Result<Benefits, Rejection> {
    let gap_years = gap_years(s, paid.year);
    if paid.repairs > gap_years {
        return Err(Rejection::invalid(format!(
            "repair_years {} exceeds the {gap_years} unpaid years just before {} [R9]",
            paid.repairs, paid.year
        )));
    }
    if paid.in_window && gap_years == 0 {
        let rule = format!(
            "paid in the window with no gap year: benefits from 1 January {} {source}",
            wait.source
        );
        return Ok((paid.year_start, rule, None));
    }
    if !paid.in_window {
        let birth = s.profile.birth_date;
        if let Some(late) = late_newborn(r, birth, paid.year, paid.date, source) {
            return Ok((paid.date, late, None));
        }
        late_payment_accepted(s, r, paid.year, paid.date)?;
    }
    let w = wait.value;
    let variable_months = gap_years.saturating_sub(w.gap_years_free);
    let mut wait_months = w.fixed_months + variable_months.saturating_sub(paid.repairs);
    if gap_years >= w.long_gap_years {
        wait_months = wait_months.max(w.long_gap_min_months);
    }
    let counted_from = if paid.in_window {
        paid.year_start
    } else {
        paid.date
    };
    let from = add_months(counted_from, wait_months);
    let rule = format!(
        "{}; {gap_years} gap years ({} free), {} repaired: wait {} fixed + {} variable{} = {wait_months} months from {counted_from} {}",
        if paid.in_window { "paid in the window" } else { "paid outside the window" },
        w.gap_years_free,
        paid.repairs,
        w.fixed_months,
        variable_months.saturating_sub(paid.repairs),
        if gap_years >= w.long_gap_years {
            format!(", at least {} after {} gap years", w.long_gap_min_months, w.long_gap_years)
        } else {
            String::new()
        },
        wait.source
    );
    let applied = ResidentWaitApplied {
        gap_years,
        variable_months,
        repair_years: paid.repairs,
        wait_months,
        counted_from,
    };
    Ok((from, rule, Some(applied)))
}

/// Consecutive benefit years just before `year` with no paid premium, back to (not including)
/// the member's first enrolment year in the region. R9.
fn gap_years(s: &Subject<'_>, year: i32) -> u32 {
    let first = s.profile.enrolled_on.year();
    let paid = |y: i32| s.state.coverage.get(&y).is_some_and(|c| !c.refunded);
    let mut gap = 0;
    let mut y = year - 1;
    while y > first && !paid(y) {
        gap += 1;
        y -= 1;
    }
    gap
}

/// A newborn paying after the newborn window but within the region's late window: covered from
/// acceptance (the payment), without a wait.
fn late_newborn(
    r: &ResidentRules,
    birth: NaiveDate,
    year: i32,
    date: NaiveDate,
    source: &str,
) -> Option<String> {
    let late = r
        .late_newborn_from_payment_within_months
        .is_some_and(|m| date <= add_months(birth, m) && birth.year() >= year - 1);
    late.then(|| {
        format!(
            "newborn paid more than {} months after birth: covered from acceptance (the payment) {source}",
            r.newborn_window_months
        )
    })
}

/// A region that takes no premium outside its window refuses it `outside_window`.
fn late_payment_accepted(
    s: &Subject<'_>,
    r: &ResidentRules,
    year: i32,
    date: NaiveDate,
) -> Result<(), Rejection> {
    if r.accepts_late_payment.unwrap_or(true) {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::OutsideWindow,
        format!(
            "{} takes premiums for {year} only in its window (months {}-{} before the year{}); paid on {date}",
            s.profile.region,
            r.window_first_month,
            r.window_last_month,
            r.window_end
                .and_then(|w| w.in_year(year))
                .map_or_else(String::new, |e| format!(", up to {e}"))
        ),
    ))
}

/// The region's own wait for a late payer (before R9): months to the first of a month, or days.
fn regional_wait(r: &ResidentRules, date: NaiveDate, source: &str) -> (NaiveDate, String) {
    if let Some(months) = r.new_enrollee_wait_months {
        let from = Month::of(date).plus(months).first_day();
        let rule = format!(
            "paid outside the window: a late application, benefits from the first day of the month {months} months after the payment month {source}"
        );
        return (from, rule);
    }
    // Validation guarantees one of the two waits, each bounded.
    let days = r.new_enrollee_wait_days.unwrap_or(0);
    let from = date + Duration::days(i64::from(days));
    let rule = format!(
        "paid outside the window: a new enrollee, benefits {days} days after payment {source}"
    );
    (from, rule)
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
