//! Regional, dated policy parameters as data: one question per function.
//!
//! A [`PolicySet`] holds one [`RegionPolicy`] per pooling region, loaded from JSON files (the
//! shipped ones are embedded in the binary from `policy/`). Every parameter is a [`Series`] of
//! values, each with the date it takes effect and the DOMAIN.md tag of its source. Code asks a
//! question ("what is the employer rate for 2005-03?") and gets back the value *and* the entry it
//! came from ([`Dated`]), so an event can record which rule decided it. Replaying 2005 uses 2005's
//! rules because the question is always asked with the event's own date, never today's.

mod schema;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

pub use schema::{
    AccountCredit, AgeAmount, AgeRate, BaseBounds, Dated, EmployerRates, Fixed, RegionPolicy,
    Rejoin, ResidentRules, RetirementRules, Series,
};

use crate::domain::EmployerClass;
use crate::money::{Money, Rate};
use crate::month::Month;

/// The policy files shipped with the ledger, embedded at build time: `(file name, JSON)`.
pub const SHIPPED_POLICIES: &[(&str, &str)] =
    &[("luzhou.json", include_str!("../../policy/luzhou.json"))];

/// Why a policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is not valid policy JSON; the message names the place.
    #[error("policy file {file}: {message}")]
    Malformed {
        /// The file's name.
        file: String,
        /// What is wrong and where (line and column from the JSON parser).
        message: String,
    },
    /// The file parses but its values are inconsistent.
    #[error("policy file {file}: {parameter}: {reason}")]
    Invalid {
        /// The file's name.
        file: String,
        /// The parameter at fault.
        parameter: String,
        /// Why it is refused.
        reason: String,
    },
}

/// All regions a ledger knows, each with its version (a digest of its file).
#[derive(Clone, Debug)]
pub struct PolicySet {
    regions: BTreeMap<String, LoadedPolicy>,
}

#[derive(Clone, Debug)]
struct LoadedPolicy {
    policy: RegionPolicy,
    version: String,
}

impl PolicySet {
    /// The policies shipped in the binary.
    ///
    /// # Panics
    /// When a shipped file is invalid: the build's own data is wrong, which tests catch.
    pub fn shipped() -> PolicySet {
        PolicySet::from_files(
            SHIPPED_POLICIES
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .unwrap_or_else(|e| panic!("shipped policy data is invalid: {e}"))
    }

    /// Loads policies from `(file name, JSON text)` pairs, validating each.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<PolicySet, PolicyError> {
        let mut regions = BTreeMap::new();
        for (file, text) in files {
            let policy: RegionPolicy =
                serde_json::from_str(&text).map_err(|e| PolicyError::Malformed {
                    file: file.clone(),
                    message: e.to_string(),
                })?;
            policy
                .validate()
                .map_err(|(parameter, reason)| PolicyError::Invalid {
                    file: file.clone(),
                    parameter,
                    reason,
                })?;
            let digest = Sha256::digest(text.as_bytes());
            let version = format!("{}@{}", policy.region, &hex::encode(digest)[..12]);
            regions.insert(policy.region.clone(), LoadedPolicy { policy, version });
        }
        Ok(PolicySet { regions })
    }

    /// The region's policy, if the ledger knows the region.
    pub fn region(&self, region: &str) -> Option<&RegionPolicy> {
        self.regions.get(region).map(|l| &l.policy)
    }

    /// The version tag of a region's policy data, recorded in every event decided under it.
    pub fn version(&self, region: &str) -> Option<&str> {
        self.regions.get(region).map(|l| l.version.as_str())
    }

    /// The regions known, sorted.
    pub fn region_names(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }
}

/// A question the policy could not answer for that date: the data has no entry in force.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("region {region} has no '{parameter}' in force on {date}")]
pub struct NotInForce {
    /// The region asked.
    pub region: String,
    /// The parameter asked.
    pub parameter: &'static str,
    /// The date asked.
    pub date: NaiveDate,
}

impl RegionPolicy {
    fn need<'a, T>(
        &'a self,
        series: &'a Series<T>,
        parameter: &'static str,
        date: NaiveDate,
    ) -> Result<&'a Dated<T>, NotInForce> {
        series.at(date).ok_or_else(|| NotInForce {
            region: self.region.clone(),
            parameter,
            date,
        })
    }

    /// The employer's rate for a contribution month and employer class. DOMAIN §2.
    pub fn employer_rate(
        &self,
        month: Month,
        class: EmployerClass,
    ) -> Result<(Rate, &str), NotInForce> {
        let entry = self.need(&self.employer_rate, "employer_rate", month.first_day())?;
        let rate = match class {
            EmployerClass::Enterprise => entry.value.enterprise,
            EmployerClass::Public => entry.value.public,
        };
        Ok((rate, &entry.source))
    }

    /// The employee's own rate for a contribution month. DOMAIN §2.
    pub fn employee_rate(&self, month: Month) -> Result<(Rate, &str), NotInForce> {
        let entry = self.need(&self.employee_rate, "employee_rate", month.first_day())?;
        Ok((entry.value, &entry.source))
    }

    /// The contribution base for a declared wage: the wage clamped to the floor and cap of the
    /// previous year's average wage, or the wage itself where the table has no such year. DOMAIN §2.
    pub fn contribution_base(&self, month: Month, wage: Money) -> Result<Money, NotInForce> {
        let entry = self.need(&self.base_bounds, "base_bounds", month.first_day())?;
        let bounds = &entry.value;
        let mut base = wage;
        if let Some(minimum) = bounds.minimum_monthly {
            base = if base < minimum { minimum } else { base };
        }
        let previous = (month.year() - 1).to_string();
        if let Some(average) = bounds.average_wage_monthly.get(&previous) {
            let floor = average.times_rate(bounds.floor_ratio);
            let cap = average.times_rate(bounds.cap_ratio);
            base = if base < floor {
                floor
            } else if base > cap {
                cap
            } else {
                base
            };
        }
        Ok(base)
    }

    /// The share of base credited to an in-service member's personal account in a contribution
    /// month, at the member's age in that month: own rate plus the employer part. DOMAIN §2.
    pub fn account_credit_rate(
        &self,
        month: Month,
        age: u32,
    ) -> Result<(Rate, Rate, &str), NotInForce> {
        let entry = self.need(&self.account_credit, "account_credit", month.first_day())?;
        let part = entry
            .value
            .employer_part_by_age
            .iter()
            .rev()
            .find(|b| age >= b.min_age)
            .map_or(Rate::ZERO, |b| b.rate);
        Ok((entry.value.own_rate, part, &entry.source))
    }

    /// The fixed monthly allocation to a retiree's account for a month, at the retiree's age. DOMAIN §2.
    pub fn retiree_allocation(&self, month: Month, age: u32) -> Result<(Money, &str), NotInForce> {
        let entry = self.need(
            &self.retiree_allocation,
            "retiree_allocation",
            month.first_day(),
        )?;
        let amount = entry
            .value
            .iter()
            .rev()
            .find(|b| age >= b.min_age)
            .map_or(Money::ZERO, |b| b.amount);
        Ok((amount, &entry.source))
    }

    /// Retirement thresholds and benefit continuity in force on a date. DOMAIN §5.
    pub fn retirement(&self, date: NaiveDate) -> Result<&Dated<RetirementRules>, NotInForce> {
        self.need(&self.retirement, "retirement", date)
    }

    /// The monthly base a lump-sum makeup is computed on, for the date it is paid. DOMAIN §5.
    pub fn makeup_base(&self, date: NaiveDate) -> Result<&Dated<Money>, NotInForce> {
        self.need(&self.makeup_base_monthly, "makeup_base_monthly", date)
    }

    /// The 90-day re-enrolment window and the waiting period after it. DOMAIN §4.
    pub fn rejoin(&self, date: NaiveDate) -> Result<&Dated<Rejoin>, NotInForce> {
        self.need(&self.rejoin, "rejoin", date)
    }

    /// Resident-scheme payment window and waits. DOMAIN §4, §11.
    pub fn resident(&self, date: NaiveDate) -> Result<&Dated<ResidentRules>, NotInForce> {
        self.need(&self.resident, "resident", date)
    }

    /// The first contribution month that counts as an actual local month. DOMAIN §3.
    pub fn actual_months_from(&self) -> Month {
        self.actual_months_from.value
    }

    /// Whether spending on close relatives (家庭共济) is allowed on a date. DOMAIN §8.
    pub fn family_mutual_aid_allowed(&self, date: NaiveDate) -> bool {
        date >= self.family_mutual_aid_from.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luzhou() -> RegionPolicy {
        PolicySet::shipped()
            .region("luzhou")
            .cloned()
            .unwrap_or_else(|| panic!("luzhou shipped"))
    }

    #[test]
    fn shipped_policies_load_and_validate() {
        let set = PolicySet::shipped();
        assert!(set.region("luzhou").is_some());
        assert!(set
            .version("luzhou")
            .is_some_and(|v| v.starts_with("luzhou@")));
    }

    #[test]
    fn account_credit_changes_at_the_reform_date() {
        let p = luzhou();
        let dec = |m: &str| m.parse::<Month>().unwrap_or_else(|e| panic!("{e}"));
        let before = p
            .account_credit_rate(dec("2022-12"), 40)
            .map(|(o, e, _)| (o, e));
        let after = p
            .account_credit_rate(dec("2023-01"), 40)
            .map(|(o, e, _)| (o, e));
        assert_eq!(
            before.map(|(o, e)| o.plus(e).to_string()),
            Ok("0.03".to_string())
        );
        assert_eq!(
            after.map(|(o, e)| o.plus(e).to_string()),
            Ok("0.02".to_string())
        );
    }

    #[test]
    fn a_question_before_any_entry_is_not_in_force() {
        let p = luzhou();
        let d = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
        assert!(p.retirement(d).is_err());
    }
}
