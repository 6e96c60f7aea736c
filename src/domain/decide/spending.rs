//! Money leaving or entering the account outside contributions: spending and inheritance.
//! docs/RULES.md §8, §9 (retiree allocations: `allocation.rs`).

use chrono::NaiveDate;

use super::{
    alive_on, employee_scheme, family, interest, not_before_last_event, open_on, subject, Context,
    Decision, Subject,
};
use crate::domain::{
    Command, ErrorCode, Event, Heir, HeirDestination, InheritanceShare, MemberId, MemberState,
    Rejection, Share,
};
use crate::money::Money;
use crate::terms::{Scheme, Tier};

/// Most heirs one settlement may name.
pub const HEIRS_MAX: usize = 64;

pub(super) fn spend(ctx: &Context<'_>, command: &Command) -> Result<Decision, Rejection> {
    let Command::Spend {
        member,
        date,
        amount,
        purpose,
        beneficiary,
        coverage_year,
    } = command
    else {
        unreachable!("dispatched on type")
    };
    let s = subject(ctx, *member)?;
    open_on(&s, *date, "spending date")?;
    employee_scheme(&s, "spending from a personal account")?;
    alive_on(&s, *date, "spending date")?;
    if !amount.is_positive() {
        return Err(Rejection::invalid(format!(
            "amount {amount} must be positive"
        )));
    }
    if purpose.is_for_relative() {
        // No registration can be in force before the region allows mutual aid (R14).
        if !s.policy.family_mutual_aid_allowed(*date) {
            return Err(Rejection::new(
                ErrorCode::RelativeNotRegistered,
                format!(
                    "spending on relatives (家庭共济) is not allowed on {date}: no relative can be registered before the region's start [R14, nat 2021]"
                ),
            ));
        }
        if beneficiary.as_deref().is_none_or(|b| b.trim().is_empty()) {
            return Err(Rejection::invalid(
                "spending on a relative must name the beneficiary",
            ));
        }
    }
    // R14: a registered relative, and for a premium the relative's coverage year.
    let relative = family::check_relative_spending(&s, command)?;
    let available = s.state.balance.min(s.state.balance_floor_from(*date));
    if *amount > available {
        let msg = format!(
            "the account can pay {available} on and after {date} (balance {}), not {amount}",
            s.state.balance
        );
        return Err(Rejection::new(ErrorCode::InsufficientBalance, msg));
    }
    let event = Event::Spent {
        date: *date,
        amount: *amount,
        purpose: *purpose,
        beneficiary: beneficiary.clone(),
        coverage_year: *coverage_year,
    };
    let mut decision = vec![(*member, event)];
    // The relative's premium, in the same write, when the relative is in the ledger.
    decision.extend(family::relative_premium(ctx, &s, relative, command)?);
    Ok(decision)
}

pub(super) fn settle_inheritance(
    ctx: &Context<'_>,
    member: MemberId,
    date: NaiveDate,
    heirs: &[Heir],
) -> Result<Decision, Rejection> {
    let s = subject(ctx, member)?;
    open_on(&s, date, "settlement date")?;
    employee_scheme(&s, "an inheritance of a personal account")?;
    let Some(died) = s.state.died_on else {
        return Err(Rejection::new(
            ErrorCode::NotDeceased,
            "record the member's death before settling the inheritance",
        ));
    };
    if date < died {
        return Err(Rejection::invalid(format!(
            "settlement date {date} is before the death on {died}"
        )));
    }
    not_before_last_event(&s, date, "settlement date")?;
    // R8: the interest up to the settlement is credited in the same append and handed on.
    let (interest, interest_total) = interest::at_closing(&s, date)?;
    let balance = s.state.balance + interest_total;
    let amounts = split(balance, heirs)?;
    let (shares, received) = hand_out(ctx, &s, date, heirs, amounts, balance);
    let settled = Event::InheritanceSettled {
        date,
        balance,
        shares,
    };
    let mut events: Decision = interest.into_iter().map(|e| (member, e)).collect();
    events.push((member, settled));
    events.extend(received);
    Ok(events)
}

/// Each heir's share as the settlement records it, and an `inheritance_received` for each heir
/// whose account takes a positive share (R11); without heirs the whole balance goes to the
/// pooled fund.
fn hand_out(
    ctx: &Context<'_>,
    s: &Subject<'_>,
    date: NaiveDate,
    heirs: &[Heir],
    amounts: Vec<Money>,
    balance: Money,
) -> (Vec<InheritanceShare>, Decision) {
    let member = s.state.member;
    let mut shares = Vec::with_capacity(heirs.len().max(1));
    let mut decision = Vec::new();
    for (heir, amount) in heirs.iter().zip(amounts) {
        let receiving = heir
            .heir
            .filter(|h| *h != member)
            .and_then(|h| ctx.states.get(&h))
            .filter(|h| can_receive(h, date, &s.profile.region));
        let destination = if receiving.is_some() {
            HeirDestination::Account
        } else {
            HeirDestination::Payout
        };
        if let Some(h) = receiving.filter(|_| amount.is_positive()) {
            decision.push((
                h.member,
                Event::InheritanceReceived {
                    date,
                    from: member,
                    amount,
                },
            ));
        }
        shares.push(InheritanceShare {
            heir: heir.heir,
            name: heir.name.clone(),
            share: heir.share.clone(),
            amount,
            destination,
        });
    }
    if heirs.is_empty() {
        shares.push(InheritanceShare {
            heir: None,
            name: "pooled fund".into(),
            share: Share::one(),
            amount: balance,
            destination: HeirDestination::PooledFund,
        });
    }
    (shares, decision)
}

/// An heir insured here (R11): an employee-scheme member of the same region whose account is
/// open and alive on `date`, and who has an account (a `pool_only` member has none, R3); any
/// other heir's share is paid out.
fn can_receive(heir: &MemberState, date: NaiveDate, region: &str) -> bool {
    let employee_here = heir.profile.as_ref().is_some_and(|p| {
        p.scheme == Scheme::Employee && p.region == region && p.enrolled_on <= date
    });
    let has_account = heir.rules.tier == Tier::WithAccount;
    employee_here
        && has_account
        && heir.closed_on.is_none()
        && heir.died_on.is_none_or(|d| d >= date)
}

/// Splits `balance` by shares to the fen, losing and creating nothing (R11): each share is
/// rounded down, then the fen left over go one each to the largest remainders (list order on
/// ties). Shares are exact fractions, so 400.00 in thirds is 133.34, 133.33, 133.33.
fn split(balance: Money, heirs: &[Heir]) -> Result<Vec<Money>, Rejection> {
    if heirs.len() > HEIRS_MAX {
        return Err(Rejection::invalid(format!(
            "at most {HEIRS_MAX} heirs per settlement"
        )));
    }
    if heirs.iter().any(|h| !h.share.is_positive()) {
        return Err(Rejection::invalid("every heir's share must be positive"));
    }
    if heirs.iter().any(|h| h.share.exceeds_one()) {
        return Err(Rejection::invalid(
            "every heir's share is a fraction of at most 1",
        ));
    }
    if heirs.iter().any(|h| h.name.trim().is_empty()) {
        return Err(Rejection::invalid("every heir needs a name"));
    }
    let too_fine = || {
        Rejection::invalid(
            "the shares are too fine to add up exactly; write them with smaller denominators",
        )
    };
    let total = Share::sum(heirs.iter().map(|h| &h.share)).ok_or_else(too_fine)?;
    if !heirs.is_empty() && total != (1, 1) {
        let (n, d) = total;
        return Err(Rejection::invalid(format!(
            "heirs' shares sum to {n}/{d}, not 1"
        )));
    }
    let fen = i128::from(balance.fen());
    // Each heir's exact part in fen is fen × n / d: its floor and the remainder over d.
    let mut parts = Vec::with_capacity(heirs.len());
    for h in heirs {
        let product = fen.checked_mul(h.share.numerator()).ok_or_else(too_fine)?;
        let d = h.share.denominator();
        parts.push((product / d, product % d, d));
    }
    let handed: i128 = parts.iter().map(|(floor, _, _)| *floor).sum();
    let mut left = fen - handed;
    let mut order: Vec<usize> = (0..heirs.len()).collect();
    // Larger remainder first: r_a / d_a > r_b / d_b ⇔ r_a × d_b > r_b × d_a.
    let cross = |a: usize, b: usize| {
        let (_, ra, da) = parts[a];
        let (_, rb, db) = parts[b];
        ra.checked_mul(db).zip(rb.checked_mul(da))
    };
    if (0..heirs.len()).any(|a| (0..heirs.len()).any(|b| cross(a, b).is_none())) {
        return Err(too_fine());
    }
    order.sort_by(|a, b| {
        let (x, y) = cross(*a, *b).unwrap_or_default();
        y.cmp(&x).then(a.cmp(b))
    });
    let mut amounts: Vec<i128> = parts.iter().map(|(floor, _, _)| *floor).collect();
    for i in order {
        if left <= 0 {
            break;
        }
        amounts[i] += 1;
        left -= 1;
    }
    amounts
        .into_iter()
        .map(|a| {
            i64::try_from(a)
                .map(Money::from_fen)
                .map_err(|_| too_fine())
        })
        .collect()
}
