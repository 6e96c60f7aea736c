//! Folding members from the log: one member's state from its snapshot and the events after it,
//! every member from scratch (a rebuild, an as-of replay), and the whole log in position order
//! with its chain checked.
//!
//! Memory holds the states of the members being folded at once ([`REBUILD_MEMBERS_PER_WRITE`]),
//! never every member's, except in [`replay_log`], which returns them all (tests and small logs).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::snapshot;
use crate::codec;
use crate::domain::{MemberId, MemberState};
use crate::store::{settled_head, ChainWalk, EventStore, RecordView, StoreError, StoredEvent};

/// Members whose rebuilt snapshots are written together.
pub const REBUILD_MEMBERS_PER_WRITE: usize = 128;
/// Events read per step when walking the whole log.
pub const READ_CHUNK_EVENTS: usize = 4096;

/// A snapshot brought up to date with the member's events after it (`tail`, in order).
pub fn fold_tail(
    mut state: MemberState,
    tail: Vec<StoredEvent>,
) -> Result<MemberState, StoreError> {
    for stored in tail {
        next_version(state.member, state.version, &stored.view())?;
        state.apply(&codec::decode(&stored)?);
    }
    Ok(state)
}

/// A member's event must be the version after `version`; otherwise the log is corrupt there.
fn next_version(member: MemberId, version: u64, stored: &RecordView<'_>) -> Result<(), StoreError> {
    if stored.member_version == version + 1 {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        position: stored.position,
        reason: format!(
            "member {member} jumps from version {version} to {}",
            stored.member_version
        ),
    })
}

/// Members' states as the stored projections give them (snapshot plus the events after it), in
/// three store reads for all of them. A snapshot of another state shape, one that does not
/// decode, or one ahead of the member's log counts as absent: the member is folded from its
/// first event.
pub fn stored_states(
    store: &dyn EventStore,
    members: &[MemberId],
) -> Result<Vec<MemberState>, StoreError> {
    let keys: Vec<Vec<u8>> = members.iter().map(|m| snapshot::snapshot_key(*m)).collect();
    let snapshots = store.projections(&keys)?;
    let versions = store.member_versions(members)?;
    let states: Vec<MemberState> = members
        .iter()
        .zip(snapshots)
        .zip(versions)
        .map(|((member, bytes), version)| {
            bytes
                .and_then(|b| snapshot::decode(&b).ok().flatten())
                .filter(|s| s.member == *member && s.version <= version)
                .unwrap_or_else(|| MemberState::new(*member))
        })
        .collect();
    let from: Vec<(MemberId, u64)> = states.iter().map(|s| (s.member, s.version)).collect();
    let tails = store.read_members_after(&from)?;
    states
        .into_iter()
        .zip(tails)
        .map(|(state, tail)| fold_tail(state, tail))
        .collect()
}

/// A projection record to write: its key, and its bytes (`None` deletes it).
type ProjectionRecord = (Vec<u8>, Option<Vec<u8>>);

/// Threads that fold members at once.
pub const FOLD_THREADS: usize = 2;

/// Folds one member's own events from scratch (effective on or before `as_of`, when given),
/// checking its versions; each event is read where it is stored, nothing copied.
fn fold_one(
    store: &dyn EventStore,
    member: MemberId,
    as_of: Option<NaiveDate>,
) -> Result<MemberState, StoreError> {
    let mut state = MemberState::new(member);
    let mut version = 0;
    store.visit_member_after(member, 0, &mut |stored| {
        next_version(member, version, &stored)?;
        version = stored.member_version;
        if as_of.is_none_or(|d| stored.effective_date <= d) {
            state.apply(&codec::decode_view(&stored)?);
        }
        Ok(())
    })?;
    Ok(state)
}

/// Folds each member from scratch and hands its state to `then`, on [`FOLD_THREADS`] threads
/// that take the next member as they finish one (long and short histories even out); the
/// results come back in the members' order.
pub fn fold_each<T: Send>(
    store: &dyn EventStore,
    members: &[MemberId],
    as_of: Option<NaiveDate>,
    then: impl Fn(MemberState) -> Result<T, StoreError> + Sync,
) -> Result<Vec<T>, StoreError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(member) = members.get(i) else {
                return done;
            };
            done.push((i, fold_one(store, *member, as_of).and_then(&then)));
        }
    };
    let mut results: Vec<(usize, Result<T, StoreError>)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..FOLD_THREADS).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for helper in helpers {
            // A helper that panicked left its members undone: they are folded here.
            all.extend(helper.join().unwrap_or_default());
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    let missing =
        (0..members.len()).filter(|i| results.binary_search_by_key(i, |(j, _)| *j).is_err());
    let redo: Vec<(usize, Result<T, StoreError>)> = missing
        .map(|i| (i, fold_one(store, members[i], as_of).and_then(&then)))
        .collect();
    results.extend(redo);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Folds each member's own events from scratch (effective on or before `as_of`, when given),
/// on [`FOLD_THREADS`] threads. Checks member versions when folding everything.
pub fn fold_members(
    store: &dyn EventStore,
    members: &[MemberId],
    as_of: Option<NaiveDate>,
) -> Result<Vec<MemberState>, StoreError> {
    fold_each(store, members, as_of, Ok)
}

/// Rebuilds every projection from the log (snapshots and the retiree index), replacing what is
/// stored (a snapshot of a member without events is removed); calls `progress(events_done,
/// events_total)` after each part. Returns the events folded and the members rebuilt. The
/// snapshots are encoded on the folding threads, and a part is written while the next one is
/// folded.
pub fn rebuild(
    store: &dyn EventStore,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<(u64, usize), StoreError> {
    let total = settled_head(store)?.position;
    let mut members = store.members()?;
    // In key order, so that each part's snapshots are one range of keys.
    members.sort_unstable();
    let known: BTreeSet<MemberId> = members.iter().copied().collect();
    let mut done = 0u64;
    let encode = |state: MemberState| -> Result<(u64, [ProjectionRecord; 2]), StoreError> {
        let bytes = snapshot::encode(&state).map_err(|reason| StoreError::Corrupt {
            position: 0,
            reason,
        })?;
        let retiree = snapshot::is_retiree(&state);
        Ok((
            state.version,
            [
                (snapshot::snapshot_key(state.member), Some(bytes)),
                (snapshot::retiree_key(state.member), retiree.then(Vec::new)),
            ],
        ))
    };
    let parts: Vec<&[MemberId]> = members.chunks(REBUILD_MEMBERS_PER_WRITE).collect();
    std::thread::scope(|scope| -> Result<(), StoreError> {
        // The write waits on the disk while the next part's fold uses the processor; one part
        // waits at most.
        let (to_writer, written) = std::sync::mpsc::sync_channel::<Part>(1);
        let known = &known;
        let writer = scope.spawn(move || -> Result<(), StoreError> {
            for part in written {
                write_part(store, known, part)?;
            }
            Ok(())
        });
        for (i, part) in parts.iter().enumerate() {
            let mut records = Vec::with_capacity(part.len() * 2);
            for (version, pair) in fold_each(store, part, None, encode)? {
                done += version;
                records.extend(pair);
            }
            // The snapshot keys from this part's first member up to the next part's first.
            let from = match i {
                0 => snapshot::snapshot_prefix().to_vec(),
                _ => snapshot::snapshot_key(part[0]),
            };
            let until = parts.get(i + 1).map(|next| snapshot::snapshot_key(next[0]));
            if to_writer
                .send(Part {
                    records,
                    from,
                    until,
                })
                .is_err()
            {
                break; // The writer stopped on an error, returned below.
            }
            progress(done, total);
        }
        drop(to_writer);
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    Ok((done, members.len()))
}

/// A rebuilt part on its way to the store: its records, and the range of snapshot keys it
/// covers (`until` excluded; `None`: every snapshot key after `from`).
struct Part {
    records: Vec<ProjectionRecord>,
    from: Vec<u8>,
    until: Option<Vec<u8>>,
}

/// Writes a part's records, and removes the snapshots in its range of members without events
/// (never written by the ledger; a range at a time, so that finding them reads the pages the
/// write reads anyway, never every snapshot at once).
fn write_part(
    store: &dyn EventStore,
    known: &BTreeSet<MemberId>,
    mut part: Part,
) -> Result<(), StoreError> {
    let [snapshots] = snapshot::snapshot_prefix();
    let until = part.until.unwrap_or_else(|| vec![snapshots + 1]);
    for key in store.projection_keys_in(&part.from, Some(&until))? {
        if snapshot::member_of_key(&key).is_none_or(|m| !known.contains(&m)) {
            part.records.push((key, None));
        }
    }
    store.write_projections(part.records)
}

/// Every member with events, and its state as the stored projections give it: what `verify`
/// compares with a replay. Snapshots of members without events are reported as corrupt.
pub fn checkpoints(store: &dyn EventStore) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
    let mut out = BTreeMap::new();
    for part in store.members()?.chunks(REBUILD_MEMBERS_PER_WRITE) {
        for state in stored_states(store, part)? {
            out.insert(state.member, state);
        }
    }
    for key in store.projection_keys(&snapshot::snapshot_prefix())? {
        let member = snapshot::member_of_key(&key);
        if member.is_none_or(|m| !out.contains_key(&m)) {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: format!("a snapshot of member {member:?} who has no events"),
            });
        }
    }
    Ok(out)
}

/// Folds the whole log in position order (events effective on or before `as_of`, when given)
/// into member states, checking each member's chain on the way and calling
/// `progress(done, total)` after each step. Writes nothing; holds every member's state.
pub fn replay_log(
    store: &dyn EventStore,
    as_of: Option<NaiveDate>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
    let head = settled_head(store)?;
    let mut states: BTreeMap<MemberId, MemberState> = BTreeMap::new();
    let mut walk = ChainWalk::new(store.positions_gapless()?);
    while walk.last().position < head.position {
        let chunk = store.read_from(walk.expected_position(), READ_CHUNK_EVENTS)?;
        let chunk: Vec<StoredEvent> = chunk
            .into_iter()
            .take_while(|e| e.position <= head.position)
            .collect();
        if chunk.is_empty() {
            break;
        }
        for stored in &chunk {
            walk.check(stored)?;
            let state = states
                .entry(stored.member)
                .or_insert_with(|| MemberState::new(stored.member));
            if as_of.is_none_or(|date| stored.effective_date <= date) {
                state.apply(&codec::decode(stored)?);
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

/// What was in force on a date, summed over every member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotalsAsOf {
    /// The date.
    pub date: NaiveDate,
    /// Members with events.
    pub members: usize,
    /// Members enrolled by the date.
    pub enrolled: usize,
    /// Their balances, summed.
    pub balance: crate::money::Money,
    /// Their contribution months (actual + deemed), summed.
    pub months: u64,
    /// Events folded (effective by the date or not).
    pub events: u64,
}

/// Members enrolled, balances and months in force on `date`, folding each member's events
/// (memory holds a few hundred members at a time). Writes nothing.
pub fn totals_as_of(
    store: &dyn EventStore,
    date: NaiveDate,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<TotalsAsOf, StoreError> {
    let total = settled_head(store)?.position;
    let members = store.members()?;
    let mut totals = TotalsAsOf {
        date,
        members: members.len(),
        enrolled: 0,
        balance: crate::money::Money::ZERO,
        months: 0,
        events: 0,
    };
    for part in members.chunks(REBUILD_MEMBERS_PER_WRITE) {
        let versions = store.member_versions(part)?;
        for (state, version) in fold_members(store, part, Some(date))?
            .into_iter()
            .zip(versions)
        {
            totals.events += version;
            if state.is_known() {
                totals.enrolled += 1;
                totals.balance += state.balance;
                totals.months += u64::from(state.months_total());
            }
        }
        progress(totals.events, total);
    }
    Ok(totals)
}
