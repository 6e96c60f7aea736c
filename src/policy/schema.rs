//! The shape of a policy file and its validation.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::model::{
    check_amount, check_category, check_count, check_rate, AllocationStart, CreditRounding,
    InterestRates, MonthDay, PremiumCategory, ResidentWait, Surcharge, TierRules, POLICY_AGE_MAX,
    POLICY_CAREER_MONTHS_MAX, POLICY_DAYS_MAX, POLICY_MONTHS_MAX, PREMIUM_CATEGORIES_MAX,
};
use crate::domain::Scheme;
use crate::money::{Money, Rate};
use crate::month::Month;

/// One value of a parameter with the date it takes effect and where it comes from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dated<T> {
    /// First day the value is in force; it stays in force until the next entry's date.
    pub effective_from: NaiveDate,
    /// The value.
    pub value: T,
    /// The source tag (docs/RULES.md "Sources") and a few words: why this figure.
    pub source: String,
}

/// A value that does not change with time, with its source.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed<T> {
    /// The value.
    pub value: T,
    /// The source tag (docs/RULES.md "Sources") and a few words.
    pub source: String,
}

/// A parameter's history: entries in increasing `effective_from` order. An optional parameter
/// left out of a file is an empty series (no entry in force on any date).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Series<T>(pub Vec<Dated<T>>);

impl<T> Default for Series<T> {
    fn default() -> Self {
        Series(Vec::new())
    }
}

impl<T> Series<T> {
    /// The entry in force on `date`: the last one whose `effective_from` is not after it.
    pub fn at(&self, date: NaiveDate) -> Option<&Dated<T>> {
        self.0.iter().rev().find(|d| d.effective_from <= date)
    }

    /// Whether the file gave no entry for the parameter.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries must start on strictly increasing dates: two entries on one date would overlap,
    /// an earlier date after a later one would be out of order.
    pub(super) fn check_order(&self, name: &str) -> Result<(), Fault> {
        for (i, pair) in self.0.windows(2).enumerate() {
            let (earlier, later) = (pair[0].effective_from, pair[1].effective_from);
            if later == earlier {
                let reason = format!("overlaps the entry before it: both take effect on {later}");
                return Err(entry_fault(name, i + 1, later, reason));
            }
            if later < earlier {
                let reason = format!("takes effect on {later}, before the entry before it ({earlier}): entries must be in date order");
                return Err(entry_fault(name, i + 1, later, reason));
            }
        }
        Ok(())
    }

    /// Checks each entry's value with `check`, naming the entry on a fault.
    pub(super) fn check_each(
        &self,
        name: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<(), Fault> {
        for (i, d) in self.0.iter().enumerate() {
            check(&d.value).map_err(|reason| entry_fault(name, i, d.effective_from, reason))?;
        }
        Ok(())
    }
}

/// A validation fault: `(place, reason)`, the place a parameter or one of its entries.
pub(crate) type Fault = (String, String);

pub(super) fn entry_fault(name: &str, index: usize, from: NaiveDate, reason: String) -> Fault {
    (format!("{name}[{index}] (from {from})"), reason)
}

pub(super) fn fault(place: &str, reason: impl Into<String>) -> Fault {
    (place.to_string(), reason.into())
}

/// Employer rates by employer class.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmployerRates {
    /// Enterprises (the default class).
    pub enterprise: Rate,
    /// State organs, social organisations, fiscally funded institutions.
    pub public: Rate,
}

/// How a declared wage becomes a contribution base.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseBounds {
    /// Floor as a fraction of the previous year's average monthly wage (needed with a wage table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_ratio: Option<Rate>,
    /// Cap as a fraction of the previous year's average monthly wage (needed with a wage table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_ratio: Option<Rate>,
    /// Average monthly wage by year (`"2023": "7000.00"`); a missing year leaves the wage as base.
    #[serde(default)]
    pub average_wage_monthly: BTreeMap<String, Money>,
    /// A fixed minimum monthly base, where the region sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_monthly: Option<Money>,
    /// The month the contribution (base) year starts in: the average wage of the year before
    /// the base year bounds its months (1, the default: calendar years; 7: July–June, as
    /// Shenyang's base year [003]). DOMAIN §2, issue 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_year_starts_month: Option<u32>,
}

/// A rate that applies from an age upward.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeRate {
    /// Lowest age (whole years) the rate applies to.
    pub min_age: u32,
    /// The rate.
    pub rate: Rate,
}

/// A retiree allocation that applies from an age upward: a flat amount, or a fraction of the
/// retiree's own monthly pension (exactly one of the two). DOMAIN §2, §12 R4.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeAmount {
    /// Lowest age (whole years, on the month's last day) the band applies to.
    pub min_age: u32,
    /// A flat monthly amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// A fraction of the retiree's monthly pension, rounded half-up to the fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pension_rate: Option<Rate>,
}

/// What an in-service member's contribution credits to the personal account.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCredit {
    /// The member's own share credited (2 %).
    pub own_rate: Rate,
    /// Part of the employer share credited, by age band (before the reform).
    pub employer_part_by_age: Vec<AgeRate>,
    /// `combined`: the credit is base × (own rate + employer part) rounded once; `separate`
    /// (the default): each part rounded, then summed. DOMAIN §12 R7.
    #[serde(default, skip_serializing_if = "CreditRounding::is_separate")]
    pub credit_rounding: CreditRounding,
}

/// Retirement thresholds and benefit continuity.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
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

/// Largest count of months a policy parameter may hold (a retirement age, a career): 100 years,
/// the policy model's bound on careers.
pub const MONTHS_PARAMETER_MAX: u32 = POLICY_CAREER_MONTHS_MAX;
/// Largest continuity window, in days: 10 years, the policy model's bound on days.
pub const WINDOW_DAYS_MAX: u32 = POLICY_DAYS_MAX;

/// Coverage rules of DOMAIN §12 R2 beside the re-enrolment window.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageRules {
    /// A member whose first payment in the region is his own (a flexible worker) has benefits
    /// from the first day of the month after this many paid months, counted from the
    /// enrolment month (Luzhou 6 [000 Q27, Q28]).
    pub new_individual_wait_months: u32,
}

/// One group's statutory retirement age and its gradual delay by birth month. DOMAIN §12 R12.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeSchedule {
    /// The age before the delay, in months (men 720: 60 years).
    pub original_months: u32,
    /// The age the delay rises to, in months (men 756: 63 years); equal to `original_months`
    /// where the entry has no delay.
    pub target_months: u32,
    /// The first birth month whose age is delayed (men 1965-01); it already gets one month.
    #[serde(default)]
    pub delay_from_birth: Option<Month>,
    /// Each this many birth months, one more month of delay (men 4, women-50 2).
    #[serde(default)]
    pub birth_months_per_month: Option<u32>,
}

impl AgeSchedule {
    /// The statutory age, in months, of a member born in `birth`.
    pub fn age_months(&self, birth: Month) -> u32 {
        let (Some(from), Some(step)) = (self.delay_from_birth, self.birth_months_per_month) else {
            return self.original_months;
        };
        let after = from.months_until(birth);
        if after < 0 || step == 0 {
            return self.original_months;
        }
        let steps = u32::try_from(after / i64::from(step)).unwrap_or(u32::MAX);
        let delay = steps
            .saturating_add(1)
            .min(self.target_months - self.original_months);
        self.original_months + delay
    }

    fn check(&self, group: &str) -> Result<(), String> {
        check_months(&format!("{group}.original_months"), self.original_months, 1)?;
        check_months(&format!("{group}.target_months"), self.target_months, 1)?;
        if self.target_months < self.original_months {
            return Err(format!("{group}.target_months is below original_months"));
        }
        match (self.delay_from_birth, self.birth_months_per_month) {
            (Some(_), Some(step)) => check_months(&format!("{group}.birth_months_per_month"), step, 1),
            (None, None) if self.target_months == self.original_months => Ok(()),
            _ => Err(format!(
                "{group}: a delay (target_months above original_months) needs both delay_from_birth and birth_months_per_month"
            )),
        }
    }
}

/// Statutory retirement ages in force on a retirement date. DOMAIN §12 R12.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetirementAges {
    /// Men.
    pub male: AgeSchedule,
    /// Women workers (the default category).
    pub female_worker: AgeSchedule,
    /// Women cadres.
    pub female_cadre: AgeSchedule,
    /// Flexible early retirement (弹性提前退休): at most this many months before the statutory
    /// age, and never below the group's `original_months` (0: none).
    pub early_months_max: u32,
}

impl RetirementAges {
    fn check(&self) -> Result<(), String> {
        self.male.check("male")?;
        self.female_worker.check("female_worker")?;
        self.female_cadre.check("female_cadre")?;
        if self.early_months_max > MONTHS_PARAMETER_MAX {
            return Err(format!(
                "early_months_max {} exceeds {MONTHS_PARAMETER_MAX}",
                self.early_months_max
            ));
        }
        Ok(())
    }
}

/// Re-enrolment after leaving an employer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejoin {
    /// Resume as an individual within this many days of leaving: benefits continue.
    pub window_days: u32,
    /// Later: benefits only after this many months of full contributions.
    pub waiting_months: u32,
}

/// Resident-scheme payment window and waits.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentRules {
    /// First month of the window, in the year before the coverage year.
    pub window_first_month: u32,
    /// Last month of the window, in the year before the coverage year.
    pub window_last_month: u32,
    /// Paid outside the window: benefits start this many days after payment (or see
    /// `new_enrollee_wait_months`; a file gives exactly one of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_enrollee_wait_days: Option<u32>,
    /// Paid outside the window: benefits start on the first day of the month this many months
    /// after the payment month (3: from the fourth month, counting the payment month as first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_enrollee_wait_months: Option<u32>,
    /// A newborn paying within this many months of birth.
    pub newborn_window_months: u32,
    /// Whether such a newborn is covered from birth.
    pub newborn_covered_from_birth: bool,
    /// A newborn paying after the newborn window but within this many months of birth is
    /// covered from the payment (acceptance) date, without the new enrollee's wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_newborn_from_payment_within_months: Option<u32>,
    /// Where the window ends inside the benefit year (`"02-28"`: payments up to the last day of
    /// February still count as paid in the window). DOMAIN §12 R9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<MonthDay>,
    /// `false` where the region takes no premium outside the window (newborns excepted): such a
    /// payment is refused `outside_window`. Default `true`. DOMAIN §12 R9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts_late_payment: Option<bool>,
}

/// The yearly resident premium: what a member pays and what the government adds, by age
/// (adult / minor) and by named category. DOMAIN §11, §12 R10.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PremiumSchedule {
    /// From this age (on the payment date) a member pays the adult premium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adult_from_age: Option<u32>,
    /// An adult's personal premium; absent when the scheme does not take adults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adult_personal: Option<Money>,
    /// A minor's personal premium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor_personal: Option<Money>,
    /// The government subsidy per member and year (adult and minor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy: Option<Money>,
    /// Named categories (`"child"`, `"student"`, adult tiers), each with its own personal part
    /// and subsidy; `pay_premium` names one with `category`. DOMAIN §12 R10.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, PremiumCategory>,
}

fn both_schemes() -> Vec<Scheme> {
    vec![Scheme::Employee, Scheme::Resident]
}

/// One pooling region's rules. Field names are the keys of the policy file.
///
/// The employee-scheme parameters are needed only when `schemes` lists `employee`, the resident
/// ones only with `resident`; validation names any that are missing. `mutual_aid`,
/// `contribution_due_day` and `premium` are optional rules some regions have.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The schemes the region offers (default: both).
    #[serde(default = "both_schemes")]
    pub schemes: Vec<Scheme>,
    /// First month counted as actual local contribution.
    #[serde(default)]
    pub actual_months_from: Option<Fixed<Month>>,
    /// Employer contribution rates.
    #[serde(default)]
    pub employer_rate: Series<EmployerRates>,
    /// Employee contribution rate.
    #[serde(default)]
    pub employee_rate: Series<Rate>,
    /// Contribution base floor and cap.
    #[serde(default)]
    pub base_bounds: Series<BaseBounds>,
    /// Personal-account credit from contributions.
    #[serde(default)]
    pub account_credit: Series<AccountCredit>,
    /// Replaced by `surcharges` (R5); a file that still gives it is refused, saying how to
    /// write it.
    #[serde(default, skip_serializing)]
    pub mutual_aid: Option<serde::de::IgnoredAny>,
    /// Contributions for a month are due before this day of the following month (optional).
    #[serde(default)]
    pub contribution_due_day: Series<u32>,
    /// Monthly allocation to retirees, by age band.
    #[serde(default)]
    pub retiree_allocation: Series<Vec<AgeAmount>>,
    /// Retirement thresholds.
    #[serde(default)]
    pub retirement: Series<RetirementRules>,
    /// Monthly base of a lump-sum makeup.
    #[serde(default)]
    pub makeup_base_monthly: Series<Money>,
    /// Re-enrolment window and waiting period.
    #[serde(default)]
    pub rejoin: Series<Rejoin>,
    /// Resident-scheme rules.
    #[serde(default)]
    pub resident: Series<ResidentRules>,
    /// Resident premiums and subsidy (optional: without it any premium is taken as paid).
    #[serde(default)]
    pub premium: Series<PremiumSchedule>,
    /// First day spending on close relatives is allowed.
    #[serde(default)]
    pub family_mutual_aid_from: Option<Fixed<NaiveDate>>,
    // --- DOMAIN §12 R1, R2, R12: coverage follows payment, statutory retirement age. ---
    /// Waits of R2 that the re-enrolment rule (`rejoin`) does not give.
    #[serde(default)]
    pub coverage: Series<CoverageRules>,
    /// Statutory retirement ages by sex, category and birth month (R12).
    #[serde(default)]
    pub retirement_age: Series<RetirementAges>,
    /// The source of each figure of the average-wage tables (`base_bounds`), by year (`"2024"`).
    #[serde(default)]
    pub average_wage_sources: BTreeMap<String, String>,

    // ---- The policy model of DOMAIN §12 (issue #15): every key optional. ----
    /// An individual payer's whole rate (default: employer + employee rate). R3.
    #[serde(default)]
    pub individual_rate: Series<Rate>,
    /// The share of base an individual's payment credits (default: the employee rate). R3.
    #[serde(default)]
    pub individual_credit_rate: Series<Rate>,
    /// Tiers offered besides `with_account` (`pool_only`). R3.
    #[serde(default)]
    pub tiers: Series<TierRules>,
    /// The first allocated month: `retirement_month` (default) or `month_after`. R4.
    #[serde(default)]
    pub allocation_starts: Series<AllocationStart>,
    /// Funds charged beside the contribution, never credited to the account. R5.
    #[serde(default)]
    pub surcharges: Series<Vec<Surcharge>>,
    /// Interest rates of the personal account (absent: no interest). R8.
    #[serde(default)]
    pub interest: Series<InterestRates>,
    /// The national resident wait, by benefit year (absent: the `resident` waits). R9.
    #[serde(default)]
    pub resident_wait: Series<ResidentWait>,
    /// First day close relatives beyond spouse, parents and children may be registered. R14.
    #[serde(default)]
    pub close_relatives_from: Option<Fixed<NaiveDate>>,
}

impl RegionPolicy {
    /// Checks presence, order, signs and ranges; returns `(place, reason)` for the first fault,
    /// the place a parameter or one of its entries (`employer_rate[1] (from 2005-01-01)`).
    pub(crate) fn validate(&self) -> Result<(), Fault> {
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
        {
            return Err(fault("region", "must be a lower-case key such as 'luzhou'"));
        }
        if self.rounding.value != "half_up" {
            return Err(fault(
                "rounding",
                format!("'{}' is not supported; use half_up", self.rounding.value),
            ));
        }
        if self.schemes.is_empty() {
            return Err(fault(
                "schemes",
                "names no scheme; use employee, resident or both",
            ));
        }
        if self.schemes.contains(&Scheme::Employee) {
            self.validate_employee()?;
        }
        if self.schemes.contains(&Scheme::Resident) {
            self.validate_resident()?;
        }
        self.validate_model()
    }

    fn validate_employee(&self) -> Result<(), Fault> {
        let required = [
            ("employer_rate", self.employer_rate.is_empty()),
            ("employee_rate", self.employee_rate.is_empty()),
            ("base_bounds", self.base_bounds.is_empty()),
            ("account_credit", self.account_credit.is_empty()),
            ("retiree_allocation", self.retiree_allocation.is_empty()),
            ("retirement", self.retirement.is_empty()),
            ("makeup_base_monthly", self.makeup_base_monthly.is_empty()),
            ("rejoin", self.rejoin.is_empty()),
            ("actual_months_from", self.actual_months_from.is_none()),
            (
                "family_mutual_aid_from",
                self.family_mutual_aid_from.is_none(),
            ),
            ("coverage", self.coverage.is_empty()),
            ("retirement_age", self.retirement_age.is_empty()),
        ];
        if let Some((name, _)) = required.iter().find(|(_, gone)| *gone) {
            return Err(fault(
                name,
                "is missing: the employee scheme (listed in 'schemes') needs it",
            ));
        }
        self.validate_rates()?;
        self.validate_allocations()?;
        self.retirement.check_order("retirement")?;
        self.retirement.check_each("retirement", check_retirement)?;
        self.makeup_base_monthly
            .check_order("makeup_base_monthly")?;
        self.makeup_base_monthly
            .check_each("makeup_base_monthly", |m| {
                if m.is_positive() {
                    check_amount("makeup base", *m)
                } else {
                    Err(format!("makeup base {m} must be positive"))
                }
            })?;
        self.rejoin.check_order("rejoin")?;
        self.rejoin.check_each("rejoin", check_rejoin)?;
        self.validate_coverage()
    }

    /// Contribution rates, base bounds, account credit and the due day.
    fn validate_rates(&self) -> Result<(), Fault> {
        self.employer_rate.check_order("employer_rate")?;
        self.employer_rate.check_each("employer_rate", |r| {
            check_rate("enterprise rate", r.enterprise)?;
            check_rate("public rate", r.public)
        })?;
        self.employee_rate.check_order("employee_rate")?;
        self.employee_rate
            .check_each("employee_rate", |r| check_rate("rate", *r))?;
        self.base_bounds.check_order("base_bounds")?;
        self.base_bounds.check_each("base_bounds", check_bounds)?;
        self.account_credit.check_order("account_credit")?;
        self.account_credit.check_each("account_credit", |c| {
            check_rate("own_rate", c.own_rate)?;
            for band in &c.employer_part_by_age {
                check_rate("employer_part_by_age rate", band.rate)?;
            }
            check_bands(c.employer_part_by_age.iter().map(|b| b.min_age))
        })?;
        self.contribution_due_day
            .check_order("contribution_due_day")?;
        self.contribution_due_day
            .check_each("contribution_due_day", |d| {
                if (1..=28).contains(d) {
                    Ok(())
                } else {
                    Err(format!(
                        "day {d} is not between 1 and 28 (every month has it)"
                    ))
                }
            })
    }

    /// Retiree allocations: each band a flat amount or a fraction of the pension. R4.
    fn validate_allocations(&self) -> Result<(), Fault> {
        self.retiree_allocation.check_order("retiree_allocation")?;
        self.retiree_allocation
            .check_each("retiree_allocation", |bands| {
                for band in bands {
                    match (band.amount, band.pension_rate) {
                        (Some(amount), None) => check_amount("amount", amount)?,
                        (None, Some(rate)) => check_rate("pension_rate", rate)?,
                        _ => {
                            return Err(format!(
                                "the band from age {} gives {}: give either 'amount' (flat) or 'pension_rate' (of the retiree's pension)",
                                band.min_age,
                                if band.amount.is_some() { "both amount and pension_rate" } else { "neither amount nor pension_rate" }
                            ))
                        }
                    }
                }
                check_bands(bands.iter().map(|b| b.min_age))
            })
    }

    /// R1, R2, R12 parameters, and a source for every average-wage figure.
    fn validate_coverage(&self) -> Result<(), Fault> {
        self.coverage.check_order("coverage")?;
        self.coverage.check_each("coverage", |c| {
            check_months(
                "new_individual_wait_months",
                c.new_individual_wait_months,
                1,
            )
        })?;
        self.retirement_age.check_order("retirement_age")?;
        self.retirement_age
            .check_each("retirement_age", RetirementAges::check)?;
        for (i, entry) in self.base_bounds.0.iter().enumerate() {
            let unsourced = entry
                .value
                .average_wage_monthly
                .keys()
                .find(|year| !self.average_wage_sources.contains_key(*year));
            if let Some(year) = unsourced {
                let reason = format!("average wage of {year} has no entry in average_wage_sources: every figure names its source");
                return Err(entry_fault("base_bounds", i, entry.effective_from, reason));
            }
        }
        Ok(())
    }

    fn validate_resident(&self) -> Result<(), Fault> {
        if self.resident.is_empty() {
            return Err(fault(
                "resident",
                "is missing: the resident scheme (listed in 'schemes') needs it",
            ));
        }
        self.resident.check_order("resident")?;
        self.resident.check_each("resident", check_resident)?;
        self.premium.check_order("premium")?;
        self.premium.check_each("premium", check_premium)
    }
}

fn check_retirement(r: &RetirementRules) -> Result<(), String> {
    check_count(
        "months_total_male",
        r.months_total_male,
        POLICY_CAREER_MONTHS_MAX,
    )?;
    check_count(
        "months_total_female",
        r.months_total_female,
        POLICY_CAREER_MONTHS_MAX,
    )?;
    check_count(
        "months_actual_min",
        r.months_actual_min,
        POLICY_CAREER_MONTHS_MAX,
    )?;
    check_count(
        "continuity_window_months",
        r.continuity_window_months,
        POLICY_MONTHS_MAX,
    )?;
    check_count(
        "no_benefit_wait_months",
        r.no_benefit_wait_months,
        POLICY_MONTHS_MAX,
    )
}

fn check_premium(p: &PremiumSchedule) -> Result<(), String> {
    let by_age = [
        p.adult_from_age.is_some(),
        p.minor_personal.is_some(),
        p.subsidy.is_some(),
    ];
    if by_age.contains(&true) && by_age.contains(&false) {
        return Err(
            "a premium by age needs adult_from_age, minor_personal and subsidy together".into(),
        );
    }
    if p.adult_personal.is_some() && p.adult_from_age.is_none() {
        return Err("adult_personal needs adult_from_age, minor_personal and subsidy".into());
    }
    if p.adult_from_age.is_none() && p.categories.is_empty() {
        return Err(
            "gives no premium: write adult_from_age, minor_personal and subsidy, or categories"
                .into(),
        );
    }
    if let Some(age) = p.adult_from_age {
        check_count("adult_from_age", age, POLICY_AGE_MAX)?;
    }
    for (what, amount) in [
        ("minor_personal", p.minor_personal),
        ("subsidy", p.subsidy),
        ("adult_personal", p.adult_personal),
    ] {
        amount.map_or(Ok(()), |a| check_amount(what, a))?;
    }
    if p.categories.len() > PREMIUM_CATEGORIES_MAX {
        return Err(format!(
            "lists more than {PREMIUM_CATEGORIES_MAX} categories"
        ));
    }
    for (name, category) in &p.categories {
        check_category(name, category)?;
    }
    Ok(())
}

/// The largest floor or cap ratio of the average wage (1000 %).
const BASE_RATIO_MAX: u32 = 10;

fn check_bounds(b: &BaseBounds) -> Result<(), String> {
    if let Some(m) = b.minimum_monthly {
        check_amount("minimum_monthly", m)?;
    }
    if let Some(start) = b.base_year_starts_month {
        if !(1..=12).contains(&start) {
            return Err(format!(
                "base_year_starts_month {start} is not a month between 1 and 12"
            ));
        }
    }
    for (year, wage) in &b.average_wage_monthly {
        if year.len() != 4 || year.parse::<i32>().is_err() {
            return Err(format!(
                "average_wage_monthly key '{year}' is not a year such as \"2023\""
            ));
        }
        if !wage.is_positive() {
            return Err(format!("average wage {wage} of {year} must be positive"));
        }
        check_amount(&format!("average wage of {year}"), *wage)?;
    }
    for (what, ratio) in [("floor_ratio", b.floor_ratio), ("cap_ratio", b.cap_ratio)] {
        let Some(ratio) = ratio else { continue };
        let value = ratio.as_decimal();
        if value.is_sign_negative() && !value.is_zero() {
            return Err(format!("{what} {ratio} is negative"));
        }
        if value > rust_decimal::Decimal::from(BASE_RATIO_MAX) {
            return Err(format!("{what} {ratio} is above {BASE_RATIO_MAX}"));
        }
    }
    match (b.floor_ratio, b.cap_ratio) {
        (Some(floor), Some(cap)) if cap.as_decimal() < floor.as_decimal() => {
            Err(format!("cap_ratio {cap} is below floor_ratio {floor}"))
        }
        (None, None) if !b.average_wage_monthly.is_empty() => {
            Err("an average_wage_monthly table needs floor_ratio, cap_ratio or both".into())
        }
        _ => Ok(()),
    }
}

/// A count of months between `min` and [`MONTHS_PARAMETER_MAX`], so date arithmetic cannot overflow.
fn check_months(what: &str, months: u32, min: u32) -> Result<(), String> {
    if (min..=MONTHS_PARAMETER_MAX).contains(&months) {
        return Ok(());
    }
    Err(format!(
        "{what} {months} is not between {min} and {MONTHS_PARAMETER_MAX} months"
    ))
}

fn check_rejoin(r: &Rejoin) -> Result<(), String> {
    // Upper bounds as every count of the policy model is bounded; then at least one of each.
    check_count("window_days", r.window_days, WINDOW_DAYS_MAX)?;
    check_count("waiting_months", r.waiting_months, POLICY_MONTHS_MAX)?;
    if r.window_days == 0 {
        return Err(format!(
            "window_days 0 is not between 1 and {WINDOW_DAYS_MAX}"
        ));
    }
    check_months("waiting_months", r.waiting_months, 1)
}

fn check_resident(r: &ResidentRules) -> Result<(), String> {
    let month = 1..=12;
    if !month.contains(&r.window_first_month) || !month.contains(&r.window_last_month) {
        return Err("window months must be between 1 and 12".into());
    }
    if r.window_first_month > r.window_last_month {
        return Err(format!(
            "window_first_month {} is after window_last_month {}",
            r.window_first_month, r.window_last_month
        ));
    }
    check_count(
        "newborn_window_months",
        r.newborn_window_months,
        POLICY_MONTHS_MAX,
    )?;
    if let Some(m) = r.late_newborn_from_payment_within_months {
        check_count(
            "late_newborn_from_payment_within_months",
            m,
            POLICY_MONTHS_MAX,
        )?;
    }
    match (r.new_enrollee_wait_days, r.new_enrollee_wait_months) {
        (Some(days), None) => check_count("new_enrollee_wait_days", days, POLICY_DAYS_MAX),
        (None, Some(months)) => check_count("new_enrollee_wait_months", months, POLICY_MONTHS_MAX),
        (None, None) => Err(
            "new_enrollee_wait_days or new_enrollee_wait_months is missing: one says when a late payer's benefits start"
                .into(),
        ),
        (Some(_), Some(_)) => Err(
            "gives both new_enrollee_wait_days and new_enrollee_wait_months; keep one".into(),
        ),
    }
}

fn check_bands(ages: impl Iterator<Item = u32>) -> Result<(), String> {
    let ages: Vec<u32> = ages.collect();
    if ages.first() != Some(&0) {
        return Err("age bands must start at min_age 0".into());
    }
    if ages.windows(2).any(|w| w[1] <= w[0]) {
        return Err("age bands must increase".into());
    }
    if let Some(last) = ages.last() {
        check_count("min_age", *last, POLICY_AGE_MAX)?;
    }
    Ok(())
}
