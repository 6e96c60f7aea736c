//! The embedded backend: one sled tree, binary records packed into chunks, one writer thread,
//! group commit.
//!
//! - Layout: [`keys`] (every key family and why each value stays small).
//! - Writes: [`writer`] (the append rules applied, chunks packed, one batch per group, one
//!   flush and fsync per group of groups).
//! - Reads: [`read`] (chunks by position through a small cache, a member's events through its
//!   runs of positions).
//! - Opening: [`open`] (half-written sled snapshots removed, a held lock and a panic inside sled
//!   turned into typed errors, the `durable-head` anchor) and [`head`] (the format record, head,
//!   frontier and open chunk checked against each other and the anchor).
//!
//! Readers see only durable events: [`EventStore::head`], [`EventStore::read_from`],
//! [`EventStore::read_member`] and [`EventStore::event_at`] stop at the last position the writer
//! flushed and fsynced. The reads a decision makes (versions, a member's tail, keys,
//! projections) see every applied append: a decision on top of an append not yet durable is
//! itself acknowledged only after that append is.
//!
//! Beside sled's files, `durable-head` holds the last head known durable, rewritten after every
//! flush and fsync. sled recovers a truncated or damaged log by cutting it at the damage, which
//! would silently forget acknowledged events; the anchor makes that loss an error at open.

mod faults;
mod head;
mod import;
mod keys;
mod legacy;
mod open;
mod packing;
mod projection_records;
mod read;
mod sealing;
mod shared;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};
use uuid::Uuid;

pub use faults::FaultPlan;
pub use import::{ImportSource, StoreSource};
pub use keys::SLED_VALUE_BYTES_MAX;
pub use legacy::{LegacyEvent, LegacyLog};
pub use open::ANCHOR_FILE;

use self::head::{check_log, read_head, Opened};
use self::keys::{
    be_u64, chunk_key, member_key, prefixed, tile_key, MemberRecord, TILE_LEVEL_STEP,
};
use self::open::CACHE_CAPACITY_BYTES;
use self::read::Chunks;
use self::sealing::Seal;
use self::shared::Shared;
use self::writer::{Message, Writer, WRITER_QUEUE_DEPTH};
use super::merkle::{leaf_hash, Hash, NodeSource};
use super::seal::Signer;
use super::{
    chunk, AppendRequest, AppendTicket, EventIds, EventStore, GroupTicket, Head, IdempotencyRecord,
    StoreError, StoredEvent, GENESIS_HASH,
};

/// Options of a sled store, passed explicitly rather than taken from sled's defaults.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, bytes.
    pub cache_capacity_bytes: u64,
    /// Whether to fsync the data file after each flush (true in production; tests of other things
    /// may turn it off for speed, never a durability test).
    pub fsync: bool,
    /// The key checkpoints of the log are signed with (none: no checkpoint is written).
    pub signer: Option<Signer>,
    /// Faults to inject at the storage boundary (tests only; `None` in production).
    #[doc(hidden)]
    pub faults: Option<Arc<FaultPlan>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity_bytes: CACHE_CAPACITY_BYTES,
            fsync: true,
            signer: None,
            faults: None,
        }
    }
}

/// The size of the latest checkpoint stored (0: none).
fn read_latest_size(tree: &sled::Tree) -> Result<u64, StoreError> {
    match tree.scan_prefix(b"W").next_back() {
        Some(item) => be_u64(&item?.0[1..], "checkpoint key"),
        None => Ok(0),
    }
}

/// The sled event store. Cheap to share behind an `Arc`; dropping the last handle stops the
/// writer after it has flushed.
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    ids: EventIds,
    gapless: bool,
    fsync: bool,
    shared: Arc<Shared>,
    chunks: Chunks,
    notes: Vec<String>,
    tx: SyncSender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .field("durable", &self.shared.durable_position())
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store with explicit options. Checks that the head record, the
    /// last chunk and the anchor agree, so a damaged log is reported at open rather than served.
    /// Takes the same time whatever the log's length (sled's own recovery aside).
    pub fn open_with(
        path: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<SledStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let removed = open::remove_incomplete_snapshots(&path)?;
        let db = open::open_db(&path, options.cache_capacity_bytes)?;
        let Opened {
            tree,
            ids,
            head,
            frontier,
            tail,
            gapless,
        } = open::guarded(&path, || check_log(&db, &path))?;
        let data_file = File::open(path.join("db"))?;
        if options.fsync {
            // The directory entries of a new database must survive a crash too.
            File::open(&path)?.sync_all()?;
        }
        let shared = Arc::new(Shared::new(head));
        let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE_DEPTH);
        let seal = Seal {
            frontier,
            signer: options.signer,
            origin: format!("{:016x}", ids.tag()),
            sealed_size: read_latest_size(&tree)?,
            keeps_tree: gapless,
        };
        let writer = Writer::new(
            db.clone(),
            tree.clone(),
            data_file,
            head,
            ids,
            tail,
            Arc::clone(&shared),
            options.fsync,
            open::open_anchor(&path)?,
            options.faults,
            seal,
        );
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))?;
        let notes = removed
            .iter()
            .map(|p| {
                format!(
                    "removed a half-written sled snapshot ({}) before opening",
                    p.display()
                )
            })
            .collect();
        Ok(SledStore {
            db,
            tree,
            path,
            ids,
            gapless,
            fsync: options.fsync,
            shared,
            chunks: Chunks::default(),
            notes,
            tx,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Has sled write the snapshot of its page table for the database in `path` (not open
    /// elsewhere), so that the next open reads that snapshot instead of the log.
    ///
    /// sled 0.34 writes the snapshot only while it opens, after reading every log segment
    /// written since the previous one (`pagecache/snapshot.rs`): the first open after a process
    /// that wrote a lot pays for all of it (2.75 s after a 10 M-event load, BENCHMARKS.md), later
    /// opens do not. Opening and closing the database once is that snapshot; a process that
    /// appended many events calls this after it has closed its store, in a fresh process image
    /// so that the writer's memory is not still held (the command line re-executes itself).
    /// Writes nothing of the ledger's own.
    pub fn snapshot_page_table(path: impl AsRef<Path>) -> Result<(), StoreError> {
        let path = path.as_ref();
        if !path.join("db").is_file() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no sled database in {}", path.display()),
            )));
        }
        open::remove_incomplete_snapshots(path)?;
        let db = open::open_db(path, CACHE_CAPACITY_BYTES)?;
        drop(db);
        Ok(())
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening had to clean up (half-written sled snapshots removed), for the caller to
    /// report.
    pub fn open_notes(&self) -> &[String] {
        &self.notes
    }

    /// Raw access for tests that damage the log on purpose (tamper-evidence tests).
    #[doc(hidden)]
    pub fn raw_tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Rewrites the stored chunk that holds `position` with `edit` applied to its records (the
    /// chunk's first position is given), as someone with write access to the files could:
    /// tamper-evidence tests only.
    #[doc(hidden)]
    pub fn edit_chunk_of(
        &self,
        position: u64,
        edit: impl FnOnce(&mut Vec<Vec<u8>>, u64),
    ) -> Result<(), StoreError> {
        let (first, chunk) = self
            .chunks
            .chunk_at(&self.tree, position)?
            .ok_or(StoreError::Closed)?;
        let mut records: Vec<Vec<u8>> = chunk.records().map(<[u8]>::to_vec).collect();
        edit(&mut records, first);
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        self.tree.insert(chunk_key(first), chunk::encode(&refs))?;
        self.tree.flush()?;
        self.chunks.clear();
        Ok(())
    }

    /// Rewrites the record at `position` with `edit`, then re-chains every later event of its
    /// member and rewrites the member's record and the head, as a forger who can write the files
    /// and knows the format (but holds no signing key) would: tamper-evidence tests only.
    #[doc(hidden)]
    pub fn forge_rewrite(
        &self,
        position: u64,
        edit: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        let head = read_head(&self.tree)?.0;
        let first = self
            .chunks
            .event_at(&self.tree, position)?
            .ok_or(StoreError::Closed)?;
        let member = first.member;
        let mut edit = Some(edit);
        let mut last_hash: Option<[u8; 32]> = None;
        for p in position..=head.position {
            let Some(event) = self.chunks.event_at(&self.tree, p)? else {
                continue;
            };
            if event.member != member {
                continue;
            }
            let mut record = event.record().to_vec();
            if let Some(edit) = edit.take() {
                edit(&mut record);
            }
            if let Some(prev) = last_hash {
                let at = record.len() - 32;
                record[at..].copy_from_slice(&prev);
            }
            let hash = super::record::record_hash(&record);
            self.edit_chunk_of(p, |records, first| {
                if let Ok(i) = usize::try_from(p - first) {
                    records[i] = record;
                }
            })?;
            last_hash = Some(hash);
            if p == head.position {
                let mut bytes = self.tree.get(b"H")?.map(|b| b.to_vec()).unwrap_or_default();
                bytes[8..40].copy_from_slice(&hash);
                self.tree.insert(b"H", bytes)?;
            }
        }
        if let (Some(hash), Some(bytes)) = (last_hash, self.tree.get(member_key(member))?) {
            let mut record = MemberRecord::decode(&bytes)?;
            record.hash = hash;
            self.tree
                .insert(member_key(member), record.encode().as_slice())?;
        }
        self.tree.flush()?;
        self.chunks.clear();
        Ok(())
    }

    fn send(&self, message: Message) -> bool {
        self.tx.send(message).is_ok()
    }

    fn positions(&self, member: Uuid, after: u64, max: u64) -> Result<Vec<u64>, StoreError> {
        Ok(read::member_positions(&self.tree, member, after, max)?
            .into_iter()
            .map(|(_, position)| position)
            .collect())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        let _ = self.tx.send(Message::Shutdown);
        if let Ok(mut guard) = self.writer.lock() {
            if let Some(handle) = guard.take() {
                let _ = handle.join();
            }
        }
    }
}

impl EventStore for SledStore {
    fn head(&self) -> Result<Head, StoreError> {
        Ok(self.shared.durable_head())
    }

    fn positions_gapless(&self) -> Result<bool, StoreError> {
        Ok(self.gapless)
    }

    fn committed_position(&self) -> Result<u64, StoreError> {
        Ok(self.shared.applied_position())
    }

    fn event_ids(&self) -> Result<EventIds, StoreError> {
        Ok(self.ids)
    }

    fn watch_durable(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    fn member_head(&self, member: Uuid) -> Result<(u64, [u8; 32]), StoreError> {
        match self.tree.get(member_key(member))? {
            Some(v) => {
                let record = MemberRecord::decode(&v)?;
                Ok((record.version, record.hash))
            }
            None => Ok((0, GENESIS_HASH)),
        }
    }

    fn read_member(
        &self,
        member: Uuid,
        max_position: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let durable = self.shared.durable_position();
        let max = max_position.map_or(durable, |m| m.min(durable));
        let positions = self.positions(member, 0, max)?;
        self.chunks.events_at(&self.tree, &positions)
    }

    fn members(&self) -> Result<Vec<Uuid>, StoreError> {
        let mut members = Vec::new();
        for item in self.tree.scan_prefix(b"V") {
            let (k, _) = item?;
            let member = Uuid::from_slice(&k[1..]).map_err(|e| StoreError::Corrupt {
                position: 0,
                reason: format!("member record key: {e}"),
            })?;
            members.push(member);
        }
        Ok(members)
    }

    fn read_member_after(
        &self,
        member: Uuid,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let positions = self.positions(member, after_version, u64::MAX)?;
        self.chunks.events_at(&self.tree, &positions)
    }

    fn visit_member_after(
        &self,
        member: Uuid,
        after_version: u64,
        visit: &mut dyn FnMut(crate::store::RecordView<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let positions = self.positions(member, after_version, u64::MAX)?;
        self.chunks.visit_at(&self.tree, &positions, visit)
    }

    fn event_position(&self, event_id: Uuid) -> Result<Option<u64>, StoreError> {
        if let Some(position) = self.ids.position_of(event_id) {
            let applied = self.shared.applied_position();
            return Ok((position >= 1 && position <= applied).then_some(position));
        }
        match self.tree.get(prefixed(b'I', event_id.as_bytes()))? {
            Some(v) => be_u64(&v, "event id index").map(Some),
            None => Ok(None),
        }
    }

    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let durable = self.shared.durable_position();
        self.chunks
            .read_from(&self.tree, from_position, limit, durable)
    }

    fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        if position == 0 || position > self.shared.durable_position() {
            return Ok(None);
        }
        self.chunks.event_at(&self.tree, position)
    }

    fn projection(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        read::projection(&self.tree, key)
    }

    fn projection_keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut keys = Vec::new();
        for item in self.tree.scan_prefix(prefixed(b'P', prefix)) {
            keys.push(item?.0[1..].to_vec());
        }
        Ok(keys)
    }

    fn projection_scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        read::projection_scan(&self.tree, prefix)
    }

    fn projection_keys_in(
        &self,
        from: &[u8],
        until: Option<&[u8]>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let start = prefixed(b'P', from);
        // Projection records are the `P` keys: past them when no end is given.
        let end = until.map_or_else(|| vec![b'P' + 1], |u| prefixed(b'P', u));
        let mut keys = Vec::new();
        for item in self.tree.range(start..end) {
            keys.push(item?.0[1..].to_vec());
        }
        Ok(keys)
    }

    fn write_projections(
        &self,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        projection_records::write(&self.tree, &mut batch, &records)?;
        self.tree.apply_batch(batch)?;
        // Durable on return, as for appends: sled's flush alone is not a full fsync.
        self.db.flush()?;
        if self.fsync {
            File::open(self.path.join("db"))?.sync_all()?;
        }
        Ok(())
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        read::key_record(&self.tree, key)
    }

    fn append(&self, request: AppendRequest) -> AppendTicket {
        let (applied_tx, applied) = oneshot::channel();
        let (durable_tx, durable) = oneshot::channel();
        // A failed send drops both senders, which the receivers see as `Closed`.
        self.send(Message::Append(Box::new(request), applied_tx, durable_tx));
        AppendTicket { applied, durable }
    }

    fn append_group(&self, requests: Vec<AppendRequest>) -> GroupTicket {
        let (applied_tx, applied) = oneshot::channel();
        let (durable_tx, durable) = oneshot::channel();
        self.send(Message::AppendGroup(requests, applied_tx, durable_tx));
        GroupTicket { applied, durable }
    }

    fn sync(&self) -> oneshot::Receiver<Result<(), StoreError>> {
        let (tx, rx) = oneshot::channel();
        self.send(Message::Sync(tx));
        rx
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    fn tree(&self) -> Result<Option<(u64, Box<dyn NodeSource + '_>)>, StoreError> {
        if !self.gapless {
            return Ok(None);
        }
        let size = self.shared.durable_position();
        let source = SledTree {
            tree: &self.tree,
            chunks: &self.chunks,
        };
        Ok(Some((size, Box::new(source))))
    }

    fn latest_checkpoint(&self) -> Result<Option<String>, StoreError> {
        let durable = self.shared.durable_position();
        for item in self.tree.scan_prefix(b"W").rev() {
            let (key, value) = item?;
            if be_u64(&key[1..], "checkpoint key")? <= durable {
                return Ok(Some(String::from_utf8_lossy(&value).into_owned()));
            }
        }
        Ok(None)
    }

    fn checkpoints(&self) -> Result<Vec<String>, StoreError> {
        let durable = self.shared.durable_position();
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(b"W") {
            let (key, value) = item?;
            if be_u64(&key[1..], "checkpoint key")? <= durable {
                out.push(String::from_utf8_lossy(&value).into_owned());
            }
        }
        Ok(out)
    }

    fn seal_now(&self) -> Result<Option<String>, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Message::Seal(tx));
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }
}

/// The log's Merkle tree as sled holds it: leaves are the events' hashes; every eighth level's
/// subtree roots are stored.
struct SledTree<'a> {
    tree: &'a sled::Tree,
    chunks: &'a Chunks,
}

impl NodeSource for SledTree<'_> {
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let count = usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX);
        let events = self.chunks.read_from(self.tree, start + 1, count, end)?;
        if events.len() != count {
            return Err(StoreError::Corrupt {
                position: start + 1 + events.len() as u64,
                reason: "the Merkle tree names an event the log does not hold".into(),
            });
        }
        Ok(events.iter().map(|e| leaf_hash(&e.hash())).collect())
    }

    fn stored_subtree(&self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        if level == 0 || level % TILE_LEVEL_STEP != 0 {
            return Ok(None);
        }
        match self.tree.get(tile_key(level, index))? {
            Some(bytes) => Ok(Some(bytes.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt {
                    position: 0,
                    reason: "a stored subtree root is not 32 bytes".into(),
                }
            })?)),
            None => Ok(None),
        }
    }
}
