//! Decimals written as text without allocating: amounts and rates as `Decimal`'s own `Display`
//! writes them, and a rate as a percentage. Every stored amount, every rate and four
//! percentages of each contribution's rule text go through here.

use std::fmt;

use rust_decimal::Decimal;

/// Writes a decimal (`mantissa` × 10^-`scale`) as text into `buf` without allocating, with
/// exactly `scale` decimals, as `Decimal`'s own `Display` does; returns the text.
pub(super) fn write_decimal(mantissa: i128, scale: u32, buf: &mut [u8; 48]) -> &str {
    // The digits by `itoa` (two at a time; every amount and rate the ledger holds fits 64
    // bits, where a 128-bit division costs several times as much), then the point put in.
    let mut text = itoa::Buffer::new();
    let magnitude = mantissa.unsigned_abs();
    let digits = match u64::try_from(magnitude) {
        Ok(small) => text.format(small),
        Err(_) => text.format(magnitude),
    }
    .as_bytes();
    let scale = scale as usize;
    // Zeros in front, so that at least one digit stands before the point.
    let zeros = (scale + 1).saturating_sub(digits.len());
    let whole = zeros + digits.len() - scale;
    let mut end = 0;
    let mut put = |byte: u8| {
        if let Some(slot) = buf.get_mut(end) {
            *slot = byte;
            end += 1;
        }
    };
    if mantissa < 0 {
        put(b'-');
    }
    let all = std::iter::repeat_n(b'0', zeros).chain(digits.iter().copied());
    for (i, digit) in all.enumerate() {
        if i == whole {
            put(b'.');
        }
        put(digit);
    }
    std::str::from_utf8(&buf[..end]).unwrap_or("?")
}

/// A rate displayed as a percentage, `7.75%`.
pub(super) struct Percent(pub(super) Decimal);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 48];
        f.write_str(percent_digits(self.0, &mut buf))?;
        f.write_str("%")
    }
}

/// The digits of `rate` times one hundred, normalized (`7.75` for 0.0775), written into `buf`:
/// `(rate × 100).normalize()` without decimal arithmetic (×100 is two places less of scale, and
/// normalizing drops trailing zeros of the fraction). Every contribution's rule text holds four
/// of these (multiplying and formatting them as decimals was 2.4 % of `submit`'s samples).
pub(super) fn percent_digits(rate: Decimal, buf: &mut [u8; 48]) -> &str {
    let (mut mantissa, mut scale) = (rate.mantissa(), rate.scale());
    if scale >= 2 {
        scale -= 2;
    } else {
        // A mantissa is below 2^96: times 100 it fits 128 bits.
        mantissa *= 10_i128.pow(2 - scale);
        scale = 0;
    }
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    write_decimal(mantissa, scale, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // A decimal written without allocating reads exactly as `Decimal`'s own `Display`
        // writes it: sign, at least one digit before the point, `scale` digits after it.
        #[test]
        fn decimal_text_is_what_decimal_displays(
            mantissa in proptest::prop_oneof![
                -1_000_000_i64..1_000_000,
                proptest::prelude::any::<i64>(),
            ],
            wide in proptest::prelude::any::<bool>(),
            scale in 0u32..=28,
        ) {
            // Beyond 64 bits too (a decimal's mantissa has 96).
            let mantissa = if wide { i128::from(mantissa) << 31 } else { i128::from(mantissa) };
            let decimal = Decimal::from_i128_with_scale(mantissa, scale);
            let mut buf = [0u8; 48];
            let text = write_decimal(decimal.mantissa(), decimal.scale(), &mut buf).to_string();
            proptest::prop_assert_eq!(text, decimal.to_string());
        }

        // A rate shown as a percentage reads exactly as the decimal rate times one hundred,
        // normalized, followed by `%`.
        #[test]
        fn percent_text_is_the_normalized_decimal_times_one_hundred(
            mantissa in -10_000_000_000_i64..10_000_000_000,
            scale in 0u32..=12,
        ) {
            let rate = Decimal::new(mantissa, scale);
            let expected = format!("{}%", (rate * Decimal::ONE_HUNDRED).normalize());
            proptest::prop_assert_eq!(Percent(rate).to_string(), expected);
        }
    }
}
