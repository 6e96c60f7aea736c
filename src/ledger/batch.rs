//! A batch of commands sharing one flush: decided ahead in groups, sent to the writer one group
//! per message.
//!
//! Each command of a group is decided against the states the group's earlier commands leave,
//! and the group goes to the writer at once ([`PIPELINE_GROUP_COMMANDS`]). The writer still
//! checks every append's versions: a command whose members changed underneath (another writer)
//! is refused there and decided again on its own, as is every later command of the group that
//! read those members. Once storage fails, every command decided after the failure answers
//! `storage_error`: none of them was written, whatever the decision said.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::core::{Core, Refused};
use super::group::{Ahead, AppliedBatch, Carried, Group, Results, Unit};
use super::submit::{claim, recordable, rejection_request, wait, Durable};
use super::{Receipt, Submission, SubmitError};
use crate::domain::{decide, parse_command, Command, Context, MemberId, MemberState, Rejection};
use crate::store::{AppendOutcome, AppendRequest, GroupTicket, StoreError};

/// Commands of a batch decided ahead and sent to the writer in one message (one sled batch).
/// Groups of 2,048 instead of 512 cut the side-by-side `submit`'s CPU time by ≈ 5 % (fewer
/// sled batches, each rewriting the same tree nodes, and fewer hand-offs; BENCHMARKS.md).
/// Larger groups cut a little more, but a batch's first group is decided with the writer idle
/// and its last written with the deciding thread idle: the larger the group, the longer that.
pub const PIPELINE_GROUP_COMMANDS: usize = 2048;

/// A command line as parsed: the command and its key, or why it is refused.
type Parsed = Result<(Command, Option<String>), Rejection>;

/// The commands of a batch: JSON lines (each parsed as the batch reaches it, so a bad line is
/// that line's rejection) or typed submissions.
#[derive(Clone, Copy, Debug)]
pub enum BatchInput<'a> {
    /// JSON command lines, as `submit` reads them.
    Json(&'a [String]),
    /// Commands built in code.
    Typed(&'a [Submission]),
}

impl BatchInput<'_> {
    /// How many commands.
    fn len(&self) -> usize {
        match self {
            BatchInput::Json(lines) => lines.len(),
            BatchInput::Typed(submissions) => submissions.len(),
        }
    }

    /// Command `index` and its key, or why it is refused.
    fn parse(&self, index: usize) -> Parsed {
        match self {
            BatchInput::Json(lines) => parse_command(&lines[index]),
            BatchInput::Typed(submissions) => {
                let s = &submissions[index];
                Ok((s.command.clone(), s.key.clone()))
            }
        }
    }
}

/// A batch in progress: its commands, their results, the durability answers still to await, the
/// keyed rejections it recorded, and the group sent but not yet answered.
struct Run<'a> {
    items: BatchInput<'a>,
    actor: Option<String>,
    results: Results,
    pending: Vec<Durable>,
    recorded: Vec<usize>,
    inflight: Option<InFlight>,
}

/// A group sent to the writer: what each append was, and the answer to wait for.
struct InFlight {
    metas: Vec<(usize, Vec<MemberId>, Option<Rejection>)>,
    rejected: Vec<(usize, Vec<MemberId>)>,
    ticket: GroupTicket,
}

impl Core {
    /// Submits commands in order, sharing one flush: each result is as if submitted
    /// alone, and all are durable when this returns (a storage failure turns every result that
    /// depended on it into that error, since none was acknowledged).
    ///
    /// Deciding and writing overlap: while the writer applies one group, the next is decided
    /// on the states the first leaves. When the writer refuses an append of the first (another
    /// writer moved a member), the next group's commands that read that member are decided
    /// again, alone, in order.
    pub fn submit_batch(
        &self,
        items: BatchInput<'_>,
        actor: Option<String>,
    ) -> Vec<Result<Receipt, SubmitError>> {
        let applied = self.submit_batch_applied(items, actor);
        self.finish_batch(applied)
    }

    /// [`Core::submit_batch`] up to its flush: every command decided and applied, the flush
    /// asked for but not awaited. The results are answers only once [`Core::finish_batch`]
    /// has waited for it; meanwhile the next batch may be decided on the states this one
    /// leaves (the writer makes it durable after this one, or not at all).
    pub fn submit_batch_applied(
        &self,
        items: BatchInput<'_>,
        actor: Option<String>,
    ) -> AppliedBatch {
        let mut run = Run {
            items,
            actor,
            results: (0..items.len()).map(|_| None).collect(),
            pending: Vec::new(),
            recorded: Vec::new(),
            inflight: None,
        };
        let mut next = 0;
        let mut carried = Carried::default();
        let failed = loop {
            if next >= items.len() {
                break self.collect_last(&mut run, carried).err();
            }
            match self.batch_step(&mut run, next, carried) {
                Ok((end, left)) => {
                    next = end;
                    carried = left;
                }
                Err(why) => break Some(why),
            }
        };
        if let Some(why) = failed {
            for result in run.results.iter_mut() {
                if result.is_none() {
                    fill_failed(result, &why);
                }
            }
            for result in run.results.iter_mut().skip(next) {
                fill_failed(result, &why);
            }
            self.forget();
        }
        self.applied_batch(run.results, run.pending, run.recorded)
    }

    /// Decides one group from `next` on against the states `carried` leaves, answers the group
    /// in flight, and sends this one (or runs a command that must go alone). Returns where the
    /// next step starts and what this group leaves the next; `Err` is a storage failure.
    fn batch_step(
        &self,
        run: &mut Run<'_>,
        next: usize,
        carried: Carried,
    ) -> Result<(usize, Carried), String> {
        let (mut group, end) = self.decide_group(run, next, carried)?;
        let mut redo = Vec::new();
        let tainted = match run.inflight.take() {
            Some(flight) => self.collect(run, flight, &mut redo)?,
            None => BTreeSet::new(),
        };
        redo.extend(group.drop_tainted(&tainted, &mut run.results));
        let alone_next =
            end < run.items.len() && end < next + PIPELINE_GROUP_COMMANDS && group.stopped;
        let Group {
            units,
            rejected,
            states,
            keys,
            snapshots_due,
            ..
        } = group;
        let mut carried = Carried { states, keys };
        if !units.is_empty() {
            run.inflight = Some(self.send(units, rejected, &carried.states, &snapshots_due));
        }
        if redo.is_empty() && !alone_next {
            return Ok((end, carried));
        }
        // A rarer path: some commands are decided again (or one must go alone) against the
        // log, so the group in flight is answered first and nothing is carried on.
        carried = Carried::default();
        if let Some(flight) = run.inflight.take() {
            let tainted = self.collect(run, flight, &mut redo)?;
            debug_assert!(tainted.is_empty() || !redo.is_empty());
        }
        redo.sort_unstable();
        redo.dedup();
        for index in redo {
            self.alone(run, index)?;
        }
        if alone_next {
            self.alone(run, end)?;
            return Ok((end + 1, carried));
        }
        Ok((end, carried))
    }

    /// Decides the commands from `next` on, up to a group's size or a command that must go
    /// alone, against the carried states.
    fn decide_group(
        &self,
        run: &mut Run<'_>,
        next: usize,
        carried: Carried,
    ) -> Result<(Group, usize), String> {
        let ahead = (next + PIPELINE_GROUP_COMMANDS).min(run.items.len());
        let mut parsed: Vec<Option<Parsed>> =
            (next..ahead).map(|i| Some(run.items.parse(i))).collect();
        // Sized for the whole group at once: grown by doubling, the units were copied again
        // and again into freshly zeroed pages (2.1 % of `submit`'s samples).
        let mut group = Group {
            units: Vec::with_capacity(ahead - next),
            states: carried.states,
            keys: carried.keys,
            ..Group::default()
        };
        self.prefetch(&parsed, &mut group);
        let mut end = next;
        while end < ahead {
            let Some(line) = parsed.get_mut(end - next).and_then(Option::take) else {
                break;
            };
            match line {
                Err(rejection) => run.results[end] = Some(Err(rejection.into())),
                Ok((command, key)) => {
                    match self.decide_ahead(&command, key, &run.actor, &mut group) {
                        Ok(Ahead::Unit(unit)) => group.units.push((end, *unit)),
                        Ok(Ahead::Rejected(read, rejection)) => {
                            group.rejected.push((end, read));
                            run.results[end] = Some(Err(rejection.into()));
                        }
                        Ok(Ahead::Alone) => {
                            group.stopped = true;
                            break;
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            end += 1;
        }
        Ok((group, end))
    }

    /// Sends a group's appends to the writer.
    fn send(
        &self,
        units: Vec<(usize, Unit)>,
        rejected: Vec<(usize, Vec<MemberId>)>,
        states: &BTreeMap<MemberId, MemberState>,
        snapshots_due: &BTreeSet<MemberId>,
    ) -> InFlight {
        let mut metas = Vec::with_capacity(units.len());
        let mut requests = Vec::with_capacity(units.len());
        for (index, unit) in units {
            metas.push((index, unit.read, unit.refusal));
            requests.push(unit.request);
        }
        attach_snapshots(&mut requests, states, snapshots_due);
        InFlight {
            metas,
            rejected,
            ticket: self.store.append_group(requests),
        }
    }

    /// Records the answers of a group in flight (on a storage failure, clears every answer the
    /// group decided, for the failure to take their place). Returns the members its refused appends read
    /// (tainted: what was decided on them since is decided again), and adds those commands, and
    /// the group's own commands refused ahead on them, to `redo`.
    fn collect(
        &self,
        run: &mut Run<'_>,
        flight: InFlight,
        redo: &mut Vec<usize>,
    ) -> Result<BTreeSet<MemberId>, String> {
        let decided: Vec<usize> = flight
            .metas
            .iter()
            .map(|(index, ..)| *index)
            .chain(flight.rejected.iter().map(|(index, _)| *index))
            .collect();
        let answered = self.collect_answers(run, flight, redo);
        if answered.is_err() {
            // Nothing the group decided was written: refusals decided against its states are
            // no answer either; the failure answers them all.
            for index in decided {
                run.results[index] = None;
            }
        }
        answered
    }

    fn collect_answers(
        &self,
        run: &mut Run<'_>,
        flight: InFlight,
        redo: &mut Vec<usize>,
    ) -> Result<BTreeSet<MemberId>, String> {
        let outcomes = flight
            .ticket
            .applied
            .blocking_recv()
            .map_err(|_| StoreError::Closed.to_string())?;
        let mut tainted: BTreeSet<MemberId> = BTreeSet::new();
        for ((index, read, refusal), outcome) in flight.metas.into_iter().zip(outcomes) {
            match (outcome.map_err(|e| e.to_string())?, refusal) {
                (AppendOutcome::Committed(_), Some(rejection)) => {
                    run.recorded.push(index);
                    run.results[index] = Some(Err(rejection.into()));
                }
                (AppendOutcome::Committed(events), None) => {
                    let position = events.last().map_or(0, |e| e.position);
                    run.results[index] = Some(Ok(Receipt { position, events }));
                }
                (AppendOutcome::Invalid(why), _) => {
                    tainted.extend(read);
                    run.results[index] = Some(Err(Rejection::invalid(why).into()));
                }
                _ => {
                    tainted.extend(read);
                    redo.push(index);
                }
            }
        }
        for (index, read) in flight.rejected {
            if read.iter().any(|m| tainted.contains(m)) {
                run.results[index] = None;
                redo.push(index);
            }
        }
        run.pending.push(flight.ticket.durable);
        Ok(tainted)
    }

    /// Answers the last group in flight and keeps the states it leaves for the next commands.
    fn collect_last(&self, run: &mut Run<'_>, mut carried: Carried) -> Result<(), String> {
        let mut redo = Vec::new();
        if let Some(flight) = run.inflight.take() {
            let tainted = self.collect(run, flight, &mut redo)?;
            carried.states.retain(|m, _| !tainted.contains(m));
        }
        self.remember(carried.states);
        redo.sort_unstable();
        for index in redo {
            self.alone(run, index)?;
        }
        Ok(())
    }

    /// Submits line `index` on its own (not waiting for its flush); `Err` is a storage failure.
    fn alone(&self, run: &mut Run<'_>, index: usize) -> Result<(), String> {
        let outcome = match run.items.parse(index) {
            Ok((command, key)) => self.submit_one(&command, key, run.actor.clone(), false),
            Err(rejection) => Err(rejection.into()),
        };
        if let Err(SubmitError::Storage(e)) = &outcome {
            return Err(e.to_string());
        }
        run.results[index] = Some(outcome.map(|(receipt, durable)| {
            run.pending.extend(durable);
            receipt
        }));
        Ok(())
    }

    /// A batch's results with its flush asked for (when it wrote anything).
    fn applied_batch(
        &self,
        results: Results,
        pending: Vec<Durable>,
        recorded: Vec<usize>,
    ) -> AppliedBatch {
        let results: Vec<Result<Receipt, SubmitError>> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Closed.into())))
            .collect();
        let wrote = results.iter().any(Result::is_ok) || !recorded.is_empty();
        AppliedBatch {
            results,
            pending,
            recorded,
            flush: wrote.then(|| self.store.sync()),
        }
    }

    /// Waits for an applied batch's flush (on this, a blocking, thread); every answer is
    /// durable, or becomes the failure.
    pub fn finish_batch(&self, applied: AppliedBatch) -> Vec<Result<Receipt, SubmitError>> {
        let AppliedBatch {
            results,
            pending,
            recorded,
            flush,
        } = applied;
        let mut synced = flush.map_or(Ok(()), wait);
        for durable in pending {
            if let Err(e) = wait(durable) {
                synced = synced.and(Err(e));
            }
        }
        let Err(e) = synced else {
            return results;
        };
        self.forget();
        let why = e.to_string();
        let recorded: HashSet<usize> = recorded.into_iter().collect();
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| match r {
                Ok(_) => Err(StoreError::Poisoned(why.clone()).into()),
                Err(_) if recorded.contains(&i) => Err(StoreError::Poisoned(why.clone()).into()),
                other => other,
            })
            .collect()
    }

    /// Decides one command of a batch against the group's pending states.
    fn decide_ahead(
        &self,
        command: &Command,
        key: Option<String>,
        actor: &Option<String>,
        group: &mut Group,
    ) -> Result<Ahead, StoreError> {
        // An annual statement's figures come from the members' events, read when it is decided
        // alone (`submit_one`).
        let alone = matches!(
            command,
            Command::Reverse { .. }
                | Command::CreditRetireeAllocation { member: None, .. }
                | Command::CreditInterest { member: None, .. }
                | Command::IssueStatement { .. }
        );
        if alone {
            return Ok(Ahead::Alone);
        }
        if let Err(rejection) = super::core::check_inputs(command, key.as_deref()) {
            return Ok(Ahead::Rejected(Vec::new(), rejection));
        }
        if let Some(key) = &key {
            let stored = !group.absent_keys.contains(key) && self.store.idempotency(key)?.is_some();
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
        let expected: Vec<(MemberId, u64)> = states.iter().map(|(m, s)| (*m, s.version)).collect();
        let ctx = Context {
            states: &states,
            policies: &self.policies,
            target: None,
            seals: None,
        };
        let claim = claim(command, key);
        let refused = match decide(&ctx, command) {
            Ok(decision) if decision.is_empty() => {
                group.states.extend(states);
                return Ok(Ahead::Alone);
            }
            Ok(decision) => match self.prepare(
                states,
                decision,
                claim.clone(),
                false,
                Some(&mut group.snapshots_due),
            ) {
                Ok(prepared) => {
                    if let Some(claim) = &claim {
                        group.keys.insert(claim.key.clone());
                    }
                    group.states.extend(prepared.states);
                    let request = AppendRequest {
                        actor: actor.clone(),
                        ..prepared.request
                    };
                    return Ok(Ahead::Unit(Box::new(Unit {
                        request,
                        read,
                        refusal: None,
                    })));
                }
                Err(refused) => refused,
            },
            Err(rejection) => Refused {
                rejection,
                expected,
                states,
            },
        };
        group.states.extend(refused.states);
        match claim.filter(|_| recordable(&refused.rejection)) {
            Some(claim) => {
                group.keys.insert(claim.key.clone());
                let request = rejection_request(
                    claim,
                    refused.expected,
                    &refused.rejection,
                    actor.clone(),
                    false,
                );
                Ok(Ahead::Unit(Box::new(Unit {
                    request,
                    read,
                    refusal: Some(refused.rejection),
                })))
            }
            None => Ok(Ahead::Rejected(read, refused.rejection)),
        }
    }

    /// Reads ahead, in a few store reads, the members' states and the keys that the next
    /// commands of a batch will need, into the group. A failure here is not reported: each
    /// command then reads for itself (and meets it).
    fn prefetch(&self, parsed: &[Option<Parsed>], group: &mut Group) {
        let mut members = BTreeSet::new();
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
        if let Ok(records) = self.store.idempotency_many(&keys) {
            group.absent_keys.extend(
                keys.into_iter()
                    .zip(records)
                    .filter(|(_, record)| record.is_none())
                    .map(|(key, _)| key),
            );
        }
    }
}

/// Puts the snapshot of each member due one, in its state after the group, into the group's
/// last append that writes the member (so it is written atomically with the events it covers).
fn attach_snapshots(
    requests: &mut [AppendRequest],
    states: &BTreeMap<MemberId, MemberState>,
    due: &BTreeSet<MemberId>,
) {
    for member in due {
        let last = requests
            .iter_mut()
            .rev()
            .find(|r| r.events.iter().any(|e| e.member == *member));
        if let (Some(request), Some(state)) = (last, states.get(member)) {
            request
                .projections
                .extend(super::core::snapshot_record(state));
        }
    }
}

/// A slot's answer once storage failed: decided results become the failure; an input error
/// found before any decision stays (it never depended on storage).
fn fill_failed(result: &mut Option<Result<Receipt, SubmitError>>, why: &str) {
    let keep = matches!(result, Some(Err(SubmitError::Rejected(r))) if r.code == crate::domain::ErrorCode::InvalidInput);
    if !keep {
        *result = Some(Err(StoreError::Poisoned(why.to_string()).into()));
    }
}
