//! Views derived from the log: the account view, the statement, and replay.
//!
//! - [`AccountView`]: CONTRACT.md's account view of a [`crate::domain::MemberState`] on a date.
//! - [`Statement`]: every event of a member with its effect and running balance.
//! - [`replay`]: folds stored events into member states.
//!
//! **Invariant**: projections can be deleted and rebuilt from the log; the checkpoints the ledger
//! keeps are equal to a replay.

mod account;
mod statement;

pub use account::{AccountView, MonthsView, ViewAt, YearRow};
pub use statement::{describe, Statement, StatementLine};

use std::collections::BTreeMap;

use crate::codec;
use crate::domain::{MemberId, MemberState};
use crate::store::{StoreError, StoredEvent};

/// Folds stored events (of any members, in log order) into member states.
pub fn replay<'a>(
    events: impl IntoIterator<Item = &'a StoredEvent>,
    states: &mut BTreeMap<MemberId, MemberState>,
) -> Result<(), StoreError> {
    for stored in events {
        let event = codec::decode(stored)?;
        let state = states
            .entry(stored.member)
            .or_insert_with(|| MemberState::new(stored.member));
        if state.version + 1 != stored.member_version {
            let reason = format!(
                "member {} jumps from version {} to {}",
                stored.member, state.version, stored.member_version
            );
            return Err(StoreError::Corrupt {
                position: stored.position,
                reason,
            });
        }
        state.apply(&event);
    }
    Ok(())
}

/// Folds stored events (in log order) that take effect on or before `as_of` into member states:
/// the state of every member as in force on that date. Member versions are not checked, since
/// later-effective events are skipped.
pub fn replay_as_of<'a>(
    events: impl IntoIterator<Item = &'a StoredEvent>,
    as_of: chrono::NaiveDate,
    states: &mut BTreeMap<MemberId, MemberState>,
) -> Result<(), StoreError> {
    for stored in events.into_iter().filter(|e| e.effective_date <= as_of) {
        let event = codec::decode(stored)?;
        states
            .entry(stored.member)
            .or_insert_with(|| MemberState::new(stored.member))
            .apply(&event);
    }
    Ok(())
}

/// Folds one member's events into its state. The events may be any subset in log order (an
/// as-of view skips the ones effective later), so member versions are not checked here; the
/// whole-log walks (`replay`, `verify`) check them.
pub fn fold_member(member: MemberId, events: &[StoredEvent]) -> Result<MemberState, StoreError> {
    let mut state = MemberState::new(member);
    for stored in events.iter().filter(|e| e.member == member) {
        state.apply(&codec::decode(stored)?);
    }
    Ok(state)
}
