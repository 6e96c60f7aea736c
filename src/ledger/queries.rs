//! Reading a member: the account view (at the head, as of a date, as known after a position),
//! the statement, the difference between two points, the dispute dossier, the annual statement.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::core::Core;
use super::submit::wait;
use super::QueryError;
use crate::audit::diff::Diff;
use crate::audit::dossier::{verify_dossier_with, Dossier, DossierError, DossierReport};
use crate::domain::{statement_due, MemberId};
use crate::projection::annual::{self, AnnualStatement, IssuedRef};
use crate::projection::rebuild::REBUILD_MEMBERS_PER_WRITE;
use crate::projection::Point;
use crate::projection::{self, AccountView, Statement, ViewAt};
use crate::store::{settled_head, StoreError, StoredEvent};

/// The view as of `date` from a member's `events` (those known at `position`): money as in
/// force on the date, coverage as those events make it known (docs/RULES.md §12 R2).
fn as_of(
    member: MemberId,
    events: Vec<StoredEvent>,
    date: NaiveDate,
    position: u64,
    policies: &crate::policy::PolicySet,
) -> Result<Option<AccountView>, StoreError> {
    let known = projection::fold_member(member, &events)?;
    let effective: Vec<StoredEvent> = events
        .into_iter()
        .filter(|e| e.effective_date <= date)
        .collect();
    let state = projection::fold_member(member, &effective)?;
    Ok(AccountView::of(&state, &known, policies, date, position))
}

impl Core {
    /// The account view of a member: at the head (from its checkpoint, no replay), as of a date,
    /// or as the ledger knew it after a position (both by folding that member's events). A view
    /// at the head shows only durable events: while an append is on its way to disk, the view
    /// waits for it.
    pub fn account(&self, member: MemberId, at: ViewAt) -> Result<AccountView, QueryError> {
        let policies = &self.policies;
        let view = match at {
            ViewAt::Head => {
                if self.store.committed_position()? > self.store.head()?.position {
                    wait(self.store.sync())?;
                }
                let head = self.store.head()?;
                let state = self.checkpoint(member)?;
                let on = state.last_event_on.unwrap_or(NaiveDate::MIN);
                let view = AccountView::of(&state, &state, policies, on, head.position);
                self.remember(BTreeMap::from([(member, state)]));
                view
            }
            ViewAt::AsOf(date) | ViewAt::AsOfAt(date, _) => {
                let head = self.store.head()?.position;
                let position = match at {
                    ViewAt::AsOfAt(_, position) => position.min(head),
                    _ => head,
                };
                let events = self.store.read_member(member, Some(position))?;
                as_of(member, events, date, position, policies)?
            }
            ViewAt::Position(position) => {
                let head = self.store.head()?;
                let events = self.store.read_member(member, Some(position))?;
                let state = projection::fold_member(member, &events)?;
                let on = state.last_event_on.unwrap_or(NaiveDate::MIN);
                let position = position.min(head.position);
                AccountView::of(&state, &state, policies, on, position)
            }
        };
        view.ok_or(QueryError::UnknownMember(member))
    }

    /// The member's statement, limited to effective dates in `[from, to]` when given.
    pub fn statement(
        &self,
        member: MemberId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement, QueryError> {
        let events = self.store.read_member(member, None)?;
        if events.is_empty() {
            return Err(QueryError::UnknownMember(member));
        }
        Ok(Statement::build_with_policies(
            member,
            &events,
            from,
            to,
            Some(&self.policies),
        )?)
    }

    /// What changed between two points of a member's history.
    pub fn diff(&self, member: MemberId, from: Point, to: Point) -> Result<Diff, QueryError> {
        let events = self.store.read_member(member, None)?;
        if events.is_empty() {
            return Err(QueryError::UnknownMember(member));
        }
        let head = self.store.head()?;
        Ok(Diff::between(
            member,
            &events,
            from,
            to,
            head.position,
            &self.policies,
        )?)
    }

    /// The member's dispute dossier.
    pub fn dossier(&self, member: MemberId) -> Result<Dossier, QueryError> {
        let head = settled_head(self.store.as_ref())?;
        let events = self.store.read_member(member, Some(head.position))?;
        if events.is_empty() {
            return Err(QueryError::UnknownMember(member));
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let seal = match events.last() {
            Some(last) => crate::audit::witness::seal_member(self.store.as_ref(), last)?,
            None => None,
        };
        Ok(Dossier::build(
            member,
            events,
            head,
            now,
            &self.policies,
            seal,
        )?)
    }

    /// Checks a dossier offline and then against this ledger: every event in it is the event
    /// this ledger holds at that position, byte for byte.
    pub fn check_dossier(&self, dossier: &Dossier) -> Result<DossierReport, DossierError> {
        let report = verify_dossier_with(dossier, &self.policies)?;
        for event in dossier.events()? {
            let ours = self
                .store
                .event_at(event.position)
                .map_err(|e| DossierError(format!("cannot read the ledger: {e}")))?;
            match &ours {
                Some(o) if o.record() == event.record() => {}
                _ => {
                    return Err(DossierError(format!(
                        "event at position {} is not the one this ledger holds",
                        event.position
                    )))
                }
            }
        }
        Ok(report)
    }

    /// The member's annual statement of `year` as the ledger knows it now (a correction recorded
    /// since is in its figures and, when a statement was issued before it, in its corrections).
    /// [`QueryError::UnknownMember`] when the member had not enrolled by the year's end.
    pub fn annual_statement(
        &self,
        member: MemberId,
        year: i32,
    ) -> Result<AnnualStatement, QueryError> {
        let events = self.store.read_member(member, None)?;
        AnnualStatement::build(member, &events, year, None, &self.policies)?
            .ok_or(QueryError::UnknownMember(member))
    }

    /// The members of `region` who have a statement of `year` (enrolled by its end, account
    /// still open when it began), in id order: whom an `issue_statement` for the region reaches.
    /// Memory: [`REBUILD_MEMBERS_PER_WRITE`] states at a time.
    pub fn annual_members(&self, region: &str, year: i32) -> Result<Vec<MemberId>, QueryError> {
        let mut out = Vec::new();
        for part in self.store.members()?.chunks(REBUILD_MEMBERS_PER_WRITE) {
            for (member, state) in self.checkpoints_of(part)? {
                let in_region = state.profile.as_ref().is_some_and(|p| p.region == region);
                if in_region && statement_due(&state, year).is_ok() {
                    out.push(member);
                }
            }
        }
        Ok(out)
    }

    /// The member's latest statement of `year` as issued, if one was: what `diff` compares with
    /// through [`IssuedRef::point`].
    pub fn issued_statement(
        &self,
        member: MemberId,
        year: i32,
    ) -> Result<Option<IssuedRef>, QueryError> {
        let events = self.store.read_member(member, None)?;
        Ok(annual::issued_of_year(member, &events, year)?)
    }

    /// The end of the log as readers see it.
    pub fn head(&self) -> Result<crate::store::Head, StoreError> {
        self.store.head()
    }
}
