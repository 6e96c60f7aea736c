//! The shape of a policy file: [`RegionPolicy`], whose field names are the file's keys, and the
//! parameters of docs/RULES.md §1–§11 (the §12 concepts are in `model`). Validation is in
//! `validate`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::model::{
    AllocationStart, CreditRounding, InterestRates, MonthDay, PremiumCategory, ResidentWait,
    Surcharge, TierRules,
};
use super::{Fixed, Series};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::terms::Scheme;

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
    /// Shenyang's base year [003]). docs/RULES.md §2, issue 9.
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
/// retiree's own monthly pension (exactly one of the two). docs/RULES.md §2, §12 R4.
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
    /// (the default): each part rounded, then summed. docs/RULES.md §12 R7.
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

/// Coverage rules of docs/RULES.md §12 R2 beside the re-enrolment window.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageRules {
    /// A member whose first payment in the region is his own (a flexible worker) has benefits
    /// from the first day of the month after this many paid months, counted from the
    /// enrolment month (Luzhou 6 [000 Q27, Q28]).
    pub new_individual_wait_months: u32,
}

/// One group's statutory retirement age and its gradual delay by birth month.
/// docs/RULES.md §12 R12.
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
}

/// Statutory retirement ages in force on a retirement date. docs/RULES.md §12 R12.
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
    /// February still count as paid in the window). docs/RULES.md §12 R9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<MonthDay>,
    /// `false` where the region takes no premium outside the window (newborns excepted): such a
    /// payment is refused `outside_window`. Default `true`. docs/RULES.md §12 R9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts_late_payment: Option<bool>,
}

/// The yearly resident premium: what a member pays and what the government adds, by age
/// (adult / minor) and by named category. docs/RULES.md §11, §12 R10.
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
    /// and subsidy; `pay_premium` names one with `category`. docs/RULES.md §12 R10.
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
    // --- docs/RULES.md §12 R1, R2, R12: coverage follows payment, statutory retirement age. ---
    /// Waits of R2 that the re-enrolment rule (`rejoin`) does not give.
    #[serde(default)]
    pub coverage: Series<CoverageRules>,
    /// Statutory retirement ages by sex, category and birth month (R12).
    #[serde(default)]
    pub retirement_age: Series<RetirementAges>,
    /// The source of each figure of the average-wage tables (`base_bounds`), by year (`"2024"`).
    #[serde(default)]
    pub average_wage_sources: BTreeMap<String, String>,

    // ---- The policy model of docs/RULES.md §12 (issue #15): every key optional. ----
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
