//! What the ledger's annual-statement queries need from a member's events beyond the statement
//! itself (the [`crate::Ledger`] methods `annual_statement`, `annual_members` and
//! `issued_statement` read the store and call these on its blocking threads).

use super::IssuedRef;
use crate::domain::MemberId;
use crate::projection::Point;
use crate::store::{StoreError, StoredEvent};

/// The member's latest statement of `year` as issued, among `events` (log order), if one was.
pub fn issued_of_year(
    member: MemberId,
    events: &[StoredEvent],
    year: i32,
) -> Result<Option<IssuedRef>, StoreError> {
    let decoded = super::build::decode_known(member, events, None)?;
    Ok(decoded
        .iter()
        .filter_map(super::build::issued_ref)
        .filter(|(y, _)| *y == year)
        .map(|(_, issued)| issued)
        .next_back())
}

impl IssuedRef {
    /// The point of a member's history this statement stated: known at its position, in force
    /// on 31 December of `year`.
    pub fn point(&self, year: i32) -> Point {
        let date = chrono::NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(self.date);
        Point::Known {
            position: self.position,
            date,
        }
    }
}
