//! The compact form of a member's months ([`MemberState::months`]) where the state is
//! serialised in a binary form (a member snapshot); a human-readable form (JSON: the golden
//! states, anything shown) keeps serde's map, `{"2024-01": {"employer": {"base": …}, …}}`.
//!
//! A career holds a payment for nearly every month (300 in 25 years), and as a map of named
//! fields with every amount and date as text it was most of what encoding a snapshot cost. Here
//! it is one byte string: the number of months, then for each month in order
//!
//! ```text
//! month    zigzag varint of year × 12 + (month − 1)
//! flags    one byte: 1 employer paid, 2 employer's refunded, 4 individual paid, 8 individual's refunded
//! payment  for each payer present (employer first): base, employee, employer, credit as zigzag
//!          varints of fen, then the posting date as a zigzag varint of days from 0001-01-01
//! ```
//!
//! Reading it back refuses anything else (months out of order, a flag unknown, an amount beyond
//! [`crate::money::MONEY_YUAN_MAX`], a month or date out of range, bytes left over): the snapshot
//! is then not read and the member is folded from its events.
//!
//! [`MemberState::months`]: super::MemberState::months

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::months::{MonthCover, Payment};
use crate::money::{Money, MONEY_SCALE_DIGITS, MONEY_YUAN_MAX};
use crate::month::Month;

const EMPLOYER_PAID: u8 = 1;
const EMPLOYER_REFUNDED: u8 = 2;
const INDIVIDUAL_PAID: u8 = 4;
const INDIVIDUAL_REFUNDED: u8 = 8;
const FLAGS_KNOWN: u8 = EMPLOYER_PAID | EMPLOYER_REFUNDED | INDIVIDUAL_PAID | INDIVIDUAL_REFUNDED;

/// [`MONEY_YUAN_MAX`] in fen: the largest amount (either sign) written or read.
const MONEY_FEN_MAX: u64 = MONEY_YUAN_MAX.unsigned_abs() * 100;

/// Bytes reserved per month when encoding (a month with one payment takes about 15).
const MONTH_BYTES_TYPICAL: usize = 16;

/// Serialises the months: serde's map where the serialiser is human-readable, the compact
/// bytes otherwise.
pub(super) fn serialize<S: Serializer>(
    months: &BTreeMap<Month, MonthCover>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return months.serialize(serializer);
    }
    let bytes = encode(months).map_err(serde::ser::Error::custom)?;
    serializer.serialize_bytes(&bytes)
}

/// Reads what [`serialize`] writes.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<Month, MonthCover>, D::Error> {
    if deserializer.is_human_readable() {
        return BTreeMap::deserialize(deserializer);
    }
    deserializer.deserialize_bytes(CompactMonths)
}

/// Reads the compact bytes.
struct CompactMonths;

impl serde::de::Visitor<'_> for CompactMonths {
    type Value = BTreeMap<Month, MonthCover>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member's months as compact bytes")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        decode(bytes).map_err(E::custom)
    }
}

/// The months as compact bytes; refused when an amount is beyond what the ledger writes.
pub(super) fn encode(months: &BTreeMap<Month, MonthCover>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(months.len() * MONTH_BYTES_TYPICAL + 4);
    put_unsigned(&mut out, u64::try_from(months.len()).unwrap_or(u64::MAX));
    for (month, cover) in months {
        put_signed(&mut out, month_index(*month));
        out.push(
            flags_of(cover.employer.as_ref(), EMPLOYER_PAID, EMPLOYER_REFUNDED)
                | flags_of(
                    cover.individual.as_ref(),
                    INDIVIDUAL_PAID,
                    INDIVIDUAL_REFUNDED,
                ),
        );
        for payment in [&cover.employer, &cover.individual].into_iter().flatten() {
            put_payment(&mut out, payment)?;
        }
    }
    Ok(out)
}

/// What [`encode`] wrote.
pub(super) fn decode(bytes: &[u8]) -> Result<BTreeMap<Month, MonthCover>, String> {
    let mut reader = Reader { bytes };
    let count = reader.unsigned()?;
    let mut months = BTreeMap::new();
    let mut previous: Option<Month> = None;
    // Each month takes at least two bytes: a count beyond the bytes runs out of them.
    for _ in 0..count {
        let month = month_of_index(reader.signed()?)?;
        if previous.is_some_and(|p| p >= month) {
            return Err(format!("month {month} is out of order"));
        }
        previous = Some(month);
        let flags = reader.byte()?;
        let refunded_unpaid = (flags & EMPLOYER_REFUNDED != 0 && flags & EMPLOYER_PAID == 0)
            || (flags & INDIVIDUAL_REFUNDED != 0 && flags & INDIVIDUAL_PAID == 0);
        if flags & !FLAGS_KNOWN != 0 || refunded_unpaid {
            return Err(format!("month {month} has flags {flags:#04x}"));
        }
        let mut payment = |paid: u8, refunded: u8| {
            (flags & paid != 0)
                .then(|| reader.payment(flags & refunded != 0))
                .transpose()
        };
        let employer = payment(EMPLOYER_PAID, EMPLOYER_REFUNDED)?;
        let individual = payment(INDIVIDUAL_PAID, INDIVIDUAL_REFUNDED)?;
        months.insert(
            month,
            MonthCover {
                employer,
                individual,
            },
        );
    }
    if !reader.bytes.is_empty() {
        return Err(format!("{} bytes after the months", reader.bytes.len()));
    }
    Ok(months)
}

fn flags_of(payment: Option<&Payment>, paid: u8, refunded: u8) -> u8 {
    match payment {
        None => 0,
        Some(p) if p.refunded => paid | refunded,
        Some(_) => paid,
    }
}

fn month_index(month: Month) -> i64 {
    i64::from(month.year()) * 12 + i64::from(month.month()) - 1
}

fn month_of_index(index: i64) -> Result<Month, String> {
    let year = i32::try_from(index.div_euclid(12)).ok();
    let month = u32::try_from(index.rem_euclid(12) + 1).ok();
    year.zip(month)
        .and_then(|(y, m)| Month::new(y, m))
        .ok_or_else(|| format!("month number {index} is out of range"))
}

fn put_payment(out: &mut Vec<u8>, payment: &Payment) -> Result<(), String> {
    for amount in [
        payment.base,
        payment.employee,
        payment.employer,
        payment.credit,
    ] {
        let fen = fen_within_bound(amount)
            .ok_or_else(|| format!("the amount {amount} is beyond the largest the ledger holds"))?;
        put_signed(out, fen);
    }
    put_signed(out, i64::from(payment.posted.num_days_from_ce()));
    Ok(())
}

/// The amount in fen when within [`MONEY_YUAN_MAX`] (what the ledger writes), `None` beyond.
fn fen_within_bound(amount: Money) -> Option<i64> {
    let decimal = amount.as_decimal();
    // Money holds two decimals (zero may hold none): the mantissa is then the amount in fen.
    let fen = if decimal.scale() == MONEY_SCALE_DIGITS {
        i64::try_from(decimal.mantissa()).ok()?
    } else if amount.abs() <= Money::yuan(MONEY_YUAN_MAX) {
        amount.fen()
    } else {
        return None;
    };
    (fen.unsigned_abs() <= MONEY_FEN_MAX).then_some(fen)
}

/// The amount of `fen` when within [`MONEY_YUAN_MAX`], `None` beyond.
fn money_within_bound(fen: i64) -> Option<Money> {
    (fen.unsigned_abs() <= MONEY_FEN_MAX).then(|| Money::from_fen(fen))
}

fn put_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap_or_default() | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap_or_default());
}

/// Zigzag: 0, −1, 1, −2, … as 0, 1, 2, 3, … so that small amounts of either sign are short.
fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_unsigned(
        out,
        u64::from_ne_bytes(((value << 1) ^ (value >> 63)).to_ne_bytes()),
    );
}

/// A read position in the compact bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&first, rest) = self.bytes.split_first().ok_or("the months end too soon")?;
        self.bytes = rest;
        Ok(first)
    }

    fn unsigned(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let part = u64::from(byte & 0x7f);
            if shift == 63 && part > 1 {
                return Err("a number beyond 64 bits".into());
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number longer than ten bytes".into())
    }

    fn signed(&mut self) -> Result<i64, String> {
        let zigzag = self.unsigned()?;
        let half = i64::from_ne_bytes((zigzag >> 1).to_ne_bytes());
        Ok(half ^ -i64::from(u8::from(zigzag & 1 == 1)))
    }

    fn money(&mut self) -> Result<Money, String> {
        let fen = self.signed()?;
        money_within_bound(fen).ok_or_else(|| format!("{fen} fen is beyond the bound"))
    }

    fn payment(&mut self, refunded: bool) -> Result<Payment, String> {
        let (base, employee, employer, credit) =
            (self.money()?, self.money()?, self.money()?, self.money()?);
        let days = self.signed()?;
        let posted = i32::try_from(days)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .ok_or_else(|| format!("day {days} is out of range"))?;
        Ok(Payment {
            base,
            employee,
            employer,
            credit,
            posted,
            refunded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payment() -> impl Strategy<Value = Payment> {
        let fen = -10_000_000_000_000i64..=10_000_000_000_000;
        (
            (fen.clone(), fen.clone(), fen.clone(), fen),
            -1_000_000i32..4_000_000,
            any::<bool>(),
        )
            .prop_filter_map(
                "a valid day",
                |((base, employee, employer, credit), day, refunded)| {
                    Some(Payment {
                        base: money_within_bound(base)?,
                        employee: money_within_bound(employee)?,
                        employer: money_within_bound(employer)?,
                        credit: money_within_bound(credit)?,
                        posted: NaiveDate::from_num_days_from_ce_opt(day)?,
                        refunded,
                    })
                },
            )
    }

    fn months() -> impl Strategy<Value = BTreeMap<Month, MonthCover>> {
        let month =
            (1900i32..=2200, 1u32..=12).prop_filter_map("a month", |(y, m)| Month::new(y, m));
        let cover = (
            proptest::option::of(payment()),
            proptest::option::of(payment()),
        )
            .prop_map(|(employer, individual)| MonthCover {
                employer,
                individual,
            });
        prop::collection::btree_map(month, cover, 0..40)
    }

    /// The months as a human-readable serialiser writes them, and as it reads them back.
    fn as_text(months: &BTreeMap<Month, MonthCover>) -> String {
        serde_json::to_string(months).expect("serialises")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        // Invariant: whatever the months (any month of the range, either payer or both, any
        // amount within the bound of either sign, any date, refunded or not), the compact bytes
        // read back to the same months, and these serialise as text exactly as the originals.
        #[test]
        fn months_round_trip_through_their_compact_bytes(months in months()) {
            let bytes = encode(&months).expect("encodes");
            let read = decode(&bytes).expect("decodes");
            prop_assert_eq!(as_text(&read), as_text(&months));
            prop_assert_eq!(read, months);
        }

        // Invariant: bytes cut short or with one byte changed never read as months that encode
        // to other bytes: what decodes re-encodes to exactly what was read.
        #[test]
        fn damaged_bytes_are_refused_or_read_faithfully(
            months in months(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut bytes = encode(&months).expect("encodes");
            let i = at.index(bytes.len());
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            if let Ok(read) = decode(&bytes) {
                let again = encode(&read).expect("encodes");
                prop_assert_eq!(decode(&again), Ok(read));
            }
        }
    }

    #[test]
    fn out_of_range_or_unordered_months_and_unknown_flags_are_refused() {
        let month = |y, m| Month::new(y, m).expect("month");
        let mut months = BTreeMap::new();
        months.insert(month(2024, 1), MonthCover::default());
        months.insert(month(2024, 2), MonthCover::default());
        let bytes = encode(&months).expect("encodes");
        assert_eq!(decode(&bytes).as_ref(), Ok(&months));
        // Two months, both 2024-02: out of order.
        let index = month_index(month(2024, 2));
        let mut twice = vec![2];
        for _ in 0..2 {
            put_signed(&mut twice, index);
            twice.push(0);
        }
        assert!(decode(&twice).is_err());
        let mut flagged = bytes.clone();
        let last = flagged.len() - 1;
        flagged[last] = 0x10;
        assert!(decode(&flagged).is_err(), "an unknown flag");
        flagged[last] = EMPLOYER_REFUNDED;
        assert!(decode(&flagged).is_err(), "refunded without a payment");
        let mut early = vec![1];
        put_signed(&mut early, 1899 * 12);
        early.push(0);
        assert!(decode(&early).is_err(), "a year before YEAR_MIN");
        let mut over = bytes;
        over.push(0);
        assert!(decode(&over).is_err(), "bytes left over");
        let beyond = money_within_bound(10_000_000_000_000).expect("the bound");
        let mut rich = BTreeMap::new();
        rich.insert(
            month(2024, 1),
            MonthCover {
                employer: Some(Payment {
                    base: beyond + Money::from_fen(1),
                    employee: Money::ZERO,
                    employer: Money::ZERO,
                    credit: Money::ZERO,
                    posted: NaiveDate::from_ymd_opt(2024, 1, 31).expect("date"),
                    refunded: false,
                }),
                individual: None,
            },
        );
        assert!(encode(&rich).is_err(), "an amount beyond the bound");
    }
}
