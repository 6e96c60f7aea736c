//! An heir's share of a balance: a decimal (`"0.5"`) or a fraction (`"1/3"`), held exactly as a
//! reduced fraction and written back as it was given. docs/RULES.md §12 R11.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest numerator or denominator a fraction share may be written with.
pub const SHARE_TERM_MAX: i128 = 1_000_000_000_000;

/// A share as an exact fraction `numerator / denominator` (reduced, denominator positive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    numerator: i128,
    denominator: i128,
    text: String,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl Share {
    /// The share `numerator / denominator`, reduced; `None` when the denominator is not positive.
    pub fn fraction(numerator: i128, denominator: i128, text: String) -> Option<Share> {
        if denominator <= 0 {
            return None;
        }
        let g = gcd(numerator, denominator);
        Some(Share {
            numerator: numerator / g,
            denominator: denominator / g,
            text,
        })
    }

    /// The whole: 1.
    pub fn one() -> Share {
        Share {
            numerator: 1,
            denominator: 1,
            text: "1".into(),
        }
    }

    /// The numerator of the reduced fraction.
    pub fn numerator(&self) -> i128 {
        self.numerator
    }

    /// The denominator of the reduced fraction (positive).
    pub fn denominator(&self) -> i128 {
        self.denominator
    }

    /// Whether the share is above zero.
    pub fn is_positive(&self) -> bool {
        self.numerator > 0
    }

    /// Whether the share is more than the whole.
    pub fn exceeds_one(&self) -> bool {
        self.numerator > self.denominator
    }

    /// The exact sum of shares, `None` when a common denominator would overflow.
    pub fn sum<'a>(shares: impl IntoIterator<Item = &'a Share>) -> Option<(i128, i128)> {
        let (mut n, mut d) = (0i128, 1i128);
        for s in shares {
            let g = gcd(d, s.denominator);
            let lcm = (d / g).checked_mul(s.denominator)?;
            n = n
                .checked_mul(lcm / d)?
                .checked_add(s.numerator.checked_mul(lcm / s.denominator)?)?;
            d = lcm;
            let r = gcd(n, d);
            (n, d) = (n / r, d / r);
        }
        Some((n, d))
    }
}

impl FromStr for Share {
    type Err = String;
    fn from_str(text: &str) -> Result<Share, String> {
        let trimmed = text.trim();
        if let Some((n, d)) = trimmed.split_once('/') {
            let term = |t: &str| {
                t.trim()
                    .parse::<i128>()
                    .ok()
                    .filter(|v| (0..=SHARE_TERM_MAX).contains(v))
            };
            let bad = || {
                format!("'{text}' is not a fraction a/b of whole numbers up to {SHARE_TERM_MAX}")
            };
            let (n, d) = (term(n).ok_or_else(bad)?, term(d).ok_or_else(bad)?);
            return Share::fraction(n, d, trimmed.to_string()).ok_or_else(bad);
        }
        let value = Decimal::from_str(trimmed)
            .map_err(|_| format!("'{text}' is not a share such as \"0.5\" or \"1/3\""))?;
        let denominator = 10i128.pow(value.scale());
        Share::fraction(value.mantissa(), denominator, trimmed.to_string())
            .ok_or_else(|| format!("'{text}' is not a share"))
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a share: a decimal string such as \"0.5\" or a fraction \"1/3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Share, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Share, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Share, E> {
                Err(E::custom(format!(
                    "share {v} must be written as a string (\"0.5\" or \"1/3\")"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_fractions_reduce_and_keep_their_text() {
        let half: Share = "0.50".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((half.numerator(), half.denominator()), (1, 2));
        assert_eq!(half.to_string(), "0.50");
        let third: Share = "1/3".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Share::sum([&third, &third, &third]),
            Some((1, 1)),
            "three thirds make one"
        );
        assert!("1/0".parse::<Share>().is_err());
        assert!("-1/3".parse::<Share>().is_err());
        assert!("x".parse::<Share>().is_err());
    }
}
