//! Building a sled log from another log's events (`member-ledger migrate`).
//!
//! The copy writes sled's layout directly, without the writer thread: the target must hold no
//! event, and nothing else may open it until the copy returns (sled's own lock refuses a second
//! opener). Every record keeps its bytes, position, id, member version and hash; each link is
//! checked before it is written ([`ChainWalk`]), so a broken source is refused rather than
//! copied. A source whose positions skip (PostgreSQL after a failed transaction) keeps its
//! positions: the copy records that its positions may skip (`G`), and walks of it accept rising
//! positions.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use uuid::Uuid;

use super::keys::{
    chunk_key, encode_format, encode_head, encode_run, member_key, prefixed, run_key, MemberRecord,
    RUN_POSITIONS_MAX, TREE,
};
use super::open::{anchor_record, open_db, ANCHOR_FILE, CACHE_CAPACITY_BYTES};
use super::packing::{CHUNK_SEAL_RAW_BYTES, CHUNK_SEAL_RECORDS};
use crate::store::merkle::Frontier;
use crate::store::{
    chunk, ChainWalk, EventIds, EventStore, Head, IdempotencyRecord, StoreError, StoredEvent,
    SLED_VALUE_BYTES_MAX,
};

/// Events read from the source per step.
pub const IMPORT_CHUNK_EVENTS: usize = 4096;

/// A log to copy from: its events in position order, and its keys.
pub trait ImportSource {
    /// Whether its positions run 1, 2, 3… without a gap.
    fn positions_gapless(&self) -> Result<bool, StoreError>;
    /// How its event ids were made, when the target should make them the same way (ids that
    /// this does not give back a position for are indexed).
    fn event_ids(&self) -> Result<Option<EventIds>, StoreError>;
    /// Up to `limit` next events in position order; none at the end.
    fn next_events(&mut self, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// What it remembers of a key its events carry.
    fn key_record(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
}

/// Any event store as a source, read from its first position.
pub struct StoreSource<'a> {
    store: &'a dyn EventStore,
    next: u64,
}

impl<'a> StoreSource<'a> {
    /// Reads `store` from the start.
    pub fn new(store: &'a dyn EventStore) -> StoreSource<'a> {
        StoreSource { store, next: 1 }
    }
}

impl ImportSource for StoreSource<'_> {
    fn positions_gapless(&self) -> Result<bool, StoreError> {
        self.store.positions_gapless()
    }

    fn event_ids(&self) -> Result<Option<EventIds>, StoreError> {
        self.store.event_ids().map(Some)
    }

    fn next_events(&mut self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let events = self.store.read_from(self.next, limit)?;
        if let Some(last) = events.last() {
            self.next = last.position + 1;
        }
        Ok(events)
    }

    fn key_record(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store.idempotency(key)
    }
}

impl super::SledStore {
    /// Copies every event and idempotency record of `source` into a new sled log at `path`
    /// (which must hold no event), then flushes and fsyncs it. Returns the events copied.
    /// Projections are not copied: open the ledger and rebuild them.
    pub fn import(
        path: impl AsRef<Path>,
        source: &mut dyn ImportSource,
    ) -> Result<u64, StoreError> {
        let path = path.as_ref();
        let db = open_db(path, CACHE_CAPACITY_BYTES)?;
        let tree = db.open_tree(TREE)?;
        if !tree.is_empty() {
            return Err(StoreError::Unsupported(format!(
                "{} already holds a ledger: migrate into an empty ledger",
                path.display()
            )));
        }
        let ids = source
            .event_ids()?
            .unwrap_or_else(|| EventIds::new(Uuid::new_v4().as_u64_pair().0));
        let mut copy = Copy {
            tree: &tree,
            ids,
            walk: ChainWalk::new(source.positions_gapless()?),
            members: HashMap::new(),
            keys: HashSet::new(),
            skipped: false,
            frontier: Frontier::default(),
        };
        tree.insert(b"F", encode_format(ids.tag()))?;
        loop {
            let events = source.next_events(IMPORT_CHUNK_EVENTS)?;
            if events.is_empty() {
                break;
            }
            copy.write(&events, source)?;
        }
        let head = copy.walk.last();
        copy.finish()?;
        db.flush()?;
        File::open(path.join("db"))?.sync_all()?;
        std::fs::write(path.join(ANCHOR_FILE), anchor_record(&head))?;
        File::open(path.join(ANCHOR_FILE))?.sync_all()?;
        File::open(path)?.sync_all()?;
        Ok(head.position)
    }
}

/// A copy in progress: the walk that checks the source, and each member's runs so far.
struct Copy<'a> {
    tree: &'a sled::Tree,
    ids: EventIds,
    walk: ChainWalk,
    members: HashMap<Uuid, (u64, Vec<u64>)>,
    keys: HashSet<String>,
    skipped: bool,
    frontier: Frontier,
}

impl Copy<'_> {
    /// Checks and writes one step of events: chunks of consecutive positions, id index
    /// entries for ids made elsewhere, keys, and the runs that filled.
    fn write(
        &mut self,
        events: &[StoredEvent],
        source: &mut dyn ImportSource,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut run: Vec<&StoredEvent> = Vec::new();
        for event in events {
            let consecutive = event.position == self.walk.expected_position();
            self.skipped |= !consecutive;
            self.walk.check_source(event)?;
            let full = run.len() >= CHUNK_SEAL_RECORDS
                || run.iter().map(|e| e.record().len()).sum::<usize>() >= CHUNK_SEAL_RAW_BYTES;
            if !consecutive || full {
                put_chunks(&mut batch, &run);
                run.clear();
            }
            run.push(event);
            if !self.skipped {
                super::sealing::grow(&mut self.frontier, &mut batch, &event.hash());
            }
            if self.ids.position_of(event.event_id) != Some(event.position) {
                batch.insert(
                    prefixed(b'I', event.event_id.as_bytes()),
                    &event.position.to_be_bytes(),
                );
            }
            if let Some(key) = &event.idempotency_key {
                if self.keys.insert(key.clone()) {
                    let record = source.key_record(key)?.ok_or_else(|| StoreError::Corrupt {
                        position: event.position,
                        reason: format!("the source has no record of key '{key}'"),
                    })?;
                    batch.insert(prefixed(b'K', key.as_bytes()), record.encode());
                }
            }
            if !self.members.contains_key(&event.member) {
                let last = super::read::last_run(self.tree, event.member)?;
                self.members.insert(event.member, last);
            }
            let (first, positions) = self
                .members
                .get_mut(&event.member)
                .ok_or(StoreError::Closed)?;
            if positions.len() >= RUN_POSITIONS_MAX {
                batch.insert(&run_key(event.member, *first), encode_run(positions));
                *first = event.member_version;
                positions.clear();
            }
            positions.push(event.position);
        }
        put_chunks(&mut batch, &run);
        self.put_members(&mut batch);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Writes the open runs and records of the members this step touched, and forgets them
    /// (memory holds one step's members, not every member's positions).
    fn put_members(&mut self, batch: &mut sled::Batch) {
        for (member, (first, positions)) in std::mem::take(&mut self.members) {
            let Some((version, hash)) = self.walk.member_head(member) else {
                continue;
            };
            let Some(&last_position) = positions.last() else {
                continue;
            };
            batch.insert(&run_key(member, first), encode_run(&positions));
            let record = MemberRecord {
                version,
                hash,
                last_position,
            };
            batch.insert(&member_key(member), record.encode().as_slice());
        }
    }

    /// Writes the head and the flags.
    fn finish(self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let head: Head = self.walk.last();
        if head.position > 0 {
            let frontier = if self.skipped {
                &[][..]
            } else {
                self.frontier.nodes()
            };
            batch.insert(b"H", encode_head(head.position, &head.hash, frontier));
        }
        if self.skipped {
            batch.insert(b"G", b"");
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}

/// Packs consecutive events into chunks within the value bound.
fn put_chunks(batch: &mut sled::Batch, run: &[&StoredEvent]) {
    let mut rest = run;
    while let Some(first) = rest.first() {
        let mut count = rest.len();
        let bytes = loop {
            let records: Vec<&[u8]> = rest[..count].iter().map(|e| e.record()).collect();
            let bytes = chunk::encode(&records);
            if bytes.len() <= SLED_VALUE_BYTES_MAX || count == 1 {
                break bytes;
            }
            count /= 2;
        };
        batch.insert(&chunk_key(first.position), bytes);
        rest = &rest[count..];
    }
}
