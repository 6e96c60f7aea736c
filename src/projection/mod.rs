//! Views derived from the log: the account view, the statement, and replay.
//!
//! - [`AccountView`]: docs/CONTRACT.md's account view of [`crate::domain::MemberState`] on a date.
//! - [`Statement`]: every event of a member with its effect and running balance.
//! - [`AnnualStatement`]: the member's annual statement (年度对账单) of a year, its page and its
//!   sealed digest ([`annual`]).
//! - [`explain`]: each event's amounts spelled out as the rule that produced them.
//! - [`Point`]: a point of a member's history (a date, a position, or both).
//! - [`fold_member`]: folds one member's stored events into its state.
//! - [`snapshot`]: member snapshots (keys, cadence, encoding) and the retiree index.
//! - [`rebuild`]: the folds of many members and of the whole log (rebuild, as-of replay).
//!
//! **Invariant**: projections can be deleted and rebuilt from the log; the checkpoints the ledger
//! keeps are equal to a replay.

mod account;
pub mod annual;
pub mod explain;
mod point;
pub mod rebuild;
pub mod snapshot;
mod statement;

pub use account::{AccountView, MonthsView, ViewAt, YearRow};
pub use annual::AnnualStatement;
pub use point::{Point, PointSpec};
pub use statement::{describe, Statement, StatementLine};

use crate::codec;
use crate::domain::{MemberId, MemberState};
use crate::store::{StoreError, StoredEvent};

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
