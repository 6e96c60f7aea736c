//! What a contribution pays and credits under the policy model: the shares and the credit by
//! payer and tier (R3), rounded as the policy says (R7), and the surcharges charged beside it
//! (R5). docs/RULES.md §2, §12.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::NaiveDate;

use super::Subject;
use crate::domain::{CreditParts, ErrorCode, Rejection, SurchargePaid};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::policy::{ContributionTerms, NotInForce, RegionPolicy, SurchargeGroup, SurchargePer};
use crate::terms::{EmployerClass, Payer, Scheme, Tier};

/// A contribution's shares, credit and surcharges, with the rule in words.
pub(super) struct Priced {
    /// Employee share rate (an individual: his own part).
    pub employee_rate: Rate,
    /// Employer share rate (an individual: the pooled part).
    pub employer_rate: Rate,
    /// The credit and how it was computed.
    pub credit: Money,
    /// The parts of the credit, recorded in the event.
    pub parts: CreditParts,
    /// The rule, with sources.
    pub rule: String,
}

/// Prices a contribution of `base` for `month`: R3 (individual rate and own part, tiers) and
/// R7 (credit rounding).
pub(super) fn price(
    s: &Subject<'_>,
    month: Month,
    payer: Payer,
    class: EmployerClass,
    base: Money,
    age: u32,
) -> Result<Priced, Rejection> {
    let tier = s.state.rules.tier;
    let key = TermsKey {
        month,
        payer: payer as u8,
        class: class as u8,
        tier: tier as u8,
        age,
    };
    with_terms(
        s,
        key,
        |policy| policy.contribution_terms(month, payer, class, tier, age),
        |terms| {
            let credit = terms.credit(base);
            let rounding = match terms.rounding {
                crate::policy::CreditRounding::Combined => "; credit rounded once [R7]",
                crate::policy::CreditRounding::Separate => "",
            };
            Priced {
                employee_rate: terms.employee_rate,
                employer_rate: terms.employer_rate,
                credit,
                parts: CreditParts {
                    own_rate: terms.own_rate,
                    employer_part_rate: terms.employer_part_rate,
                    rounding: terms.rounding,
                    tier,
                },
                rule: based_rule(base, &terms.rule, rounding),
            }
        },
    )
    .map_err(Rejection::from)
}

/// What a contribution's terms depend on besides the policy: the month, the payer, the
/// employer's class, the tier and the member's age (the enums as their discriminants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TermsKey {
    month: Month,
    payer: u8,
    class: u8,
    tier: u8,
    age: u32,
}

/// Contribution terms kept on a thread, at most this many (emptied when full).
const TERMS_CACHED_MAX: usize = 4096;

/// Terms worked out already on this thread, by policy version (a digest of the region's file:
/// the same version answers the same) and [`TermsKey`]. The rule text is the same words for
/// every member of an age, tier, payer and class in a month; building it was about a twentieth
/// of deciding a contribution.
#[derive(Default)]
struct TermsCache {
    by_version: HashMap<String, HashMap<TermsKey, ContributionTerms>>,
    entries: usize,
}

thread_local! {
    static TERMS: RefCell<TermsCache> = RefCell::new(TermsCache::default());
}

/// `then` of the terms for `key` under the subject's policy: from this thread's cache, or
/// worked out by `work` (and kept). A question the policy cannot answer is not kept.
fn with_terms<T>(
    s: &Subject<'_>,
    key: TermsKey,
    work: impl FnOnce(&RegionPolicy) -> Result<ContributionTerms, NotInForce>,
    then: impl FnOnce(&ContributionTerms) -> T,
) -> Result<T, NotInForce> {
    if s.policy_version.is_empty() {
        return work(s.policy).map(|terms| then(&terms));
    }
    TERMS.with_borrow_mut(|cache| {
        if let Some(terms) = cache
            .by_version
            .get(s.policy_version)
            .and_then(|m| m.get(&key))
        {
            return Ok(then(terms));
        }
        let terms = work(s.policy)?;
        let answer = then(&terms);
        if cache.entries >= TERMS_CACHED_MAX {
            *cache = TermsCache::default();
        }
        cache
            .by_version
            .entry(s.policy_version.to_string())
            .or_default()
            .insert(key, terms);
        cache.entries += 1;
        Ok(answer)
    })
}

/// `base {base}; {rule}{rounding}`, in one string with room for the notes added after it.
fn based_rule(base: Money, rule: &str, rounding: &str) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(rule.len() + BASED_RULE_EXTRA_BYTES);
    // Writing into a String cannot fail.
    let _ = write!(text, "base {base}; ");
    text.push_str(rule);
    text.push_str(rounding);
    text
}

/// Room for the base, the rounding note and the notes a contribution adds after its rule.
const BASED_RULE_EXTRA_BYTES: usize = 256;

/// The surcharges charged beside the contribution that counts `month` (R5): every monthly one
/// and rate of the base, and a half-yearly or yearly one the first time its period is paid.
/// A payment that does not count the month (a duplicate) carries none.
pub(super) fn contribution_surcharges(
    s: &Subject<'_>,
    month: Month,
    base: Money,
    counts_month: bool,
) -> (Vec<SurchargePaid>, String) {
    if !counts_month {
        return (Vec::new(), String::new());
    }
    charged(s, month, SurchargeGroup::InService, Some(base))
}

/// The surcharges a retiree is charged with the allocation for `month` (R5): flat amounts only.
pub(super) fn retiree_surcharges(s: &Subject<'_>, month: Month) -> (Vec<SurchargePaid>, String) {
    charged(s, month, SurchargeGroup::Retiree, None)
}

fn charged(
    s: &Subject<'_>,
    month: Month,
    group: SurchargeGroup,
    base: Option<Money>,
) -> (Vec<SurchargePaid>, String) {
    let Some(entry) = s.policy.surcharges_of(month) else {
        return (Vec::new(), String::new());
    };
    let mut paid = Vec::new();
    for surcharge in entry.value.iter().filter(|x| x.applies(group)) {
        let (period, rate, amount) = match (surcharge.rate, surcharge.amount, surcharge.per) {
            (Some(rate), _, _) => match base {
                Some(base) => (month.to_string(), Some(rate), base.times_rate(rate)),
                None => continue,
            },
            (None, Some(amount), Some(per)) => {
                let period = per.period_of(month);
                let key = format!("{}@{period}", surcharge.name);
                if per != SurchargePer::Month && s.state.rules.surcharged.contains(&key) {
                    continue;
                }
                (period, None, amount)
            }
            _ => continue,
        };
        paid.push(SurchargePaid {
            name: surcharge.name.clone(),
            period,
            rate,
            amount,
        });
    }
    if paid.is_empty() {
        return (paid, String::new());
    }
    let words: Vec<String> = paid
        .iter()
        .map(|p| match p.rate {
            Some(rate) => format!("{} {} = {}", p.name, rate.percent(), p.amount),
            None => format!("{} {} for {}", p.name, p.amount, p.period),
        })
        .collect();
    let rule = format!(
        "surcharges {}, not credited to the account {}",
        words.join(", "),
        entry.source
    );
    (paid, rule)
}

/// A tier chosen at enrolment must be one the region offers that day, in the employee scheme.
pub(super) fn check_tier(
    policy: &RegionPolicy,
    scheme: Scheme,
    tier: Tier,
    date: NaiveDate,
) -> Result<(), Rejection> {
    if tier == Tier::WithAccount {
        return Ok(());
    }
    if scheme != Scheme::Employee {
        return Err(Rejection::new(
            ErrorCode::WrongScheme,
            "a tier is chosen in the employee scheme; the resident scheme has no personal account",
        ));
    }
    if policy.offers_tier(tier, date) {
        return Ok(());
    }
    Err(Rejection::invalid(format!(
        "region {} offers no pool_only tier on {date}; enrol with_account (the default) [R3]",
        policy.region
    )))
}
