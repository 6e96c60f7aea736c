//! The shape of a policy file and its validation.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::Scheme;
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

/// A parameter's history: entries in increasing `effective_from` order. An optional parameter
/// left out of a file is an empty series (no entry in force on any date).
#[derive(Clone, Debug, Deserialize)]
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
    fn check_order(&self, name: &str) -> Result<(), Fault> {
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
    fn check_each(
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

fn entry_fault(name: &str, index: usize, from: NaiveDate, reason: String) -> Fault {
    (format!("{name}[{index}] (from {from})"), reason)
}

fn fault(place: &str, reason: impl Into<String>) -> Fault {
    (place.to_string(), reason.into())
}

/// A rate must be a fraction in [0, 1).
fn check_rate(what: &str, rate: Rate) -> Result<(), String> {
    let value = rate.as_decimal();
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{what} {rate} is negative"));
    }
    if value >= rust_decimal::Decimal::ONE {
        return Err(format!(
            "{what} {rate} is not below 1 (rates are fractions: 0.02 is 2 %)"
        ));
    }
    Ok(())
}

fn check_amount(what: &str, amount: Money) -> Result<(), String> {
    if amount.is_negative() {
        return Err(format!("{what} {amount} is negative"));
    }
    Ok(())
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
    /// Floor as a fraction of the previous year's average monthly wage (needed with a wage table).
    #[serde(default)]
    pub floor_ratio: Option<Rate>,
    /// Cap as a fraction of the previous year's average monthly wage (needed with a wage table).
    #[serde(default)]
    pub cap_ratio: Option<Rate>,
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

/// A fund paid beside the basic contribution and never credited to the personal account, such
/// as Chongqing's large-amount mutual-aid fund 大额医疗互助金.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutualAid {
    /// Paid by the employer as a fraction of the member's base.
    pub employer_rate: Rate,
    /// Paid by the member, a flat amount per month.
    pub personal_monthly: Money,
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

/// Largest count of months a policy parameter may hold (a retirement age, a wait): 100 years.
pub const MONTHS_PARAMETER_MAX: u32 = 1200;
/// Largest continuity window, in days: 10 years.
pub const WINDOW_DAYS_MAX: u32 = 3660;

/// Coverage rules of DOMAIN §12 R2 beside the re-enrolment window.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageRules {
    /// A member whose first payment in the region is his own (a flexible worker) has benefits
    /// from the first day of the month after this many paid months, counted from the
    /// enrolment month (Luzhou 6 [000 Q27, Q28]).
    pub new_individual_wait_months: u32,
}

/// One group's statutory retirement age and its gradual delay by birth month. DOMAIN §12 R12.
#[derive(Clone, Copy, Debug, Deserialize)]
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
#[derive(Clone, Copy, Debug, Deserialize)]
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
    /// Paid outside the window: benefits start this many days after payment (or see
    /// `new_enrollee_wait_months`; a file gives exactly one of the two).
    #[serde(default)]
    pub new_enrollee_wait_days: Option<u32>,
    /// Paid outside the window: benefits start on the first day of the month this many months
    /// after the payment month (3: from the fourth month, counting the payment month as first).
    #[serde(default)]
    pub new_enrollee_wait_months: Option<u32>,
    /// A newborn paying within this many months of birth.
    pub newborn_window_months: u32,
    /// Whether such a newborn is covered from birth.
    pub newborn_covered_from_birth: bool,
    /// A newborn paying after the newborn window but within this many months of birth is
    /// covered from the payment (acceptance) date, without the new enrollee's wait.
    #[serde(default)]
    pub late_newborn_from_payment_within_months: Option<u32>,
}

/// The yearly resident premium: what a member pays and what the government adds.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PremiumSchedule {
    /// From this age (on the payment date) a member pays the adult premium.
    pub adult_from_age: u32,
    /// An adult's personal premium; absent when the scheme does not take adults.
    #[serde(default)]
    pub adult_personal: Option<Money>,
    /// A minor's personal premium.
    pub minor_personal: Money,
    /// The government subsidy per member and year.
    pub subsidy: Money,
}

fn both_schemes() -> Vec<Scheme> {
    vec![Scheme::Employee, Scheme::Resident]
}

/// One pooling region's rules. Field names are the keys of the policy file.
///
/// The employee-scheme parameters are needed only when `schemes` lists `employee`, the resident
/// ones only with `resident`; validation names any that are missing. `mutual_aid`,
/// `contribution_due_day` and `premium` are optional rules some regions have.
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
    /// A fund paid beside the contribution, never credited to the account (optional).
    #[serde(default)]
    pub mutual_aid: Series<MutualAid>,
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
        Ok(())
    }

    fn validate_employee(&self) -> Result<(), Fault> {
        let missing = |name: &str| {
            fault(
                name,
                "is missing: the employee scheme (listed in 'schemes') needs it",
            )
        };
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
            return Err(missing(name));
        }
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
        self.mutual_aid.check_order("mutual_aid")?;
        self.mutual_aid.check_each("mutual_aid", |m| {
            check_rate("employer_rate", m.employer_rate)?;
            check_amount("personal_monthly", m.personal_monthly)
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
            })?;
        self.retiree_allocation.check_order("retiree_allocation")?;
        self.retiree_allocation
            .check_each("retiree_allocation", |bands| {
                for band in bands {
                    check_amount("amount", band.amount)?;
                }
                check_bands(bands.iter().map(|b| b.min_age))
            })?;
        self.retirement.check_order("retirement")?;
        self.makeup_base_monthly
            .check_order("makeup_base_monthly")?;
        self.makeup_base_monthly
            .check_each("makeup_base_monthly", |m| {
                if m.is_positive() {
                    Ok(())
                } else {
                    Err(format!("makeup base {m} must be positive"))
                }
            })?;
        self.rejoin.check_order("rejoin")?;
        self.rejoin.check_each("rejoin", check_rejoin)?;
        self.validate_coverage()
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
        self.premium.check_each("premium", |p| {
            check_amount("minor_personal", p.minor_personal)?;
            check_amount("subsidy", p.subsidy)?;
            p.adult_personal
                .map_or(Ok(()), |a| check_amount("adult_personal", a))
        })
    }
}

fn check_bounds(b: &BaseBounds) -> Result<(), String> {
    if let Some(m) = b.minimum_monthly {
        check_amount("minimum_monthly", m)?;
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
    }
    match (b.floor_ratio, b.cap_ratio) {
        (Some(floor), Some(cap)) => {
            if floor.as_decimal().is_sign_negative() && !floor.as_decimal().is_zero() {
                return Err(format!("floor_ratio {floor} is negative"));
            }
            if cap.as_decimal() < floor.as_decimal() {
                return Err(format!("cap_ratio {cap} is below floor_ratio {floor}"));
            }
            Ok(())
        }
        _ if b.average_wage_monthly.is_empty() => Ok(()),
        _ => Err("an average_wage_monthly table needs both floor_ratio and cap_ratio".into()),
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
    if !(1..=WINDOW_DAYS_MAX).contains(&r.window_days) {
        return Err(format!(
            "window_days {} is not between 1 and {WINDOW_DAYS_MAX}",
            r.window_days
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
    match (r.new_enrollee_wait_days, r.new_enrollee_wait_months) {
        (Some(_), None) | (None, Some(_)) => Ok(()),
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
    Ok(())
}
