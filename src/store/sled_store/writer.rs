//! The writer thread: the only code that writes the sled log.
//!
//! It checks each append with [`crate::store::append_rules`], assigns positions (gapless by
//! construction: one writer), packs the records into chunks, and applies everything an append
//! writes in one sled batch, so that versions cannot race and an append is all or nothing.
//! Durability is group commit: one `flush` plus an `fsync` of the data file for every group of
//! appends drained while the previous flush ran (sled 0.34's flush uses `sync_file_range`,
//! which is not a full fsync). Only then do readers see the events ([`Shared`]).

use std::collections::HashMap;
use std::fs::File;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::faults::FaultPlan;
use super::keys::{
    encode_head, encode_run, member_key, prefixed, MemberRecord, RUN_POSITIONS_MAX,
    SLED_VALUE_BYTES_MAX,
};
use super::open::write_anchor;
use super::packing::Tail;
use super::read;
use super::sealing::{grow, Seal};
use super::shared::Shared;
use crate::store::append_rules::{GroupRules, LogView, MemberHead, NEW_MEMBER};
use crate::store::{AppendOutcome, AppendRequest, EventIds, Head, IdempotencyRecord, StoreError};

/// Requests waiting for the writer; submitters block (backpressure) beyond this.
pub const WRITER_QUEUE_DEPTH: usize = 4096;
/// Most appends one flush covers.
pub const GROUP_COMMIT_APPENDS_MAX: usize = 1024;
/// How long an append that asked for no immediate flush may wait for one (a batch asks for its
/// flush when it ends; this only bounds how long an abandoned batch stays unflushed).
pub const DEFERRED_FLUSH_MS: u64 = 250;
/// Members whose heads and open runs the writer keeps in memory (emptied when full).
pub const WRITER_MEMBERS_CACHED: usize = 16_384;

const _: () = assert!(GROUP_COMMIT_APPENDS_MAX <= WRITER_QUEUE_DEPTH);
const _: () = assert!(crate::store::record::RECORD_BYTES_MAX + 32 <= SLED_VALUE_BYTES_MAX);

/// A message to the writer.
pub enum Message {
    /// One append: its outcome once applied, then its durability.
    Append(Box<AppendRequest>, AppliedAck, DurableAck),
    /// Appends applied in order as one group.
    AppendGroup(Vec<AppendRequest>, GroupAck, DurableAck),
    /// Answer once everything applied so far is durable.
    Sync(DurableAck),
    /// Sign a checkpoint of everything applied, once durable; answer with its text.
    Seal(std::sync::mpsc::SyncSender<Result<Option<String>, StoreError>>),
    /// Flush and stop.
    Shutdown,
}

type AppliedAck = oneshot::Sender<Result<AppendOutcome, StoreError>>;
type GroupAck = oneshot::Sender<Vec<Result<AppendOutcome, StoreError>>>;
/// The answer once an append is on disk.
pub type DurableAck = oneshot::Sender<Result<(), StoreError>>;

/// A member as the writer knows it: its record and its open run of positions.
#[derive(Clone, Debug)]
struct MemberEntry {
    record: MemberRecord,
    run_first: u64,
    run: Vec<u64>,
}

/// The writer thread's state.
pub struct Writer {
    pub(super) db: sled::Db,
    pub(super) tree: sled::Tree,
    pub(super) data_file: File,
    pub(super) head: Head,
    pub(super) ids: EventIds,
    pub(super) tail: Tail,
    pub(super) shared: Arc<Shared>,
    pub(super) fsync: bool,
    pub(super) anchor: File,
    pub(super) faults: Option<Arc<FaultPlan>>,
    pub(super) seal: Seal,
    pub(super) sealed_at: std::time::Instant,
    members: HashMap<Uuid, MemberEntry>,
    /// Whether something may be applied that no flush and fsync has covered yet. True at open:
    /// what an earlier process applied may still sit in the page cache only.
    pub(super) dirty: bool,
    pub(super) poisoned: Option<String>,
    anchored: Option<Head>,
}

impl Writer {
    /// A writer continuing the log at `head`, with its open chunk.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: sled::Db,
        tree: sled::Tree,
        data_file: File,
        head: Head,
        ids: EventIds,
        tail: Tail,
        shared: Arc<Shared>,
        fsync: bool,
        anchor: File,
        faults: Option<Arc<FaultPlan>>,
        seal: Seal,
    ) -> Writer {
        Writer {
            seal,
            sealed_at: std::time::Instant::now(),
            db,
            tree,
            data_file,
            head,
            ids,
            tail,
            shared,
            fsync,
            anchor,
            faults,
            members: HashMap::new(),
            dirty: true,
            poisoned: None,
            anchored: None,
        }
    }

    /// Serves messages until shutdown or until every sender is gone.
    pub fn run(mut self, rx: mpsc::Receiver<Message>) {
        let mut waiting: Vec<DurableAck> = Vec::new();
        let mut flush_now = false;
        loop {
            let message = if waiting.is_empty() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else if flush_now {
                rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(Duration::from_millis(DEFERRED_FLUSH_MS))
            };
            match message {
                Ok(Message::Append(request, applied, durable)) => {
                    flush_now |= request.sync;
                    let result = self.apply_group(vec![*request]).pop();
                    let result = result.unwrap_or(Err(StoreError::Closed));
                    let failed = result.is_err();
                    let _ = applied.send(result);
                    if self.await_flush(failed, durable, &mut waiting) {
                        flush_now = false;
                    }
                }
                Ok(Message::AppendGroup(requests, applied, durable)) => {
                    flush_now |= requests.iter().any(|r| r.sync);
                    let results = self.apply_group(requests);
                    let failed = results.iter().any(Result::is_err);
                    let _ = applied.send(results);
                    if self.await_flush(failed, durable, &mut waiting) {
                        flush_now = false;
                    }
                }
                Ok(Message::Sync(ack)) => {
                    waiting.push(ack);
                    flush_now = true;
                }
                Ok(Message::Seal(ack)) => {
                    let _ = ack.send(self.seal_now(&mut waiting));
                    flush_now = false;
                }
                Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    // A last checkpoint of everything written, so that a restored copy of the
                    // directory is found out by any witness that took it.
                    if self.poisoned.is_none() && self.seal.frontier.size() > self.seal.sealed_size
                    {
                        let _ = self.seal_now(&mut waiting);
                    }
                    self.flush(&mut waiting);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.flush(&mut waiting);
                    flush_now = false;
                }
            }
        }
    }

    /// Queues an applied append's durability answer (or refuses it after a failure), flushing
    /// when the group is full; returns whether it flushed.
    fn await_flush(
        &mut self,
        failed: bool,
        durable: DurableAck,
        waiting: &mut Vec<DurableAck>,
    ) -> bool {
        if failed {
            let why = self.poisoned.clone().unwrap_or_default();
            let _ = durable.send(Err(StoreError::Poisoned(why)));
        } else {
            waiting.push(durable);
        }
        if waiting.len() < GROUP_COMMIT_APPENDS_MAX {
            return false;
        }
        self.flush(waiting);
        true
    }

    /// One flush and fsync for every waiting append: group commit.
    pub(super) fn flush(&mut self, waiting: &mut Vec<DurableAck>) {
        if waiting.is_empty() {
            return;
        }
        let result = match &self.poisoned {
            Some(why) => Err(StoreError::Poisoned(why.clone())),
            // Everything applied is on disk already (a repeated key asks for a sync to answer
            // as if its first append were durable; it is).
            None if !self.dirty => Ok(()),
            None => self.flush_and_sync(),
        };
        match &result {
            Ok(()) => {
                self.dirty = false;
                self.shared.publish(self.head);
            }
            Err(e) => {
                self.poisoned.get_or_insert_with(|| e.to_string());
            }
        }
        let why = self.poisoned.clone().unwrap_or_default();
        for ack in waiting.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(_) => Err(StoreError::Poisoned(why.clone())),
            };
            let _ = ack.send(answer);
        }
    }

    fn flush_and_sync(&mut self) -> Result<(), StoreError> {
        let events = self
            .head
            .position
            .saturating_sub(self.shared.durable_position());
        let flush = crate::observe::Flush::start("sled");
        let result = self.write_out();
        flush.finish(
            result
                .as_ref()
                .map(|()| events)
                .map_err(|e| e as &dyn std::fmt::Display),
        );
        result
    }

    fn write_out(&mut self) -> Result<(), StoreError> {
        if self.seal_due() {
            self.write_checkpoint()?;
        }
        if let Some(faults) = &self.faults {
            faults.before_flush()?;
        }
        self.db.flush()?;
        if self.fsync {
            if let Some(faults) = &self.faults {
                faults.before_fsync()?;
            }
            self.data_file.sync_all()?;
        }
        if self.anchored != Some(self.head) {
            write_anchor(&self.anchor, &self.head)?;
            self.anchored = Some(self.head);
        }
        Ok(())
    }

    /// A group's appends in one sled batch: each is checked as if applied alone, in order,
    /// against the log and the group's earlier appends; the accepted ones are written together.
    /// A failed write fails them all and poisons the store.
    fn apply_group(
        &mut self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, StoreError>> {
        if let Some(why) = &self.poisoned {
            return requests
                .iter()
                .map(|_| Err(StoreError::Poisoned(why.clone())))
                .collect();
        }
        let count = requests.len();
        match self.try_apply_group(&requests) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) => {
                // The first append gets the failure itself (an I/O error keeps its kind), the
                // rest the refusal that follows it.
                let why = e.to_string();
                self.poisoned = Some(why.clone());
                std::iter::once(Err(e))
                    .chain((1..count).map(|_| Err(StoreError::Poisoned(why.clone()))))
                    .collect()
            }
        }
    }

    fn try_apply_group(
        &mut self,
        requests: &[AppendRequest],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        if self.members.len() > WRITER_MEMBERS_CACHED {
            self.members.clear();
        }
        let mut batch = sled::Batch::default();
        let mut rules = GroupRules::new();
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut next = self.head.position + 1;
        let recorded_at_ms = chrono::Utc::now().timestamp_millis();
        for request in requests {
            let mut log = Log {
                tree: &self.tree,
                members: &mut self.members,
            };
            if let Some(refused) = rules.check(&mut log, request)? {
                outcomes.push(refused);
                continue;
            }
            let mut positions = next..;
            let accepted =
                rules.accept(&mut log, request, &mut positions, recorded_at_ms, &self.ids)?;
            next += accepted.events.len() as u64;
            if let Some((key, record)) = &accepted.key_record {
                batch.insert(prefixed(b'K', key.as_bytes()), record.encode());
            }
            self.write_projections(&mut batch, &request.projections)?;
            outcomes.push(AppendOutcome::Committed(accepted.events));
        }
        let frontier_before = self.seal.frontier.clone();
        let written = match self.place_events(&mut batch, &outcomes) {
            Ok(written) => written,
            Err(e) => {
                self.seal.frontier = frontier_before;
                return Err(e);
            }
        };
        if let Some(last) = written {
            let head = encode_head(last.position, &last.hash, self.seal.frontier.nodes());
            batch.insert(b"H", head);
        }
        if let Some(faults) = &self.faults {
            faults.before_batch()?;
        }
        self.tree.apply_batch(batch)?;
        if let Some(last) = written {
            assert_eq!(last.position + 1, next, "positions are gapless");
            self.head = last;
            self.shared.record_applied(last.position);
        }
        self.dirty |= outcomes
            .iter()
            .any(|o| matches!(o, AppendOutcome::Committed(_)));
        Ok(outcomes)
    }

    /// Puts the group's committed events into chunks and the members' records and runs;
    /// returns the new head, when anything was appended.
    fn place_events(
        &mut self,
        batch: &mut sled::Batch,
        outcomes: &[AppendOutcome],
    ) -> Result<Option<Head>, StoreError> {
        let mut last = None;
        let mut touched: Vec<Uuid> = Vec::new();
        let mut expected = self.head.position + 1;
        for outcome in outcomes {
            let AppendOutcome::Committed(events) = outcome else {
                continue;
            };
            for event in events {
                assert_eq!(event.position, expected, "positions are gapless");
                expected += 1;
                let entry = load_member(&self.tree, &mut self.members, event.member)?;
                if entry.run.len() >= RUN_POSITIONS_MAX {
                    batch.insert(
                        &super::keys::run_key(event.member, entry.run_first),
                        encode_run(&entry.run),
                    );
                    entry.run_first = event.member_version;
                    entry.run.clear();
                }
                entry.run.push(event.position);
                entry.record = MemberRecord {
                    version: event.member_version,
                    hash: event.hash(),
                    last_position: event.position,
                };
                touched.push(event.member);
                self.grow_tree(batch, &event.hash());
                self.tail.records.push(event.record().to_vec());
                last = Some(Head {
                    position: event.position,
                    hash: event.hash(),
                });
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for member in touched {
            if let Some(entry) = self.members.get(&member) {
                batch.insert(&member_key(member), entry.record.encode().as_slice());
                batch.insert(
                    &super::keys::run_key(member, entry.run_first),
                    encode_run(&entry.run),
                );
            }
        }
        if last.is_some() {
            self.tail.pack_into(batch);
        }
        Ok(last)
    }

    /// Adds an event to the Merkle tree; stores the subtrees it completes at every eighth level.
    fn grow_tree(&mut self, batch: &mut sled::Batch, event_hash: &[u8; 32]) {
        if !self.seal.keeps_tree {
            return;
        }
        grow(&mut self.seal.frontier, batch, event_hash);
    }

    /// Writes projection records, splitting long ones into pieces within the value bound.
    fn write_projections(
        &self,
        batch: &mut sled::Batch,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        super::projection_records::write(&self.tree, batch, records)
    }
}

/// The log as the append rules read it during a group: member heads from the writer's memory
/// or the `V` record, keys from the `K` records.
struct Log<'a> {
    tree: &'a sled::Tree,
    members: &'a mut HashMap<Uuid, MemberEntry>,
}

impl LogView for Log<'_> {
    fn member_head(&mut self, member: Uuid) -> Result<MemberHead, StoreError> {
        let entry = load_member(self.tree, self.members, member)?;
        Ok((entry.record.version, entry.record.hash))
    }

    fn key_record(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        read::key_record(self.tree, key)
    }
}

/// The writer's entry for a member, read from the log the first time.
fn load_member<'a>(
    tree: &sled::Tree,
    members: &'a mut HashMap<Uuid, MemberEntry>,
    member: Uuid,
) -> Result<&'a mut MemberEntry, StoreError> {
    use std::collections::hash_map::Entry;
    match members.entry(member) {
        Entry::Occupied(entry) => Ok(entry.into_mut()),
        Entry::Vacant(slot) => {
            let loaded = match tree.get(member_key(member))? {
                Some(bytes) => {
                    let record = MemberRecord::decode(&bytes)?;
                    let (run_first, run) = read::last_run(tree, member)?;
                    MemberEntry {
                        record,
                        run_first,
                        run,
                    }
                }
                None => MemberEntry {
                    record: MemberRecord {
                        version: NEW_MEMBER.0,
                        hash: NEW_MEMBER.1,
                        last_position: 0,
                    },
                    run_first: 1,
                    run: Vec::new(),
                },
            };
            Ok(slot.insert(loaded))
        }
    }
}
