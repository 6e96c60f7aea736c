//! Whole-log verification: positions (gapless where the backend promises it), each member's hash
//! chain and versions (against the store's own record of each member), decoding, every
//! stored amount recomputed from its stored inputs, the fold's invariants, the event-id index,
//! and every checkpoint against a replay from scratch.
//!
//! A broken log is a report, not an error: [`VerifyReport::broken`] names the first broken
//! position and why. `Err` is kept for storage that cannot be read at all.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::audit::recheck::{recheck, Depth};
use crate::codec;
use crate::domain::{MemberId, MemberState};
use crate::ledger::{Ledger, READ_CHUNK_EVENTS};
use crate::store::{settled_head, ChainWalk, EventStore, StoreError, StoredEvent};

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The log position (0 when the damage is not tied to one event).
    pub position: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// Members replayed.
    pub members: usize,
    /// Events whose amounts were recomputed under the policy version they name.
    pub recomputed_with_policy: u64,
    /// Events whose amounts were checked for arithmetic only (policy version not loaded).
    pub recomputed_arithmetic_only: u64,
    /// The first broken position, if the log is damaged.
    pub broken: Option<Broken>,
    /// Members whose checkpoint differs from the replay.
    pub checkpoint_mismatches: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.broken.is_none() && self.checkpoint_mismatches.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = &self.broken {
            return write!(
                f,
                "verify: BROKEN at position {}: {} ({} events before it check)",
                b.position, b.reason, self.events
            );
        }
        if !self.checkpoint_mismatches.is_empty() {
            return write!(
                f,
                "verify: {} checkpoints differ from a replay: {}",
                self.checkpoint_mismatches.len(),
                self.checkpoint_mismatches.join(", ")
            );
        }
        write!(
            f,
            "verify: ok: {} events, positions in order, every member's hash chain intact, amounts recompute \
             ({} under their policy version, {} arithmetic only), {} members' checkpoints equal a replay",
            self.events,
            self.recomputed_with_policy,
            self.recomputed_arithmetic_only,
            self.members
        )
    }
}

/// Walks the whole log and compares checkpoints with a replay.
pub async fn verify(ledger: &Ledger) -> Result<VerifyReport, StoreError> {
    verify_with_progress(ledger, &mut |_, _| {}).await
}

/// Like [`verify`], calling `progress(events_done, events_total)` after each chunk.
pub async fn verify_with_progress(
    ledger: &Ledger,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<VerifyReport, StoreError> {
    let store = ledger.store();
    let head = settled_head(store.as_ref())?;
    let mut report = VerifyReport::default();
    let mut states: BTreeMap<MemberId, MemberState> = BTreeMap::new();
    let mut walk = ChainWalk::new(store.positions_gapless()?);
    let broken = |position: u64, reason: String| Some(Broken { position, reason });
    'walk: while walk.last().position < head.position {
        let next = walk.expected_position();
        let chunk = match store.read_from(next, READ_CHUNK_EVENTS) {
            Ok(chunk) => chunk,
            Err(StoreError::Corrupt { position, reason }) => {
                report.broken = broken(position.max(next), reason);
                break;
            }
            Err(e) => return Err(e),
        };
        let within: Vec<&StoredEvent> = chunk
            .iter()
            .take_while(|e| e.position <= head.position)
            .collect();
        if within.is_empty() {
            // Nothing left up to the head: the walk ends (and `finish` says whether it
            // reached it).
            break;
        }
        for stored in within {
            if let Err(e) = walk.check(stored) {
                let position = match &e {
                    StoreError::Corrupt { position, .. } => *position,
                    _ => stored.position,
                };
                report.broken = broken(position, corrupt_reason(e));
                break 'walk;
            }
            let at = stored.position;
            let event = match codec::decode(stored) {
                Ok(e) => e,
                Err(e) => {
                    report.broken = broken(at, corrupt_reason(e));
                    break 'walk;
                }
            };
            if store.event_position(stored.event_id)? != Some(at) {
                report.broken = broken(at, "the event-id index does not point here".into());
                break 'walk;
            }
            let state = states
                .entry(stored.member)
                .or_insert_with(|| MemberState::new(stored.member));
            match recheck(&event, state, ledger.policies(), &stored.policy_version) {
                Ok(Depth::Policy) => report.recomputed_with_policy += 1,
                Ok(Depth::Arithmetic) => report.recomputed_arithmetic_only += 1,
                Ok(Depth::Nothing) => {}
                Err(why) => {
                    report.broken = broken(at, format!("{}: {why}", stored.event_type));
                    break 'walk;
                }
            }
            let applied = catch_unwind(AssertUnwindSafe(|| state.apply(&event)));
            if let Err(panic) = applied {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "an invariant of the fold".into());
                report.broken = broken(at, format!("the event breaks an invariant: {why}"));
                break 'walk;
            }
            report.events += 1;
        }
        progress(report.events, head.position);
    }
    if report.broken.is_none() {
        if let Err(e) = walk.finish(&head) {
            let position = match &e {
                StoreError::Corrupt { position, .. } => *position,
                _ => 0,
            };
            report.broken = broken(position, corrupt_reason(e));
        }
    }
    if report.broken.is_none() {
        report.broken = member_records(store.as_ref(), &walk, &states, head.position)?;
    }
    report.members = states.len();
    if report.broken.is_some() {
        return Ok(report);
    }
    let checkpoints = match ledger.checkpoints() {
        Ok(c) => c,
        Err(StoreError::Corrupt { reason, .. }) => {
            report.checkpoint_mismatches.push(reason);
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    for (member, state) in &states {
        if checkpoints.get(member) != Some(state) {
            report.checkpoint_mismatches.push(member.to_string());
        }
    }
    for member in checkpoints.keys().filter(|m| !states.contains_key(m)) {
        report
            .checkpoint_mismatches
            .push(format!("{member} (checkpoint without events)"));
    }
    Ok(report)
}

/// Compares the store's own record of its members (the list, and each member's version) with
/// the chains the walk found up to `head`: a member's last events cut off the end of its chain,
/// or a member removed whole, show here (a per-member chain cannot show them by itself). A
/// member whose record is ahead because of events committed after `head` is not a break.
fn member_records(
    store: &dyn EventStore,
    walk: &ChainWalk,
    states: &BTreeMap<MemberId, MemberState>,
    head: u64,
) -> Result<Option<Broken>, StoreError> {
    let listed = store.members()?;
    let broken = |reason: String| {
        Ok(Some(Broken {
            position: 0,
            reason,
        }))
    };
    let known: std::collections::BTreeSet<&MemberId> = listed.iter().collect();
    if let Some(missing) = states.keys().find(|m| !known.contains(m)) {
        return broken(format!(
            "member {missing} has events in the log but no record in the store"
        ));
    }
    for member in listed {
        let walked = walk.member_head(member).map_or(0, |(version, _)| version);
        let recorded = store.member_version(member)?;
        if walked == recorded {
            continue;
        }
        let later = store.read_member_after(member, walked)?;
        let written_after_head = recorded > walked
            && later
                .first()
                .is_some_and(|e| e.member_version == walked + 1 && e.position > head);
        if !written_after_head {
            return broken(format!(
                "member {member} is at version {recorded} in the store's record, but its \
                 chain in the log ends at version {walked} (events are missing)"
            ));
        }
    }
    Ok(None)
}

fn corrupt_reason(e: StoreError) -> String {
    match e {
        StoreError::Corrupt { reason, .. } => reason,
        other => other.to_string(),
    }
}
