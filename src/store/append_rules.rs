//! The rules of an append, written once for every backend: which appends of a group are
//! written, and how their records are built and chained. A backend supplies only reads of its
//! log ([`LogView`]), positions and the write itself.
//!
//! For each request of a group, in order:
//! 1. **Bounds**: every field of every record within [`super::record`]'s limits, or the
//!    request is refused `Invalid` (nothing unreadable is ever written).
//! 2. **Taint**: a request that expects a member which an earlier refused request of the group
//!    expected or would have written was decided on top of the refused one; its expected version
//!    may match the log by coincidence, so it is refused as a version conflict.
//! 3. **Idempotency** (the rule of [`super::idempotency`]): a key already answered, in the log
//!    or earlier in the group, gives that answer (`Duplicate`) or `KeyReused`.
//! 4. **Versions**: every expected member version equals the member's version, counting the
//!    group's earlier appends; otherwise `VersionConflict`.
//! 5. **Build**: each event gets the next position, the member's next version, the member's
//!    previous hash as `prev_hash`, and its hash over the record ([`super::record`]).

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use super::event_id::EventIds;
use super::idempotency::{
    bounded_message, IdempotencyRecord, KeyOutcome, COMMAND_EVENTS_MAX, REJECTION_CODE_BYTES_MAX,
    REJECTION_MESSAGE_BYTES_MAX,
};
use super::record::{self, Envelope, StoredEvent, GENESIS_HASH};
use super::{AppendOutcome, AppendRequest, StoreError};

/// A member's version and the hash of its last event.
pub type MemberHead = (u64, [u8; 32]);

/// The new member: version 0, the genesis hash.
pub const NEW_MEMBER: MemberHead = (0, GENESIS_HASH);

/// What a backend's log answers while a group is checked.
pub trait LogView {
    /// A member's head in the log (before the group).
    fn member_head(&mut self, member: Uuid) -> Result<MemberHead, StoreError>;
    /// What the log remembers of a key (before the group).
    fn key_record(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
}

/// An accepted append: its stored events and the key record to write with them.
#[derive(Debug)]
pub struct Accepted {
    /// The events, with positions, versions and hashes.
    pub events: Vec<StoredEvent>,
    /// The key and its record, when the request had a key.
    pub key_record: Option<(String, IdempotencyRecord)>,
}

/// The state of one group's checks: what its earlier requests did.
#[derive(Debug, Default)]
pub struct GroupRules {
    tainted: BTreeSet<Uuid>,
    keys: HashMap<String, IdempotencyRecord>,
    heads: HashMap<Uuid, MemberHead>,
}

impl GroupRules {
    /// Rules for a new group.
    pub fn new() -> GroupRules {
        GroupRules::default()
    }

    /// Ends a group within a run of groups checked together (one PostgreSQL transaction): the
    /// taint of its refusals stays within it, the heads and keys carry on.
    pub fn end_group(&mut self) {
        self.tainted.clear();
    }

    /// The heads of the members the group's accepted appends wrote.
    pub fn heads(&self) -> &HashMap<Uuid, MemberHead> {
        &self.heads
    }

    /// A member's head counting the group's accepted appends.
    pub fn member_head(
        &self,
        log: &mut dyn LogView,
        member: Uuid,
    ) -> Result<MemberHead, StoreError> {
        match self.heads.get(&member) {
            Some(head) => Ok(*head),
            None => log.member_head(member),
        }
    }

    /// Rules 1–4: why `request` may not be written, if so. A refusal taints its members.
    pub fn check(
        &mut self,
        log: &mut dyn LogView,
        request: &AppendRequest,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let refused = self.refusal(log, request)?;
        if refused.is_some() {
            self.tainted
                .extend(request.expected.iter().map(|(member, _)| *member));
            self.tainted
                .extend(request.events.iter().map(|event| event.member));
        }
        Ok(refused)
    }

    fn refusal(
        &self,
        log: &mut dyn LogView,
        request: &AppendRequest,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        if let Some(why) = bounds(request) {
            return Ok(Some(AppendOutcome::Invalid(why)));
        }
        if let Some(&(member, expected)) = request
            .expected
            .iter()
            .find(|(member, _)| self.tainted.contains(member))
        {
            let actual = self.member_head(log, member)?.0;
            return Ok(Some(AppendOutcome::VersionConflict {
                member,
                expected,
                actual,
            }));
        }
        if let Some(claim) = &request.idempotency {
            let known = match self.keys.get(&claim.key) {
                Some(record) => Some(record.clone()),
                None => log.key_record(&claim.key)?,
            };
            if let Some(record) = known {
                return Ok(Some(if claim.is_retry_of(&record) {
                    AppendOutcome::Duplicate(record)
                } else {
                    AppendOutcome::KeyReused
                }));
            }
        }
        for &(member, expected) in &request.expected {
            let actual = self.member_head(log, member)?.0;
            if actual != expected {
                return Ok(Some(AppendOutcome::VersionConflict {
                    member,
                    expected,
                    actual,
                }));
            }
        }
        Ok(None)
    }

    /// Rule 5: builds the records of a checked request at the positions `positions` gives (one
    /// per event), chained to each member's head, and remembers the heads and the key.
    pub fn accept(
        &mut self,
        log: &mut dyn LogView,
        request: &AppendRequest,
        positions: &mut dyn Iterator<Item = u64>,
        recorded_at_ms: i64,
        ids: &EventIds,
    ) -> Result<Accepted, StoreError> {
        let key = request.idempotency.as_ref().map(|c| c.key.as_str());
        let mut events = Vec::with_capacity(request.events.len());
        for new in &request.events {
            let position = positions.next().ok_or(StoreError::Closed)?;
            let (version, prev_hash) = self.member_head(log, new.member)?;
            let envelope = Envelope {
                position,
                event_id: ids.id(position),
                member_version: version + 1,
                recorded_at_ms,
                idempotency_key: key,
                actor: request.actor.as_deref(),
                prev_hash,
            };
            let stored = record::build(new, &envelope);
            self.heads.insert(new.member, (version + 1, stored.hash()));
            events.push(stored);
        }
        let key_record = request.idempotency.as_ref().map(|claim| {
            let outcome = match &request.rejection {
                Some((code, message)) => KeyOutcome::Rejected {
                    code: bounded_message(code, REJECTION_CODE_BYTES_MAX),
                    message: bounded_message(message, REJECTION_MESSAGE_BYTES_MAX),
                },
                None => KeyOutcome::Appended(events.iter().map(|e| e.position).collect()),
            };
            let record = IdempotencyRecord {
                payload_hash: claim.payload_hash,
                outcome,
            };
            self.keys.insert(claim.key.clone(), record.clone());
            (claim.key.clone(), record)
        });
        Ok(Accepted { events, key_record })
    }
}

/// Why a request's records would break a bound, if they would.
fn bounds(request: &AppendRequest) -> Option<String> {
    if request.events.len() > COMMAND_EVENTS_MAX {
        return Some(format!(
            "{} events in one append, more than {COMMAND_EVENTS_MAX}",
            request.events.len()
        ));
    }
    if request.rejection.is_some() && (!request.events.is_empty() || request.idempotency.is_none())
    {
        return Some("a recorded rejection carries a key and no events".into());
    }
    let key = request.idempotency.as_ref().map(|c| c.key.as_str());
    request
        .events
        .iter()
        .find_map(|new| record::check_bounds(new, key, request.actor.as_deref()).err())
}
