//! Contributions: rates and base, account credit, one month counted once, and who may pay a
//! past month. docs/RULES.md §2, §3, §12 R1.

use chrono::NaiveDate;

use super::{
    alive_on, credit, employee_scheme, not_retired, open_on, subject, Context, Decision, Subject,
};
use crate::domain::{
    current_gap, is_past_month, Command, Contribution, ErrorCode, Event, MonthCover, Rejection,
};
use crate::money::Money;
use crate::month::{age_on, Month};
use crate::terms::Payer;

pub(super) fn contribute(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::Contribute {
        member,
        month,
        wage,
        payer,
        employer_class,
        date,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    let date = date.unwrap_or_else(|| month.last_day());
    before_enrolment(&s, *month)?;
    open_on(&s, date, "posting date")?;
    employee_scheme(&s, "a contribution")?;
    alive_on(&s, month.first_day(), "contribution month starting")?;
    not_retired(&s, "contributing")?;
    let (cover, makeup) = check_month(&s, *month, date, *payer, *wage)?;
    let base = s.policy.contribution_base(*month, *wage)?;
    let age = age_on(s.profile.birth_date, month.last_day());
    // R3, R7: the shares and the credit by payer and tier, rounded as the policy says.
    let priced = credit::price(&s, *month, *payer, *employer_class, base, age)?;
    let counts_month = !cover.counts();
    let mut rule = priced.rule;
    // R5: funds charged beside the contribution, never credited.
    let (surcharges, surcharge_rule) =
        credit::contribution_surcharges(&s, *month, base, counts_month);
    if !surcharge_rule.is_empty() {
        rule.push_str("; ");
        rule.push_str(&surcharge_rule);
    }
    if let Some(note) = makeup {
        rule.push_str(&note);
    }
    if let Some((due, source)) = s.policy.contribution_due(*month) {
        if date >= due {
            rule.push_str(&format!(
                "; posted {date}, not before the due date {due}: paid late {source}"
            ));
        }
    }
    let contribution = Contribution {
        month: *month,
        date,
        payer: *payer,
        employer_class: *employer_class,
        wage: *wage,
        base,
        employee_rate: priced.employee_rate,
        employer_rate: priced.employer_rate,
        employee: base.times_rate(priced.employee_rate),
        employer: base.times_rate(priced.employer_rate),
        credit_rate: priced.parts.own_rate.plus(priced.parts.employer_part_rate),
        account_credit: priced.credit,
        counts_month,
        mutual_aid: None,
        surcharges,
        credit: Some(priced.parts),
        benefits: None,
        rule,
    };
    Ok(vec![(*member, Event::ContributionPosted(contribution))])
}

/// The month's own checks, in the order a clerk meets them: a month the region counts, posted
/// no earlier than it begins, a past month only as R1 allows, a positive wage, and no second
/// payment by the same payer. Returns the month's payments and R1's note for a makeup.
fn check_month(
    s: &Subject<'_>,
    month: Month,
    date: NaiveDate,
    payer: Payer,
    wage: Money,
) -> Result<(MonthCover, Option<String>), Rejection> {
    let Some(first_month) = s.policy.actual_months_from() else {
        let msg = format!(
            "region {} has no actual_months_from: it does not take contributions",
            s.profile.region
        );
        return Err(Rejection::new(ErrorCode::PolicyMissing, msg));
    };
    if month < first_month {
        let msg = format!(
            "contribution month {month} is before {first_month}; recognise earlier service as deemed months"
        );
        return Err(Rejection::invalid(msg));
    }
    // An employer may declare a later month than the one it posts in (R2: "declares the month in
    // which the declaration is posted, or a later one"); a member pays a month once it has begun.
    if date < month.first_day() && payer == Payer::Individual {
        return Err(Rejection::invalid(format!(
            "posting date {date} is before the contribution month {month} begins: a member pays a month once it has begun (an employer may declare a later month) [R2]"
        )));
    }
    if date < s.profile.enrolled_on {
        return Err(Rejection::invalid(format!(
            "posting date {date} is before the member's enrolment on {}",
            s.profile.enrolled_on
        )));
    }
    let makeup = makeup_allowed(s, month, date, payer)?;
    if !wage.is_positive() {
        return Err(Rejection::invalid(format!("wage {wage} must be positive")));
    }
    let cover = s.state.months.get(&month).copied().unwrap_or_default();
    if cover.paid_by(payer) {
        let who = if payer == Payer::Employer {
            "the employer"
        } else {
            "the member"
        };
        let msg = format!("{month} is already paid by {who}; a month counts once (a duplicate is a refund candidate, not a new month)");
        return Err(Rejection::new(ErrorCode::DuplicateMonth, msg));
    }
    Ok((cover, makeup))
}

/// R1: a month before the enrolment month is refused whoever pays it.
fn before_enrolment(s: &Subject<'_>, month: Month) -> Result<(), Rejection> {
    let enrolment_month = Month::of(s.profile.enrolled_on);
    if month >= enrolment_month {
        return Ok(());
    }
    let msg = format!(
        "contribution month {month} is before the member's enrolment month {enrolment_month}; an earlier month counts only through recognize_deemed, a transfer or the retirement lump sum [R1]"
    );
    Err(Rejection::new(ErrorCode::BeforeEnrolment, msg))
}

/// R1: an employer may declare a past month late (arrears); a member may pay a past month only
/// to close the current gap inside its window. Returns the rule's note for an allowed makeup.
fn makeup_allowed(
    s: &Subject<'_>,
    month: Month,
    date: NaiveDate,
    payer: Payer,
) -> Result<Option<String>, Rejection> {
    if !is_past_month(s.state, s.policy, month, date) {
        return Ok(None);
    }
    let window = s.policy.rejoin(date)?;
    if payer == Payer::Employer {
        return Ok(Some(format!(
            "; arrears: {month} declared late on {date}, counted as an actual month, benefits never earlier than the declaration [R1, R2 {}]",
            window.source
        )));
    }
    let gap = current_gap(s.state, s.policy, date)?;
    match gap {
        Some(gap) if month >= gap.first_month && date <= gap.window_ends => Ok(Some(format!(
            "; makeup of {month} within the window of the gap that began {} (to {}) [R1 {}]",
            gap.began_on, gap.window_ends, window.source
        ))),
        Some(gap) => {
            let msg = format!(
                "{month} is a past month: a member pays one only to close the current gap (since {}, first month {}) within {} days, by {} [R1 {}]; a retirement shortfall is paid as a lump_sum_makeup",
                gap.began_on, gap.first_month, window.value.window_days, gap.window_ends, window.source
            );
            Err(Rejection::new(ErrorCode::MakeupNotAllowed, msg))
        }
        None => {
            let msg = format!(
                "{month} is a past month and the member has no open gap to close; a member pays only current months [R1 {}]",
                window.source
            );
            Err(Rejection::new(ErrorCode::MakeupNotAllowed, msg))
        }
    }
}
