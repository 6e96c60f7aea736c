//! A resident member's paid coverage years, read as a status, a first day of benefits and a run
//! of consecutive years. docs/RULES.md §4, §11, §12 R9.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{MemberState, Status};
use crate::money::Money;

/// A paid resident coverage year. docs/RULES.md §4, §11.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Personal premium.
    pub personal: Money,
    /// Government subsidy.
    pub subsidy: Money,
    /// Payment date.
    pub paid_on: NaiveDate,
    /// Benefits start.
    pub benefits_from: NaiveDate,
    /// Refunded (no longer covered).
    pub refunded: bool,
}

impl MemberState {
    /// A resident member's status on `on` from the paid coverage years. docs/RULES.md §4, §11.
    pub fn resident_status_on(&self, on: NaiveDate) -> Status {
        if self.closed_on.is_some() {
            return Status::Closed;
        }
        if self.died_on.is_some() {
            return Status::Deceased;
        }
        let year = chrono::Datelike::year(&on);
        let paid: Vec<(&i32, &Coverage)> =
            self.coverage.iter().filter(|(_, c)| !c.refunded).collect();
        match paid.iter().find(|(y, _)| **y == year) {
            Some((_, c)) if c.benefits_from <= on => Status::Active,
            Some(_) => Status::Waiting,
            None if paid.iter().any(|(y, _)| **y > year) || paid.is_empty() => Status::Waiting,
            None => Status::Suspended,
        }
    }

    /// A resident member's first day of benefits for the view on `on`.
    pub fn resident_benefits_from_on(&self, on: NaiveDate) -> Option<NaiveDate> {
        let year = chrono::Datelike::year(&on);
        let paid = self.coverage.iter().filter(|(_, c)| !c.refunded);
        let current = paid
            .clone()
            .find(|(y, _)| **y >= year)
            .or_else(|| paid.clone().next_back());
        current.map(|(_, c)| c.benefits_from)
    }

    /// Paid resident benefit years in a row ending with the year of `on` (a year counts from
    /// its payment; an unpaid or refunded year resets the run to 0). docs/RULES.md §12 R9.
    pub fn consecutive_years_on(&self, on: NaiveDate) -> u32 {
        let paid = |year: i32| {
            self.coverage
                .get(&year)
                .is_some_and(|c| !c.refunded && c.paid_on <= on)
        };
        let mut year = chrono::Datelike::year(&on);
        let mut run = 0;
        while paid(year) {
            run += 1;
            year -= 1;
        }
        run
    }
}
