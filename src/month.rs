//! Calendar months (`YYYY-MM`), the unit of contributions and contribution years.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A contribution month 缴费所属期, e.g. `2024-03`. Ordered by time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

/// Earliest year the ledger accepts in any date or month: no member's history predates it.
pub const YEAR_MIN: i32 = 1900;
/// Latest year the ledger accepts in any date or month.
pub const YEAR_MAX: i32 = 2200;

impl Month {
    /// The month `year`-`month`, or `None` when out of range.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((YEAR_MIN..=YEAR_MAX).contains(&year) && (1..=12).contains(&month))
            .then_some(Month { year, month })
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The calendar year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month of the year, 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The first day of the month.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month")
    }

    /// The last day of the month.
    pub fn last_day(self) -> NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .expect("a day before the next month")
    }

    /// The following month.
    pub fn next(self) -> Month {
        self.plus(1)
    }

    /// The month `count` months later.
    pub fn plus(self, count: u32) -> Month {
        Month::of(self.first_day() + Months::new(count))
    }

    /// Number of months from `self` to `later` (0 when equal; negative when `later` is earlier).
    pub fn months_until(self, later: Month) -> i64 {
        i64::from(later.year - self.year) * 12 + i64::from(later.month) - i64::from(self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;
    fn from_str(text: &str) -> Result<Month, String> {
        let bad = || format!("'{text}' is not a month in the form YYYY-MM");
        let (y, m) = text.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        Month::new(year, month).ok_or_else(bad)
    }
}

impl Serialize for Month {
    /// The `Display` text, written on the stack (no string built for every event).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(year) = four_digits(self.year) else {
            return serializer.collect_str(self);
        };
        let [m1, m2] = two_digits(self.month);
        let [y1, y2, y3, y4] = year;
        let text = [y1, y2, y3, y4, b'-', m1, m2];
        serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

/// A year of 0 to 9999 as four ASCII digits.
fn four_digits(year: i32) -> Option<[u8; 4]> {
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    Some([year / 1000, year / 100, year / 10, year].map(digit))
}

/// A month or a day as two ASCII digits.
fn two_digits(n: u32) -> [u8; 2] {
    [n / 10, n].map(digit)
}

/// The last decimal digit of `n`, in ASCII.
fn digit(n: u32) -> u8 {
    b"0123456789"[usize::try_from(n % 10).unwrap_or(0)]
}

impl<'de> Deserialize<'de> for Month {
    /// Reads the text where it lies, as a `String` would be read (the same errors).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_string(MonthText)
    }
}

/// Reads a [`Month`] from its text, accepting what a `String` accepts.
struct MonthText;

impl serde::de::Visitor<'_> for MonthText {
    type Value = Month;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Month, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Month, E> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.visit_str(text),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(bytes), &self)),
        }
    }
}

/// Whole years of age on `on` for someone born on `birth`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    u32::try_from(age.max(0)).unwrap_or(0)
}

/// Whole days from `earlier` to `later` (negative when `later` is earlier).
pub fn days_between(earlier: NaiveDate, later: NaiveDate) -> i64 {
    (later - earlier).num_days()
}

/// `date` plus `count` calendar months (clamped to the month's end).
pub fn add_months(date: NaiveDate, count: u32) -> NaiveDate {
    date + Months::new(count)
}

/// Serializes a date exactly as chrono's `Serialize` does (`2024-03-31`; a year beyond four
/// digits with its sign, `+12345-01-01`), written on the stack: a member's snapshot holds a
/// posting date for every month paid.
pub fn serialize_date<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    let Some([y1, y2, y3, y4]) = four_digits(date.year()) else {
        return serializer.collect_str(&format_args!("{date:?}"));
    };
    let [m1, m2] = two_digits(date.month());
    let [d1, d2] = two_digits(date.day());
    let text = [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2];
    serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
}

/// A date that serializes through [`serialize_date`].
struct DateText<'a>(&'a NaiveDate);

impl Serialize for DateText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_date(self.0, serializer)
    }
}

/// Serializes a map keyed by date exactly as serde does, each key through [`serialize_date`]
/// (a member's balance by posting date has an entry for every day money moved).
pub fn serialize_dated_map<V: Serialize, S: Serializer>(
    map: &std::collections::BTreeMap<NaiveDate, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().map(|(date, value)| (DateText(date), value)))
}

/// A date written `YYYY-MM-DD` with exactly those digits, read without chrono's general
/// parser; `None` for any other text (then ask chrono, which reads this shape the same way).
pub fn parse_plain_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A date serialised through [`serialize_date`].
    struct Dated(NaiveDate);

    impl Serialize for Dated {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serialize_date(&self.0, serializer)
        }
    }

    // Invariant: a date of the plain shape reads as chrono reads it, and any other text is
    // left to chrono (`None`).
    #[test]
    fn a_plain_date_reads_as_chrono_reads_it() {
        let mut day = NaiveDate::from_ymd_opt(1999, 1, 1).unwrap_or_default();
        while day.year() < 2001 {
            let text = day.to_string();
            assert_eq!(parse_plain_date(&text), Some(day));
            day = day.succ_opt().unwrap_or_default();
        }
        let others = [
            "0000-01-01",
            "2024-02-30",
            "2023-02-29",
            "2024-00-10",
            "2024-13-01",
            "2024-1-01",
            "2024-01-1 ",
            "+2024-01-01",
            "2024/01/01",
            "２０２４-01-01",
            "2024-01-010",
            "",
            "9999-12-31",
            "2024-0a-01",
        ];
        for text in others {
            let chrono = text.parse::<NaiveDate>().ok();
            if let Some(date) = parse_plain_date(text) {
                assert_eq!(Some(date), chrono, "{text}");
            } else {
                let plain = text.len() == 10
                    && text.bytes().enumerate().all(|(i, c)| match i {
                        4 | 7 => c == b'-',
                        _ => c.is_ascii_digit(),
                    });
                assert!(
                    !plain || chrono.is_none(),
                    "{text} is plain and chrono reads it"
                );
            }
        }
    }

    // Invariant: `serialize_date` writes what chrono's own `Serialize` writes, for every date
    // chrono holds (years of fewer than four digits, negative years, years past 9999).
    #[test]
    fn a_date_serialises_as_chrono_serialises_it() {
        let mut dates = vec![NaiveDate::MIN, NaiveDate::MAX];
        for year in [
            -10_000, -1, 0, 7, 99, 999, 1000, 1900, 2024, 9999, 10_000, 123_456,
        ] {
            for (month, day) in [(1, 1), (2, 29), (9, 30), (12, 31)] {
                dates.extend(NaiveDate::from_ymd_opt(year, month, day));
            }
        }
        assert!(dates.len() > 40);
        for &date in &dates {
            let ours = serde_json::to_string(&Dated(date)).unwrap_or_default();
            assert_eq!(ours, serde_json::to_string(&date).unwrap_or_default());
            let packed = rmp_serde::to_vec(&Dated(date)).unwrap_or_default();
            assert_eq!(
                packed,
                rmp_serde::to_vec(&date).unwrap_or_default(),
                "{date}"
            );
        }
        let map: std::collections::BTreeMap<NaiveDate, u32> =
            dates.iter().zip(0..).map(|(d, i)| (*d, i)).collect();
        let mut ours = Vec::new();
        serialize_dated_map(&map, &mut rmp_serde::Serializer::new(&mut ours)).unwrap_or_default();
        assert_eq!(ours, rmp_serde::to_vec(&map).unwrap_or_default());
        let json = serialize_dated_map(&map, serde_json::value::Serializer).unwrap_or_default();
        assert_eq!(json, serde_json::to_value(&map).unwrap_or_default());
    }

    // Invariant: a month serialises as its `Display` text and reads back, and a value that is
    // not a month's text is refused with the message a `String` read would give.
    #[test]
    fn a_month_serialises_as_its_text_and_refuses_what_a_string_refuses() {
        for (year, month) in [(YEAR_MIN, 1), (1999, 9), (2024, 12), (YEAR_MAX, 12)] {
            let m = Month::new(year, month).unwrap_or_else(|| panic!("{year}-{month}"));
            let json = serde_json::to_string(&m).unwrap_or_default();
            assert_eq!(json, format!("\"{m}\""));
            assert_eq!(serde_json::from_str::<Month>(&json).ok(), Some(m));
        }
        for text in ["5", "null", "\"2024-13\"", "[1]"] {
            let as_string = serde_json::from_str::<String>(text)
                .map_err(|e| e.to_string())
                .and_then(|s| s.parse::<Month>().map_err(|e| e.to_string()));
            let direct = serde_json::from_str::<Month>(text).map_err(|e| e.to_string());
            assert!(direct.is_err(), "{text}");
            assert_eq!(
                direct
                    .err()
                    .map(|e| e.split(" at line").next().map(str::to_string)),
                as_string
                    .err()
                    .map(|e| e.split(" at line").next().map(str::to_string)),
                "{text}"
            );
        }
    }

    #[test]
    fn parses_and_orders_months() {
        let a: Month = "2024-02".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            a.last_day(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default()
        );
        assert_eq!(a.next().to_string(), "2024-03");
        assert!("2024-13".parse::<Month>().is_err());
        assert!("2024-2".parse::<Month>().is_err());
        assert_eq!(
            Month::of(NaiveDate::from_ymd_opt(2023, 12, 5).unwrap_or_default()).months_until(a),
            2
        );
    }

    #[test]
    fn age_counts_whole_years() {
        let birth = NaiveDate::from_ymd_opt(1980, 6, 15).unwrap_or_default();
        assert_eq!(
            age_on(
                birth,
                NaiveDate::from_ymd_opt(2015, 6, 14).unwrap_or_default()
            ),
            34
        );
        assert_eq!(
            age_on(
                birth,
                NaiveDate::from_ymd_opt(2015, 6, 15).unwrap_or_default()
            ),
            35
        );
    }
}
