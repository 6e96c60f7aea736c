//! Validation of the resident scheme's parameters: the payment window and waits, and the
//! premium schedule with its categories. docs/RULES.md §4, §11, §12 R9, R10.

use crate::policy::bounds::{
    check_amount, check_count, check_name, POLICY_AGE_MAX, POLICY_DAYS_MAX, POLICY_MONTHS_MAX,
    PREMIUM_CATEGORIES_MAX,
};
use crate::policy::{fault, Fault, PremiumCategory, PremiumSchedule, RegionPolicy, ResidentRules};

impl RegionPolicy {
    /// The resident scheme's parameters: the window and waits present, the premiums in bounds.
    pub(super) fn validate_resident(&self) -> Result<(), Fault> {
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

fn check_category(name: &str, c: &PremiumCategory) -> Result<(), String> {
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
