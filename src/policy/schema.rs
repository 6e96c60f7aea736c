//! The shape of a policy file and its validation.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::money::{Money, Rate};
use crate::month::Month;

/// One value of a parameter with the date it takes effect and where it comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dated<T> {
    /// First day the value is in force; it stays in force until the next entry's date.
    pub effective_from: NaiveDate,
    /// The value.
    pub value: T,
    /// The DOMAIN.md tag and a few words: why this figure.
    pub source: String,
}

/// A value that does not change with time, with its source.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed<T> {
    /// The value.
    pub value: T,
    /// The DOMAIN.md tag and a few words.
    pub source: String,
}

/// A parameter's history: entries in increasing `effective_from` order.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct Series<T>(pub Vec<Dated<T>>);

impl<T> Series<T> {
    /// The entry in force on `date`: the last one whose `effective_from` is not after it.
    pub fn at(&self, date: NaiveDate) -> Option<&Dated<T>> {
        self.0.iter().rev().find(|d| d.effective_from <= date)
    }

    fn check_order(&self, name: &str) -> Result<(), (String, String)> {
        if self.0.is_empty() {
            return Err((name.to_string(), "has no entries".to_string()));
        }
        for pair in self.0.windows(2) {
            if pair[1].effective_from <= pair[0].effective_from {
                let reason = format!(
                    "entry from {} does not follow the entry from {}",
                    pair[1].effective_from, pair[0].effective_from
                );
                return Err((name.to_string(), reason));
            }
        }
        Ok(())
    }
}

/// Employer rates by employer class.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmployerRates {
    /// Enterprises (the default class).
    pub enterprise: Rate,
    /// State organs, social organisations, fiscally funded institutions.
    pub public: Rate,
}

/// How a declared wage becomes a contribution base.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseBounds {
    /// Floor as a fraction of the previous year's average monthly wage.
    pub floor_ratio: Rate,
    /// Cap as a fraction of the previous year's average monthly wage.
    pub cap_ratio: Rate,
    /// Average monthly wage by year (`"2023": "7000.00"`); a missing year leaves the wage as base.
    #[serde(default)]
    pub average_wage_monthly: BTreeMap<String, Money>,
    /// A fixed minimum monthly base, where the region sets one.
    #[serde(default)]
    pub minimum_monthly: Option<Money>,
}

/// A rate that applies from an age upward.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeRate {
    /// Lowest age (whole years) the rate applies to.
    pub min_age: u32,
    /// The rate.
    pub rate: Rate,
}

/// An amount that applies from an age upward.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeAmount {
    /// Lowest age (whole years) the amount applies to.
    pub min_age: u32,
    /// The amount.
    pub amount: Money,
}

/// What an in-service member's contribution credits to the personal account.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCredit {
    /// The member's own share credited (2 %).
    pub own_rate: Rate,
    /// Part of the employer share credited, by age band (before the reform).
    pub employer_part_by_age: Vec<AgeRate>,
}

/// Retirement thresholds and benefit continuity.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetirementRules {
    /// Total months (actual + deemed) a man needs.
    pub months_total_male: u32,
    /// Total months (actual + deemed) a woman needs.
    pub months_total_female: u32,
    /// Actual local months anyone needs.
    pub months_actual_min: u32,
    /// Converted within this many months of leaving work while enjoying benefits: continuous.
    pub continuity_window_months: u32,
    /// Not enjoying benefits at conversion: benefits start after this many months.
    pub no_benefit_wait_months: u32,
}

/// Re-enrolment after leaving an employer.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejoin {
    /// Resume as an individual within this many days of leaving: benefits continue.
    pub window_days: u32,
    /// Later: benefits only after this many months of full contributions.
    pub waiting_months: u32,
}

/// Resident-scheme payment window and waits.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentRules {
    /// First month of the window, in the year before the coverage year.
    pub window_first_month: u32,
    /// Last month of the window, in the year before the coverage year.
    pub window_last_month: u32,
    /// Paid outside the window: benefits start this many days after payment.
    pub new_enrollee_wait_days: u32,
    /// A newborn paying within this many months of birth.
    pub newborn_window_months: u32,
    /// Whether such a newborn is covered from birth.
    pub newborn_covered_from_birth: bool,
}

/// One pooling region's rules. Field names are the keys of the policy file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPolicy {
    /// Region key, e.g. `luzhou`.
    pub region: String,
    /// Human name.
    pub name: String,
    /// Free notes for the reader of the file.
    #[serde(default)]
    pub notes: String,
    /// Rounding rule; only `half_up` is supported.
    pub rounding: Fixed<String>,
    /// First month counted as actual local contribution.
    pub actual_months_from: Fixed<Month>,
    /// Employer contribution rates.
    pub employer_rate: Series<EmployerRates>,
    /// Employee contribution rate.
    pub employee_rate: Series<Rate>,
    /// Contribution base floor and cap.
    pub base_bounds: Series<BaseBounds>,
    /// Personal-account credit from contributions.
    pub account_credit: Series<AccountCredit>,
    /// Monthly allocation to retirees, by age band.
    pub retiree_allocation: Series<Vec<AgeAmount>>,
    /// Retirement thresholds.
    pub retirement: Series<RetirementRules>,
    /// Monthly base of a lump-sum makeup.
    pub makeup_base_monthly: Series<Money>,
    /// Re-enrolment window and waiting period.
    pub rejoin: Series<Rejoin>,
    /// Resident-scheme rules.
    pub resident: Series<ResidentRules>,
    /// First day spending on close relatives is allowed.
    pub family_mutual_aid_from: Fixed<NaiveDate>,
}

impl RegionPolicy {
    /// Checks order, signs and ranges; returns `(parameter, reason)` for the first fault.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
        {
            return Err((
                "region".into(),
                "must be a lower-case key such as 'luzhou'".into(),
            ));
        }
        if self.rounding.value != "half_up" {
            return Err((
                "rounding".into(),
                format!("'{}' is not supported; use half_up", self.rounding.value),
            ));
        }
        self.employer_rate.check_order("employer_rate")?;
        self.employee_rate.check_order("employee_rate")?;
        self.base_bounds.check_order("base_bounds")?;
        self.account_credit.check_order("account_credit")?;
        self.retiree_allocation.check_order("retiree_allocation")?;
        self.retirement.check_order("retirement")?;
        self.makeup_base_monthly
            .check_order("makeup_base_monthly")?;
        self.rejoin.check_order("rejoin")?;
        self.resident.check_order("resident")?;
        let rates = self
            .employer_rate
            .0
            .iter()
            .flat_map(|d| [d.value.enterprise, d.value.public]);
        let rates = rates.chain(self.employee_rate.0.iter().map(|d| d.value));
        let rates = rates.chain(self.account_credit.0.iter().flat_map(|d| {
            std::iter::once(d.value.own_rate)
                .chain(d.value.employer_part_by_age.iter().map(|b| b.rate))
        }));
        for rate in rates {
            if rate.as_decimal().is_sign_negative()
                || rate.as_decimal() >= rust_decimal::Decimal::ONE
            {
                return Err(("rates".into(), format!("rate {rate} is outside [0, 1)")));
            }
        }
        for d in &self.account_credit.0 {
            check_bands(
                d.value.employer_part_by_age.iter().map(|b| b.min_age),
                "account_credit",
            )?;
        }
        for d in &self.retiree_allocation.0 {
            check_bands(d.value.iter().map(|b| b.min_age), "retiree_allocation")?;
            if d.value.iter().any(|b| b.amount.is_negative()) {
                return Err(("retiree_allocation".into(), "negative amount".into()));
            }
        }
        if self
            .makeup_base_monthly
            .0
            .iter()
            .any(|d| !d.value.is_positive())
        {
            return Err(("makeup_base_monthly".into(), "must be positive".into()));
        }
        Ok(())
    }
}

fn check_bands(ages: impl Iterator<Item = u32>, name: &str) -> Result<(), (String, String)> {
    let ages: Vec<u32> = ages.collect();
    if ages.first() != Some(&0) {
        return Err((name.into(), "age bands must start at min_age 0".into()));
    }
    if ages.windows(2).any(|w| w[1] <= w[0]) {
        return Err((name.into(), "age bands must increase".into()));
    }
    Ok(())
}
