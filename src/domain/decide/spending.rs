//! Money leaving or entering the account outside contributions: spending and inheritance.
//! DOMAIN §8, §9 (retiree allocations: `allocation.rs`).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    alive_on, employee_scheme, family, interest, not_before_last_event, open_on, subject, Context,
    Decision,
};
use crate::domain::{
    Command, ErrorCode, Event, Heir, HeirDestination, InheritanceShare, MemberId, MemberState,
    Rejection, Scheme,
};
use crate::money::Money;

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
        if !s.policy.family_mutual_aid_allowed(*date) {
            return Err(Rejection::invalid(format!(
                "spending on relatives (家庭共济) is not allowed on {date} [nat 2021]"
            )));
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
    let mut shares = Vec::with_capacity(heirs.len().max(1));
    let mut decision = Vec::new();
    for (heir, amount) in heirs.iter().zip(amounts) {
        let receiving = heir
            .heir
            .filter(|h| *h != member)
            .and_then(|h| ctx.states.get(&h))
            .filter(|h| can_receive(h, date));
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
            share: heir.share,
            amount,
            destination,
        });
    }
    if heirs.is_empty() {
        let share = crate::money::Rate::new(Decimal::ONE);
        shares.push(InheritanceShare {
            heir: None,
            name: "pooled fund".into(),
            share,
            amount: balance,
            destination: HeirDestination::PooledFund,
        });
    }
    decision.insert(
        0,
        (
            member,
            Event::InheritanceSettled {
                date,
                balance,
                shares,
            },
        ),
    );
    let mut events: Decision = interest.into_iter().map(|e| (member, e)).collect();
    events.extend(decision);
    Ok(events)
}

/// An heir insured here: an employee-scheme member whose account is open and alive on `date`.
fn can_receive(heir: &MemberState, date: NaiveDate) -> bool {
    let employee = heir
        .profile
        .as_ref()
        .is_some_and(|p| p.scheme == Scheme::Employee && p.enrolled_on <= date);
    employee && heir.closed_on.is_none() && heir.died_on.is_none_or(|d| d >= date)
}

/// Splits `balance` by shares to the fen, losing and creating nothing: each share is rounded down,
/// then the fen left over go one each to the largest remainders (earlier heirs first on ties).
fn split(balance: Money, heirs: &[Heir]) -> Result<Vec<Money>, Rejection> {
    if heirs.len() > HEIRS_MAX {
        return Err(Rejection::invalid(format!(
            "at most {HEIRS_MAX} heirs per settlement"
        )));
    }
    if heirs.iter().any(|h| h.share.as_decimal() <= Decimal::ZERO) {
        return Err(Rejection::invalid("every heir's share must be positive"));
    }
    // A share above 1 can never sum to 1 with positive others; refusing it here also keeps the
    // sum below from overflowing (HEIRS_MAX shares of at most 1 each).
    if heirs.iter().any(|h| h.share.as_decimal() > Decimal::ONE) {
        return Err(Rejection::invalid(
            "every heir's share is a fraction of at most 1",
        ));
    }
    if heirs.iter().any(|h| h.name.trim().is_empty()) {
        return Err(Rejection::invalid("every heir needs a name"));
    }
    let total: Decimal = heirs.iter().map(|h| h.share.as_decimal()).sum();
    if !heirs.is_empty() && total != Decimal::ONE {
        return Err(Rejection::invalid(format!(
            "heirs' shares sum to {total}, not 1"
        )));
    }
    let exact: Vec<Decimal> = heirs
        .iter()
        .map(|h| balance.as_decimal() * h.share.as_decimal())
        .collect();
    let mut amounts: Vec<Money> = exact.iter().map(|e| Money::round_down(*e)).collect();
    let handed: Money = amounts.iter().copied().sum();
    let mut left_fen = (balance - handed).fen();
    let mut order: Vec<usize> = (0..heirs.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - amounts[*b].as_decimal())
            .cmp(&(exact[*a] - amounts[*a].as_decimal()))
            .then(a.cmp(b))
    });
    for i in order {
        if left_fen <= 0 {
            break;
        }
        amounts[i] += Money::from_fen(1);
        left_fen -= 1;
    }
    Ok(amounts)
}
