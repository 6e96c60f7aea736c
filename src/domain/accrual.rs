//! Interest accrual on a personal account (docs/RULES.md §12 R8), pure arithmetic shared by the
//! decision and by `verify`'s recheck.
//!
//! For each day of a year, the carried-over part is min(balance on 1 January, the day's closing
//! balance) and the current part is the rest; the day accrues carried × r_carry / 360 +
//! current × r_current / 360 with the rates in force that day. Days are walked in runs of
//! constant balance and rates, so the cost is the member's balance changes and the rate
//! changes in the year, not 365 steps. The yuan-days of each rate entry are exact sums of fen;
//! the year's interest is their sum × rate ÷ 360, rounded half-up once.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::{InterestPeriod, MemberState};
use crate::money::{Money, MONEY_YUAN_MAX};
use crate::policy::{InterestRates, RegionPolicy};

/// Days in the interest year of the rule (银行计息: 360).
pub const INTEREST_DAYS_PER_YEAR: u32 = 360;

/// The most yuan-days an interest period may hold: every amount the ledger holds
/// ([`MONEY_YUAN_MAX`]) for every day of a leap year. Yuan-days are not money: a balance within
/// the ledger's bound always accrues, however long the year.
pub const YUAN_DAYS_MAX: i64 = MONEY_YUAN_MAX * 366;

const _: () = assert!(MONEY_YUAN_MAX.checked_mul(366).is_some());

/// A sum over days of a balance in yuan, to the fen (exact: a balance in fen times whole days).
/// What an interest rate applies to. docs/RULES.md §12 R8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct YuanDays(Decimal);

impl YuanDays {
    /// No yuan-days.
    pub const ZERO: YuanDays = YuanDays(Decimal::ZERO);

    /// `balance` held for `days` days.
    pub fn of(balance: Money, days: i64) -> YuanDays {
        YuanDays(balance.as_decimal() * Decimal::from(days))
    }

    /// The decimal value (two decimals).
    pub fn as_decimal(self) -> Decimal {
        self.0
    }
}

impl std::ops::AddAssign for YuanDays {
    fn add_assign(&mut self, other: YuanDays) {
        self.0 += other.0;
    }
}

impl std::fmt::Display for YuanDays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Two decimals as money prints them; the sum is whole fen × whole days.
        std::fmt::Display::fmt(&Money::round_half_up(self.0), f)
    }
}

impl serde::Serialize for YuanDays {
    /// Refuses a sum beyond [`YUAN_DAYS_MAX`]: what is written must read back.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.abs() > Decimal::from(YUAN_DAYS_MAX) {
            return Err(serde::ser::Error::custom(format!(
                "{self} yuan-days is beyond the largest an interest period holds ({YUAN_DAYS_MAX})"
            )));
        }
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for YuanDays {
    /// Reads the decimal string written by `serialize`: at most two decimals, within the bound.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value = Decimal::from_str(text.trim())
            .map_err(|_| serde::de::Error::custom(format!("'{text}' is not yuan-days")))?;
        if value.normalize().scale() > 2 || value.abs() > Decimal::from(YUAN_DAYS_MAX) {
            return Err(serde::de::Error::custom(format!(
                "'{text}' is not yuan-days to the fen within {YUAN_DAYS_MAX}"
            )));
        }
        let mut value = value;
        value.rescale(2);
        Ok(YuanDays(value))
    }
}

/// A year's (or part year's) accrual.
#[derive(Clone, Debug, PartialEq)]
pub struct Accrual {
    /// Balance on 1 January: the ceiling of the carried-over part.
    pub opening: Money,
    /// Yuan-days and rates by rate entry, in date order.
    pub periods: Vec<InterestPeriod>,
    /// The interest, rounded half-up once.
    pub amount: Money,
}

/// The balance at the end of `day` as the member's events dated up to it leave it.
fn balance_before(state: &MemberState, day: NaiveDate) -> Money {
    state.balance_by_date.range(..day).map(|(_, d)| *d).sum()
}

/// Accrues `year` from 1 January through `through` (inclusive), with the rates `policy` has in
/// force each day. `None` when `through` is before the year starts.
pub fn accrue(
    state: &MemberState,
    policy: &RegionPolicy,
    year: i32,
    through: NaiveDate,
) -> Option<Accrual> {
    let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
    if through < start || through.year() != year {
        return None;
    }
    let opening = balance_before(state, start);
    let rate_changes = policy.interest.0.iter().map(|e| e.effective_from);
    let mut periods: Vec<(usize, InterestPeriod)> = Vec::new();
    for run in runs(state, opening, start, through, rate_changes) {
        if let Some((index, entry)) = policy.interest_on(run.from) {
            add_run(&mut periods, index, &entry.value, &run);
        }
    }
    let periods: Vec<InterestPeriod> = periods.into_iter().map(|(_, p)| p).collect();
    let amount = interest_of(&periods);
    Some(Accrual {
        opening,
        periods,
        amount,
    })
}

/// The runs of days `from..=to` with one closing balance, split also at `changes` (the days a
/// rate changes); `opening` is the balance on 1 January of the year.
fn runs(
    state: &MemberState,
    opening: Money,
    from: NaiveDate,
    to: NaiveDate,
    changes: impl Iterator<Item = NaiveDate>,
) -> Vec<Run> {
    let mut points: BTreeSet<NaiveDate> = BTreeSet::from([from]);
    points.extend(state.balance_by_date.range(from..=to).map(|(d, _)| *d));
    points.extend(changes.filter(|d| *d > from && *d <= to));
    let points: Vec<NaiveDate> = points.into_iter().collect();
    let mut closing = balance_before(state, from);
    let mut out = Vec::with_capacity(points.len());
    for (i, day) in points.iter().enumerate() {
        closing += state
            .balance_by_date
            .get(day)
            .copied()
            .unwrap_or(Money::ZERO);
        let end = points
            .get(i + 1)
            .and_then(|next| next.pred_opt())
            .unwrap_or(to);
        out.push(Run {
            from: *day,
            to: end,
            opening,
            closing,
        });
    }
    out
}

/// Days `from..=to` with the same closing balance and rates.
struct Run {
    from: NaiveDate,
    to: NaiveDate,
    opening: Money,
    closing: Money,
}

impl Run {
    /// The run's carried-over and current yuan-days.
    fn yuan_days(&self) -> (YuanDays, YuanDays) {
        let days = (self.to - self.from).num_days() + 1;
        let closing = self.closing.max(Money::ZERO);
        let carried = self.opening.min(closing);
        (
            YuanDays::of(carried, days),
            YuanDays::of(closing - carried, days),
        )
    }
}

/// Adds a run to the period of its rate entry (the last one, or a new one).
fn add_run(
    periods: &mut Vec<(usize, InterestPeriod)>,
    index: usize,
    rates: &InterestRates,
    run: &Run,
) {
    let (carried, current) = run.yuan_days();
    match periods.last_mut() {
        Some((last, p)) if *last == index => {
            p.to = run.to;
            p.carried_yuan_days += carried;
            p.current_yuan_days += current;
        }
        _ => periods.push((
            index,
            InterestPeriod {
                from: run.from,
                to: run.to,
                carried_rate: rates.carried_rate,
                current_rate: rates.current_rate,
                carried_yuan_days: carried,
                current_yuan_days: current,
            },
        )),
    }
}

/// The interest of accrued periods: Σ (carried yuan-days × r_carry + current yuan-days ×
/// r_current) ÷ 360, rounded half-up to the fen once.
pub fn interest_of(periods: &[InterestPeriod]) -> Money {
    let sum: Decimal = periods
        .iter()
        .map(|p| {
            p.carried_yuan_days.as_decimal() * p.carried_rate.as_decimal()
                + p.current_yuan_days.as_decimal() * p.current_rate.as_decimal()
        })
        .sum();
    Money::round_half_up(sum / Decimal::from(INTEREST_DAYS_PER_YEAR))
}

/// The carried-over and current yuan-days of the days `from..=to` of one year, as `state`'s
/// balances leave them (what `verify` recomputes an event's periods from).
pub fn yuan_days(state: &MemberState, from: NaiveDate, to: NaiveDate) -> (YuanDays, YuanDays) {
    let Some(start) = NaiveDate::from_ymd_opt(from.year(), 1, 1) else {
        return (YuanDays::ZERO, YuanDays::ZERO);
    };
    let opening = balance_before(state, start);
    let (mut carried_sum, mut current_sum) = (YuanDays::ZERO, YuanDays::ZERO);
    for run in runs(state, opening, from, to, std::iter::empty()) {
        let (carried, current) = run.yuan_days();
        carried_sum += carried;
        current_sum += current;
    }
    (carried_sum, current_sum)
}
