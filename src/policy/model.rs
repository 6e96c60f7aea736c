//! The policy model of DOMAIN §12 (R3–R10, R14): the concepts a city writes as data beside the
//! basic rates, their validation with bounds, and the questions the rules ask of them.
//!
//! Every concept here is optional data in a region's file: flexible workers' rates and tiers
//! (R3), retiree allocations by pension and their first month (R4), surcharges beside the
//! contribution (R5), the credit rounded once (R7, in [`super::AccountCredit`]), interest (R8),
//! the national resident wait from 2025 (R9), premium categories (R10) and close relatives
//! (R14). A region without an entry is answered by the rule's default, never by its name.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::schema::{fault, Fault};
use super::{Dated, NotInForce, RegionPolicy};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::terms::{EmployerClass, Payer, Tier};

/// The largest flat amount a policy may name (a surcharge, an allocation, a premium), in yuan:
/// far above any real figure, and small enough that sums over a century of months stay exact.
pub const POLICY_AMOUNT_YUAN_MAX: i64 = 1_000_000;
/// The most decimals a policy rate may have: `0.0775` has four.
pub const POLICY_RATE_DECIMALS_MAX: u32 = 8;
/// The longest wait or window a policy may name, in months (ten years).
pub const POLICY_MONTHS_MAX: u32 = 120;
/// The longest wait or window a policy may name, in days (ten years).
pub const POLICY_DAYS_MAX: u32 = 3660;
/// The highest age a band may start at, in years.
pub const POLICY_AGE_MAX: u32 = 150;
/// The most contribution months a retirement threshold may name (a century).
pub const POLICY_CAREER_MONTHS_MAX: u32 = 1200;
/// The most surcharges one entry may list.
pub const SURCHARGES_PER_ENTRY_MAX: usize = 16;
/// The most premium categories one schedule may list.
pub const PREMIUM_CATEGORIES_MAX: usize = 32;
/// The longest name of a surcharge or a premium category, in bytes.
pub const POLICY_NAME_BYTES_MAX: usize = 64;

/// How an account credit made of several rates is rounded. DOMAIN §12 R7.
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

/// The tiers a region offers besides `with_account`. DOMAIN §12 R3.
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

/// Which month a retiree's first allocation is for. DOMAIN §12 R4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStart {
    /// The month the member retires in (the default).
    #[default]
    RetirementMonth,
    /// The month after it.
    MonthAfter,
}

/// Who a surcharge applies to. DOMAIN §12 R5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurchargeGroup {
    /// Members in service (charged with their contribution).
    InService,
    /// Retirees (charged with their monthly allocation).
    Retiree,
}

/// The period a flat surcharge is charged for. DOMAIN §12 R5.
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
/// 大额医疗互助金 or a city's 大额医疗费用补助. DOMAIN §12 R5.
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

/// Interest rates of the personal account. DOMAIN §12 R8.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestRates {
    /// Yearly rate on the part carried over from earlier years (三个月期整存整取).
    pub carried_rate: Rate,
    /// Yearly rate on the part raised in the current year (活期).
    pub current_rate: Rate,
}

/// The national resident waiting period from 2025 (国办发〔2024〕38号). DOMAIN §12 R9.
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

/// A resident premium category with its own personal part and subsidy. DOMAIN §12 R10.
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

/// A rate must be a fraction in [0, 1) with at most [`POLICY_RATE_DECIMALS_MAX`] decimals.
pub(super) fn check_rate(what: &str, rate: Rate) -> Result<(), String> {
    let value = rate.as_decimal();
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{what} {rate} is negative"));
    }
    if value >= Decimal::ONE {
        return Err(format!(
            "{what} {rate} is not below 1 (rates are fractions: 0.02 is 2 %)"
        ));
    }
    if value.scale() > POLICY_RATE_DECIMALS_MAX {
        return Err(format!(
            "{what} {rate} has more than {POLICY_RATE_DECIMALS_MAX} decimals"
        ));
    }
    Ok(())
}

/// An amount must be in [0, [`POLICY_AMOUNT_YUAN_MAX`]].
pub(super) fn check_amount(what: &str, amount: Money) -> Result<(), String> {
    if amount.is_negative() {
        return Err(format!("{what} {amount} is negative"));
    }
    if amount > Money::yuan(POLICY_AMOUNT_YUAN_MAX) {
        return Err(format!(
            "{what} {amount} is above {POLICY_AMOUNT_YUAN_MAX}.00, the largest amount a policy may name"
        ));
    }
    Ok(())
}

/// A count (months, days, years, an age) must be at most `max`, so that date arithmetic on it
/// can never leave the calendar.
pub(super) fn check_count(what: &str, value: u32, max: u32) -> Result<(), String> {
    if value > max {
        return Err(format!("{what} {value} is above {max}"));
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= POLICY_NAME_BYTES_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{what} '{name}' must be 1 to {POLICY_NAME_BYTES_MAX} lower-case letters, digits or '_'"
        ))
    }
}

fn check_surcharge(s: &Surcharge) -> Result<(), String> {
    check_name("surcharge name", &s.name)?;
    let what = format!("surcharge '{}'", s.name);
    if s.applies_to.is_empty() {
        return Err(format!(
            "{what}: applies_to names no group; use in_service, retiree or both"
        ));
    }
    let mut groups = s.applies_to.clone();
    groups.sort();
    groups.dedup();
    if groups.len() != s.applies_to.len() {
        return Err(format!("{what}: applies_to names a group twice"));
    }
    match (s.rate, s.amount, s.per) {
        (Some(rate), None, None) => {
            check_rate(&format!("{what} rate"), rate)?;
            if s.applies(SurchargeGroup::Retiree) {
                return Err(format!(
                    "{what}: a rate of the base applies to in_service only (a retiree has no contribution base); give retirees a flat amount"
                ));
            }
            Ok(())
        }
        (None, Some(amount), Some(_)) => check_amount(&format!("{what} amount"), amount),
        (None, Some(_), None) => Err(format!(
            "{what}: a flat amount needs 'per' (month, half_year or year)"
        )),
        _ => Err(format!(
            "{what}: give either 'rate' (of the base) or 'amount' with 'per', not both and not neither"
        )),
    }
}

fn check_surcharges(list: &[Surcharge]) -> Result<(), String> {
    if list.len() > SURCHARGES_PER_ENTRY_MAX {
        return Err(format!(
            "lists more than {SURCHARGES_PER_ENTRY_MAX} surcharges"
        ));
    }
    for (i, s) in list.iter().enumerate() {
        check_surcharge(s)?;
        if list[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("surcharge '{}' is named twice", s.name));
        }
    }
    Ok(())
}

fn check_wait(w: &ResidentWait) -> Result<(), String> {
    check_count("fixed_months", w.fixed_months, POLICY_MONTHS_MAX)?;
    check_count(
        "long_gap_min_months",
        w.long_gap_min_months,
        POLICY_MONTHS_MAX,
    )?;
    check_count("long_gap_years", w.long_gap_years, POLICY_MONTHS_MAX)?;
    if w.gap_years_free > 1 {
        return Err(format!(
            "gap_years_free {} is not 0 or 1 (每多断保1年: every gap year, or every year after the first)",
            w.gap_years_free
        ));
    }
    if w.long_gap_years == 0 {
        return Err("long_gap_years must be at least 1".into());
    }
    Ok(())
}

pub(super) fn check_category(name: &str, c: &PremiumCategory) -> Result<(), String> {
    check_name("premium category", name)?;
    check_amount(&format!("category '{name}' personal"), c.personal)?;
    check_amount(&format!("category '{name}' subsidy"), c.subsidy)?;
    if let Some(min) = c.min_age {
        check_count(&format!("category '{name}' min_age"), min, POLICY_AGE_MAX)?;
    }
    if let Some(below) = c.below_age {
        check_count(
            &format!("category '{name}' below_age"),
            below,
            POLICY_AGE_MAX,
        )?;
    }
    if let (Some(min), Some(below)) = (c.min_age, c.below_age) {
        if below <= min {
            return Err(format!(
                "category '{name}': below_age {below} is not above min_age {min}"
            ));
        }
    }
    if !(c.personal + c.subsidy).is_positive() {
        return Err(format!("category '{name}': the premium is zero"));
    }
    Ok(())
}

impl RegionPolicy {
    /// Validates the §12 concepts: order, signs, bounds and consistency of each entry.
    pub(super) fn validate_model(&self) -> Result<(), Fault> {
        let rate = |r: &Rate| check_rate("rate", *r);
        self.individual_rate.check_order("individual_rate")?;
        self.individual_rate.check_each("individual_rate", rate)?;
        self.individual_credit_rate
            .check_order("individual_credit_rate")?;
        self.individual_credit_rate
            .check_each("individual_credit_rate", rate)?;
        self.tiers.check_order("tiers")?;
        self.tiers.check_each("tiers", |t| {
            let tier_rate = t.pool_only.and_then(|p| p.individual_rate);
            tier_rate.map_or(Ok(()), |r| check_rate("pool_only individual_rate", r))
        })?;
        self.allocation_starts.check_order("allocation_starts")?;
        self.surcharges.check_order("surcharges")?;
        self.surcharges
            .check_each("surcharges", |l| check_surcharges(l))?;
        self.interest.check_order("interest")?;
        self.interest.check_each("interest", |i| {
            check_rate("carried_rate", i.carried_rate)?;
            check_rate("current_rate", i.current_rate)
        })?;
        self.resident_wait.check_order("resident_wait")?;
        self.resident_wait.check_each("resident_wait", check_wait)?;
        if self.mutual_aid.is_some() {
            return Err(fault(
                "mutual_aid",
                "is written as 'surcharges' (DOMAIN §12 R5): e.g. [{\"name\":\"mutual_aid_employer\",\"payer\":\"employer\",\"applies_to\":[\"in_service\"],\"rate\":\"0.01\"}, {\"name\":\"mutual_aid_personal\",\"payer\":\"member\",\"applies_to\":[\"in_service\",\"retiree\"],\"amount\":\"2.00\",\"per\":\"month\"}]",
            ));
        }
        self.check_individual_rates()?;
        self.check_close_relatives()
    }

    /// An individual's own part can never exceed what he pays: at every date where either rate
    /// changes, the credit rate (default the employee rate) is at most the individual rate
    /// (default employer + employee rate).
    fn check_individual_rates(&self) -> Result<(), Fault> {
        let dates = self
            .individual_rate
            .0
            .iter()
            .chain(&self.individual_credit_rate.0)
            .map(|d| d.effective_from)
            .chain(self.employee_rate.0.iter().map(|d| d.effective_from))
            .chain(self.employer_rate.0.iter().map(|d| d.effective_from));
        let classes = [EmployerClass::Enterprise, EmployerClass::Public];
        for (date, class) in dates.flat_map(|d| classes.map(|c| (d, c))) {
            let month = Month::of(date);
            let (Ok((own, _)), Ok((total, _))) = (
                self.individual_credit_rate_of(month),
                self.individual_rate_of(month, class),
            ) else {
                continue;
            };
            if own.as_decimal() > total.as_decimal() {
                let reason = format!(
                    "on {date} the individual credit rate {own} is above the individual rate {total}: a flexible worker would be credited more than he pays"
                );
                return Err(fault("individual_credit_rate", reason));
            }
        }
        Ok(())
    }

    fn check_close_relatives(&self) -> Result<(), Fault> {
        let (Some(close), Some(family)) =
            (&self.close_relatives_from, &self.family_mutual_aid_from)
        else {
            return match (&self.close_relatives_from, &self.family_mutual_aid_from) {
                (Some(_), None) => Err(fault(
                    "close_relatives_from",
                    "needs family_mutual_aid_from (close relatives come after spouse, parents and children)",
                )),
                _ => Ok(()),
            };
        };
        if close.value < family.value {
            return Err(fault(
                "close_relatives_from",
                format!(
                    "{} is before family_mutual_aid_from {}",
                    close.value, family.value
                ),
            ));
        }
        Ok(())
    }

    /// An individual payer's whole rate for a month: the policy's `individual_rate`, or the
    /// employer rate of `class` plus the employee rate. DOMAIN §12 R3.
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
    /// or the employee rate (the member's own part, never an employer share). DOMAIN §12 R3.
    pub fn individual_credit_rate_of(&self, month: Month) -> Result<(Rate, String), NotInForce> {
        if let Some(entry) = self.individual_credit_rate.at(month.first_day()) {
            return Ok((entry.value, entry.source.clone()));
        }
        let (employee, src) = self.employee_rate(month)?;
        Ok((employee, format!("(the employee rate: {src})")))
    }

    /// Whether the region offers a tier on a date (`with_account` always). DOMAIN §12 R3.
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
    /// DOMAIN §2, §12 R3, R7.
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
                    rule: format!(
                        "employee {} {employee_src}; employer {} {employer_src}; account credit {} + {} at age {age} {credit_src}{}",
                        employee_rate.percent(),
                        employer_rate.percent(),
                        own_rate.percent(),
                        employer_part_rate.percent(),
                        pool_only_note(tier),
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

    /// The first month a retiree's allocation is for, given the retirement date. DOMAIN §12 R4.
    pub fn first_allocation_month(&self, retired_on: NaiveDate) -> (Month, AllocationStart) {
        let start = self
            .allocation_starts
            .at(retired_on)
            .map(|e| e.value)
            .unwrap_or_default();
        let month = Month::of(retired_on);
        match start {
            AllocationStart::RetirementMonth => (month, start),
            AllocationStart::MonthAfter => (month.next(), start),
        }
    }

    /// The surcharges in force for a month (empty where the region has none). DOMAIN §12 R5.
    pub fn surcharges_of(&self, month: Month) -> Option<&Dated<Vec<Surcharge>>> {
        self.surcharges.at(month.first_day())
    }

    /// The interest rates in force on a day, where the region pays interest. DOMAIN §12 R8.
    pub fn interest_on(&self, date: NaiveDate) -> Option<(usize, &Dated<InterestRates>)> {
        self.interest
            .0
            .iter()
            .enumerate()
            .rev()
            .find(|(_, d)| d.effective_from <= date)
    }

    /// The resident wait of R9 for a benefit year (asked with its 1 January), where in force.
    pub fn resident_wait_for(&self, year_start: NaiveDate) -> Option<&Dated<ResidentWait>> {
        self.resident_wait.at(year_start)
    }

    /// Whether a relation may be registered on a date (家庭共济). DOMAIN §12 R14.
    pub fn relation_allowed(&self, close_relative: bool, date: NaiveDate) -> Result<(), String> {
        let from = if close_relative {
            self.close_relatives_from.as_ref()
        } else {
            self.family_mutual_aid_from.as_ref()
        };
        match from {
            Some(f) if date >= f.value => Ok(()),
            Some(f) => Err(format!(
                "not before {} in {} {}",
                f.value, self.region, f.source
            )),
            None => Err(format!(
                "never in {}: its policy gives no date",
                self.region
            )),
        }
    }
}

fn pool_only_note(tier: Tier) -> &'static str {
    match tier {
        Tier::WithAccount => "",
        Tier::PoolOnly => "; pool_only tier: nothing credited [R3]",
    }
}

/// What a contribution's shares and credit are, and the rules that say so. DOMAIN §12 R3, R7.
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
/// (combined) their sum rounded once. DOMAIN §12 R7.
pub fn credit_of(base: Money, own: Rate, part: Rate, rounding: CreditRounding) -> Money {
    match rounding {
        CreditRounding::Separate => base.times_rate(own) + base.times_rate(part),
        CreditRounding::Combined => base.times_rate(own.plus(part)),
    }
}
