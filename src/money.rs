//! Money and rates: exact decimal yuan with two decimals (fen), never floats.
//!
//! [`Money`] is what every amount in a command, an event and a view is: a `rust_decimal::Decimal`
//! always held at scale 2. [`Rate`] is a dimensionless fraction (`0.0775` for 7.75 %). Every
//! multiplication of money by a rate goes through [`Money::times_rate`], which names its rounding:
//! half-up to the fen (四舍五入, DOMAIN §10).

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fen per yuan: money carries exactly this many decimals.
pub const MONEY_SCALE_DIGITS: u32 = 2;

/// The largest amount the ledger accepts in one field, in yuan (one hundred billion):
/// anything larger is a typing error, not a contribution.
pub const MONEY_YUAN_MAX: i64 = 100_000_000_000;

/// An amount of yuan with exactly two decimals. May be negative only inside computations
/// (a delta); commands and events carry non-negative amounts and say which way they move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

/// Why a text is not money.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number at all.
    #[error("'{0}' is not a decimal amount")]
    NotANumber(String),
    /// More than two decimals: money is counted in fen.
    #[error("'{0}' has more than two decimals; amounts are in yuan to the fen")]
    TooManyDecimals(String),
    /// Beyond [`MONEY_YUAN_MAX`].
    #[error("'{0}' is beyond the largest accepted amount")]
    TooLarge(String),
}

impl Money {
    /// Zero yuan.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Wraps a decimal that is already a whole number of fen; rescales it to two decimals.
    ///
    /// # Panics
    /// When `value` has fractions of a fen: that is a programming error, amounts from outside
    /// go through [`Money::parse`].
    pub fn from_decimal(value: Decimal) -> Money {
        let mut v = value;
        assert!(
            v.round_dp(MONEY_SCALE_DIGITS) == v,
            "money with fractions of a fen: {value}"
        );
        v.rescale(MONEY_SCALE_DIGITS);
        Money(v)
    }

    /// A whole number of yuan.
    pub fn yuan(whole: i64) -> Money {
        Money::from_decimal(Decimal::from(whole))
    }

    /// The amount without its sign.
    pub fn abs(self) -> Money {
        Money(self.0.abs())
    }

    /// An amount in fen (分).
    pub fn from_fen(fen: i64) -> Money {
        Money::from_decimal(Decimal::new(fen, MONEY_SCALE_DIGITS))
    }

    /// Parses a decimal string such as `"1234.56"`; refuses three decimals and absurd sizes.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(MoneyError::NotANumber(text.to_string()));
        }
        let value =
            Decimal::from_str(trimmed).map_err(|_| MoneyError::NotANumber(text.to_string()))?;
        if value.normalize().scale() > MONEY_SCALE_DIGITS {
            return Err(MoneyError::TooManyDecimals(text.to_string()));
        }
        if value.abs() > Decimal::from(MONEY_YUAN_MAX) {
            return Err(MoneyError::TooLarge(text.to_string()));
        }
        Ok(Money::from_decimal(value))
    }

    /// The decimal value (scale 2).
    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// The amount in fen.
    ///
    /// # Panics
    /// Never for amounts within [`MONEY_YUAN_MAX`].
    pub fn fen(self) -> i64 {
        let fen = self.0 * Decimal::ONE_HUNDRED;
        i64::try_from(fen.trunc().mantissa()).expect("money within i64 fen")
    }

    /// `self × rate`, rounded half-up (away from zero at the midpoint) to the fen. DOMAIN §10.
    pub fn times_rate(self, rate: Rate) -> Money {
        Money::round_half_up(self.0 * rate.0)
    }

    /// `self × count` (exact).
    pub fn times(self, count: u32) -> Money {
        Money::from_decimal(self.0 * Decimal::from(count))
    }

    /// Rounds any decimal half-up to the fen (四舍五入). DOMAIN §10.
    pub fn round_half_up(value: Decimal) -> Money {
        Money::from_decimal(
            value
                .round_dp_with_strategy(MONEY_SCALE_DIGITS, RoundingStrategy::MidpointAwayFromZero),
        )
    }

    /// Rounds down (toward zero) to the fen; used where the remainder is handed out explicitly.
    pub fn round_down(value: Decimal) -> Money {
        Money::from_decimal(
            value.round_dp_with_strategy(MONEY_SCALE_DIGITS, RoundingStrategy::ToZero),
        )
    }

    /// True for a strictly positive amount.
    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// True for an amount below zero.
    pub fn is_negative(self) -> bool {
        self.0 < Decimal::ZERO
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The smaller of two amounts.
    pub fn min(self, other: Money) -> Money {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment, so tables line up.
        f.pad(&format!("{:.2}", self.0))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts the contract's decimal string, and for leniency a JSON number whose shortest text
    /// has at most two decimals (`12.5`), never a number that only a float could hold.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a decimal amount as a string, got {other}"
                )))
            }
        };
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A fraction such as a contribution rate (`0.0775`) or an inheritance share (`0.5`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(Decimal);

impl Rate {
    /// Wraps a decimal fraction.
    pub fn new(value: Decimal) -> Rate {
        Rate(value.normalize())
    }

    /// Zero.
    pub const ZERO: Rate = Rate(Decimal::ZERO);

    /// The decimal value.
    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// The sum of two rates.
    pub fn plus(self, other: Rate) -> Rate {
        Rate::new(self.0 + other.0)
    }

    /// The rate as a percentage text, `7.75%`.
    pub fn percent(self) -> String {
        format!("{}%", (self.0 * Decimal::ONE_HUNDRED).normalize())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a decimal fraction, got {other}"
                )))
            }
        };
        let d = Decimal::from_str(text.trim())
            .map_err(|_| serde::de::Error::custom(format!("'{text}' is not a decimal fraction")))?;
        Ok(Rate::new(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_two_decimals_and_refuses_three() {
        assert_eq!(
            Money::parse("12.5").map(|m| m.to_string()),
            Ok("12.50".to_string())
        );
        assert_eq!(
            Money::parse("100").map(|m| m.to_string()),
            Ok("100.00".to_string())
        );
        assert!(matches!(
            Money::parse("1.234"),
            Err(MoneyError::TooManyDecimals(_))
        ));
        assert!(
            Money::parse("1.230").is_ok(),
            "trailing zeros are still fen"
        );
        assert!(matches!(
            Money::parse("abc"),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            Money::parse("1e3"),
            Err(MoneyError::NotANumber(_))
        ));
    }

    #[test]
    fn times_rate_rounds_half_up_to_the_fen() {
        // 1000.25 × 2 % = 20.005 → 20.01 (half-up), not banker's 20.00.
        let m = Money::parse("1000.25").unwrap_or_default();
        assert_eq!(
            m.times_rate(Rate::new(Decimal::new(2, 2))).to_string(),
            "20.01"
        );
        assert_eq!(
            Money::yuan(8000)
                .times_rate(Rate::new(Decimal::new(775, 4)))
                .to_string(),
            "620.00"
        );
    }
}
