//! Corrections since the member's previous statement: what was recorded after it that changes
//! a year the member was already told about, and each issued statement it changed.
//!
//! The previous statement is the latest `statement_issued` of any year. The entries are the
//! events recorded after it that take effect before this statement's year (or in it, when this
//! year's statement was issued before): back-dated postings and reversals. Once a statement
//! listing them is issued, the next one measures from that statement, so each correction is
//! listed on the next statement, not on every one after it.

use chrono::NaiveDate;

use super::build::{figures, issued_ref, Decoded};
use super::{Corrections, IssuedRef, LateEntry, PreviousStatement, Restated};
use crate::domain::{Event, MemberId};
use crate::policy::PolicySet;
use crate::store::StoreError;

/// The corrections to list on the statement of `year` built over `decoded` (log order).
pub(super) fn since_previous(
    member: MemberId,
    decoded: &[Decoded],
    year: i32,
    policies: &PolicySet,
) -> Result<Corrections, StoreError> {
    let Some((previous_year, previous)) = decoded.iter().rev().find_map(issued_ref) else {
        return Ok(Corrections::default());
    };
    let this_year_issued = decoded
        .iter()
        .any(|d| issued_ref(d).is_some_and(|(y, _)| y == year));
    let cutoff_year = if this_year_issued { year } else { year - 1 };
    let entries: Vec<LateEntry> = decoded
        .iter()
        .filter(|d| d.position > previous.position && d.date <= last_day(cutoff_year))
        .filter(|d| !matches!(d.event, Event::StatementIssued { .. }))
        .map(late_entry)
        .collect();
    let mut restated = Vec::new();
    if let Some(earliest) = entries.iter().map(|e| e.date).min() {
        for (issued_year, issued) in latest_per_year(decoded) {
            if issued_year <= year && earliest <= last_day(issued_year) {
                restated.extend(restate(member, decoded, issued_year, issued, policies)?);
            }
        }
    }
    Ok(Corrections {
        since: Some(PreviousStatement {
            year: previous_year,
            date: previous.date,
            position: previous.position,
        }),
        entries,
        restated,
    })
}

fn last_day(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// The latest statement issued for each year, by year.
fn latest_per_year(decoded: &[Decoded]) -> std::collections::BTreeMap<i32, IssuedRef> {
    decoded.iter().filter_map(issued_ref).collect()
}

/// What an issued statement said against what stands now, when the figures differ.
fn restate(
    member: MemberId,
    decoded: &[Decoded],
    year: i32,
    issued: IssuedRef,
    policies: &PolicySet,
) -> Result<Option<Restated>, StoreError> {
    let Some(now) = figures(member, decoded, year, policies)? else {
        return Ok(None);
    };
    if now.digest == issued.digest {
        return Ok(None);
    }
    let known_then = decoded.partition_point(|d| d.position <= issued.position);
    let then = figures(member, &decoded[..known_then], year, policies)?;
    Ok(Some(Restated {
        year,
        reproduced: then.is_some_and(|t| t.digest == issued.digest),
        issued,
        closing_balance: now.closing.balance,
        months_total: now.closing.months_total,
        digest: now.digest,
    }))
}

fn late_entry(d: &Decoded) -> LateEntry {
    let (subject, reverses, reason) = match &d.event {
        Event::Reversed {
            original, reason, ..
        } => (
            original.as_ref(),
            Some((original.type_name().to_string(), d.date)),
            Some(reason.clone()),
        ),
        other => (other, None, None),
    };
    let month = match subject {
        Event::ContributionPosted(c) => Some(c.month),
        Event::RetireeAllocationCredited { month, .. } => Some(*month),
        _ => None,
    };
    LateEntry {
        position: d.position,
        date: d.date,
        event_type: d.event.type_name().to_string(),
        reverses,
        month,
        balance_change: d.event.balance_delta(),
        reason,
    }
}
