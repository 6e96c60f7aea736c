//! The async facade other services use: [`Ledger`].
//!
//! `submit` parses nothing and trusts nothing: it loads the states a command reads from their
//! checkpoints, decides, and appends the events together with the new checkpoints in one atomic
//! write, naming the member versions it decided on. A concurrent change makes the append fail
//! with a version conflict and the command is decided again, at most [`DECIDE_ATTEMPTS_MAX`]
//! times. A submit returns only after its events are durable.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::diff::{Diff, Point};
use crate::audit::dossier::{verify_dossier_with, Dossier, DossierError, DossierReport};
use crate::codec;
use crate::domain::{
    decide, parse_command, Command, Context, ErrorCode, Event, MemberId, MemberState, Rejection,
    ReversalTarget,
};
use crate::policy::PolicySet;
use crate::projection::{self, AccountView, Statement, ViewAt};
use crate::store::{
    answer, check_hash, settled_head, AppendOutcome, AppendRequest, ChainWalk, DataLocation,
    EventStore, Head, IdempotencyClaim, IdempotencyRecord, SledStore, StoreError, StoreOptions,
    StoredEvent,
};

/// How many times a command is decided again after a version conflict before giving up.
pub const DECIDE_ATTEMPTS_MAX: u32 = 8;
/// A member's snapshot is rewritten every this many of its events.
pub const CHECKPOINT_EVERY_EVENTS: u64 = 64;
/// Member states kept in memory between commands (the cache is emptied when full).
pub const STATE_CACHE_MEMBERS: usize = 4096;
/// Commands of a batch decided ahead and sent to the writer in one message.
pub const PIPELINE_GROUP_COMMANDS: usize = 512;
/// Members whose rebuilt snapshots are written together.
pub const REBUILD_MEMBERS_PER_WRITE: usize = 256;
/// Events read per step when walking the whole log.
pub const READ_CHUNK_EVENTS: usize = 4096;

const CHECKPOINT_PREFIX: u8 = b'C';
const RETIREE_PREFIX: u8 = b'R';

/// Why a submit did not go through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The command was refused; nothing was written. Show the message; fix the command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Storage failed; the command was not acknowledged. Retry with the same key after the
    /// ledger is reopened: the key makes the retry safe.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl SubmitError {
    /// The contract code (`storage_error` for storage failures).
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Rejected(r) => r.code.as_str(),
            SubmitError::Storage(_) => "storage_error",
        }
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The member has no enrolment (at that point, for a past view).
    #[error("member {0} is not enrolled")]
    UnknownMember(MemberId),
    /// Storage failed or the log is damaged.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// What an accepted command did: the position of its last event and the events.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Receipt {
    /// Log position after the command (the head when it appended nothing).
    pub position: u64,
    /// The events it appended.
    pub events: Vec<StoredEvent>,
}

/// A handle on a ledger. Cheap to clone; all clones share one store and one writer.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use member_ledger::Ledger;
/// use member_ledger::projection::ViewAt;
///
/// let ledger = Ledger::open(dir.path()).await?;
/// let member = "00000000-0000-4000-8000-000000000001";
/// ledger.submit_json(&format!(r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2024-01-01"}}"#)).await?;
/// ledger.submit_json(&format!(r#"{{"type":"contribute","member":"{member}","month":"2024-01","wage":"8000.00","payer":"employer"}}"#)).await?;
/// let view = ledger.account(member.parse()?, ViewAt::Head).await?;
/// assert_eq!(view.balance.to_string(), "160.00"); // 2 % of 8,000.00, own share only since 2023
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    policies: PolicySet,
    cache: std::sync::Mutex<std::collections::HashMap<MemberId, MemberState>>,
}

impl Ledger {
    /// Opens (or creates) a sled ledger in directory `path` with the shipped policies.
    pub async fn open(path: impl AsRef<Path>) -> Result<Ledger, StoreError> {
        Ledger::open_with_policies(path, PolicySet::shipped()).await
    }

    /// Opens a sled ledger with the given policies.
    pub async fn open_with_policies(
        path: impl AsRef<Path>,
        policies: PolicySet,
    ) -> Result<Ledger, StoreError> {
        let store = SledStore::open_with(path, StoreOptions::default())?;
        Ok(Ledger::with_store(Arc::new(store), policies))
    }

    /// Opens (or creates) the ledger at `location`: a directory (sled) or, with the feature
    /// `postgres`, a `postgres://` / `postgresql://` URL or a libpq connection string
    /// (see [`DataLocation`]).
    pub async fn open_url(location: &str, policies: PolicySet) -> Result<Ledger, StoreError> {
        let store = DataLocation::parse(location).open()?;
        Ok(Ledger::with_store(store, policies))
    }

    /// A ledger over any store.
    pub fn with_store(store: Arc<dyn EventStore>, policies: PolicySet) -> Ledger {
        Ledger {
            inner: Arc::new(Inner {
                store,
                policies,
                cache: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
        }
    }

    /// The policies the ledger decides with.
    pub fn policies(&self) -> &PolicySet {
        &self.inner.policies
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    /// The end of the log.
    pub fn head(&self) -> Result<Head, StoreError> {
        self.inner.store.head()
    }

    /// Parses one JSON command line and submits it.
    pub async fn submit_json(&self, line: &str) -> Result<Receipt, SubmitError> {
        let (command, key) = parse_command(line)?;
        self.submit(command, key).await
    }

    /// Decides and appends one command; returns once its events are durable.
    pub async fn submit(
        &self,
        command: Command,
        key: Option<String>,
    ) -> Result<Receipt, SubmitError> {
        let (receipt, durable) = self.submit_deferred(&command, key, true).await?;
        if let Some(durable) = durable {
            answer(durable).await?;
        }
        Ok(receipt)
    }

    /// Submits JSON command lines in order, sharing one flush: each result is as if submitted
    /// alone, and all are durable when this returns (a storage failure turns every accepted
    /// result into that error, since none was acknowledged).
    ///
    /// Commands are decided ahead against the states the earlier ones of the batch leave, and
    /// sent to the writer in groups ([`PIPELINE_GROUP_COMMANDS`]) rather than one round trip
    /// each. The writer still checks every command's member versions: a command whose members
    /// changed underneath (another writer) fails its check and is decided again on its own, as
    /// is every later command of the group that read those members.
    pub async fn submit_batch(&self, lines: &[String]) -> Vec<Result<Receipt, SubmitError>> {
        let mut results: Vec<Option<Result<Receipt, SubmitError>>> =
            (0..lines.len()).map(|_| None).collect();
        let mut pending = Vec::new();
        let mut next = 0;
        while next < lines.len() {
            let mut group = Group::default();
            // Each line of the window is parsed once: for the read-ahead, then for its decision.
            let ahead = (next + PIPELINE_GROUP_COMMANDS).min(lines.len());
            let mut parsed: Vec<Option<Parsed>> = lines[next..ahead]
                .iter()
                .map(|line| Some(parse_command(line)))
                .collect();
            self.prefetch(&parsed, &mut group);
            let mut end = next;
            while end < lines.len() && group.units.len() < PIPELINE_GROUP_COMMANDS {
                let line = parsed.get_mut(end - next).and_then(Option::take);
                let line = line.unwrap_or_else(|| parse_command(&lines[end]));
                let (command, key) = match line {
                    Ok(parsed) => parsed,
                    Err(rejection) => {
                        results[end] = Some(Err(rejection.into()));
                        end += 1;
                        continue;
                    }
                };
                match self.decide_ahead(&command, key, &mut group) {
                    Ok(Ahead::Unit(unit)) => group.units.push((end, unit)),
                    Ok(Ahead::Rejected(read, rejection)) => {
                        group.rejected.push((end, read));
                        results[end] = Some(Err(rejection.into()));
                    }
                    Ok(Ahead::Alone) => break,
                    Err(e) => {
                        results[end] = Some(Err(e.into()));
                    }
                }
                end += 1;
            }
            if end == next {
                // The first command needs to go alone (a reversal, an allocation to every
                // retiree, a key already in use): decide it against the committed log.
                let outcome = match parse_command(&lines[next]) {
                    Ok((command, key)) => self.submit_deferred(&command, key, false).await,
                    Err(rejection) => Err(rejection.into()),
                };
                results[next] = Some(outcome.map(|(receipt, durable)| {
                    pending.extend(durable);
                    receipt
                }));
                next += 1;
                continue;
            }
            let redo = match self.send_group(group, &mut results).await {
                Ok((durable, redo)) => {
                    pending.push(durable);
                    redo
                }
                Err(e) => {
                    let why = e.to_string();
                    for result in results.iter_mut().take(end).skip(next) {
                        if !matches!(result, Some(Err(_))) {
                            *result = Some(Err(StoreError::Poisoned(why.clone()).into()));
                        }
                    }
                    Vec::new()
                }
            };
            for index in redo {
                let outcome = match parse_command(&lines[index]) {
                    Ok((command, key)) => self.submit_deferred(&command, key, false).await,
                    Err(rejection) => Err(rejection.into()),
                };
                results[index] = Some(outcome.map(|(receipt, durable)| {
                    pending.extend(durable);
                    receipt
                }));
            }
            next = end;
        }
        let results: Vec<Result<Receipt, SubmitError>> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Closed.into())))
            .collect();
        let synced = if results.iter().any(Result::is_ok) {
            answer(self.inner.store.sync()).await
        } else {
            Ok(())
        };
        for durable in pending {
            let _ = durable.await;
        }
        match synced {
            Ok(()) => results,
            Err(e) => {
                let why = e.to_string();
                results
                    .into_iter()
                    .map(|r| r.and_then(|_| Err(StoreError::Poisoned(why.clone()).into())))
                    .collect()
            }
        }
    }

    /// Decides one command of a batch against the group's pending states.
    fn decide_ahead(
        &self,
        command: &Command,
        key: Option<String>,
        group: &mut Group,
    ) -> Result<Ahead, StoreError> {
        let alone = matches!(
            command,
            Command::Reverse { .. } | Command::CreditRetireeAllocation { member: None, .. }
        );
        if alone {
            return Ok(Ahead::Alone);
        }
        if let Some(key) = &key {
            let stored =
                !group.absent_keys.contains(key) && self.inner.store.idempotency(key)?.is_some();
            if group.keys.contains(key) || stored {
                return Ok(Ahead::Alone);
            }
        }
        let read = command.members_read();
        let mut states = BTreeMap::new();
        for id in &read {
            let state = match group.states.remove(id) {
                Some(state) => state,
                None => self.checkpoint(*id)?,
            };
            states.insert(*id, state);
        }
        let ctx = Context {
            states: &states,
            policies: &self.inner.policies,
            target: None,
        };
        let decision = match decide(&ctx, command) {
            Ok(decision) if decision.is_empty() => {
                group.states.extend(states);
                return Ok(Ahead::Alone);
            }
            Ok(decision) => decision,
            Err(rejection) => {
                group.states.extend(states);
                if let Some(key) = &key {
                    if self.inner.store.idempotency(key)?.is_some() {
                        return Ok(Ahead::Alone);
                    }
                }
                return Ok(Ahead::Rejected(read, rejection));
            }
        };
        let claim = key.map(|key| IdempotencyClaim {
            payload_hash: payload_hash(command),
            key,
        });
        if let Some(claim) = &claim {
            group.keys.insert(claim.key.clone());
        }
        let (request, after) = self.append_request(states, decision, claim, false);
        group.states.extend(after);
        Ok(Ahead::Unit(Unit { request, read }))
    }

    /// Sends a group to the writer and records each unit's result. Returns the group's
    /// durability answer and the commands to decide again alone (in order).
    async fn send_group(
        &self,
        group: Group,
        results: &mut [Option<Result<Receipt, SubmitError>>],
    ) -> Result<
        (
            tokio::sync::oneshot::Receiver<Result<(), StoreError>>,
            Vec<usize>,
        ),
        StoreError,
    > {
        let Group {
            units,
            rejected,
            mut states,
            ..
        } = group;
        let (indices, reads, requests): (Vec<usize>, Vec<Vec<MemberId>>, Vec<AppendRequest>) =
            units.into_iter().fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |(mut i, mut r, mut q), (index, unit)| {
                    i.push(index);
                    r.push(unit.read);
                    q.push(unit.request);
                    (i, r, q)
                },
            );
        let ticket = self.inner.store.append_group(requests);
        let outcomes = ticket.applied.await.map_err(|_| StoreError::Closed)?;
        let mut tainted: std::collections::BTreeSet<MemberId> = std::collections::BTreeSet::new();
        let mut redo = Vec::new();
        for ((index, read), outcome) in indices.into_iter().zip(reads).zip(outcomes) {
            match outcome? {
                AppendOutcome::Committed(events) => {
                    let position = events.last().map_or(0, |e| e.position);
                    results[index] = Some(Ok(Receipt { position, events }));
                }
                _ => {
                    tainted.extend(read);
                    redo.push(index);
                }
            }
        }
        for (index, read) in rejected {
            if read.iter().any(|m| tainted.contains(m)) {
                redo.push(index);
            }
        }
        redo.sort_unstable();
        states.retain(|m, _| !tainted.contains(m));
        self.remember(states);
        Ok((ticket.durable, redo))
    }

    /// Decides and applies; returns the receipt and the durability answer still to await.
    async fn submit_deferred(
        &self,
        command: &Command,
        key: Option<String>,
        sync: bool,
    ) -> Result<
        (
            Receipt,
            Option<tokio::sync::oneshot::Receiver<Result<(), StoreError>>>,
        ),
        SubmitError,
    > {
        let claim = key.map(|key| IdempotencyClaim {
            key,
            payload_hash: payload_hash(command),
        });
        for _ in 0..DECIDE_ATTEMPTS_MAX {
            if let Some(claim) = &claim {
                if let Some(record) = self.inner.store.idempotency(&claim.key)? {
                    return self.replayed(claim, record).await.map(|r| (r, None));
                }
            }
            let target = match command {
                Command::Reverse { event, .. } => self.reversal_target(*event)?,
                _ => None,
            };
            let states = self.states_for(command, target.as_ref())?;
            let ctx = Context {
                states: &states,
                policies: &self.inner.policies,
                target: target.as_ref(),
            };
            let decision = match decide(&ctx, command) {
                Ok(decision) => decision,
                Err(rejection) => {
                    self.remember(states);
                    // The same keyed command may have committed from another caller after the
                    // key was checked (its events are then what made this one fail): answer as
                    // for a repeated key.
                    if let Some(claim) = &claim {
                        if let Some(record) = self.inner.store.idempotency(&claim.key)? {
                            return self.replayed(claim, record).await.map(|r| (r, None));
                        }
                    }
                    return Err(rejection.into());
                }
            };
            if decision.is_empty() {
                self.remember(states);
                return Ok((
                    Receipt {
                        position: self.inner.store.head()?.position,
                        events: Vec::new(),
                    },
                    None,
                ));
            }
            let (request, changed) = self.append_request(states, decision, claim.clone(), sync);
            let ticket = self.inner.store.append(request);
            match answer(ticket.applied).await? {
                AppendOutcome::Committed(events) => {
                    self.remember(changed);
                    let position = events.last().map_or(0, |e| e.position);
                    return Ok((Receipt { position, events }, Some(ticket.durable)));
                }
                AppendOutcome::Duplicate(record) => {
                    let claim = claim.as_ref().expect("a duplicate needs a key");
                    return self.replayed(claim, record).await.map(|r| (r, None));
                }
                AppendOutcome::KeyReused => return Err(key_reused(claim.as_ref()).into()),
                AppendOutcome::VersionConflict { .. } => continue,
            }
        }
        let msg = format!("the members changed {DECIDE_ATTEMPTS_MAX} times while this command was being decided; submit it again");
        Err(Rejection::new(ErrorCode::VersionConflict, msg).into())
    }

    /// The first result of a repeated key: the same command returns it, another is refused.
    async fn replayed(
        &self,
        claim: &IdempotencyClaim,
        record: IdempotencyRecord,
    ) -> Result<Receipt, SubmitError> {
        if record.payload_hash != hex::encode(claim.payload_hash) {
            return Err(key_reused(Some(claim)).into());
        }
        // The first append may still be waiting for its flush: make sure it is durable before
        // answering as if it were.
        answer(self.inner.store.sync()).await?;
        let mut events = Vec::with_capacity(record.positions.len());
        for position in &record.positions {
            events.extend(self.inner.store.event_at(*position)?);
        }
        Ok(Receipt {
            position: record.positions.last().copied().unwrap_or(0),
            events,
        })
    }

    /// The stored event with this id, decoded for a reversal.
    fn reversal_target(&self, event_id: uuid::Uuid) -> Result<Option<ReversalTarget>, StoreError> {
        let Some(stored) = self.event(event_id)? else {
            return Ok(None);
        };
        Ok(Some(ReversalTarget {
            event_id,
            position: stored.position,
            member: stored.member,
            event: codec::decode(&stored)?,
        }))
    }

    /// The stored event with this id, if the log has it.
    pub fn event(&self, event_id: uuid::Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let Some(position) = self.inner.store.event_position(event_id)? else {
            return Ok(None);
        };
        let stored = self.inner.store.event_at(position)?;
        match stored {
            Some(e) if e.position == position && e.event_id == event_id => Ok(Some(e)),
            _ => Err(StoreError::Corrupt {
                position,
                reason: format!(
                    "the index names event {event_id} at this position, but it is not there"
                ),
            }),
        }
    }

    /// Reverses a stored event: appends the compensating event (see `reverse` in CONTRACT.md's
    /// additions and ARCHITECTURE.md). Same as submitting `{"type":"reverse",…}`.
    pub async fn reverse(
        &self,
        event_id: uuid::Uuid,
        reason: &str,
        key: Option<String>,
    ) -> Result<Receipt, SubmitError> {
        let command = Command::Reverse {
            event: event_id,
            reason: reason.to_string(),
        };
        self.submit(command, key).await
    }

    fn states_for(
        &self,
        command: &Command,
        target: Option<&ReversalTarget>,
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let mut ids = command.members_read();
        ids.extend(target.map(|t| t.member));
        if let Command::CreditRetireeAllocation { member: None, .. } = command {
            for (key, _) in self.inner.store.projection_scan(&[RETIREE_PREFIX])? {
                ids.extend(uuid::Uuid::from_slice(&key[1..]).ok());
            }
        }
        let mut states = BTreeMap::new();
        for id in ids {
            states.insert(id, self.checkpoint(id)?);
        }
        Ok(states)
    }

    /// A member's current state, without replaying the log: from the state cache when it is
    /// current, else the member's snapshot plus the events after it (fewer than
    /// [`CHECKPOINT_EVERY_EVENTS`]).
    pub fn checkpoint(&self, member: MemberId) -> Result<MemberState, StoreError> {
        // One member through the many-member path: the same reads, the same checks.
        self.checkpoints_of(&[member])?
            .remove(&member)
            .ok_or_else(|| StoreError::Corrupt {
                position: 0,
                reason: format!("no state was read for member {member}"),
            })
    }

    /// Several members' states at the head in as few store reads as the backend allows (one
    /// each for versions, snapshots and tails): what a batch reads ahead. Each state is what
    /// [`Ledger::checkpoint`] gives.
    fn checkpoints_of(
        &self,
        members: &[MemberId],
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let versions = self.inner.store.member_versions(members)?;
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        for (member, version) in members.iter().zip(versions) {
            match self.cached(*member, version) {
                Some(state) => {
                    out.insert(*member, state);
                }
                None => missing.push((*member, version)),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let ids: Vec<MemberId> = missing.iter().map(|(m, _)| *m).collect();
        let states = self.stored_states(&ids)?;
        for ((member, version), state) in missing.iter().zip(states) {
            if state.version < *version {
                return Err(StoreError::Corrupt {
                    position: 0,
                    reason: format!(
                        "member {member}: snapshot and tail give version {}, the log says {version}",
                        state.version
                    ),
                });
            }
            out.insert(*member, state);
        }
        Ok(out)
    }

    /// Members' states as the stored projections give them (snapshot plus the events after it,
    /// not the cache), in two store reads for all of them.
    fn stored_states(&self, members: &[MemberId]) -> Result<Vec<MemberState>, StoreError> {
        let keys: Vec<Vec<u8>> = members.iter().map(|m| checkpoint_key(*m)).collect();
        let snapshots = self.inner.store.projections(&keys)?;
        let states = members
            .iter()
            .zip(snapshots)
            .map(|(member, bytes)| decode_snapshot(*member, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let from: Vec<(MemberId, u64)> = states.iter().map(|s| (s.member, s.version)).collect();
        let tails = self.inner.store.read_members_after(&from)?;
        states
            .into_iter()
            .zip(tails)
            .map(|(state, tail)| fold_tail(state, tail))
            .collect()
    }

    /// Reads ahead, in a few store reads, the members' states and the keys that the next
    /// commands of a batch will need, into the group. A failure here is not reported: each
    /// command then reads for itself (and meets it).
    fn prefetch(&self, parsed: &[Option<Parsed>], group: &mut Group) {
        let mut members = std::collections::BTreeSet::new();
        let mut keys = Vec::new();
        for (command, key) in parsed.iter().flatten().flatten() {
            members.extend(command.members_read());
            keys.extend(key.clone());
        }
        let members: Vec<MemberId> = members
            .into_iter()
            .filter(|m| !group.states.contains_key(m))
            .collect();
        if let Ok(states) = self.checkpoints_of(&members) {
            group.states.extend(states);
        }
        if let Ok(records) = self.inner.store.idempotency_many(&keys) {
            group.absent_keys.extend(
                keys.into_iter()
                    .zip(records)
                    .filter(|(_, record)| record.is_none())
                    .map(|(key, _)| key),
            );
        }
    }

    /// Takes a member's state out of the cache when it is at `version` (it goes back with the
    /// states a command leaves).
    fn cached(&self, member: MemberId, version: u64) -> Option<MemberState> {
        let mut cache = self.inner.cache.lock().ok()?;
        let state = cache.remove(&member)?;
        (state.version == version).then_some(state)
    }

    /// Keeps states just committed or read, for the next command on the same members.
    fn remember(&self, states: BTreeMap<MemberId, MemberState>) {
        let Ok(mut cache) = self.inner.cache.lock() else {
            return;
        };
        if cache.len() + states.len() > STATE_CACHE_MEMBERS {
            cache.clear();
        }
        cache.extend(states);
    }

    /// The append for a decision, and the states after it (every state read, with the decided
    /// events applied). The states move in and out: no copy of a long history per command.
    fn append_request(
        &self,
        mut states: BTreeMap<MemberId, MemberState>,
        decision: Vec<(MemberId, Event)>,
        claim: Option<IdempotencyClaim>,
        sync: bool,
    ) -> (AppendRequest, BTreeMap<MemberId, MemberState>) {
        let expected = states.iter().map(|(id, s)| (*id, s.version)).collect();
        let is_retiree = |s: &MemberState| s.retired_on.is_some() && s.closed_on.is_none();
        let before: BTreeMap<MemberId, (u64, bool)> = states
            .iter()
            .map(|(id, s)| (*id, (s.version, is_retiree(s))))
            .collect();
        let mut events = Vec::with_capacity(decision.len());
        let mut changed = std::collections::BTreeSet::new();
        for (member, event) in decision {
            let state = states
                .entry(member)
                .or_insert_with(|| MemberState::new(member));
            state.apply(&event);
            changed.insert(member);
            let region = state
                .profile
                .as_ref()
                .map(|p| p.region.as_str())
                .unwrap_or_default();
            let policy_version = self.inner.policies.version(region).unwrap_or("none");
            events.push(codec::encode(member, &event, policy_version));
        }
        let mut projections = Vec::new();
        for member in changed {
            let Some(state) = states.get(&member) else {
                continue;
            };
            let (before_version, was_retiree) = before.get(&member).copied().unwrap_or((0, false));
            // A snapshot each time the version crosses a multiple of the interval: at most that
            // many events to apply on a cold read, and no rewrite of a long history per event.
            if state.version / CHECKPOINT_EVERY_EVENTS > before_version / CHECKPOINT_EVERY_EVENTS {
                projections.push((
                    checkpoint_key(member),
                    Some(serde_json::to_vec(state).expect("states serialise")),
                ));
            }
            if before_version == 0 || was_retiree != is_retiree(state) {
                projections.push((retiree_key(member), is_retiree(state).then(Vec::new)));
            }
        }
        let request = AppendRequest {
            events,
            expected,
            idempotency: claim,
            projections,
            sync,
        };
        (request, states)
    }

    /// The account view of a member: at the head (from its checkpoint, no replay), as of a date,
    /// or as the ledger knew it after a position (both by replaying that member's events).
    pub async fn account(&self, member: MemberId, at: ViewAt) -> Result<AccountView, QueryError> {
        let head = self.inner.store.head()?;
        let policies = &self.inner.policies;
        let view = match at {
            ViewAt::Head => {
                let state = self.checkpoint(member)?;
                let on = state.last_event_on.unwrap_or(NaiveDate::MIN);
                let view = AccountView::of(&state, &state, policies, on, head.position);
                self.remember(BTreeMap::from([(member, state)]));
                view
            }
            ViewAt::AsOf(date) => {
                // Money as in force on the date; coverage as now known (DOMAIN §12 R2).
                let events = self.inner.store.read_member(member, None)?;
                let known = projection::fold_member(member, &events)?;
                let effective: Vec<StoredEvent> = events
                    .into_iter()
                    .filter(|e| e.effective_date <= date)
                    .collect();
                let state = projection::fold_member(member, &effective)?;
                AccountView::of(&state, &known, policies, date, head.position)
            }
            ViewAt::Position(position) => {
                let events = self.inner.store.read_member(member, Some(position))?;
                let state = projection::fold_member(member, &events)?;
                let on = state.last_event_on.unwrap_or(NaiveDate::MIN);
                let position = position.min(head.position);
                AccountView::of(&state, &state, policies, on, position)
            }
        };
        view.ok_or(QueryError::UnknownMember(member))
    }

    /// The member's statement, limited to effective dates in `[from, to]` when given.
    pub async fn statement(
        &self,
        member: MemberId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement, QueryError> {
        let events = self.inner.store.read_member(member, None)?;
        if events.is_empty() {
            return Err(QueryError::UnknownMember(member));
        }
        Ok(Statement::build_with_policies(
            member,
            &events,
            from,
            to,
            Some(&self.inner.policies),
        )?)
    }

    /// What changed between two points of a member's history (dates or positions): the events
    /// one view includes and the other does not, and every figure that differs.
    pub async fn diff(&self, member: MemberId, from: Point, to: Point) -> Result<Diff, QueryError> {
        let events = self.inner.store.read_member(member, None)?;
        if events.is_empty() {
            return Err(QueryError::UnknownMember(member));
        }
        let head = self.inner.store.head()?;
        Ok(Diff::between(
            member,
            &events,
            from,
            to,
            head.position,
            &self.inner.policies,
        )?)
    }

    /// The member's dispute dossier (see [`crate::audit::dossier`]).
    pub async fn dossier(&self, member: MemberId) -> Result<Dossier, QueryError> {
        let head = settled_head(self.inner.store.as_ref())?;
        let events = self.inner.store.read_member(member, Some(head.position))?;
        if events.is_empty() {
            return Err(QueryError::UnknownMember(member));
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Ok(Dossier::build(
            member,
            events,
            head,
            now,
            &self.inner.policies,
        )?)
    }

    /// Checks a dossier offline and then against this ledger: every event in it is the event
    /// this ledger holds at that position, byte for byte (same hash).
    pub async fn check_dossier(&self, dossier: &Dossier) -> Result<DossierReport, DossierError> {
        let report = verify_dossier_with(dossier, &self.inner.policies)?;
        for event in &dossier.events {
            let ours = self
                .inner
                .store
                .event_at(event.position)
                .map_err(|e| DossierError(format!("cannot read the ledger: {e}")))?;
            match &ours {
                Some(o) if o.position == event.position && o.hash == event.hash => {}
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

    /// Rebuilds every projection from the log (checkpoints and the retiree index), replacing
    /// what is stored; returns the events replayed and the members rebuilt.
    pub async fn rebuild_projections(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<(u64, usize), StoreError> {
        let total = self.inner.store.head()?.position;
        let members = self.inner.store.members()?;
        let known: std::collections::BTreeSet<MemberId> = members.iter().copied().collect();
        let mut done = 0u64;
        for part in members.chunks(REBUILD_MEMBERS_PER_WRITE) {
            let states = self.fold_members(part, None)?;
            let mut records = Vec::with_capacity(states.len() * 2);
            for state in &states {
                done += state.version;
                records.push((
                    checkpoint_key(state.member),
                    Some(serde_json::to_vec(state).expect("states serialise")),
                ));
                let retiree = state.retired_on.is_some() && state.closed_on.is_none();
                records.push((retiree_key(state.member), retiree.then(Vec::new)));
            }
            self.inner.store.write_projections(records)?;
            self.remember(BTreeMap::new());
            progress(done, total);
        }
        let mut stale = Vec::new();
        for (key, _) in self.inner.store.projection_scan(&[CHECKPOINT_PREFIX])? {
            if uuid::Uuid::from_slice(&key[1..]).map_or(true, |m| !known.contains(&m)) {
                stale.push((key, None));
            }
        }
        self.inner.store.write_projections(stale)?;
        if let Ok(mut cache) = self.inner.cache.lock() {
            cache.clear();
        }
        Ok((total, members.len()))
    }

    /// Folds each member's own stream from scratch (effective on or before `as_of`, when
    /// given), the members split over two threads: memory holds only these members' states.
    pub fn fold_members(
        &self,
        members: &[MemberId],
        as_of: Option<NaiveDate>,
    ) -> Result<Vec<MemberState>, StoreError> {
        let one = |member: &MemberId| -> Result<MemberState, StoreError> {
            let mut state = MemberState::new(*member);
            for stored in self.inner.store.read_member(*member, None)? {
                if stored.member_version != state.version + 1 && as_of.is_none() {
                    return Err(StoreError::Corrupt {
                        position: stored.position,
                        reason: format!(
                            "member {member} jumps from version {} to {}",
                            state.version, stored.member_version
                        ),
                    });
                }
                if as_of.is_some_and(|d| stored.effective_date > d) {
                    continue;
                }
                state.apply(&codec::decode(&stored)?);
            }
            Ok(state)
        };
        let (first, second) = members.split_at(members.len() / 2);
        let (a, b) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| second.iter().map(one).collect::<Vec<_>>());
            let a: Vec<_> = first.iter().map(one).collect();
            let b = helper
                .join()
                .unwrap_or_else(|_| second.iter().map(one).collect());
            (a, b)
        });
        a.into_iter().chain(b).collect()
    }

    /// Folds the log (events effective on or before `as_of`, when given) into member states,
    /// checking the chain, calling `progress(done, total)` after each chunk. Writes nothing.
    pub async fn replay_with_progress(
        &self,
        as_of: Option<NaiveDate>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let head = settled_head(self.inner.store.as_ref())?;
        let mut states: BTreeMap<MemberId, MemberState> = BTreeMap::new();
        let mut walk = ChainWalk::new(self.inner.store.positions_gapless()?);
        while walk.last().position < head.position {
            let chunk = self
                .inner
                .store
                .read_from(walk.expected_position(), READ_CHUNK_EVENTS)?;
            if chunk.is_empty() {
                break;
            }
            let chunk: Vec<StoredEvent> = chunk
                .into_iter()
                .take_while(|e| e.position <= head.position)
                .collect();
            if chunk.is_empty() {
                // Only events past the head remain: the walk ends here (and `finish` says
                // whether it reached the head).
                break;
            }
            // Hashing and decoding are per event: both cores share them. Positions, links and
            // the fold are in log order.
            let decoded = hash_check_and_decode(&chunk);
            for (stored, event) in chunk.iter().zip(decoded) {
                let event = event?;
                walk.link(stored)?;
                let state = states
                    .entry(stored.member)
                    .or_insert_with(|| MemberState::new(stored.member));
                if as_of.is_none_or(|date| stored.effective_date <= date) {
                    state.apply(&event);
                }
            }
            progress(walk.last().position, head.position);
        }
        walk.finish(&head)?;
        if as_of.is_some() {
            states.retain(|_, s| s.version > 0);
        }
        Ok(states)
    }

    /// Folds the whole log from scratch into member states, checking positions and the hash chain
    /// on the way: the ground truth the checkpoints must equal.
    pub async fn replay_all(&self) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        self.replay_with_progress(None, &mut |_, _| {}).await
    }

    /// Every member with events, and its state as the stored projections give it (snapshot plus
    /// the events after it, not the in-memory cache): what `verify` compares with a replay.
    pub fn checkpoints(&self) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let mut out = BTreeMap::new();
        for part in self
            .inner
            .store
            .members()?
            .chunks(REBUILD_MEMBERS_PER_WRITE)
        {
            for state in self.stored_states(part)? {
                out.insert(state.member, state);
            }
        }
        for (key, bytes) in self.inner.store.projection_scan(&[CHECKPOINT_PREFIX])? {
            let state: MemberState =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    position: 0,
                    reason: format!("checkpoint: {e}"),
                })?;
            if key.get(1..) != Some(state.member.as_bytes().as_slice()) {
                return Err(StoreError::Corrupt {
                    position: 0,
                    reason: format!("checkpoint key does not match member {}", state.member),
                });
            }
            if !out.contains_key(&state.member) {
                return Err(StoreError::Corrupt {
                    position: 0,
                    reason: format!("a checkpoint of member {} who has no events", state.member),
                });
            }
        }
        Ok(out)
    }
}

/// A member's stored snapshot (a state at some version), or the empty state.
fn decode_snapshot(member: MemberId, bytes: Option<Vec<u8>>) -> Result<MemberState, StoreError> {
    match bytes {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            position: 0,
            reason: format!("checkpoint of {member}: {e}"),
        }),
        None => Ok(MemberState::new(member)),
    }
}

/// A snapshot brought up to date with the member's events after it (`tail`, in order).
fn fold_tail(mut state: MemberState, tail: Vec<StoredEvent>) -> Result<MemberState, StoreError> {
    for stored in tail {
        if stored.member_version != state.version + 1 {
            return Err(StoreError::Corrupt {
                position: stored.position,
                reason: format!(
                    "member {} jumps from version {} to {}",
                    state.member, state.version, stored.member_version
                ),
            });
        }
        state.apply(&codec::decode(&stored)?);
    }
    Ok(state)
}

/// A command line as parsed: the command and its key, or why it is refused.
type Parsed = Result<(Command, Option<String>), Rejection>;

/// Commands of a batch decided ahead of the writer, not yet sent.
#[derive(Default)]
struct Group {
    /// (index in the batch, the append) in order.
    units: Vec<(usize, Unit)>,
    /// (index in the batch, members read) of commands refused against pending states.
    rejected: Vec<(usize, Vec<MemberId>)>,
    /// Member states as the group's commands leave them.
    states: BTreeMap<MemberId, MemberState>,
    /// Idempotency keys the group claims.
    keys: std::collections::BTreeSet<String>,
    /// Keys the log had no record of when the group read ahead.
    absent_keys: std::collections::HashSet<String>,
}

/// One decided command of a group.
struct Unit {
    request: AppendRequest,
    read: Vec<MemberId>,
}

/// What deciding ahead gave.
enum Ahead {
    /// An append to send with the group.
    Unit(Unit),
    /// Refused against the pending states of these members.
    Rejected(Vec<MemberId>, Rejection),
    /// The command must go alone, after the group.
    Alone,
}

/// Checks each event's hash against its own `prev_hash` and contents, and decodes it: the
/// per-event half of a replay, split over two threads.
fn hash_check_and_decode(chunk: &[StoredEvent]) -> Vec<Result<Event, StoreError>> {
    let one = |e: &StoredEvent| -> Result<Event, StoreError> {
        check_hash(e)?;
        codec::decode(e)
    };
    let middle = chunk.len() / 2;
    let (first, second) = chunk.split_at(middle);
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| second.iter().map(one).collect::<Vec<_>>());
        let mut out: Vec<_> = first.iter().map(one).collect();
        match helper.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(second.iter().map(one)),
        }
        out
    })
}

fn checkpoint_key(member: MemberId) -> Vec<u8> {
    let mut k = vec![CHECKPOINT_PREFIX];
    k.extend_from_slice(member.as_bytes());
    k
}

fn retiree_key(member: MemberId) -> Vec<u8> {
    let mut k = vec![RETIREE_PREFIX];
    k.extend_from_slice(member.as_bytes());
    k
}

fn key_reused(claim: Option<&IdempotencyClaim>) -> Rejection {
    let key = claim.map_or("", |c| c.key.as_str());
    Rejection::new(
        ErrorCode::KeyReused,
        format!("key '{key}' was already used for a different command; use a new key"),
    )
}

/// SHA-256 of the command's canonical JSON: the same command (however its JSON was spelled)
/// gives the same digest.
fn payload_hash(command: &Command) -> [u8; 32] {
    let value = serde_json::to_value(command).expect("commands serialise");
    Sha256::digest(serde_json::to_vec(&value).expect("values serialise")).into()
}
