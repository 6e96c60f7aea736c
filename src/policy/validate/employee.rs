//! Validation of the employee scheme's parameters: rates, base bounds, the account credit, retiree
//! allocations, retirement thresholds and ages, the makeup base, re-enrolment and coverage waits.
//! docs/RULES.md §2–§6, §12 R1, R2, R4, R12.

use crate::policy::bounds::{
    check_amount, check_bands, check_count, check_months, check_rate, BASE_RATIO_MAX,
    MONTHS_PARAMETER_MAX, POLICY_CAREER_MONTHS_MAX, POLICY_MONTHS_MAX, WINDOW_DAYS_MAX,
};
use crate::policy::{
    entry_fault, fault, AgeSchedule, BaseBounds, Fault, RegionPolicy, Rejoin, RetirementAges,
    RetirementRules,
};

impl RegionPolicy {
    /// The employee scheme's parameters: each one present, in date order and within bounds.
    pub(super) fn validate_employee(&self) -> Result<(), Fault> {
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
}

impl AgeSchedule {
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
