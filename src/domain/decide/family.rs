//! Family mutual aid (家庭共济): the register of relatives, spending only for a relative
//! registered that day, and a relative's premium posted to the relative's own record in the
//! same write. docs/RULES.md §8, §12 R14.

use super::{alive_on, employee_scheme, open_on, resident, subject, Context, Decision, Subject};
use crate::domain::{Command, ErrorCode, Event, Purpose, Rejection, Relation, Relative};
use crate::month::{YEAR_MAX, YEAR_MIN};

/// The longest registered name, in bytes.
pub const RELATIVE_NAME_BYTES_MAX: usize = 200;
/// The most relatives one member may register.
pub const RELATIVES_MAX: usize = 64;

/// Decides `register_relative`: the relation must be allowed in the region on the date (spouse,
/// parent, child from `family_mutual_aid_from`; other close relatives from
/// `close_relatives_from`), and a relative named by id must be a member of this ledger.
pub(super) fn register_relative(
    ctx: &Context<'_>,
    command: &Command,
) -> Result<Decision, Rejection> {
    let Command::RegisterRelative {
        member,
        date,
        relation,
        relative,
        name,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    open_on(&s, *date, "registration date")?;
    employee_scheme(
        &s,
        "family mutual aid (a personal account pays for relatives)",
    )?;
    alive_on(&s, *date, "registration date")?;
    let name = name.trim();
    if name.is_empty() || name.len() > RELATIVE_NAME_BYTES_MAX {
        return Err(Rejection::invalid(format!(
            "a relative's name is 1 to {RELATIVE_NAME_BYTES_MAX} bytes"
        )));
    }
    let close = *relation == Relation::CloseRelative;
    s.policy.relation_allowed(close, *date).map_err(|why| {
        let what = crate::domain::wire_name(relation);
        Rejection::invalid(format!("registering a {what} is allowed {why} [R14]"))
    })?;
    if let Some(id) = relative {
        if id == member {
            return Err(Rejection::invalid("a member is not his own relative"));
        }
        subject(ctx, *id)?;
    }
    let rules = &s.state.rules;
    let twice = rules
        .relatives
        .iter()
        .find(|r| match (relative, r.relative) {
            (Some(id), Some(known)) => *id == known,
            (None, None) => r.name == name,
            _ => false,
        });
    if let Some(known) = twice {
        return Err(Rejection::invalid(format!(
            "{name} is already registered since {}",
            known.date
        )));
    }
    if rules.relatives.len() >= RELATIVES_MAX {
        return Err(Rejection::invalid(format!(
            "at most {RELATIVES_MAX} relatives per member"
        )));
    }
    let event = Event::RelativeRegistered {
        date: *date,
        relation: *relation,
        relative: *relative,
        name: name.to_string(),
    };
    Ok(vec![(*member, event)])
}

/// Spending for a relative needs a registration in force on the spending date, naming the
/// relative's member id (a relative in the ledger) or the registered name; a relative's premium
/// names its coverage year. Returns the registration.
pub(super) fn check_relative_spending(
    s: &Subject<'_>,
    command: &Command,
) -> Result<Option<Relative>, Rejection> {
    let Command::Spend {
        date,
        purpose,
        beneficiary,
        coverage_year,
        ..
    } = command
    else {
        return Ok(None);
    };
    if coverage_year.is_some_and(|y| !(YEAR_MIN..=YEAR_MAX).contains(&y)) {
        return Err(Rejection::invalid(format!(
            "coverage_year is outside {YEAR_MIN}..{YEAR_MAX}"
        )));
    }
    if *purpose != Purpose::RelativePremium && coverage_year.is_some() {
        return Err(Rejection::invalid(
            "coverage_year belongs to a relative_premium",
        ));
    }
    if !purpose.is_for_relative() {
        return Ok(None);
    }
    let named = beneficiary.as_deref().unwrap_or_default();
    let Some(relative) = s.state.rules.relative_for(named, *date) else {
        return Err(Rejection::new(
            ErrorCode::RelativeNotRegistered,
            format!(
                "'{named}' is not a relative registered by {date}; register_relative first (the beneficiary is the relative's member id when the relative is in the ledger, else the registered name) [R14]"
            ),
        ));
    };
    if *purpose == Purpose::RelativePremium && coverage_year.is_none() {
        return Err(Rejection::invalid(
            "a relative_premium names the relative's coverage_year",
        ));
    }
    Ok(Some(relative.clone()))
}

/// A relative's premium paid from the account, when the relative is in the ledger: the
/// relative's `premium_paid` (the spend is the personal part, the subsidy the schedule's), for
/// the same write as the spending.
pub(super) fn relative_premium(
    ctx: &Context<'_>,
    payer: &Subject<'_>,
    relative: Option<Relative>,
    command: &Command,
) -> Result<Decision, Rejection> {
    let Command::Spend {
        date,
        amount,
        purpose: Purpose::RelativePremium,
        coverage_year: Some(year),
        ..
    } = command
    else {
        return Ok(Vec::new());
    };
    let Some(id) = relative.and_then(|r| r.relative) else {
        return Ok(Vec::new());
    };
    let r = subject(ctx, id)?;
    let input = resident::PremiumInput {
        year: *year,
        personal: *amount,
        subsidy: None,
        date: *date,
        category: None,
        repair_years: 0,
        paid_from: Some(payer.state.member),
    };
    let event = resident::premium_event(&r, &input).map_err(|e| {
        Rejection::new(
            e.code,
            format!("the relative {id}'s premium: {}", e.message),
        )
    })?;
    Ok(vec![(id, event)])
}
