//! What the policy-model rules of docs/RULES.md §12 keep about a member (tier R3, pensions R4,
//! surcharges R5, interest years R8, relatives R14), and how their events fold into it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::MemberState;
use crate::domain::{Event, MemberId, Relation, SurchargePaid};
use crate::money::Money;
use crate::month::Month;
use crate::terms::{Payer, Tier};

/// What the policy-model rules keep about a member: tier (R3), pension history (R4), the
/// surcharge periods already charged (R5), the years whose interest is credited (R8) and the
/// registered relatives (R14).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// The tier chosen at enrolment.
    #[serde(default)]
    pub tier: Tier,
    /// Monthly pension by the date it is in force from.
    #[serde(default)]
    pub pensions: BTreeMap<NaiveDate, Money>,
    /// Half-yearly and yearly surcharges charged, as `name@period`.
    #[serde(default)]
    pub surcharged: BTreeSet<String>,
    /// Years whose interest is credited.
    #[serde(default)]
    pub interest_years: BTreeSet<i32>,
    /// Relatives registered for family mutual aid, in order.
    #[serde(default)]
    pub relatives: Vec<Relative>,
    /// The surcharges charged with each month's contribution, with the payer of the payment
    /// that carried them (one a month: a duplicate carries none). A month voided after a death
    /// returns them (R11).
    #[serde(default)]
    pub contribution_surcharges: BTreeMap<Month, (Payer, Vec<SurchargePaid>)>,
    /// A retiree's surcharges charged with each month's allocation (R5, R11).
    #[serde(default)]
    pub allocation_surcharges: BTreeMap<Month, Vec<SurchargePaid>>,
}

/// A registered relative. docs/RULES.md §12 R14.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relative {
    /// Registration date (in force from).
    pub date: NaiveDate,
    /// Relation to the member.
    pub relation: Relation,
    /// The relative's member id, when in the ledger.
    pub relative: Option<MemberId>,
    /// The registered name.
    pub name: String,
}

impl RuleState {
    /// The pension in force on a day, if any was recorded by then.
    pub fn pension_on(&self, on: NaiveDate) -> Option<Money> {
        self.pensions.range(..=on).next_back().map(|(_, p)| *p)
    }

    /// The relative a spending's beneficiary names, registered on or before `on`: by member
    /// id when the relative is in the ledger, else by the registered name.
    pub fn relative_for(&self, beneficiary: &str, on: NaiveDate) -> Option<&Relative> {
        let wanted = beneficiary.trim();
        self.relatives.iter().find(|r| {
            r.date <= on
                && match r.relative {
                    Some(id) => wanted.parse::<MemberId>().is_ok_and(|w| w == id),
                    None => r.name == wanted,
                }
        })
    }
}

impl MemberState {
    /// Folds the events of the policy-model rules (R4, R5, R8, R14).
    pub(super) fn apply_rule_event(&mut self, event: &Event) {
        match event {
            Event::InterestCredited { year, amount, .. } => {
                self.credit(*amount);
                self.rules.interest_years.insert(*year);
                self.years.entry(*year).or_default().interest += *amount;
            }
            Event::PensionSet { date, pension } => {
                self.rules.pensions.insert(*date, *pension);
            }
            Event::RelativeRegistered {
                date,
                relation,
                relative,
                name,
            } => self.rules.relatives.push(Relative {
                date: *date,
                relation: *relation,
                relative: *relative,
                name: name.clone(),
            }),
            Event::SurchargeCharged {
                month, surcharges, ..
            } => {
                self.note_surcharges(surcharges);
                self.rules
                    .allocation_surcharges
                    .insert(*month, surcharges.clone());
            }
            _ => unreachable!("dispatched by family"),
        }
    }

    /// Remembers the half-yearly and yearly surcharges charged, so each is charged once a period.
    pub(super) fn note_surcharges(&mut self, surcharges: &[SurchargePaid]) {
        // A monthly surcharge needs no memory: a month is charged with the payment that
        // counts it, once.
        let periodic = surcharges
            .iter()
            .filter(|s| s.period.parse::<Month>().is_err());
        for s in periodic {
            self.rules
                .surcharged
                .insert(format!("{}@{}", s.name, s.period));
        }
    }

    /// Forgets the surcharges a month's payment by `payer` carried (`None`: the retiree's,
    /// charged with the allocation), when that payment leaves the record.
    pub(super) fn forget_surcharges_of(&mut self, month: Month, payer: Option<Payer>) {
        match payer {
            Some(payer) => {
                let carried = self.rules.contribution_surcharges.get(&month);
                if carried.is_some_and(|(p, _)| *p == payer) {
                    self.rules.contribution_surcharges.remove(&month);
                }
            }
            None => {
                self.rules.allocation_surcharges.remove(&month);
            }
        }
    }

    pub(super) fn unnote_surcharges(&mut self, surcharges: &[SurchargePaid]) {
        for s in surcharges {
            self.rules
                .surcharged
                .remove(&format!("{}@{}", s.name, s.period));
        }
    }
}
