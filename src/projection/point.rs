//! A point of a member's history a view is taken at: a date (what was in force then), a log
//! position (what the ledger knew then), or both (what a statement issued at that position said
//! about that date). `diff`, the annual statement and the command line all speak it.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A point of a member's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Point {
    /// In force on this date.
    Date(NaiveDate),
    /// Known after this log position.
    Position(u64),
    /// Known after this log position and in force on this date: what a statement issued at
    /// that position said about that date (`P@YYYY-MM-DD`; the command line also takes
    /// `issued:YEAR`, the member's latest statement of the year as issued).
    Known {
        /// The log position.
        position: u64,
        /// The date.
        date: NaiveDate,
    },
}

impl FromStr for Point {
    type Err = String;

    /// `YYYY-MM-DD` is a date; digits are a position; `P@YYYY-MM-DD` both.
    fn from_str(text: &str) -> Result<Point, String> {
        if let Ok(position) = text.parse::<u64>() {
            return Ok(Point::Position(position));
        }
        if let Some((position, date)) = text.split_once('@') {
            return match (position.parse::<u64>(), date.parse::<Point>()) {
                (Ok(position), Ok(Point::Date(date))) => Ok(Point::Known { position, date }),
                _ => Err(format!(
                    "'{text}' is not a log position and a date (P@YYYY-MM-DD)"
                )),
            };
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Point::Date)
            .map_err(|_| format!("'{text}' is neither a date YYYY-MM-DD nor a log position"))
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Point::Date(d) => write!(f, "as of {d}"),
            Point::Position(p) => write!(f, "at position {p}"),
            Point::Known { position, date } => {
                write!(f, "as known at position {position}, in force on {date}")
            }
        }
    }
}

/// A point as a person names it: a [`Point`], or `issued:YEAR`, the member's latest statement
/// of that year as issued (known at its position, in force on 31 December), which
/// [`crate::Ledger::resolve_point`] turns into a [`Point`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointSpec {
    /// A point given directly.
    At(Point),
    /// The latest statement of this year issued to the member.
    Issued(i32),
}

/// The prefix of a point that names an issued statement: `issued:2024`.
const ISSUED_PREFIX: &str = "issued:";

impl fmt::Display for PointSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointSpec::At(point) => point.fmt(f),
            PointSpec::Issued(year) => write!(f, "{ISSUED_PREFIX}{year}"),
        }
    }
}

impl FromStr for PointSpec {
    type Err = String;

    /// `issued:YEAR`, or anything [`Point`] reads.
    fn from_str(text: &str) -> Result<PointSpec, String> {
        match text.strip_prefix(ISSUED_PREFIX) {
            Some(year) => year
                .parse::<i32>()
                .map(PointSpec::Issued)
                .map_err(|_| format!("'{text}' is not issued:YEAR")),
            None => text.parse().map(PointSpec::At),
        }
    }
}
