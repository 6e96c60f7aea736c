//! What a batch holds while it runs: a group of commands decided ahead of the writer, the
//! appends and refusals in it, and what one group leaves the next.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use std::sync::Arc;

use super::core::Core;
use super::submit::Durable;
use super::{Receipt, SubmitError};
use crate::domain::{MemberId, MemberState, Rejection};
use crate::store::AppendRequest;

/// One result slot per command of the batch.
pub(super) type Results = Vec<Option<Result<Receipt, SubmitError>>>;

/// Commands of a batch decided ahead of the writer, not yet sent.
#[derive(Default)]
pub(super) struct Group {
    /// (index in the batch, the append) in order.
    pub(super) units: Vec<(usize, Unit)>,
    /// (index in the batch, members read) of commands refused (unkeyed) against pending states.
    pub(super) rejected: Vec<(usize, Vec<MemberId>)>,
    /// Member states as the group's commands leave them.
    pub(super) states: BTreeMap<MemberId, MemberState>,
    /// Idempotency keys the group claims.
    pub(super) keys: BTreeSet<String>,
    /// Keys the log had no record of when the group read ahead.
    pub(super) absent_keys: HashSet<String>,
    /// Members due a snapshot: one of each, of its state after the group, goes with the last
    /// append of the group that writes the member.
    pub(super) snapshots_due: BTreeSet<MemberId>,
    /// Whether deciding stopped at a command that must go alone.
    pub(super) stopped: bool,
}

impl Group {
    /// Takes out the commands decided on a tainted member (appends and refusals alike), for
    /// them to be decided again; returns their indices.
    pub(super) fn drop_tainted(
        &mut self,
        tainted: &BTreeSet<MemberId>,
        results: &mut Results,
    ) -> Vec<usize> {
        if tainted.is_empty() {
            return Vec::new();
        }
        let reads = |read: &Vec<MemberId>| read.iter().any(|m| tainted.contains(m));
        let mut dropped = Vec::new();
        self.units.retain(|(index, unit)| {
            let keep = !reads(&unit.read);
            if !keep {
                dropped.push(*index);
            }
            keep
        });
        self.rejected.retain(|(index, read)| {
            let keep = !reads(read);
            if !keep {
                results[*index] = None;
                dropped.push(*index);
            }
            keep
        });
        // Whatever was decided on them since is decided again; later units of this group that
        // wrote them were dropped above, so their pending states are stale.
        let mut stale: BTreeSet<MemberId> = tainted.clone();
        stale.extend(
            self.units
                .iter()
                .flat_map(|(_, u)| u.request.events.iter().map(|e| e.member))
                .filter(|m| tainted.contains(m)),
        );
        self.states.retain(|m, _| !stale.contains(m));
        dropped
    }
}

/// One decided command of a group: its append, the members it read, and the rejection it keeps
/// under its key when it was refused.
pub(super) struct Unit {
    pub(super) request: AppendRequest,
    pub(super) read: Vec<MemberId>,
    pub(super) refusal: Option<Rejection>,
}

/// What deciding ahead gave.
pub(super) enum Ahead {
    /// An append to send with the group.
    Unit(Box<Unit>),
    /// Refused against the pending states of these members (no key to keep it under).
    Rejected(Vec<MemberId>, Rejection),
    /// The command must go alone, after the group.
    Alone,
}

/// What one group leaves the next: the states its commands leave, and the keys it claims.
#[derive(Default)]
pub(super) struct Carried {
    pub(super) states: BTreeMap<MemberId, MemberState>,
    pub(super) keys: BTreeSet<String>,
}

/// A batch decided and applied whose flush is not yet awaited ([`Core::finish_batch`]).
pub(super) struct AppliedBatch {
    /// Each command's result, as if its flush succeeds.
    pub(super) results: Vec<Result<Receipt, SubmitError>>,
    /// The durability answers of the batch's appends.
    pub(super) pending: Vec<Durable>,
    /// The commands whose rejection was kept under their key (written, so they wait too).
    pub(super) recorded: Vec<usize>,
    /// The flush asked for at the end of the batch, when it wrote anything.
    pub(super) flush: Option<Durable>,
}

impl AppliedBatch {
    /// A batch none of whose `count` commands was applied: each answers `error`.
    pub(super) fn failed(count: usize, error: impl Fn() -> SubmitError) -> AppliedBatch {
        AppliedBatch {
            results: (0..count).map(|_| Err(error())).collect(),
            pending: Vec::new(),
            recorded: Vec::new(),
            flush: None,
        }
    }

    /// Whether a command already failed on storage (not a refusal of the command).
    pub(super) fn storage_failed(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r, Err(SubmitError::Storage(_))))
    }
}

/// A batch applied, its flush not yet awaited ([`crate::Ledger::submit_batch_pending`]).
pub struct PendingBatch {
    pub(super) core: Arc<Core>,
    pub(super) applied: AppliedBatch,
}

impl PendingBatch {
    /// Blocks this thread until the batch's flush ends; then each result is durable, or the
    /// storage failure. Call it on a thread of its own or a blocking one, never on an async
    /// runtime's worker (it would stall the runtime, and tokio refuses it there).
    pub fn wait(self) -> Vec<Result<Receipt, SubmitError>> {
        self.core.finish_batch(self.applied)
    }

    /// Whether storage failed already while the batch was applied (then its flush fails too).
    pub fn storage_failed(&self) -> bool {
        self.applied.storage_failed()
    }
}

impl std::fmt::Debug for PendingBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBatch").finish_non_exhaustive()
    }
}
