//! The policy model of docs/RULES.md §12 (R3–R10, R14): the types of the concepts a city writes as
//! data beside the basic rates. Their validation is in `validate/model.rs`, the questions the rules
//! ask of them in `questions.rs` and `contribution.rs`.
//!
//! Every concept here is optional data in a region's file: flexible workers' rates and tiers
//! (R3), retiree allocations by pension and their first month (R4), surcharges beside the
//! contribution (R5), the credit rounded once (R7, in [`super::AccountCredit`]), interest (R8),
//! the national resident wait from 2025 (R9), premium categories (R10) and close relatives
//! (R14). A region without an entry is answered by the rule's default, never by its name.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::{Money, Rate};
use crate::month::Month;

/// How an account credit made of several rates is rounded. docs/RULES.md §12 R7.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditRounding {
    /// Each part (own rate, employer part) rounded half-up, then summed (the default).
    #[default]
    Separate,
    /// The parts' rates added first, base × sum rounded half-up once.
    Combined,
}

impl CreditRounding {
    /// Whether this is the default (left out of events and files).
    pub fn is_separate(&self) -> bool {
        *self == CreditRounding::Separate
    }
}

/// The tiers a region offers besides `with_account`. docs/RULES.md §12 R3.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRules {
    /// The `pool_only` tier (no personal account), where the region offers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_only: Option<PoolOnlyTier>,
}

/// The `pool_only` tier: payments go wholly to the pooled fund and credit nothing.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolOnlyTier {
    /// An individual's rate in this tier (default: the region's individual rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual_rate: Option<Rate>,
}

/// Which month a retiree's first allocation is for. docs/RULES.md §12 R4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStart {
    /// The month the member retires in (the default).
    #[default]
    RetirementMonth,
    /// The month after it.
    MonthAfter,
}

/// Who a surcharge applies to. docs/RULES.md §12 R5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurchargeGroup {
    /// Members in service (charged with their contribution).
    InService,
    /// Retirees (charged with their monthly allocation).
    Retiree,
}

/// The period a flat surcharge is charged for. docs/RULES.md §12 R5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurchargePer {
    /// Every month.
    Month,
    /// Once per half-year (January–June, July–December).
    HalfYear,
    /// Once per calendar year.
    Year,
}

impl SurchargePer {
    /// The period a month falls in, as text: `2024-03`, `2024-H1`, `2024`.
    pub fn period_of(self, month: Month) -> String {
        match self {
            SurchargePer::Month => month.to_string(),
            SurchargePer::HalfYear => {
                let half = if month.month() <= 6 { 1 } else { 2 };
                format!("{}-H{half}", month.year())
            }
            SurchargePer::Year => month.year().to_string(),
        }
    }
}

/// Who pays a surcharge, for the reader (an individual payer pays both parts himself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurchargePayer {
    /// The employer (or the member paying as an individual).
    Employer,
    /// The member.
    Member,
}

/// A fund paid beside the contribution and never credited to the account, such as Chongqing's
/// 大额医疗互助金 or a city's 大额医疗费用补助. docs/RULES.md §12 R5.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Surcharge {
    /// A key for the reader and the record, e.g. `mutual_aid_personal`.
    pub name: String,
    /// Who pays it.
    pub payer: SurchargePayer,
    /// Who it applies to: `in_service`, `retiree`, or both.
    pub applies_to: Vec<SurchargeGroup>,
    /// A fraction of the contribution base (in-service only); or give `amount` and `per`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// A flat amount per `per`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// The period of a flat amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<SurchargePer>,
}

impl Surcharge {
    /// Whether the surcharge applies to a group.
    pub fn applies(&self, group: SurchargeGroup) -> bool {
        self.applies_to.contains(&group)
    }
}

/// Interest rates of the personal account. docs/RULES.md §12 R8.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestRates {
    /// Yearly rate on the part carried over from earlier years (三个月期整存整取).
    pub carried_rate: Rate,
    /// Yearly rate on the part raised in the current year (活期).
    pub current_rate: Rate,
}

/// The national resident waiting period from 2025 (国办发〔2024〕38号). docs/RULES.md §12 R9.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentWait {
    /// The fixed wait, in months (3).
    pub fixed_months: u32,
    /// Gap years that add no variable month (0 or 1: the region's reading of 每多断保1年).
    pub gap_years_free: u32,
    /// From this many gap years on, the wait is at least `long_gap_min_months` (4).
    pub long_gap_years: u32,
    /// The least wait after a long gap, repairs included (6).
    pub long_gap_min_months: u32,
}

/// A resident premium category with its own personal part and subsidy. docs/RULES.md §12 R10.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PremiumCategory {
    /// What the member pays a year.
    pub personal: Money,
    /// What the government adds a year.
    pub subsidy: Money,
    /// Lowest age (on the payment date) the category takes, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
    /// The category takes members younger than this (on the payment date), where it says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_age: Option<u32>,
}

impl PremiumCategory {
    /// Whether a member of `age` may pay in this category.
    pub fn takes(&self, age: u32) -> bool {
        self.min_age.is_none_or(|m| age >= m) && self.below_age.is_none_or(|b| age < b)
    }
}

/// A day of the year without a year (`"02-28"`): where a payment window ends inside the benefit
/// year. `02-29` means the last day of February in every year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthDay {
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month.
    pub day: u32,
}

impl MonthDay {
    /// The day in `year` (29 February in a common year is its 28th).
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.month, self.day - 1))
    }
}

impl Serialize for MonthDay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{:02}-{:02}", self.month, self.day))
    }
}

impl<'de> Deserialize<'de> for MonthDay {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bad = || serde::de::Error::custom(format!("'{text}' is not a day written MM-DD"));
        let (m, d) = text.split_once('-').ok_or_else(bad)?;
        if m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let month: u32 = m.parse().map_err(|_| bad())?;
        let day: u32 = d.parse().map_err(|_| bad())?;
        // 2000 is a leap year: every MM-DD that exists in some year exists in it.
        NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
        Ok(MonthDay { month, day })
    }
}
