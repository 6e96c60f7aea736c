//! The ledger's annual-statement queries: one member's statement, and the members of a region
//! who have one.

use super::{AnnualStatement, IssuedRef};
use crate::audit::diff::Point;
use crate::domain::{statement_due, MemberId};
use crate::ledger::REBUILD_MEMBERS_PER_WRITE;
use crate::{Ledger, QueryError};

impl Ledger {
    /// The member's annual statement of `year` as the ledger knows it now (a correction recorded
    /// since is in its figures and, when a statement was issued before it, in its corrections).
    /// [`QueryError::UnknownMember`] when the member had not enrolled by the year's end.
    pub async fn annual_statement(
        &self,
        member: MemberId,
        year: i32,
    ) -> Result<AnnualStatement, QueryError> {
        let events = self.store().read_member(member, None)?;
        AnnualStatement::build(member, &events, year, None)?
            .ok_or(QueryError::UnknownMember(member))
    }

    /// The members of `region` who have a statement of `year` (enrolled by its end, account
    /// still open when it began), in id order: whom an `issue_statement` for the region reaches.
    pub async fn annual_members(
        &self,
        region: &str,
        year: i32,
    ) -> Result<Vec<MemberId>, QueryError> {
        let mut out = Vec::new();
        for part in self.store().members()?.chunks(REBUILD_MEMBERS_PER_WRITE) {
            for member in part {
                let state = self.checkpoint(*member)?;
                let in_region = state.profile.as_ref().is_some_and(|p| p.region == region);
                if in_region && statement_due(&state, year).is_ok() {
                    out.push(*member);
                }
            }
        }
        Ok(out)
    }

    /// The member's latest statement of `year` as issued, if one was: what `diff` compares with
    /// through [`IssuedRef::point`].
    pub async fn issued_statement(
        &self,
        member: MemberId,
        year: i32,
    ) -> Result<Option<IssuedRef>, QueryError> {
        let events = self.store().read_member(member, None)?;
        let decoded = super::build::decode_known(member, &events, None)?;
        Ok(decoded
            .iter()
            .filter_map(super::build::issued_ref)
            .filter(|(y, _)| *y == year)
            .map(|(_, issued)| issued)
            .next_back())
    }
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
