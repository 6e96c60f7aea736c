//! What a contribution pays and credits under the policy model: the shares and the credit by
//! payer and tier (R3), rounded as the policy says (R7), and the surcharges charged beside it
//! (R5). docs/RULES.md §2, §12.

use chrono::NaiveDate;

use super::Subject;
use crate::domain::{CreditParts, ErrorCode, Rejection, SurchargePaid};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::policy::{ContributionTerms, RegionPolicy, SurchargeGroup, SurchargePer};
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
    let terms: ContributionTerms = s
        .policy
        .contribution_terms(month, payer, class, tier, age)?;
    let credit = terms.credit(base);
    let rounding = match terms.rounding {
        crate::policy::CreditRounding::Combined => "; credit rounded once [R7]",
        crate::policy::CreditRounding::Separate => "",
    };
    Ok(Priced {
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
    })
}

/// `base {base}; {rule}{rounding}`, in one string with room for the notes added after it.
fn based_rule(base: Money, rule: &str, rounding: &str) -> String {
    let mut text = String::with_capacity(rule.len() + BASED_RULE_EXTRA_BYTES);
    text.push_str("base ");
    base.push_text(&mut text);
    text.push_str("; ");
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
