//! The ledger's synchronous core: the store, the policies and the state cache, and what every
//! write path shares (reading members' states, turning a decision into an append).
//!
//! Everything here blocks on storage; the async [`super::Ledger`] runs it on tokio's blocking
//! threads, never on the caller's runtime.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::codec;
use crate::domain::IDEMPOTENCY_KEY_BYTES_MAX;
use crate::domain::{Command, ErrorCode, Event, MemberId, MemberState, Rejection};
use crate::money::{Money, MONEY_YUAN_MAX, WAGE_YUAN_MAX};
use crate::policy::PolicySet;
use crate::projection::rebuild::{self, REBUILD_MEMBERS_PER_WRITE};
use crate::projection::snapshot;
use crate::store::{AppendRequest, EventStore, IdempotencyClaim, StoreError};

/// Member states kept in memory between commands (the cache is emptied when full).
pub const STATE_CACHE_MEMBERS: usize = 1024;

/// The store, the policies, and the states of recently written members.
pub struct Core {
    pub(super) store: Arc<dyn EventStore>,
    pub(super) policies: PolicySet,
    cache: Mutex<HashMap<MemberId, MemberState>>,
}

/// A decision refused before it was appended: why, the versions it was decided on, and the
/// states it read (those it had not changed).
pub struct Refused {
    /// The rejection.
    pub rejection: Rejection,
    /// The member versions the decision read.
    pub expected: Vec<(MemberId, u64)>,
    /// The states read, unchanged.
    pub states: BTreeMap<MemberId, MemberState>,
}

/// A decision turned into an append, with the states it leaves.
pub struct Prepared {
    /// The append.
    pub request: AppendRequest,
    /// Every state read, with the decided events applied.
    pub states: BTreeMap<MemberId, MemberState>,
}

impl Core {
    /// A core over a store.
    pub fn new(store: Arc<dyn EventStore>, policies: PolicySet) -> Core {
        Core {
            store,
            policies,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A member's current state, without replaying the log: from the cache when it is current,
    /// else its snapshot plus the events after it.
    pub fn checkpoint(&self, member: MemberId) -> Result<MemberState, StoreError> {
        self.checkpoints_of(&[member])?
            .remove(&member)
            .ok_or_else(|| StoreError::Corrupt {
                position: 0,
                reason: format!("no state was read for member {member}"),
            })
    }

    /// Several members' current states in as few store reads as the backend allows (versions,
    /// then snapshots and tails of the members the cache does not hold at their version).
    pub fn checkpoints_of(
        &self,
        members: &[MemberId],
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let versions = self.store.member_versions(members)?;
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
        let states = rebuild::stored_states(self.store.as_ref(), &ids)?;
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

    /// The states a command reads (every retiree for an allocation to all of them, every member
    /// for a year's interest to all of them, every member of a region for its annual statements).
    pub fn states_for(
        &self,
        command: &Command,
        extra: Option<MemberId>,
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        if let Command::IssueStatement {
            member: None,
            region: Some(region),
            ..
        } = command
        {
            return self.region_states(region);
        }
        let mut ids = command.members_read();
        ids.extend(extra);
        if let Command::CreditRetireeAllocation { member: None, .. } = command {
            for key in self.store.projection_keys(&snapshot::retiree_prefix())? {
                ids.extend(snapshot::member_of_key(&key));
            }
        }
        // A year's interest for every member reads every member (R8): memory in proportion to
        // the members, once a year.
        if let Command::CreditInterest { member: None, .. } = command {
            ids.extend(self.store.members()?);
        }
        ids.sort();
        ids.dedup();
        self.checkpoints_of(&ids)
    }

    /// Every member of a region with its current state: what an `issue_statement` for the whole
    /// region reads (and names in its append, so a member changed meanwhile is decided again).
    /// Read [`REBUILD_MEMBERS_PER_WRITE`] members at a time; memory holds the region's states.
    pub fn region_states(
        &self,
        region: &str,
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let mut out = BTreeMap::new();
        for part in self.store.members()?.chunks(REBUILD_MEMBERS_PER_WRITE) {
            let states = self.checkpoints_of(part)?;
            out.extend(
                states
                    .into_iter()
                    .filter(|(_, s)| s.profile.as_ref().is_some_and(|p| p.region == region)),
            );
        }
        Ok(out)
    }

    /// Takes a member's state out of the cache when it is at `version` (it goes back with the
    /// states a command leaves).
    fn cached(&self, member: MemberId, version: u64) -> Option<MemberState> {
        let mut cache = self.cache.lock().ok()?;
        let state = cache.remove(&member)?;
        (state.version == version).then_some(state)
    }

    /// Keeps states just committed or read, for the next command on the same members.
    pub fn remember(&self, states: BTreeMap<MemberId, MemberState>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() + states.len() > STATE_CACHE_MEMBERS {
            cache.clear();
        }
        cache.extend(states);
    }

    /// Forgets every cached state (after a rebuild, or when the store failed).
    pub fn forget(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// The append for a decision, and the states after it. The states move in and out: no copy
    /// of a long history per command. Refused `amount_out_of_range` when an amount of an event,
    /// or a sum the states would then hold, is beyond what the ledger stores: nothing written is
    /// ever unreadable.
    pub fn prepare(
        &self,
        mut states: BTreeMap<MemberId, MemberState>,
        decision: Vec<(MemberId, Event)>,
        claim: Option<IdempotencyClaim>,
        sync: bool,
        defer_snapshots: Option<&mut std::collections::BTreeSet<MemberId>>,
    ) -> Result<Prepared, Refused> {
        let expected: Vec<(MemberId, u64)> =
            states.iter().map(|(id, s)| (*id, s.version)).collect();
        let before: BTreeMap<MemberId, (u64, bool)> = states
            .iter()
            .map(|(id, s)| (*id, (s.version, snapshot::is_retiree(s))))
            .collect();
        let mut events = Vec::with_capacity(decision.len());
        let mut changed = std::collections::BTreeSet::new();
        for (member, event) in &decision {
            let state = states
                .entry(*member)
                .or_insert_with(|| MemberState::new(*member));
            let region = state.profile.as_ref().map_or("", |p| p.region.as_str());
            let new = match codec::encode(*member, event, self.policy_version(region, event)) {
                Ok(new) => new,
                Err(why) => {
                    return Err(self.refused(out_of_range(&why), expected, states, &before))
                }
            };
            state.apply(event);
            changed.insert(*member);
            events.push(new);
        }
        if let Some(why) = changed
            .iter()
            .find_map(|m| states.get(m).and_then(sums_beyond_bound))
        {
            return Err(self.refused(out_of_range(&why), expected, states, &before));
        }
        let projections = snapshot_records(&states, &changed, &before, defer_snapshots);
        let request = AppendRequest {
            events,
            expected,
            idempotency: claim,
            rejection: None,
            actor: None,
            projections,
            sync,
        };
        Ok(Prepared { request, states })
    }

    /// The policy version an event was decided under (its region's; an enrolment names its own).
    fn policy_version(&self, region: &str, event: &Event) -> &str {
        let region = match event {
            Event::Enrolled { region, .. } => region.as_str(),
            _ => region,
        };
        self.policies.version(region).unwrap_or("none")
    }

    /// A refusal after the decision: states it had partly changed are dropped (they are read
    /// again next time; the cache holds none of them).
    fn refused(
        &self,
        rejection: Rejection,
        expected: Vec<(MemberId, u64)>,
        states: BTreeMap<MemberId, MemberState>,
        before: &BTreeMap<MemberId, (u64, bool)>,
    ) -> Refused {
        let states = states
            .into_iter()
            .filter(|(member, state)| before.get(member).map(|b| b.0) == Some(state.version))
            .collect();
        Refused {
            rejection,
            expected,
            states,
        }
    }
}

// A key the contract accepts always fits the stored record.
const _: () = assert!(IDEMPOTENCY_KEY_BYTES_MAX <= crate::store::record::IDEMPOTENCY_KEY_BYTES_MAX);

/// Refuses a command whose inputs are beyond what the ledger's sums are bounded by (see
/// [`MemberState::largest_amount`]): a contribution's wage within [`WAGE_YUAN_MAX`]; and a key
/// outside the contract's bound (a typed submission has not been through
/// [`crate::domain::parse_command`], which checks it for JSON lines).
pub fn check_inputs(command: &Command, key: Option<&str>) -> Result<(), Rejection> {
    if let Some(key) = key {
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX {
            return Err(Rejection::invalid(format!(
                "\"key\" must be a non-empty string of at most {IDEMPOTENCY_KEY_BYTES_MAX} bytes"
            )));
        }
    }
    if let Command::Contribute { wage, .. } = command {
        if *wage > Money::yuan(WAGE_YUAN_MAX) {
            return Err(Rejection::new(
                ErrorCode::AmountOutOfRange,
                format!(
                    "a wage of {wage} is beyond the largest the ledger takes ({WAGE_YUAN_MAX} yuan a month)"
                ),
            ));
        }
    }
    Ok(())
}

/// A member's snapshot record. A state within the bounds always encodes; one that does not is
/// left to be folded from its events (snapshots are a cache).
pub fn snapshot_record(state: &MemberState) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let bytes = snapshot::encode(state).ok()?;
    Some((snapshot::snapshot_key(state.member), Some(bytes)))
}

fn out_of_range(why: &str) -> Rejection {
    Rejection::new(
        ErrorCode::AmountOutOfRange,
        format!("{why}: the ledger holds amounts up to {MONEY_YUAN_MAX} yuan in any field or sum"),
    )
}

/// Why a state's sums would be beyond what the ledger stores, if they would.
fn sums_beyond_bound(state: &MemberState) -> Option<String> {
    let largest = state.largest_amount();
    (largest.as_decimal().abs() > rust_decimal::Decimal::from(MONEY_YUAN_MAX)).then(|| {
        format!(
            "member {}'s account would hold a sum of {largest}",
            state.member
        )
    })
}

/// The snapshot and retiree-index records a change to these members is due. With `deferred`,
/// members due a snapshot are noted there instead (a batch writes one snapshot of a member's
/// last state in a group rather than one per crossing).
fn snapshot_records(
    states: &BTreeMap<MemberId, MemberState>,
    changed: &std::collections::BTreeSet<MemberId>,
    before: &BTreeMap<MemberId, (u64, bool)>,
    mut deferred: Option<&mut std::collections::BTreeSet<MemberId>>,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut projections = Vec::new();
    for member in changed {
        let Some(state) = states.get(member) else {
            continue;
        };
        let (before_version, was_retiree) = before.get(member).copied().unwrap_or((0, false));
        if snapshot::due(before_version, state.version) {
            match deferred.as_deref_mut() {
                Some(due) => {
                    due.insert(*member);
                }
                None => projections.extend(snapshot_record(state)),
            }
        }
        let retiree = snapshot::is_retiree(state);
        if before_version == 0 || was_retiree != retiree {
            projections.push((snapshot::retiree_key(*member), retiree.then(Vec::new)));
        }
    }
    projections
}
