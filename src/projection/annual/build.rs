//! Building an [`AnnualStatement`] from a member's events.
//!
//! The opening and closing figures are folds of the events effective before 1 January and on or
//! before 31 December (what `account --as-of` folds), so the closing figures are the account
//! view's. The lines are the year's events that move the balance, in effective-date order (log
//! order within a day); a reversed event and its reversal are both left out and listed in
//! `netted`, so no line shows money that was never owed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};

use super::{
    corrections, digest, AnnualLine, AnnualStatement, CreditShare, IssuedRef, KindTotals, LineKind,
    MonthRow, NettedPair, Notice, PremiumLine, RatesSeen, RefundLine, YearEnd,
};
use crate::codec;
use crate::domain::{
    wire_name, Command, Event, MemberId, MemberState, StatementSeal, StatementSeals,
};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::policy::PolicySet;
use crate::projection::AccountView;
use crate::store::{EventStore, StoreError, StoredEvent};

/// One of the member's events, decoded once.
#[derive(Clone, Debug)]
pub(super) struct Decoded {
    pub(super) position: u64,
    pub(super) event_id: uuid::Uuid,
    pub(super) date: NaiveDate,
    pub(super) event: Event,
}

/// The member's events at or before `known_at` (all, when `None`), decoded, in log order.
pub(super) fn decode_known(
    member: MemberId,
    events: &[StoredEvent],
    known_at: Option<u64>,
) -> Result<Vec<Decoded>, StoreError> {
    events
        .iter()
        .filter(|e| e.member == member && known_at.is_none_or(|p| e.position <= p))
        .map(|stored| {
            Ok(Decoded {
                position: stored.position,
                event_id: stored.event_id,
                date: stored.effective_date,
                event: codec::decode(stored)?,
            })
        })
        .collect()
}

impl AnnualStatement {
    /// The member's statement of `year` from the member's events (in log order), as the ledger
    /// knew it after position `known_at` (everything given, when `None`), with the policies that
    /// judge the status on 31 December. `None` when the member had not enrolled by the year's
    /// end.
    pub fn build(
        member: MemberId,
        events: &[StoredEvent],
        year: i32,
        known_at: Option<u64>,
        policies: &PolicySet,
    ) -> Result<Option<AnnualStatement>, StoreError> {
        let decoded = decode_known(member, events, known_at)?;
        let Some(mut statement) = figures(member, &decoded, year, policies)? else {
            return Ok(None);
        };
        statement.issued = issued_of(&decoded, year);
        statement.corrections = corrections::since_previous(member, &decoded, year, policies)?;
        Ok(Some(statement))
    }

    /// The statement's seal for an `issue_statement` decision at member version `version`.
    pub fn seal(&self, version: u64) -> StatementSeal {
        StatementSeal {
            digest: self.digest.clone(),
            figures_form: self.figures_form,
            template_version: super::page::template_version().to_string(),
            closing_balance: self.closing.balance,
            months_total: self.closing.months_total,
            version,
        }
    }
}

/// The seals an `issue_statement` needs: for each member it reads, the statement of the year
/// built from the member's events up to the version in `states` (so the decision and the append's
/// version check agree on what was sealed). `None` for any other command.
///
/// The events are read as a decision reads them, every applied append included: a statement
/// decided in a batch right after the member's other commands (applied, their flush still
/// running) must seal them too. Reading only durable events sealed stale figures there, or none.
/// A member whose events read stop short of its state's version is an error, never a seal of
/// fewer events.
pub fn seals_for(
    store: &dyn EventStore,
    policies: &PolicySet,
    command: &Command,
    states: &BTreeMap<MemberId, MemberState>,
) -> Result<Option<StatementSeals>, StoreError> {
    let Command::IssueStatement { year, .. } = command else {
        return Ok(None);
    };
    let mut seals = StatementSeals::new();
    for (member, state) in states {
        let events: Vec<StoredEvent> = store
            .read_member_after(*member, 0)?
            .into_iter()
            .filter(|e| e.member_version <= state.version)
            .collect();
        let read_to = events.last().map_or(0, |e| e.member_version);
        if read_to != state.version {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: format!(
                    "member {member}: the statement's events end at version {read_to}, the member is at {}",
                    state.version
                ),
            });
        }
        if let Some(statement) = AnnualStatement::build(*member, &events, *year, None, policies)? {
            seals.insert(*member, statement.seal(state.version));
        }
    }
    Ok(Some(seals))
}

/// The year's figures (without issued statements and corrections), digest included.
pub(super) fn figures(
    member: MemberId,
    decoded: &[Decoded],
    year: i32,
    policies: &PolicySet,
) -> Result<Option<AnnualStatement>, StoreError> {
    let (Some(first), Some(last)) = (
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    ) else {
        return Ok(None);
    };
    let known_at = decoded.last().map_or(0, |d| d.position);
    let opening_state = fold(member, decoded, |d| d < first);
    let closing_state = fold(member, decoded, |d| d <= last);
    // Money as in force on 31 December, coverage as known (what `account --as-of` shows).
    let known_state = fold(member, decoded, |_| true);
    let Some(view) = AccountView::of(&closing_state, &known_state, policies, last, known_at) else {
        return Ok(None);
    };
    let opening_date = first.pred_opt().unwrap_or(first);
    let opening = year_end(&opening_state, opening_date);
    let closing = year_end(&closing_state, last);
    let year_events: Vec<&Decoded> = decoded
        .iter()
        .filter(|d| d.date >= first && d.date <= last)
        .collect();
    let mut parts = classify(&year_events);
    let months = run_balance(&mut parts.lines, opening.balance, year);
    if months.last().map(|m| m.balance) != Some(closing.balance) {
        return Err(StoreError::Corrupt {
            position: known_at,
            reason: format!(
                "member {member}: the {year} statement's lines lead from {} to {:?}, the fold to {}",
                opening.balance,
                months.last().map(|m| m.balance),
                closing.balance
            ),
        });
    }
    let mut totals = KindTotals::default();
    parts.lines.iter().for_each(|l| totals.add(l));
    let mut statement = AnnualStatement {
        member,
        year,
        region: view.region.clone(),
        scheme: view.scheme,
        status: view.status,
        enrolled_on: view.enrolled_on,
        known_at,
        opening,
        closing,
        year_row: view.years.iter().find(|r| r.year == year).cloned(),
        totals,
        months,
        lines: parts.lines,
        refunds: parts.refunds,
        premiums: parts.premiums,
        notices: parts.notices,
        netted: parts.netted,
        rates: parts.rates,
        issued: Vec::new(),
        corrections: Default::default(),
        figures_form: digest::FIGURES_FORM,
        digest: String::new(),
    };
    statement.digest = digest::digest(&statement);
    Ok(Some(statement))
}

/// The member's state folded from the events whose effective date passes `keep`.
fn fold(member: MemberId, decoded: &[Decoded], keep: impl Fn(NaiveDate) -> bool) -> MemberState {
    let mut state = MemberState::new(member);
    for d in decoded.iter().filter(|d| keep(d.date)) {
        state.apply(&d.event);
    }
    state
}

fn year_end(state: &MemberState, date: NaiveDate) -> YearEnd {
    YearEnd {
        date,
        balance: state.balance,
        credited: state.credited,
        debited: state.debited,
        months_actual: state.months_actual(),
        months_deemed: state.months_deemed(),
        months_total: state.months_total(),
    }
}

/// The statements of `year` issued so far, oldest first.
fn issued_of(decoded: &[Decoded], year: i32) -> Vec<IssuedRef> {
    decoded
        .iter()
        .filter_map(|d| issued_ref(d).filter(|(y, _)| *y == year).map(|(_, r)| r))
        .collect()
}

/// A `statement_issued` event as a reference, with its year.
pub(super) fn issued_ref(d: &Decoded) -> Option<(i32, IssuedRef)> {
    let Event::StatementIssued {
        year,
        date,
        digest,
        template_version,
        closing_balance,
        months_total,
        ..
    } = &d.event
    else {
        return None;
    };
    let reference = IssuedRef {
        position: d.position,
        date: *date,
        digest: digest.clone(),
        template_version: template_version.clone(),
        closing_balance: *closing_balance,
        months_total: *months_total,
    };
    Some((*year, reference))
}

/// The year's events sorted into the statement's parts.
#[derive(Default)]
struct Parts {
    lines: Vec<AnnualLine>,
    refunds: Vec<RefundLine>,
    premiums: Vec<PremiumLine>,
    notices: Vec<Notice>,
    netted: Vec<NettedPair>,
    rates: RatesSeen,
}

/// Sorts the year's events (in log order) into lines, refunds, premiums, notices and netted
/// pairs; the lines end in effective-date order, log order within a day.
fn classify(year_events: &[&Decoded]) -> Parts {
    let reversed: BTreeSet<uuid::Uuid> = year_events
        .iter()
        .filter_map(|d| match &d.event {
            Event::Reversed { event_id, .. } => Some(*event_id),
            _ => None,
        })
        .collect();
    let mut parts = Parts::default();
    for d in year_events {
        if reversed.contains(&d.event_id) {
            continue;
        }
        if let Event::Reversed {
            position,
            reason,
            original,
            ..
        } = &d.event
        {
            parts.netted.push(NettedPair {
                date: d.date,
                original_type: original.type_name().to_string(),
                original_position: *position,
                reversal_position: d.position,
                balance_change: original.balance_delta(),
                reason: reason.clone(),
            });
            continue;
        }
        classify_one(d, &mut parts);
    }
    parts.lines.sort_by_key(|l| (l.date, l.position));
    parts
}

/// Files one event (neither reversed nor a reversal) where it belongs.
fn classify_one(d: &Decoded, parts: &mut Parts) {
    match &d.event {
        Event::ContributionRefunded {
            reason,
            payments,
            amount,
            ..
        } => parts.refunds.push(RefundLine {
            position: d.position,
            date: d.date,
            reason: *reason,
            months: payments.iter().map(|p| p.month).collect(),
            coverage_year: None,
            amount: *amount,
        }),
        Event::PremiumRefunded {
            reason,
            coverage_year,
            amount,
            ..
        } => parts.refunds.push(RefundLine {
            position: d.position,
            date: d.date,
            reason: *reason,
            months: Vec::new(),
            coverage_year: Some(*coverage_year),
            amount: *amount,
        }),
        Event::PremiumPaid {
            coverage_year,
            personal,
            subsidy,
            benefits_from,
            ..
        } => parts.premiums.push(PremiumLine {
            position: d.position,
            date: d.date,
            coverage_year: *coverage_year,
            personal: *personal,
            subsidy: *subsidy,
            benefits_from: *benefits_from,
        }),
        Event::StatementIssued { .. } => {}
        event => match line_of(d) {
            Some(line) => {
                note_rates(event, &mut parts.rates);
                parts.lines.push(line);
            }
            None => parts.notices.push(notice_of(d)),
        },
    }
}

/// The line of an event that moves the balance; `None` for one that does not.
fn line_of(d: &Decoded) -> Option<AnnualLine> {
    let delta = d.event.balance_delta();
    let contribution = match &d.event {
        Event::ContributionPosted(c) => Some(c),
        _ => None,
    };
    if delta.is_zero() && contribution.is_none() {
        return None;
    }
    let mut line = AnnualLine {
        position: d.position,
        event_id: d.event_id,
        date: d.date,
        kind: kind_of(&d.event, delta.is_negative()),
        month: None,
        credit: if delta.is_negative() {
            Money::ZERO
        } else {
            delta
        },
        debit: if delta.is_negative() {
            -delta
        } else {
            Money::ZERO
        },
        balance: Money::ZERO,
        base: contribution.map(|c| c.base),
        payer: contribution.map(|c| c.payer),
        counts_month: contribution.map(|c| c.counts_month),
        purpose: None,
        beneficiary: None,
        counterpart: None,
        rule: contribution.map(|c| c.rule.clone()),
    };
    fill_details(&d.event, &mut line);
    Some(line)
}

/// The kind of a balance-moving event.
fn kind_of(event: &Event, debit: bool) -> LineKind {
    match event {
        Event::ContributionPosted(_) => LineKind::Contribution,
        Event::RetireeAllocationCredited { .. } => LineKind::Allocation,
        Event::TransferredIn { .. } => LineKind::TransferIn,
        Event::InheritanceReceived { .. } => LineKind::InheritanceIn,
        Event::Spent { .. } => LineKind::Spending,
        Event::TransferredOut { .. } => LineKind::TransferOut,
        Event::InheritanceSettled { .. } => LineKind::InheritanceOut,
        Event::VoidedAfterDeath { .. } => LineKind::Voided,
        Event::InterestCredited { .. } => LineKind::Interest,
        _ if debit => LineKind::OtherDebit,
        _ => LineKind::OtherCredit,
    }
}

/// The month, purpose, beneficiary and counterpart a line shows.
fn fill_details(event: &Event, line: &mut AnnualLine) {
    match event {
        Event::ContributionPosted(c) => line.month = Some(c.month),
        Event::RetireeAllocationCredited { month, rule, .. } => {
            line.month = Some(*month);
            line.rule = Some(rule.clone());
        }
        Event::InterestCredited { rule, .. } => line.rule = Some(rule.clone()),
        Event::VoidedAfterDeath { month, .. } => line.month = Some(*month),
        Event::Spent {
            purpose,
            beneficiary,
            ..
        } => {
            line.purpose = Some(*purpose);
            line.beneficiary = beneficiary.clone();
        }
        Event::TransferredIn { from_region, .. } => line.counterpart = Some(from_region.clone()),
        Event::TransferredOut { to_region, .. } => line.counterpart = Some(to_region.clone()),
        Event::InheritanceReceived { from, .. } => line.counterpart = Some(from.to_string()),
        Event::InheritanceSettled { shares, .. } => {
            let names: Vec<&str> = shares.iter().map(|s| s.name.as_str()).collect();
            line.beneficiary = (!names.is_empty()).then(|| names.join("、"));
        }
        _ => {}
    }
}

/// Records the rate or amount behind a credit, for the explanation.
fn note_rates(event: &Event, rates: &mut RatesSeen) {
    match event {
        Event::ContributionPosted(c) => {
            let employer_part = Rate::new(
                (c.credit_rate.as_decimal() - c.employee_rate.as_decimal())
                    .max(rust_decimal::Decimal::ZERO),
            );
            let share = CreditShare {
                credited: c.credit_rate.percent(),
                own: c.employee_rate.percent(),
                employer_part: employer_part.percent(),
            };
            if !rates.contribution_credits.contains(&share) {
                rates.contribution_credits.push(share);
            }
            rates.individual_payer |= c.payer == crate::terms::Payer::Individual;
            rates.second_payment |= !c.counts_month;
        }
        Event::RetireeAllocationCredited { amount, .. } if !rates.allocations.contains(amount) => {
            rates.allocations.push(*amount);
        }
        _ => {}
    }
}

/// A notice for an event that moves no money on the account.
fn notice_of(d: &Decoded) -> Notice {
    let mut notice = Notice {
        position: d.position,
        date: d.date,
        event_type: d.event.type_name().to_string(),
        months: None,
        amount: None,
        reason: None,
    };
    match &d.event {
        Event::DeemedRecognized { months, basis, .. } => {
            notice.months = Some(*months);
            notice.reason = Some(wire_name(basis));
        }
        Event::Suspended { reason, .. } => notice.reason = Some(wire_name(reason)),
        Event::LumpSumPaid { months, amount, .. } => {
            notice.months = Some(*months);
            notice.amount = Some(*amount);
        }
        Event::Enrolled { scheme, .. } => notice.reason = Some(wire_name(scheme)),
        _ => {}
    }
    notice
}

/// Sets each line's running balance from `opening` and returns the twelve month rows.
fn run_balance(lines: &mut [AnnualLine], opening: Money, year: i32) -> Vec<MonthRow> {
    let mut balance = opening;
    let mut rows: Vec<MonthRow> = (1..=12)
        .filter_map(|m| Month::new(year, m))
        .map(|month| MonthRow {
            month,
            totals: KindTotals::default(),
            balance: opening,
        })
        .collect();
    for line in lines.iter_mut() {
        balance += line.credit;
        balance -= line.debit;
        line.balance = balance;
        let index = usize::try_from(line.date.month0()).unwrap_or(0);
        if let Some(row) = rows.get_mut(index) {
            row.totals.add(line);
        }
        // The lines come in date order: this month and the later ones end at this balance
        // until a later line says otherwise (a month with nothing in it carries it forward).
        for row in rows.iter_mut().skip(index) {
            row.balance = balance;
        }
    }
    rows
}
