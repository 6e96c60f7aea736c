//! Money and rates: exact decimal yuan with two decimals (fen), never floats.
//!
//! [`Money`] is what every amount in a command, an event and a view is: a `rust_decimal::Decimal`
//! always held at scale 2. [`Rate`] is a dimensionless fraction (`0.0775` for 7.75 %). Every
//! multiplication of money by a rate goes through [`Money::times_rate`], which names its rounding:
//! half-up to the fen (四舍五入, docs/RULES.md §10).

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod decimal_text;
use decimal_text::{write_decimal, Percent};

/// Fen per yuan: money carries exactly this many decimals.
pub const MONEY_SCALE_DIGITS: u32 = 2;

/// The largest amount the ledger accepts in one field, in yuan (one hundred billion):
/// anything larger is a typing error, not a contribution.
pub const MONEY_YUAN_MAX: i64 = 100_000_000_000;

/// The largest monthly wage a contribution may declare, in yuan (one billion). Two payments a
/// month at most, so a year's sums of bases and shares stay within [`MONEY_YUAN_MAX`].
pub const WAGE_YUAN_MAX: i64 = 1_000_000_000;

const _: () = assert!(24 * WAGE_YUAN_MAX <= MONEY_YUAN_MAX);

/// [`MONEY_YUAN_MAX`] in fen.
const MONEY_FEN_MAX: u64 = MONEY_YUAN_MAX.unsigned_abs() * 100;

/// The amount in fen of a plain decimal text (`-?digits(.d{1,2})?`, at most 15 integer digits),
/// or `None` for anything else (which the general parse then judges).
fn plain_fen(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let (whole, fraction) = match digits.iter().position(|b| *b == b'.') {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &[][..]),
    };
    if whole.is_empty() || whole.len() > 15 || fraction.len() > 2 {
        return None;
    }
    if digits.contains(&b'.') && fraction.is_empty() {
        return None;
    }
    let mut fen: i64 = 0;
    for b in whole.iter().chain(fraction) {
        if !b.is_ascii_digit() {
            return None;
        }
        fen = fen * 10 + i64::from(b - b'0');
    }
    for _ in fraction.len()..2 {
        fen *= 10;
    }
    Some(if negative { -fen } else { fen })
}

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
        if let Some(fen) = plain_fen(text) {
            // The common spelling (digits, at most two decimals), read without a general
            // decimal parse: the same value the general path gives.
            if fen.unsigned_abs() <= MONEY_FEN_MAX {
                return Ok(Money(Decimal::new(fen, MONEY_SCALE_DIGITS)));
            }
            return Err(MoneyError::TooLarge(text.to_string()));
        }
        Money::parse_general(text)
    }

    fn parse_general(text: &str) -> Result<Money, MoneyError> {
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

    /// `self × rate`, rounded half-up (away from zero at the midpoint) to the fen.
    /// docs/RULES.md §10.
    pub fn times_rate(self, rate: Rate) -> Money {
        Money::round_half_up(self.0 * rate.0)
    }

    /// `self × count` (exact).
    pub fn times(self, count: u32) -> Money {
        Money::from_decimal(self.0 * Decimal::from(count))
    }

    /// Rounds any decimal half-up to the fen (四舍五入). docs/RULES.md §10.
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

impl Money {
    /// Writes the amount as text (`-1234.56`) into `buf` without allocating; returns the text.
    fn write_text(self, buf: &mut [u8; 48]) -> &str {
        // Money holds two decimals, but for zero (`Money::ZERO`, `Default`), which may hold
        // none; a decimal of 28 digits at most fits the buffer.
        let scale = self.0.scale();
        if scale == MONEY_SCALE_DIGITS || self.0.is_zero() {
            let mantissa = if scale == MONEY_SCALE_DIGITS {
                self.0.mantissa()
            } else {
                0
            };
            return write_decimal(mantissa, MONEY_SCALE_DIGITS, buf);
        }
        let mut two = self.0;
        two.rescale(MONEY_SCALE_DIGITS);
        write_decimal(two.mantissa(), MONEY_SCALE_DIGITS, buf)
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    /// The same as [`Money::parse`]: `"1234.56".parse::<Money>()`.
    fn from_str(text: &str) -> Result<Money, MoneyError> {
        Money::parse(text)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 48];
        // `pad` honours width and alignment, so tables line up.
        f.pad(self.write_text(&mut buf))
    }
}

impl Money {
    /// Appends the amount as text (`-1234.56`, what `Display` writes unpadded) to `out`.
    pub fn push_text(self, out: &mut String) {
        let mut buf = [0u8; 48];
        out.push_str(self.write_text(&mut buf));
    }

    /// |amount| ≤ [`MONEY_YUAN_MAX`], compared on the integer mantissa (|m| / 10^scale ≤ max
    /// exactly when |m| ≤ max × 10^scale; a bound beyond 128 bits holds every mantissa).
    fn within_bound(self) -> bool {
        let limit = 10u128
            .checked_pow(self.0.scale())
            .and_then(|p| p.checked_mul(MONEY_YUAN_MAX.unsigned_abs().into()));
        limit.is_none_or(|limit| self.0.mantissa().unsigned_abs() <= limit)
    }
}

impl Serialize for Money {
    /// Refuses an amount beyond [`MONEY_YUAN_MAX`]: what is written must read back.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.within_bound() {
            return Err(serde::ser::Error::custom(format!(
                "the amount {self} is beyond the largest the ledger holds ({MONEY_YUAN_MAX} yuan)"
            )));
        }
        let mut buf = [0u8; 48];
        serializer.serialize_str(self.write_text(&mut buf))
    }
}

/// Reads a decimal given as a string, or (for leniency) as a JSON number, as its shortest text.
/// Reads a decimal given as a string, or (for leniency) as a JSON number read as its shortest
/// text, and parses it with `parse`: a string is parsed where it lies, never copied.
struct DecimalText<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> serde::de::Visitor<'_> for DecimalText<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
        // The shortest text that reads back as this number: `12.5`, never a float's tail.
        (self.parse)(&v.to_string()).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts the contract's decimal string, and for leniency a JSON number whose shortest text
    /// has at most two decimals (`12.5`), never a number that only a float could hold.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecimalText {
            expecting: "a decimal amount as a string",
            parse: |text| Money::parse(text).map_err(|e| e.to_string()),
        })
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
        self.as_percent().to_string()
    }

    /// Appends the rate as a percentage text (`7.75%`, what [`Rate::percent`] returns) to `out`.
    pub fn push_percent(self, out: &mut String) {
        let mut buf = [0u8; 48];
        out.push_str(decimal_text::percent_digits(self.0, &mut buf));
        out.push('%');
    }

    /// The rate written as a percentage (`7.75%`) where it is displayed, with no text built
    /// first: what [`Rate::percent`] returns.
    pub fn as_percent(self) -> impl fmt::Display {
        Percent(self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 48];
        serializer.serialize_str(write_decimal(self.0.mantissa(), self.0.scale(), &mut buf))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecimalText {
            expecting: "a decimal fraction",
            parse: |text| {
                Decimal::from_str(text.trim())
                    .map(Rate::new)
                    .map_err(|_| format!("'{text}' is not a decimal fraction"))
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Invariant: the bound checked before an amount is written is |amount| ≤ MONEY_YUAN_MAX,
    // whatever the amount's scale.
    #[test]
    fn the_written_bound_is_the_largest_amount_at_any_scale() {
        let max = Decimal::from(MONEY_YUAN_MAX);
        let cent = Decimal::new(1, 2);
        let values = [
            Decimal::ZERO,
            max,
            -max,
            max + cent,
            -max - cent,
            max - cent,
            Decimal::new(MONEY_YUAN_MAX * 100, 2),
            Decimal::new(MONEY_YUAN_MAX * 100 + 1, 2),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::new(1, 28),
            Decimal::from_i128_with_scale(i128::from(MONEY_YUAN_MAX) * 10i128.pow(16) + 1, 16),
        ];
        for value in values {
            assert_eq!(Money(value).within_bound(), value.abs() <= max, "{value}");
        }
    }

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
    fn money_prints_with_two_decimals_and_its_sign() {
        for (text, shown) in [
            ("0", "0.00"),
            ("0.00", "0.00"),
            ("0.05", "0.05"),
            ("-0.05", "-0.05"),
            ("1.5", "1.50"),
            ("-1234.56", "-1234.56"),
            ("100000000000", "100000000000.00"),
        ] {
            assert_eq!(
                Money::parse(text).map(|m| m.to_string()),
                Ok(shown.to_string())
            );
        }
        assert_eq!(format!("{:>8}", Money::from_fen(150)), "    1.50");
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!(Money::default().to_string(), "0.00");
        assert_eq!(Money(Decimal::new(5, 0)).to_string(), "5.00");
        let wide = Decimal::from_str("-12345678901234567890123.45").expect("decimal");
        assert_eq!(
            Money::from_decimal(wide).to_string(),
            "-12345678901234567890123.45"
        );
        for rate in ["0.0775", "0.02", "1", "0", "12.5"] {
            let r = Rate::new(Decimal::from_str(rate).expect("decimal"));
            assert_eq!(serde_json::to_string(&r).ok(), Some(format!("\"{rate}\"")));
        }
    }

    #[test]
    fn an_amount_beyond_the_bound_does_not_serialise() {
        let big = Money::yuan(MONEY_YUAN_MAX) + Money::from_fen(1);
        assert!(serde_json::to_string(&big).is_err());
        assert!(serde_json::to_string(&Money::yuan(MONEY_YUAN_MAX)).is_ok());
        let read: Money = serde_json::from_str("12.5").expect("a number");
        assert_eq!(read.to_string(), "12.50");
        assert!(serde_json::from_str::<Money>("1.005").is_err());
    }

    proptest::proptest! {
        // The quick reading of plain decimal texts gives exactly what the general parse gives,
        // value and scale, or the same refusal.
        #[test]
        fn the_quick_reading_agrees_with_the_general_parse(text in "-?[0-9]{0,16}(\\.[0-9]{0,3})?") {
            let quick = Money::parse(&text);
            let general = Money::parse_general(&text);
            proptest::prop_assert_eq!(quick.clone().map(|m| (m, m.0.scale())), general.clone().map(|m| (m, m.0.scale())));
            if let (Err(a), Err(b)) = (quick, general) {
                proptest::prop_assert_eq!(std::mem::discriminant(&a), std::mem::discriminant(&b));
            }
        }
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
