//! Transfers of a personal account between regions: in from outside the ledger, out, or both
//! sides at once between two accounts in the ledger. docs/RULES.md §6, §12 R6, R8.

use chrono::NaiveDate;

use super::lifecycle::MONTHS_PER_COMMAND_MAX;
use super::{
    alive_on, employee_scheme, interest, not_before_last_event, not_retired, open_on, subject,
    Context, Decision, Subject,
};
use crate::domain::{Command, ErrorCode, Event, MemberId, MonthSpan, Rejection};
use crate::month::Month;

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
    // months arrive as deemed months in the receiving region. docs/RULES.md §6 [000 Q28, Q35].
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
