//! Validation of the policy model of docs/RULES.md §12 (R3–R10, R14): individual rates and tiers,
//! allocation starts, surcharges, interest, the resident wait and close relatives.

use crate::money::Rate;
use crate::month::Month;
use crate::policy::bounds::{
    check_amount, check_count, check_name, check_rate, POLICY_MONTHS_MAX, SURCHARGES_PER_ENTRY_MAX,
};
use crate::policy::{fault, Fault, RegionPolicy, ResidentWait, Surcharge, SurchargeGroup};
use crate::terms::EmployerClass;

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
                "is written as 'surcharges' (docs/RULES.md §12 R5): e.g. [{\"name\":\"mutual_aid_employer\",\"payer\":\"employer\",\"applies_to\":[\"in_service\"],\"rate\":\"0.01\"}, {\"name\":\"mutual_aid_personal\",\"payer\":\"member\",\"applies_to\":[\"in_service\",\"retiree\"],\"amount\":\"2.00\",\"per\":\"month\"}]",
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
