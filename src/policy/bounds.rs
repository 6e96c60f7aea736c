//! The bounds every policy value is held to, and the checks that apply them: a value past its
//! bound is refused at open, so no later date or decimal arithmetic on it can overflow.

use rust_decimal::Decimal;

use crate::money::{Money, Rate};

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

/// Largest count of months a policy parameter may hold (a retirement age, a career): 100 years,
/// the policy model's bound on careers.
pub const MONTHS_PARAMETER_MAX: u32 = POLICY_CAREER_MONTHS_MAX;

/// Largest continuity window, in days: 10 years, the policy model's bound on days.
pub const WINDOW_DAYS_MAX: u32 = POLICY_DAYS_MAX;

/// The largest floor or cap ratio of the average wage (1000 %).
pub(super) const BASE_RATIO_MAX: u32 = 10;

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

/// A count of months between `min` and [`MONTHS_PARAMETER_MAX`], so date arithmetic cannot overflow.
pub(super) fn check_months(what: &str, months: u32, min: u32) -> Result<(), String> {
    if (min..=MONTHS_PARAMETER_MAX).contains(&months) {
        return Ok(());
    }
    Err(format!(
        "{what} {months} is not between {min} and {MONTHS_PARAMETER_MAX} months"
    ))
}

pub(super) fn check_name(what: &str, name: &str) -> Result<(), String> {
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

pub(super) fn check_bands(ages: impl Iterator<Item = u32>) -> Result<(), String> {
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
