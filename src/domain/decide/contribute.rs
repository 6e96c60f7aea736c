//! Contributions: rates and base, account credit, one month counted once. DOMAIN §2, §3.

use super::{
    alive_on, benefits, credit, employee_scheme, not_retired, open_on, subject, Context, Decision,
};
use crate::domain::{Command, Contribution, ErrorCode, Event, Payer, Rejection};
use crate::month::age_on;

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
    open_on(&s, date, "posting date")?;
    employee_scheme(&s, "a contribution")?;
    alive_on(&s, month.first_day(), "contribution month starting")?;
    not_retired(&s, "contributing")?;
    let Some(first_month) = s.policy.actual_months_from() else {
        let msg = format!(
            "region {} has no actual_months_from: it does not take contributions",
            s.profile.region
        );
        return Err(Rejection::new(ErrorCode::PolicyMissing, msg));
    };
    if *month < first_month {
        let msg = format!(
            "contribution month {month} is before {first_month}; recognise earlier service as deemed months"
        );
        return Err(Rejection::invalid(msg));
    }
    if date < month.first_day() {
        return Err(Rejection::invalid(format!(
            "posting date {date} is before the contribution month {month} begins"
        )));
    }
    if !wage.is_positive() {
        return Err(Rejection::invalid(format!("wage {wage} must be positive")));
    }
    let cover = s.state.months.get(month).copied().unwrap_or_default();
    if cover.paid_by(*payer) {
        let who = if *payer == Payer::Employer {
            "the employer"
        } else {
            "the member"
        };
        let msg = format!("{month} is already paid by {who}; a month counts once (a duplicate is a refund candidate, not a new month)");
        return Err(Rejection::new(ErrorCode::DuplicateMonth, msg));
    }
    let base = s.policy.contribution_base(*month, *wage)?;
    let age = age_on(s.profile.birth_date, month.last_day());
    // R3, R7: the shares and the credit by payer and tier, rounded as the policy says.
    let priced = credit::price(&s, *month, *payer, *employer_class, base, age)?;
    let counts_month = !cover.counts();
    let benefits = if counts_month {
        benefits::after_contribution(&s, *month, date, *payer)?
    } else {
        None
    };
    let mut rule = priced.rule;
    // R5: funds charged beside the contribution, never credited.
    let (surcharges, surcharge_rule) =
        credit::contribution_surcharges(&s, *month, base, counts_month);
    if !surcharge_rule.is_empty() {
        rule.push_str("; ");
        rule.push_str(&surcharge_rule);
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
        benefits,
        rule,
    };
    Ok(vec![(*member, Event::ContributionPosted(contribution))])
}
