//! The decision: `decide(context, command) -> events | Rejection`. Pure: reads the states it is
//! given and the policy, computes every amount and date, and returns events to append. It never
//! mutates and never does I/O, so a rejected command cannot leave anything behind.

mod allocation;
mod contribute;
mod credit;
mod death;
mod family;
mod interest;
mod lifecycle;
mod refund;
mod resident;
mod retire;
mod reverse;
mod spending;
mod statement;
mod transfer;

use std::collections::BTreeMap;

use chrono::NaiveDate;

pub use statement::{statement_due, StatementSeal, StatementSeals};

use super::{Command, ErrorCode, Event, MemberId, MemberState, Profile, Rejection, ReversalTarget};
use crate::month::{YEAR_MAX, YEAR_MIN};
use crate::policy::{NotInForce, PolicySet, RegionPolicy};
use crate::terms::Scheme;

/// What a decision reads: the states of the members a command names (see
/// [`Command::members_read`]; for an allocation to every retiree, every retiree) and the policies.
pub struct Context<'a> {
    /// Member states by id; a member missing here is unknown.
    pub states: &'a BTreeMap<MemberId, MemberState>,
    /// The regions' policies.
    pub policies: &'a PolicySet,
    /// For a `reverse`: the stored event it names, when the log has it.
    pub target: Option<&'a ReversalTarget>,
    /// For an `issue_statement`: each member's annual figures, computed by the ledger from the
    /// member's events at the version in `states`.
    pub seals: Option<&'a StatementSeals>,
}

/// Events decided for a command, each for one member, in append order.
pub type Decision = Vec<(MemberId, Event)>;

/// Decides a command against the given states (rules: docs/RULES.md; each helper names its tag).
pub fn decide(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    match command {
        Command::Enroll { .. } => lifecycle::enroll(ctx, command),
        Command::RecognizeDeemed {
            member,
            date,
            months,
            basis,
        } => lifecycle::recognize_deemed(ctx, *member, *date, *months, *basis),
        Command::Contribute { .. } => contribute::contribute(ctx, command),
        Command::PayPremium { .. } => resident::pay_premium(ctx, command),
        Command::Suspend {
            member,
            date,
            reason,
        } => lifecycle::suspend(ctx, *member, *date, *reason),
        Command::TransferIn { .. } => transfer::transfer_in(ctx, command),
        Command::TransferOut {
            member,
            date,
            to_region,
            to_member,
        } => transfer::transfer_out(ctx, *member, *date, to_region, *to_member),
        Command::Refund { .. } => refund::refund(ctx, command),
        Command::Retire {
            member,
            date,
            pension,
            ..
        } => {
            let mut decision = retire::retire(ctx, command)?;
            decision.extend(allocation::pension_at_retirement(*member, *date, *pension)?);
            Ok(decision)
        }
        Command::SetPension {
            member,
            date,
            pension,
        } => allocation::set_pension(ctx, *member, *date, *pension),
        Command::LumpSumMakeup {
            member,
            date,
            months,
        } => retire::lump_sum_makeup(ctx, *member, *date, *months),
        Command::CreditRetireeAllocation { month, member } => {
            allocation::credit_retiree_allocation(ctx, *month, *member)
        }
        Command::CreditInterest { year, member } => interest::credit_interest(ctx, *year, *member),
        Command::RegisterRelative { .. } => family::register_relative(ctx, command),
        Command::Spend { .. } => spending::spend(ctx, command),
        Command::RecordDeath { member, date } => death::record_death(ctx, *member, *date),
        Command::SettleInheritance {
            member,
            date,
            heirs,
        } => spending::settle_inheritance(ctx, *member, *date, heirs),
        Command::Reverse { event, reason } => reverse::reverse(ctx, *event, reason),
        Command::IssueStatement {
            member,
            region,
            year,
            date,
        } => statement::issue_statement(ctx, *member, region.as_deref(), *year, *date),
    }
}

/// A known member with its profile and region policy.
struct Subject<'a> {
    state: &'a MemberState,
    profile: &'a Profile,
    policy: &'a RegionPolicy,
}

fn subject<'a>(ctx: &'a Context<'_>, member: MemberId) -> Result<Subject<'a>, Rejection> {
    let state = ctx.states.get(&member).filter(|s| s.is_known());
    let state = state.ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownMember,
            format!("member {member} is not enrolled; enrol the member first"),
        )
    })?;
    let profile = state.profile.as_ref().ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownMember,
            format!("member {member} is not enrolled"),
        )
    })?;
    let policy = ctx.policies.region(&profile.region).ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownRegion,
            format!(
                "member {member} is in region '{}', which this ledger has no policy for",
                profile.region
            ),
        )
    })?;
    Ok(Subject {
        state,
        profile,
        policy,
    })
}

/// Refuses anything on a closed account, and a date outside the ledger's range or before enrolment.
fn open_on(s: &Subject<'_>, date: NaiveDate, what: &str) -> Result<(), Rejection> {
    check_date(date, what)?;
    if let Some(closed) = s.state.closed_on {
        let msg = format!(
            "member {}'s account closed on {closed}; nothing more may be posted to it",
            s.state.member
        );
        return Err(Rejection::new(ErrorCode::AccountClosed, msg));
    }
    if date < s.profile.enrolled_on {
        let msg = format!(
            "{what} {date} is before the member's enrolment on {}",
            s.profile.enrolled_on
        );
        return Err(Rejection::invalid(msg));
    }
    Ok(())
}

/// Refuses a date after the member's recorded death.
fn alive_on(s: &Subject<'_>, date: NaiveDate, what: &str) -> Result<(), Rejection> {
    match s.state.died_on {
        Some(died) if date > died => Err(Rejection::new(
            ErrorCode::AfterDeath,
            format!("{what} {date} is after the member's death on {died}"),
        )),
        _ => Ok(()),
    }
}

fn not_retired(s: &Subject<'_>, what: &str) -> Result<(), Rejection> {
    match s.state.retired_on {
        Some(on) => Err(Rejection::new(
            ErrorCode::AlreadyRetired,
            format!("the member retired on {on}; {what} is closed to retirees"),
        )),
        None => Ok(()),
    }
}

fn employee_scheme(s: &Subject<'_>, what: &str) -> Result<(), Rejection> {
    if s.profile.scheme == Scheme::Employee {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::WrongScheme,
        format!(
            "{what} is for the employee scheme; member {} is a resident-scheme member",
            s.state.member
        ),
    ))
}

fn check_date(date: NaiveDate, what: &str) -> Result<(), Rejection> {
    let year = chrono::Datelike::year(&date);
    if (YEAR_MIN..=YEAR_MAX).contains(&year) {
        return Ok(());
    }
    Err(Rejection::invalid(format!(
        "{what} {date} is outside the years {YEAR_MIN}..{YEAR_MAX}"
    )))
}

/// A closing debit (transfer out, inheritance) moves the whole balance, so it may not be dated
/// before an event already on the account: an as-of view would otherwise show money twice.
fn not_before_last_event(s: &Subject<'_>, date: NaiveDate, what: &str) -> Result<(), Rejection> {
    match s.state.last_event_on {
        Some(last) if date < last => Err(Rejection::invalid(format!(
            "{what} {date} is before the member's latest event on {last}"
        ))),
        _ => Ok(()),
    }
}

impl From<NotInForce> for Rejection {
    fn from(e: NotInForce) -> Rejection {
        Rejection::new(ErrorCode::PolicyMissing, e.to_string())
    }
}
