//! `verify`'s recheck of issued statements: each `statement_issued` against the statement of
//! its year rebuilt from the member's events as they stood when it was issued.
//!
//! The events before a `statement_issued` in the member's chain are exactly those its decision
//! sealed (the append named the member's version), so the rebuilt digest must be the recorded
//! one. A statement recorded in another canonical form ([`FIGURES_FORM`]) is not rebuilt: this
//! build knows only its own form.

use super::build::{figures, Decoded};
use super::FIGURES_FORM;
use crate::domain::{Event, MemberId};
use crate::policy::PolicySet;
use crate::store::StoredEvent;

/// One member's events as `verify` walks them, decoded, for rechecking its issued statements.
/// Memory: the member's decoded events.
#[derive(Debug)]
pub struct IssuedRecheck {
    member: MemberId,
    decoded: Vec<Decoded>,
}

/// What rechecking one event found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rechecked {
    /// Not a `statement_issued` of this build's canonical form: nothing to check.
    Nothing,
    /// A `statement_issued` whose digest the rebuilt statement reproduces.
    Reproduced,
}

impl IssuedRecheck {
    /// A walk of `member`'s events from its first.
    pub fn new(member: MemberId) -> IssuedRecheck {
        IssuedRecheck {
            member,
            decoded: Vec::new(),
        }
    }

    /// Takes the member's next event (chain order, `event` decoded from `stored`). A
    /// `statement_issued` is rebuilt from the events taken before it; `Err` says how it
    /// differs.
    pub fn push(
        &mut self,
        stored: &StoredEvent,
        event: Event,
        policies: &PolicySet,
    ) -> Result<Rechecked, String> {
        let outcome = match &event {
            Event::StatementIssued {
                year,
                digest,
                figures_form,
                closing_balance,
                months_total,
                ..
            } if *figures_form == FIGURES_FORM => {
                let rebuilt = figures(self.member, &self.decoded, *year, policies)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| {
                        format!("the member had no statement of {year} to issue when it was issued")
                    })?;
                let stated = (digest, *closing_balance, *months_total);
                let rebuilt_figures = (
                    &rebuilt.digest,
                    rebuilt.closing.balance,
                    rebuilt.closing.months_total,
                );
                if stated != rebuilt_figures {
                    return Err(format!(
                        "the {year} statement issued with digest {digest} (balance {closing_balance}, \
                         {months_total} months) does not reproduce: the member's events before it \
                         give digest {} (balance {}, {} months)",
                        rebuilt.digest, rebuilt.closing.balance, rebuilt.closing.months_total
                    ));
                }
                Rechecked::Reproduced
            }
            _ => Rechecked::Nothing,
        };
        self.decoded.push(Decoded {
            position: stored.position,
            event_id: stored.event_id,
            date: stored.effective_date,
            event,
        });
        Ok(outcome)
    }
}
