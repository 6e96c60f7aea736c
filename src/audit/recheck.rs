//! Recomputes every stored amount from the inputs stored beside it: the check that no figure in
//! the log was computed wrongly or altered together with its hash.
//!
//! Two depths: the arithmetic inside the event (shares = base × stored rates, refund = paid −
//! credited, heirs' shares sum to the balance), always; and, when the ledger still has the
//! policy version the event names, the rates and bases themselves asked of that policy again.
//! An event decided under a policy version this ledger no longer has is checked for arithmetic
//! only, and counted as such.

use crate::domain::{Event, MemberState};
use crate::money::Money;
use crate::month::age_on;
use crate::policy::PolicySet;

/// How deeply an event's amounts were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// The event carries no computed amount.
    Nothing,
    /// Arithmetic inside the event only (its policy version is not loaded).
    Arithmetic,
    /// Arithmetic and every policy value asked again of the policy version it names.
    Policy,
}

/// Checks one event's amounts against its stored inputs, given the member's state before it.
/// `Err` says which figure does not recompute.
pub fn recheck(
    event: &Event,
    before: &MemberState,
    policies: &PolicySet,
    policy_version: &str,
) -> Result<Depth, String> {
    let region = before.profile.as_ref().map(|p| p.region.as_str());
    let policy = region
        .filter(|r| policies.version(r) == Some(policy_version))
        .and_then(|r| policies.region(r));
    let birth = before.profile.as_ref().map(|p| p.birth_date);
    let depth = |checked_policy: bool| {
        if checked_policy {
            Depth::Policy
        } else {
            Depth::Arithmetic
        }
    };
    let expect = |what: &str, stored: Money, computed: Money| {
        if stored == computed {
            Ok(())
        } else {
            Err(format!(
                "{what} is {stored} but recomputes to {computed} from the stored inputs"
            ))
        }
    };
    match event {
        Event::ContributionPosted(c) => {
            expect(
                "employee share",
                c.employee,
                c.base.times_rate(c.employee_rate),
            )?;
            expect(
                "employer share",
                c.employer,
                c.base.times_rate(c.employer_rate),
            )?;
            if let Some(m) = &c.mutual_aid {
                expect(
                    "mutual-aid employer amount",
                    m.employer,
                    c.base.times_rate(m.employer_rate),
                )?;
            }
            let (Some(policy), Some(birth)) = (policy, birth) else {
                let one_rounding = c.base.times_rate(c.credit_rate);
                let fen = Money::from_fen(1);
                if (c.account_credit - one_rounding).abs() > fen {
                    return Err(format!(
                        "account credit {} is not {} × {}",
                        c.account_credit,
                        c.base,
                        c.credit_rate.percent()
                    ));
                }
                return Ok(depth(false));
            };
            let err = |e: crate::policy::NotInForce| e.to_string();
            expect(
                "contribution base",
                c.base,
                policy.contribution_base(c.month, c.wage).map_err(err)?,
            )?;
            let (employee_rate, _) = policy.employee_rate(c.month).map_err(err)?;
            let (employer_rate, _) = policy
                .employer_rate(c.month, c.employer_class)
                .map_err(err)?;
            if employee_rate != c.employee_rate || employer_rate != c.employer_rate {
                return Err(format!(
                    "rates {} / {} differ from the policy's {} / {}",
                    c.employee_rate.percent(),
                    c.employer_rate.percent(),
                    employee_rate.percent(),
                    employer_rate.percent()
                ));
            }
            let aid = policy.mutual_aid(c.month).map(|d| d.value);
            let aid_matches = match (aid, &c.mutual_aid) {
                (None, None) => true,
                (Some(p), Some(m)) => {
                    p.employer_rate == m.employer_rate && p.personal_monthly == m.personal
                }
                _ => false,
            };
            if !aid_matches {
                return Err(format!(
                    "mutual-aid amounts {:?} differ from the policy's {:?}",
                    c.mutual_aid, aid
                ));
            }
            let age = age_on(birth, c.month.last_day());
            let (own, part, _) = policy.account_credit_rate(c.month, age).map_err(err)?;
            expect(
                "account credit",
                c.account_credit,
                c.base.times_rate(own) + c.base.times_rate(part),
            )?;
            Ok(depth(true))
        }
        Event::LumpSumPaid {
            date,
            months,
            makeup_base,
            rate,
            amount,
            ..
        } => {
            expect(
                "lump sum",
                *amount,
                makeup_base.times(*months).times_rate(*rate),
            )?;
            if let Some(policy) = policy {
                let base = policy.makeup_base(*date).map_err(|e| e.to_string())?;
                expect("makeup base", *makeup_base, base.value)?;
            }
            Ok(depth(policy.is_some()))
        }
        Event::RetireeAllocationCredited {
            month, age, amount, ..
        } => {
            let (Some(policy), Some(birth)) = (policy, birth) else {
                return Ok(depth(false));
            };
            let computed_age = age_on(birth, month.first_day());
            if computed_age != *age {
                return Err(format!(
                    "age {age} differs from {computed_age} on {}",
                    month.first_day()
                ));
            }
            let (computed, _) = policy
                .retiree_allocation(*month, *age)
                .map_err(|e| e.to_string())?;
            expect("retiree allocation", *amount, computed)?;
            Ok(depth(true))
        }
        Event::ContributionRefunded {
            payments, amount, ..
        } => {
            for p in payments {
                expect(
                    &format!("refund of {}", p.month),
                    p.amount,
                    p.paid - p.credited,
                )?;
            }
            expect(
                "refund total",
                *amount,
                payments.iter().map(|p| p.amount).sum(),
            )?;
            Ok(depth(false))
        }
        Event::TransferredOut { balance, .. } => {
            expect("transferred balance", *balance, before.balance)?;
            Ok(depth(false))
        }
        Event::InheritanceSettled {
            balance, shares, ..
        } => {
            expect("inherited balance", *balance, before.balance)?;
            if !shares.is_empty() {
                expect(
                    "sum of the heirs' shares",
                    *balance,
                    shares.iter().map(|s| s.amount).sum(),
                )?;
            }
            Ok(depth(false))
        }
        Event::Retired {
            months_actual,
            months_deemed,
            ..
        } => {
            if *months_actual != before.months_actual() || *months_deemed != before.months_deemed()
            {
                return Err(format!(
                    "retired with {months_actual} actual and {months_deemed} deemed months, but the \
                     events before it give {} and {}",
                    before.months_actual(),
                    before.months_deemed()
                ));
            }
            Ok(depth(false))
        }
        Event::VoidedAfterDeath {
            month,
            payer,
            employee,
            employer,
            credited,
            refunded,
            ..
        } => {
            expect("voided refund", *refunded, *employee + *employer)?;
            let on_record = match payer {
                Some(payer) => before
                    .months
                    .get(month)
                    .and_then(|c| c.payment(*payer))
                    .filter(|p| !p.refunded)
                    .map(|p| p.credit),
                None => before.allocation_credits.get(month).map(|(_, a)| *a),
            };
            match on_record {
                Some(credit) => expect("voided credit", *credited, credit)?,
                None => return Err(format!("voids {month}, which has no credit on record")),
            }
            Ok(depth(false))
        }
        Event::Reversed { original, .. } if original.balance_delta().is_positive() => {
            if before.balance < original.balance_delta() {
                return Err("the reversal takes back more than the balance".into());
            }
            Ok(depth(false))
        }
        Event::Spent { amount, .. } if before.balance < *amount => Err(format!(
            "spending {amount} exceeds the balance {} before it",
            before.balance
        )),
        _ => Ok(Depth::Nothing),
    }
}
