//! Whole-log verification: gapless positions, the hash chain, decoding, member versions, every
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
use crate::ledger::{check_link, Ledger, READ_CHUNK_EVENTS};
use crate::store::{StoreError, GENESIS_HASH};

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
                b.position,
                b.reason,
                b.position.saturating_sub(1)
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
            "verify: ok: {} events, positions gapless, hash chain intact, amounts recompute \
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
    let head = ledger.head()?;
    let mut report = VerifyReport::default();
    let mut states: BTreeMap<MemberId, MemberState> = BTreeMap::new();
    let mut next = 1;
    let mut prev = GENESIS_HASH;
    let broken = |position: u64, reason: String| Some(Broken { position, reason });
    'walk: loop {
        let chunk = match ledger.store().read_from(next, READ_CHUNK_EVENTS) {
            Ok(chunk) => chunk,
            Err(StoreError::Corrupt { position, reason }) => {
                report.broken = broken(position.max(next), reason);
                break;
            }
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        for stored in &chunk {
            if let Err(e) = check_link(stored, next, &prev) {
                report.broken = broken(next, corrupt_reason(e));
                break 'walk;
            }
            let event = match codec::decode(stored) {
                Ok(e) => e,
                Err(e) => {
                    report.broken = broken(next, corrupt_reason(e));
                    break 'walk;
                }
            };
            if ledger.store().event_position(stored.event_id)? != Some(stored.position) {
                report.broken = broken(next, "the event-id index does not point here".into());
                break 'walk;
            }
            let state = states
                .entry(stored.member)
                .or_insert_with(|| MemberState::new(stored.member));
            if state.version + 1 != stored.member_version {
                let reason = format!(
                    "member {} jumps from version {} to {}",
                    stored.member, state.version, stored.member_version
                );
                report.broken = broken(next, reason);
                break 'walk;
            }
            match recheck(&event, state, ledger.policies(), &stored.policy_version) {
                Ok(Depth::Policy) => report.recomputed_with_policy += 1,
                Ok(Depth::Arithmetic) => report.recomputed_arithmetic_only += 1,
                Ok(Depth::Nothing) => {}
                Err(why) => {
                    report.broken = broken(next, format!("{}: {why}", stored.event_type));
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
                report.broken = broken(next, format!("the event breaks an invariant: {why}"));
                break 'walk;
            }
            prev = stored.hash_bytes().unwrap_or(GENESIS_HASH);
            report.events = next;
            next += 1;
        }
        progress(report.events, head.position);
    }
    if report.broken.is_none() && (head.position != report.events || head.hash != prev) {
        report.broken = broken(
            report.events + 1,
            format!(
                "the head record says {} events, but the log holds {} that chain (truncated or extra data)",
                head.position, report.events
            ),
        );
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

fn corrupt_reason(e: StoreError) -> String {
    match e {
        StoreError::Corrupt { reason, .. } => reason,
        other => other.to_string(),
    }
}
