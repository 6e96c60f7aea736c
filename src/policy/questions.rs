//! The questions the rules ask of a region's policy, each with a date: the value in force and
//! the entry it came from, or [`NotInForce`] where the data has none. docs/RULES.md §1–§12.

use chrono::{Datelike, NaiveDate};

use super::{
    AgeAmount, AllocationStart, CoverageRules, Dated, InterestRates, PremiumSchedule, RegionPolicy,
    Rejoin, ResidentRules, ResidentWait, RetirementAges, RetirementRules, Series, Surcharge,
};
use crate::money::{Money, Rate};
use crate::month::Month;
use crate::terms::{EmployerClass, Scheme};

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
    /// The entry of `series` in force on `date`, or which parameter is missing then.
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

    /// The employer's rate for a contribution month and employer class. docs/RULES.md §2.
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

    /// The employee's own rate for a contribution month. docs/RULES.md §2.
    pub fn employee_rate(&self, month: Month) -> Result<(Rate, &str), NotInForce> {
        let entry = self.need(&self.employee_rate, "employee_rate", month.first_day())?;
        Ok((entry.value, &entry.source))
    }

    /// The contribution base for a declared wage: the wage clamped to the floor and cap of the
    /// previous year's average wage, or the wage itself where the table has no such year.
    /// docs/RULES.md §2.
    pub fn contribution_base(&self, month: Month, wage: Money) -> Result<Money, NotInForce> {
        let entry = self.need(&self.base_bounds, "base_bounds", month.first_day())?;
        let bounds = &entry.value;
        let mut base = wage;
        if let Some(minimum) = bounds.minimum_monthly {
            base = if base < minimum { minimum } else { base };
        }
        // The base year runs from `base_year_starts_month` (calendar years by default); the
        // average wage of the year before the base year bounds it (issue 9, Shenyang [003]).
        let starts = bounds.base_year_starts_month.unwrap_or(1);
        let base_year = if month.month() >= starts {
            month.year()
        } else {
            month.year() - 1
        };
        let previous = (base_year - 1).to_string();
        // Validation guarantees a floor or a cap ratio (or both) beside a non-empty table.
        if let Some(average) = bounds.average_wage_monthly.get(&previous) {
            if let Some(floor) = bounds.floor_ratio.map(|r| average.times_rate(r)) {
                base = base.max(floor);
            }
            if let Some(cap) = bounds.cap_ratio.map(|r| average.times_rate(r)) {
                base = base.min(cap);
            }
        }
        Ok(base)
    }

    /// The share of base credited to an in-service member's personal account in a contribution
    /// month, at the member's age in that month: own rate plus the employer part. docs/RULES.md §2.
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

    /// The band of the monthly retiree allocation for a month at the retiree's age (on the
    /// month's last day): a flat amount or a fraction of the pension. docs/RULES.md §2, §12 R4.
    pub fn retiree_allocation(
        &self,
        month: Month,
        age: u32,
    ) -> Result<(AgeAmount, &str), NotInForce> {
        let entry = self.need(
            &self.retiree_allocation,
            "retiree_allocation",
            month.first_day(),
        )?;
        let none = AgeAmount {
            min_age: 0,
            amount: Some(Money::ZERO),
            pension_rate: None,
        };
        let band = entry
            .value
            .iter()
            .rev()
            .find(|b| age >= b.min_age)
            .copied()
            .unwrap_or(none);
        Ok((band, &entry.source))
    }

    /// Retirement thresholds and benefit continuity in force on a date. docs/RULES.md §5.
    pub fn retirement(&self, date: NaiveDate) -> Result<&Dated<RetirementRules>, NotInForce> {
        self.need(&self.retirement, "retirement", date)
    }

    /// The monthly base a lump-sum makeup is computed on, for the date it is paid.
    /// docs/RULES.md §5.
    pub fn makeup_base(&self, date: NaiveDate) -> Result<&Dated<Money>, NotInForce> {
        self.need(&self.makeup_base_monthly, "makeup_base_monthly", date)
    }

    /// The 90-day re-enrolment window and the waiting period after it. docs/RULES.md §4.
    pub fn rejoin(&self, date: NaiveDate) -> Result<&Dated<Rejoin>, NotInForce> {
        self.need(&self.rejoin, "rejoin", date)
    }

    /// Resident-scheme payment window and waits. docs/RULES.md §4, §11.
    pub fn resident(&self, date: NaiveDate) -> Result<&Dated<ResidentRules>, NotInForce> {
        self.need(&self.resident, "resident", date)
    }

    /// The first contribution month that counts as an actual local month (`None` in a region
    /// without the employee scheme). docs/RULES.md §3.
    pub fn actual_months_from(&self) -> Option<Month> {
        self.actual_months_from.as_ref().map(|f| f.value)
    }

    /// Whether spending on close relatives (家庭共济) is allowed on a date. docs/RULES.md §8.
    pub fn family_mutual_aid_allowed(&self, date: NaiveDate) -> bool {
        self.family_mutual_aid_from
            .as_ref()
            .is_some_and(|f| date >= f.value)
    }

    /// Whether the region offers a scheme. docs/RULES.md §1.
    pub fn offers(&self, scheme: Scheme) -> bool {
        self.schemes.contains(&scheme)
    }

    /// The day a month's contribution is due: before this date (in the following month), where
    /// the region sets one. docs/RULES.md §2.
    pub fn contribution_due(&self, month: Month) -> Option<(NaiveDate, &str)> {
        let entry = self.contribution_due_day.at(month.first_day())?;
        let next = month.next().first_day();
        let due = NaiveDate::from_ymd_opt(next.year(), next.month(), entry.value)?;
        Some((due, &entry.source))
    }

    /// The last day a month's contribution may be posted before the month is overdue
    /// (docs/RULES.md §12 R2): the policy's `contribution_due_day` of the following month, or,
    /// where the region sets none, the last day of the following month [ill].
    pub fn last_day_due(&self, month: Month) -> NaiveDate {
        match self.contribution_due(month) {
            Some((due, _)) => due,
            None => month.next().last_day(),
        }
    }

    /// R2's waits beside the re-enrolment window, in force on a date.
    pub fn coverage(&self, date: NaiveDate) -> Result<&Dated<CoverageRules>, NotInForce> {
        self.need(&self.coverage, "coverage", date)
    }

    /// Statutory retirement ages in force on a retirement date. docs/RULES.md §12 R12.
    pub fn retirement_ages(&self, date: NaiveDate) -> Result<&Dated<RetirementAges>, NotInForce> {
        self.need(&self.retirement_age, "retirement_age", date)
    }

    /// The premium schedule in force on a date (a coverage year's 1 January), where the region
    /// has one. docs/RULES.md §11.
    pub fn premium(&self, date: NaiveDate) -> Option<&Dated<PremiumSchedule>> {
        self.premium.at(date)
    }

    /// The first month a retiree's allocation is for, given the retirement date.
    /// docs/RULES.md §12 R4.
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

    /// The surcharges in force for a month (empty where the region has none). docs/RULES.md §12 R5.
    pub fn surcharges_of(&self, month: Month) -> Option<&Dated<Vec<Surcharge>>> {
        self.surcharges.at(month.first_day())
    }

    /// The interest rates in force on a day, where the region pays interest. docs/RULES.md §12 R8.
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

    /// Whether a relation may be registered on a date (家庭共济). docs/RULES.md §12 R14.
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
