//! Whole-log verification, in two passes that hold little in memory:
//!
//! 1. **The chain**, in position order: positions (gapless where the backend promises it), every
//!    record decodes, each member's versions and hash links ([`ChainWalk`]), the event-id
//!    lookup, the head; then the store's own record of each member (its version and last hash)
//!    against the chain. Memory: one member head per member.
//! 2. **The members**, member by member on two threads: every stored amount recomputed from its
//!    stored inputs ([`recheck`]), each issued annual statement's digest against the statement
//!    rebuilt from the member's events before it (R15), the fold's invariants, the stored
//!    checkpoint against a fold from scratch, and both sides of every in-ledger transfer and
//!    inheritance against each other. Memory: the states of the members in hand, and the
//!    decoded events of the member being checked.
//!
//! A broken log is a report, not an error: [`VerifyReport::broken`] names the first broken
//! position and why. `Err` is kept for storage that cannot be read at all.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::audit::recheck::{recheck, Depth};
use crate::codec;
use crate::domain::{Event, HeirDestination, MemberId, MemberState};
use crate::money::Money;
use crate::policy::PolicySet;
use crate::projection::annual::recheck::{IssuedRecheck, Rechecked};
use crate::projection::rebuild::{stored_states, READ_CHUNK_EVENTS, REBUILD_MEMBERS_PER_WRITE};
use crate::store::merkle::{leaf_hash, Frontier, NodeSource};
use crate::store::seal::SignedCheckpoint;
use crate::store::{settled_head, ChainWalk, EventStore, Head, StoreError};

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
    /// In-ledger transfers and inheritances whose two sides were matched.
    pub pairs_matched: u64,
    /// Signed checkpoints whose signature and root the log was checked against.
    pub checkpoints_checked: u64,
    /// Issued annual statements whose digest a rebuild from the member's events before them
    /// reproduces (R15).
    pub statements_reproduced: u64,
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
             ({} under their policy version, {} arithmetic only), {} in-ledger transfers and \
             inheritances match on both sides, {} signed checkpoints hold, {} issued \
             statements reproduce, {} members' checkpoints equal a replay",
            self.events,
            self.recomputed_with_policy,
            self.recomputed_arithmetic_only,
            self.pairs_matched,
            self.checkpoints_checked,
            self.statements_reproduced,
            self.members
        )
    }
}

/// Walks the whole log and compares checkpoints with a replay. Blocks: run it on a blocking
/// thread.
pub fn verify(store: &dyn EventStore, policies: &PolicySet) -> Result<VerifyReport, StoreError> {
    verify_with_progress(store, policies, &mut |_, _| {})
}

/// Like [`verify`], calling `progress(events_done, events_total)` as it goes (the chain pass,
/// then the member pass, each counting the log's events).
pub fn verify_with_progress(
    store: &dyn EventStore,
    policies: &PolicySet,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<VerifyReport, StoreError> {
    let head = settled_head(store)?;
    let mut report = VerifyReport::default();
    let walk = match chain_pass(store, &head, &mut report, progress)? {
        Some(walk) => walk,
        None => return Ok(report),
    };
    report.members = walk.members();
    member_pass(store, policies, &head, &mut report, progress)?;
    Ok(report)
}

/// Pass 1: positions, decoding, links, ids, the head and the members' records. `None` when it
/// found the log broken (the report says where).
fn chain_pass(
    store: &dyn EventStore,
    head: &Head,
    report: &mut VerifyReport,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Option<ChainWalk>, StoreError> {
    let mut walk = ChainWalk::new(store.positions_gapless()?);
    let mut tree = match TreeCheck::new(store) {
        Ok(tree) => tree,
        Err(e) => return broken(report, e, 0).map(|()| None),
    };
    while walk.last().position < head.position {
        let next = walk.expected_position();
        let chunk = match store.read_from(next, READ_CHUNK_EVENTS) {
            Ok(chunk) => chunk,
            Err(e) => return broken(report, e, next).map(|()| None),
        };
        let within: Vec<_> = chunk
            .iter()
            .take_while(|e| e.position <= head.position)
            .collect();
        if within.is_empty() {
            break;
        }
        for stored in within {
            if let Err(e) = walk.check(stored) {
                return broken(report, e, stored.position).map(|()| None);
            }
            if let Err(e) = tree.push(stored) {
                return broken(report, e, stored.position).map(|()| None);
            }
            if store.event_position(stored.event_id)? != Some(stored.position) {
                report.broken = Some(Broken {
                    position: stored.position,
                    reason: "looking the event up by its id does not find it here".into(),
                });
                return Ok(None);
            }
            report.events += 1;
        }
        progress(walk.last().position, head.position);
    }
    if let Err(e) = walk.finish(head) {
        return broken(report, e, head.position).map(|()| None);
    }
    if let Some(b) = member_records(store, &walk, head.position)? {
        report.broken = Some(b);
        return Ok(None);
    }
    report.checkpoints_checked = tree.checked;
    Ok(Some(walk))
}

/// The log's Merkle tree rebuilt from the events as the walk reads them: every stored subtree
/// root must be the one its leaves give, and every signed checkpoint must carry a valid
/// signature and the root of the log at its size. A rewritten history that kept the old
/// checkpoints, or forged new tree nodes, shows here; one that also removed the checkpoints
/// shows only against a witness.
struct TreeCheck<'a> {
    source: Option<Box<dyn NodeSource + 'a>>,
    frontier: Frontier,
    pending: std::collections::VecDeque<SignedCheckpoint>,
    checked: u64,
}

impl<'a> TreeCheck<'a> {
    fn new(store: &'a dyn EventStore) -> Result<TreeCheck<'a>, StoreError> {
        let source = store.tree()?.map(|(_, source)| source);
        let mut pending = std::collections::VecDeque::new();
        for text in store.checkpoints()? {
            let signed = SignedCheckpoint::parse(&text).map_err(|why| StoreError::Corrupt {
                position: 0,
                reason: format!("a stored checkpoint: {why}"),
            })?;
            signed
                .verify_signature()
                .map_err(|why| StoreError::Corrupt {
                    position: 0,
                    reason: format!("the checkpoint of size {}: {why}", signed.checkpoint.size),
                })?;
            pending.push_back(signed);
        }
        Ok(TreeCheck {
            source,
            frontier: Frontier::default(),
            pending,
            checked: 0,
        })
    }

    fn push(&mut self, event: &crate::store::StoredEvent) -> Result<(), StoreError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        for (level, index, root) in self.frontier.push(leaf_hash(&event.hash())) {
            if level > 0
                && source
                    .stored_subtree(level, index)?
                    .is_some_and(|stored| stored != root)
            {
                return Err(StoreError::Corrupt {
                    position: event.position,
                    reason: format!(
                        "the stored Merkle node at level {level}, index {index} is not the one its \
                         events give: the tree was forged"
                    ),
                });
            }
        }
        while self
            .pending
            .front()
            .is_some_and(|c| c.checkpoint.size == self.frontier.size())
        {
            if let Some(c) = self.pending.pop_front() {
                if c.checkpoint.root != self.frontier.root() {
                    return Err(StoreError::Corrupt {
                        position: event.position,
                        reason: format!(
                            "the log's first {} events are not the ones the checkpoint signed at {} \
                             holds: history was rewritten",
                            c.checkpoint.size, c.checkpoint.time
                        ),
                    });
                }
                self.checked += 1;
            }
        }
        Ok(())
    }
}

fn broken(report: &mut VerifyReport, e: StoreError, at: u64) -> Result<(), StoreError> {
    match e {
        StoreError::Corrupt { position, reason } => {
            report.broken = Some(Broken {
                position: if position == 0 { at } else { position },
                reason,
            });
            Ok(())
        }
        other => Err(other),
    }
}

/// Compares the store's own record of its members (the list, and each member's version and
/// last hash) with the chains the walk found up to `head`: a member's last events cut off the
/// end of its chain, a member removed whole, or an edited last event show here (a per-member
/// chain cannot show them by itself). A member whose record is ahead because of events
/// committed after `head` is not a break.
fn member_records(
    store: &dyn EventStore,
    walk: &ChainWalk,
    head: u64,
) -> Result<Option<Broken>, StoreError> {
    let listed = store.members()?;
    let known: std::collections::HashSet<MemberId> = listed.iter().copied().collect();
    let broken = |position: u64, reason: String| Ok(Some(Broken { position, reason }));
    if let Some((missing, _, _)) = walk.member_heads().find(|(m, _, _)| !known.contains(m)) {
        return broken(
            0,
            format!("member {missing} has events in the log but no record in the store"),
        );
    }
    for member in listed {
        let walked = walk.member_head(member).map_or(0, |(version, _)| version);
        let (recorded, hash) = store.member_head(member)?;
        if walked == recorded {
            if let Err(StoreError::Corrupt { position, reason }) =
                walk.check_member_record(member, recorded, hash)
            {
                return broken(position, reason);
            }
            continue;
        }
        let later = store.read_member_after(member, walked)?;
        let written_after_head = recorded > walked
            && later
                .first()
                .is_some_and(|e| e.member_version == walked + 1 && e.position > head);
        if !written_after_head {
            return broken(
                0,
                format!(
                    "member {member} is at version {recorded} in the store's record, but its \
                     chain in the log ends at version {walked} (events are missing)"
                ),
            );
        }
    }
    Ok(None)
}

/// One side of an in-ledger move of money between two members.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Side {
    from: MemberId,
    to: MemberId,
    amount: Money,
}

/// What the member pass found for some members.
#[derive(Default)]
struct Found {
    events: u64,
    with_policy: u64,
    arithmetic_only: u64,
    statements: u64,
    broken: Option<Broken>,
    mismatches: Vec<String>,
    sent: Vec<(Side, u64)>,
    received: Vec<(Side, u64)>,
}

/// Pass 2: each member's amounts, fold and checkpoint; then the two sides of every move.
fn member_pass(
    store: &dyn EventStore,
    policies: &PolicySet,
    head: &Head,
    report: &mut VerifyReport,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<(), StoreError> {
    let members = store.members()?;
    let mut all = Found::default();
    for part in members.chunks(REBUILD_MEMBERS_PER_WRITE) {
        let (first, second) = part.split_at(part.len() / 2);
        let (a, b) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| check_members(store, policies, head, second));
            let a = check_members(store, policies, head, first);
            let b = helper
                .join()
                .unwrap_or_else(|_| check_members(store, policies, head, second));
            (a, b)
        });
        for found in [a?, b?] {
            merge(&mut all, found);
        }
        progress(all.events, head.position);
    }
    report.recomputed_with_policy = all.with_policy;
    report.recomputed_arithmetic_only = all.arithmetic_only;
    report.statements_reproduced = all.statements;
    report.checkpoint_mismatches = all.mismatches;
    if all.broken.is_some() {
        report.broken = all.broken;
        return Ok(());
    }
    match match_sides(all.sent, all.received) {
        Ok(pairs) => report.pairs_matched = pairs,
        Err(b) => report.broken = Some(b),
    }
    Ok(())
}

fn merge(all: &mut Found, found: Found) {
    all.events += found.events;
    all.with_policy += found.with_policy;
    all.arithmetic_only += found.arithmetic_only;
    all.statements += found.statements;
    all.mismatches.extend(found.mismatches);
    all.sent.extend(found.sent);
    all.received.extend(found.received);
    if let Some(b) = found.broken {
        if all.broken.as_ref().is_none_or(|a| b.position < a.position) {
            all.broken = Some(b);
        }
    }
}

fn check_members(
    store: &dyn EventStore,
    policies: &PolicySet,
    head: &Head,
    members: &[MemberId],
) -> Result<Found, StoreError> {
    let mut found = Found::default();
    let checkpoints = match stored_states(store, members) {
        Ok(states) => states.into_iter().map(|s| (s.member, s)).collect(),
        Err(StoreError::Corrupt { reason, .. }) => {
            found.mismatches.push(reason);
            BTreeMap::new()
        }
        Err(e) => return Err(e),
    };
    for member in members {
        let state = check_member(store, policies, head, *member, &mut found)?;
        if found.broken.is_some() {
            return Ok(found);
        }
        let current = store.member_version(*member)?;
        if state.version == current && checkpoints.get(member) != Some(&state) {
            found.mismatches.push(member.to_string());
        }
    }
    Ok(found)
}

/// Folds one member up to the head, rechecking every amount and every issued statement's
/// digest; notes its moves.
fn check_member(
    store: &dyn EventStore,
    policies: &PolicySet,
    head: &Head,
    member: MemberId,
    found: &mut Found,
) -> Result<MemberState, StoreError> {
    let mut state = MemberState::new(member);
    let mut statements = IssuedRecheck::new(member);
    for stored in store.read_member(member, Some(head.position))? {
        let at = stored.position;
        let fail = |found: &mut Found, reason: String| {
            found.broken = Some(Broken {
                position: at,
                reason,
            });
        };
        let event = match codec::decode(&stored) {
            Ok(e) => e,
            Err(e) => {
                fail(found, e.to_string());
                return Ok(state);
            }
        };
        match recheck(&event, &state, policies, &stored.policy_version) {
            Ok(Depth::Policy) => found.with_policy += 1,
            Ok(Depth::Arithmetic) => found.arithmetic_only += 1,
            Ok(Depth::Nothing) => {}
            Err(why) => {
                fail(found, format!("{}: {why}", stored.event_type));
                return Ok(state);
            }
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| state.apply(&event))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "an invariant of the fold".into());
            fail(found, format!("the event breaks an invariant: {why}"));
            return Ok(state);
        }
        note_moves(member, &event, at, found);
        match statements.push(&stored, event, policies) {
            Ok(Rechecked::Reproduced) => found.statements += 1,
            Ok(Rechecked::Nothing) => {}
            Err(why) => {
                fail(found, format!("statement_issued: {why}"));
                return Ok(state);
            }
        }
        found.events += 1;
    }
    Ok(state)
}

/// The in-ledger moves an event is one side of.
fn note_moves(member: MemberId, event: &Event, at: u64, found: &mut Found) {
    match event {
        Event::TransferredOut {
            to_member: Some(to),
            balance,
            ..
        } => found.sent.push((
            Side {
                from: member,
                to: *to,
                amount: *balance,
            },
            at,
        )),
        Event::TransferredIn {
            from_member: Some(from),
            balance,
            ..
        } => found.received.push((
            Side {
                from: *from,
                to: member,
                amount: *balance,
            },
            at,
        )),
        Event::InheritanceSettled { shares, .. } => {
            // A share of 0.00 goes to no account: the settlement names it and no heir receives
            // it (`decide::spending::hand_out`), so only positive shares have a second side.
            for share in shares.iter().filter(|s| s.amount.is_positive()) {
                if let (Some(heir), HeirDestination::Account) = (share.heir, share.destination) {
                    found.sent.push((
                        Side {
                            from: member,
                            to: heir,
                            amount: share.amount,
                        },
                        at,
                    ));
                }
            }
        }
        Event::InheritanceReceived { from, amount, .. } => {
            found.received.push((
                Side {
                    from: *from,
                    to: member,
                    amount: *amount,
                },
                at,
            ));
        }
        _ => {}
    }
}

/// Every move sent must be received, once, with the same amount, and the other way round.
fn match_sides(mut sent: Vec<(Side, u64)>, mut received: Vec<(Side, u64)>) -> Result<u64, Broken> {
    sent.sort();
    received.sort();
    let mut pairs = 0;
    let mut s = sent.into_iter().peekable();
    let mut r = received.into_iter().peekable();
    loop {
        match (s.peek(), r.peek()) {
            (None, None) => return Ok(pairs),
            (Some((a, _)), Some((b, _))) if a == b => {
                s.next();
                r.next();
                pairs += 1;
            }
            (Some((a, at)), other) if other.is_none_or(|(b, _)| a < b) => {
                return Err(Broken {
                    position: *at,
                    reason: format!(
                        "member {} sent {} to member {} in the ledger, but no event of the \
                         receiver records receiving it",
                        a.from, a.amount, a.to
                    ),
                })
            }
            (_, Some((b, at))) => {
                return Err(Broken {
                    position: *at,
                    reason: format!(
                        "member {} received {} from member {}, but no event of the sender \
                         records sending it",
                        b.to, b.amount, b.from
                    ),
                })
            }
            (Some(_), None) => unreachable!("handled above"),
        }
    }
}
