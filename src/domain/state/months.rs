//! The member's months: the payments covering each contribution month and the months that
//! count toward contribution years, actual and deemed. docs/RULES.md §3, §12 R6.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::MemberState;
use crate::money::Money;
use crate::month::Month;
use crate::terms::Payer;

/// One payment covering a month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Contribution base.
    pub base: Money,
    /// Employee share.
    pub employee: Money,
    /// Employer share.
    pub employer: Money,
    /// Credited to the personal account.
    pub credit: Money,
    /// Posting date.
    #[serde(serialize_with = "crate::month::serialize_date")]
    pub posted: NaiveDate,
    /// Whether it was refunded.
    pub refunded: bool,
}

impl Payment {
    /// What the payer paid (both shares).
    pub fn paid(&self) -> Money {
        self.employee + self.employer
    }
}

/// The payments covering one contribution month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCover {
    /// The employer's payment.
    pub employer: Option<Payment>,
    /// The member's own payment as a flexible worker.
    pub individual: Option<Payment>,
}

impl MonthCover {
    /// The payment of one payer.
    pub fn payment(&self, payer: Payer) -> Option<&Payment> {
        match payer {
            Payer::Employer => self.employer.as_ref(),
            Payer::Individual => self.individual.as_ref(),
        }
    }

    pub(super) fn slot(&mut self, payer: Payer) -> &mut Option<Payment> {
        match payer {
            Payer::Employer => &mut self.employer,
            Payer::Individual => &mut self.individual,
        }
    }

    /// Whether an unrefunded payment by `payer` exists.
    pub fn paid_by(&self, payer: Payer) -> bool {
        self.payment(payer).is_some_and(|p| !p.refunded)
    }

    /// Whether any unrefunded payment covers the month: it counts once toward contribution years.
    pub fn counts(&self) -> bool {
        self.paid_by(Payer::Employer) || self.paid_by(Payer::Individual)
    }
}

impl MemberState {
    /// Actual local months: counted calendar months plus lump-sum months plus resident years.
    /// docs/RULES.md §3.
    pub fn months_actual(&self) -> u32 {
        let counted = self.months.values().filter(|c| c.counts()).count();
        let resident = self.coverage.values().filter(|c| !c.refunded).count() * 12;
        u32::try_from(counted + resident)
            .unwrap_or(u32::MAX)
            .saturating_add(self.months_lump_sum)
    }

    /// Deemed months: those without a calendar month, plus the transferred calendar months that
    /// no local payment covers (a month counts once, R6). docs/RULES.md §3.
    pub fn months_deemed(&self) -> u32 {
        let calendar = self
            .deemed_calendar
            .keys()
            .filter(|m| !self.months.get(m).is_some_and(MonthCover::counts))
            .count();
        u32::try_from(calendar)
            .unwrap_or(u32::MAX)
            .saturating_add(self.months_deemed_uncalendared)
    }

    /// The calendar months that count here, paid locally or transferred in (R6).
    pub fn calendar_months(&self) -> BTreeSet<Month> {
        let local = self
            .months
            .iter()
            .filter(|(_, c)| c.counts())
            .map(|(m, _)| *m);
        local.chain(self.deemed_calendar.keys().copied()).collect()
    }

    /// Actual + deemed months. docs/RULES.md §3.
    pub fn months_total(&self) -> u32 {
        self.months_actual().saturating_add(self.months_deemed())
    }

    /// Contribution months of the year that count (for the year table).
    pub fn months_in_year(&self, year: i32) -> u32 {
        let counted = self
            .months
            .iter()
            .filter(|(m, c)| m.year() == year && c.counts())
            .count();
        let resident = usize::from(self.coverage.get(&year).is_some_and(|c| !c.refunded)) * 12;
        u32::try_from(counted + resident).unwrap_or(u32::MAX)
    }
}
