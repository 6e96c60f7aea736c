//! Issuing the annual statement (年度对账单). docs/RULES.md §12 R15.
//!
//! The figures come from the member's events (`projection::annual` builds them), which a decision
//! does not read: the ledger computes each member's [`StatementSeal`] at the member version the
//! decision reads and hands it over in [`Context::seals`]. The decision checks who gets a
//! statement and records it; a member whose latest statement of the year carries the same digest
//! and template gets nothing new (the statement was already issued as it stands).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{check_date, subject, Context, Decision};
use crate::domain::{ErrorCode, Event, MemberId, MemberState, Rejection};
use crate::money::Money;
use crate::month::{YEAR_MAX, YEAR_MIN};

/// A member's annual figures for one year, as the ledger computed them for an
/// `issue_statement`: their digest and what the event repeats of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementSeal {
    /// Hex SHA-256 of the figures' canonical text.
    pub digest: String,
    /// The version of the canonical form.
    pub figures_form: u32,
    /// The template the statement is printed with.
    pub template_version: String,
    /// The balance on 31 December.
    pub closing_balance: Money,
    /// Actual + deemed months on 31 December.
    pub months_total: u32,
    /// The member version the figures were computed at.
    pub version: u64,
}

/// The seals of the members an `issue_statement` reads, by member.
pub type StatementSeals = BTreeMap<MemberId, StatementSeal>;

/// Decides `issue_statement`: one member, or every member of a region with a statement of
/// `year` (enrolled by its end, account not closed before it began).
pub(super) fn issue_statement(
    ctx: &Context<'_>,
    member: Option<MemberId>,
    region: Option<&str>,
    year: i32,
    date: Option<NaiveDate>,
) -> Result<Decision, Rejection> {
    let (_, last) = year_bounds(year)?;
    let date = match date {
        Some(d) => d,
        None => last.succ_opt().unwrap_or(last),
    };
    check_date(date, "issue date")?;
    if date <= last {
        return Err(Rejection::invalid(format!(
            "the statement of {year} is issued after the year ends: {date} is not after {last}"
        )));
    }
    match (member, region) {
        (Some(member), region) => {
            let s = subject(ctx, member)?;
            if let Some(region) = region.filter(|r| *r != s.profile.region) {
                return Err(Rejection::invalid(format!(
                    "member {member} is in region '{}', not '{region}'",
                    s.profile.region
                )));
            }
            statement_due(s.state, year)?;
            Ok(issued(ctx, s.state, year, date)?.into_iter().collect())
        }
        (None, Some(region)) => {
            if ctx.policies.region(region).is_none() {
                return Err(Rejection::new(
                    ErrorCode::UnknownRegion,
                    format!("this ledger has no policy for region '{region}'"),
                ));
            }
            let mut decision = Vec::new();
            for state in ctx.states.values() {
                let in_region = state.profile.as_ref().is_some_and(|p| p.region == region);
                if in_region && statement_due(state, year).is_ok() {
                    decision.extend(issued(ctx, state, year, date)?);
                }
            }
            Ok(decision)
        }
        (None, None) => Err(Rejection::invalid(
            "issue_statement names a \"member\", or a \"region\" for every member of it",
        )),
    }
}

/// 1 January and 31 December of `year`, which must leave room for the issue date after it.
fn year_bounds(year: i32) -> Result<(NaiveDate, NaiveDate), Rejection> {
    let out_of_range = || {
        Rejection::invalid(format!(
            "year {year} is outside the years {YEAR_MIN}..{}",
            YEAR_MAX - 1
        ))
    };
    if !(YEAR_MIN..YEAR_MAX).contains(&year) {
        return Err(out_of_range());
    }
    let first = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(out_of_range)?;
    let last = NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(out_of_range)?;
    Ok((first, last))
}

/// Whether a member has a statement of `year`: enrolled by its end, and the account still open
/// when it began (the year it closes gets the last statement, showing where the money went).
/// The refusal says why not.
pub fn statement_due(state: &MemberState, year: i32) -> Result<(), Rejection> {
    let (first, last) = year_bounds(year)?;
    let member = state.member;
    let enrolled = state.profile.as_ref().map(|p| p.enrolled_on);
    if enrolled.is_none_or(|on| on > last) {
        let on = enrolled.map_or_else(|| "-".to_string(), |d| d.to_string());
        return Err(Rejection::invalid(format!(
            "member {member} enrolled on {on}, after {year}: there is no statement of {year}"
        )));
    }
    match state.closed_on {
        Some(closed) if closed < first => Err(Rejection::new(
            ErrorCode::AccountClosed,
            format!("member {member}'s account closed on {closed}, before {year}: there is no statement of {year}"),
        )),
        _ => Ok(()),
    }
}

/// The `statement_issued` event for a member, or nothing when the latest statement of the year
/// already carries these figures and this template.
fn issued(
    ctx: &Context<'_>,
    state: &MemberState,
    year: i32,
    date: NaiveDate,
) -> Result<Option<(MemberId, Event)>, Rejection> {
    let member = state.member;
    let seal = ctx.seals.and_then(|s| s.get(&member)).ok_or_else(|| {
        Rejection::invalid(format!(
            "the figures of member {member}'s statement of {year} were not computed"
        ))
    })?;
    if seal.version != state.version {
        return Err(Rejection::new(
            ErrorCode::VersionConflict,
            format!("member {member} changed while the statement of {year} was computed; submit it again"),
        ));
    }
    let unchanged = state
        .statements
        .get(&year)
        .is_some_and(|s| s.digest == seal.digest && s.template_version == seal.template_version);
    if unchanged {
        return Ok(None);
    }
    let event = Event::StatementIssued {
        year,
        date,
        digest: seal.digest.clone(),
        figures_form: seal.figures_form,
        template_version: seal.template_version.clone(),
        closing_balance: seal.closing_balance,
        months_total: seal.months_total,
    };
    Ok(Some((member, event)))
}
