//! What a contribution's shares and account credit are under a region's policy: employer and
//! individual payers, the tiers and the credit's rounding. docs/RULES.md §2, §12 R3, R7.

use chrono::NaiveDate;

use super::{CreditRounding, NotInForce, RegionPolicy};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::terms::{EmployerClass, Payer, Tier};

impl RegionPolicy {
    /// An individual payer's whole rate for a month: the policy's `individual_rate`, or the
    /// employer rate of `class` plus the employee rate. docs/RULES.md §12 R3.
    pub fn individual_rate_of(
        &self,
        month: Month,
        class: EmployerClass,
    ) -> Result<(Rate, String), NotInForce> {
        if let Some(entry) = self.individual_rate.at(month.first_day()) {
            return Ok((entry.value, entry.source.clone()));
        }
        let (employer, employer_src) = self.employer_rate(month, class)?;
        let (employee, employee_src) = self.employee_rate(month)?;
        Ok((
            employer.plus(employee),
            format!("(employer + employee rate: {employer_src} {employee_src})"),
        ))
    }

    /// The share of base an individual's payment credits: the policy's `individual_credit_rate`,
    /// or the employee rate (the member's own part, never an employer share). docs/RULES.md §12 R3.
    pub fn individual_credit_rate_of(&self, month: Month) -> Result<(Rate, String), NotInForce> {
        if let Some(entry) = self.individual_credit_rate.at(month.first_day()) {
            return Ok((entry.value, entry.source.clone()));
        }
        let (employee, src) = self.employee_rate(month)?;
        Ok((employee, format!("(the employee rate: {src})")))
    }

    /// Whether the region offers a tier on a date (`with_account` always). docs/RULES.md §12 R3.
    pub fn offers_tier(&self, tier: Tier, date: NaiveDate) -> bool {
        match tier {
            Tier::WithAccount => true,
            Tier::PoolOnly => self
                .tiers
                .at(date)
                .is_some_and(|t| t.value.pool_only.is_some()),
        }
    }

    /// The terms of a contribution: what each share is and what the account receives.
    /// docs/RULES.md §2, §12 R3, R7.
    pub fn contribution_terms(
        &self,
        month: Month,
        payer: Payer,
        class: EmployerClass,
        tier: Tier,
        age: u32,
    ) -> Result<ContributionTerms, NotInForce> {
        let rounding = self
            .account_credit
            .at(month.first_day())
            .map(|e| e.value.credit_rounding)
            .unwrap_or_default();
        match payer {
            Payer::Employer => {
                let (employee_rate, employee_src) = self.employee_rate(month)?;
                let (employer_rate, employer_src) = self.employer_rate(month, class)?;
                let (own, part, credit_src) = self.account_credit_rate(month, age)?;
                let (own_rate, employer_part_rate) = match tier {
                    Tier::WithAccount => (own, part),
                    Tier::PoolOnly => (Rate::ZERO, Rate::ZERO),
                };
                Ok(ContributionTerms {
                    employee_rate,
                    employer_rate,
                    own_rate,
                    employer_part_rate,
                    rounding,
                    rule: employer_paid_rule(
                        [employee_rate, employer_rate, own_rate, employer_part_rate],
                        [employee_src, employer_src, credit_src],
                        age,
                        tier,
                    ),
                })
            }
            Payer::Individual => self.individual_terms(month, class, tier, rounding),
        }
    }

    fn individual_terms(
        &self,
        month: Month,
        class: EmployerClass,
        tier: Tier,
        rounding: CreditRounding,
    ) -> Result<ContributionTerms, NotInForce> {
        let tier_rate = self.tiers.at(month.first_day()).and_then(|t| {
            let rate = t.value.pool_only.and_then(|p| p.individual_rate)?;
            Some((rate, t.source.clone()))
        });
        let (total, total_src) = match (tier, tier_rate) {
            (Tier::PoolOnly, Some(rate)) => rate,
            _ => self.individual_rate_of(month, class)?,
        };
        let (own, own_src) = self.individual_credit_rate_of(month)?;
        let rule = match tier {
            Tier::WithAccount => format!(
                "individual rate {} {total_src}: own part {} credited {own_src}, the rest pooled",
                total.percent(),
                own.percent()
            ),
            Tier::PoolOnly => format!(
                "pool_only tier: individual rate {} {total_src}, all pooled, nothing credited [R3]",
                total.percent()
            ),
        };
        let own = if tier == Tier::WithAccount {
            own
        } else {
            Rate::ZERO
        };
        Ok(ContributionTerms {
            employee_rate: own,
            employer_rate: Rate::new(total.as_decimal() - own.as_decimal()),
            own_rate: own,
            employer_part_rate: Rate::ZERO,
            rounding,
            rule,
        })
    }
}

/// The rule of an employer-paid contribution in words: the employee, employer, own credited
/// and employer-part rates and the sources of the first two and of the credit, appended piece
/// by piece into one string of the right size (no formatting machinery: this runs for every
/// contribution).
fn employer_paid_rule(rates: [Rate; 4], sources: [&str; 3], age: u32, tier: Tier) -> String {
    let [employee_rate, employer_rate, own_rate, part_rate] = rates;
    let [employee_src, employer_src, credit_src] = sources;
    let mut rule =
        String::with_capacity(RULE_TEXT_BYTES + sources.iter().map(|s| s.len()).sum::<usize>());
    rule.push_str("employee ");
    employee_rate.push_percent(&mut rule);
    rule.push(' ');
    rule.push_str(employee_src);
    rule.push_str("; employer ");
    employer_rate.push_percent(&mut rule);
    rule.push(' ');
    rule.push_str(employer_src);
    rule.push_str("; account credit ");
    own_rate.push_percent(&mut rule);
    rule.push_str(" + ");
    part_rate.push_percent(&mut rule);
    rule.push_str(" at age ");
    rule.push_str(itoa::Buffer::new().format(age));
    rule.push(' ');
    rule.push_str(credit_src);
    rule.push_str(pool_only_note(tier));
    rule
}

/// Room for a contribution rule's words and figures besides its sources.
const RULE_TEXT_BYTES: usize = 160;

fn pool_only_note(tier: Tier) -> &'static str {
    match tier {
        Tier::WithAccount => "",
        Tier::PoolOnly => "; pool_only tier: nothing credited [R3]",
    }
}

/// What a contribution's shares and credit are, and the rules that say so.
/// docs/RULES.md §12 R3, R7.
#[derive(Clone, Debug, PartialEq)]
pub struct ContributionTerms {
    /// The rate of the employee share (an individual: his own, credited part).
    pub employee_rate: Rate,
    /// The rate of the employer share (an individual: the part that goes to the pooled fund).
    pub employer_rate: Rate,
    /// The credited share of the member's own part.
    pub own_rate: Rate,
    /// The credited part of the employer share (before the reform, by age).
    pub employer_part_rate: Rate,
    /// How the credit is rounded.
    pub rounding: CreditRounding,
    /// The rule in words, with sources.
    pub rule: String,
}

impl ContributionTerms {
    /// The account credit of a base under these terms, rounded as they say.
    pub fn credit(&self, base: Money) -> Money {
        credit_of(base, self.own_rate, self.employer_part_rate, self.rounding)
    }
}

/// The account credit of `base`: own and employer part each rounded half-up and summed, or
/// (combined) their sum rounded once. docs/RULES.md §12 R7.
pub fn credit_of(base: Money, own: Rate, part: Rate, rounding: CreditRounding) -> Money {
    match rounding {
        CreditRounding::Separate => base.times_rate(own) + base.times_rate(part),
        CreditRounding::Combined => base.times_rate(own.plus(part)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    proptest::proptest! {
        // Invariant: the rule appended piece by piece reads exactly as the one sentence written
        // with `format!` reads, whatever the rates, sources, age and tier.
        #[test]
        fn the_rule_reads_as_its_sentence(
            mantissas in proptest::array::uniform4(0i64..2_000_000),
            scales in proptest::array::uniform4(0u32..=8),
            sources in proptest::array::uniform3("\\PC{0,30}"),
            age in 0u32..130,
            pool_only in proptest::bool::ANY,
        ) {
            let rates: [Rate; 4] =
                std::array::from_fn(|i| Rate::new(Decimal::new(mantissas[i], scales[i])));
            let tier = if pool_only { Tier::PoolOnly } else { Tier::WithAccount };
            let [employee_src, employer_src, credit_src] = &sources;
            let sentence = format!(
                "employee {} {employee_src}; employer {} {employer_src}; account credit {} + {} at age {age} {credit_src}{}",
                rates[0].percent(),
                rates[1].percent(),
                rates[2].percent(),
                rates[3].percent(),
                pool_only_note(tier),
            );
            let built = employer_paid_rule(
                rates,
                [employee_src.as_str(), employer_src.as_str(), credit_src.as_str()],
                age,
                tier,
            );
            proptest::prop_assert_eq!(built, sentence);
        }
    }
}
