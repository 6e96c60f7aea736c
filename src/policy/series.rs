//! A parameter's values in time: [`Dated`] entries in a [`Series`] (or one [`Fixed`] value),
//! each with its source, and the faults validation reports on them, named by place.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One value of a parameter with the date it takes effect and where it comes from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dated<T> {
    /// First day the value is in force; it stays in force until the next entry's date.
    pub effective_from: NaiveDate,
    /// The value.
    pub value: T,
    /// The source tag (docs/RULES.md "Sources") and a few words: why this figure.
    pub source: String,
}

/// A value that does not change with time, with its source.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed<T> {
    /// The value.
    pub value: T,
    /// The source tag (docs/RULES.md "Sources") and a few words.
    pub source: String,
}

/// A parameter's history: entries in increasing `effective_from` order. An optional parameter
/// left out of a file is an empty series (no entry in force on any date).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Series<T>(pub Vec<Dated<T>>);

impl<T> Default for Series<T> {
    fn default() -> Self {
        Series(Vec::new())
    }
}

impl<T> Series<T> {
    /// The entry in force on `date`: the last one whose `effective_from` is not after it.
    pub fn at(&self, date: NaiveDate) -> Option<&Dated<T>> {
        self.0.iter().rev().find(|d| d.effective_from <= date)
    }

    /// Whether the file gave no entry for the parameter.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries must start on strictly increasing dates: two entries on one date would overlap,
    /// an earlier date after a later one would be out of order.
    pub(super) fn check_order(&self, name: &str) -> Result<(), Fault> {
        for (i, pair) in self.0.windows(2).enumerate() {
            let (earlier, later) = (pair[0].effective_from, pair[1].effective_from);
            if later == earlier {
                let reason = format!("overlaps the entry before it: both take effect on {later}");
                return Err(entry_fault(name, i + 1, later, reason));
            }
            if later < earlier {
                let reason = format!("takes effect on {later}, before the entry before it ({earlier}): entries must be in date order");
                return Err(entry_fault(name, i + 1, later, reason));
            }
        }
        Ok(())
    }

    /// Checks each entry's value with `check`, naming the entry on a fault.
    pub(super) fn check_each(
        &self,
        name: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<(), Fault> {
        for (i, d) in self.0.iter().enumerate() {
            check(&d.value).map_err(|reason| entry_fault(name, i, d.effective_from, reason))?;
        }
        Ok(())
    }
}

/// A validation fault: `(place, reason)`, the place a parameter or one of its entries.
pub(crate) type Fault = (String, String);

pub(super) fn entry_fault(name: &str, index: usize, from: NaiveDate, reason: String) -> Fault {
    (format!("{name}[{index}] (from {from})"), reason)
}

pub(super) fn fault(place: &str, reason: impl Into<String>) -> Fault {
    (place.to_string(), reason.into())
}
