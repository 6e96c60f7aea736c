//! The embedded backend: one sled tree, one writer thread, group commit.
//!
//! Key layout (one tree, so that every append is a single atomic `apply_batch`):
//!
//! | key | value |
//! |---|---|
//! | `E` position (u64 BE) | the event's envelope, JSON |
//! | `S` member (16) version (u64 BE) | position |
//! | `V` member (16) | the member's version (u64 BE) ‖ the hash of its last event (32) |
//! | `I` event id (16) | position |
//! | `K` key bytes | idempotency record, JSON |
//! | `P` projection key | projection bytes (opaque to the store) |
//! | `H` | head: position (u64 BE) ‖ hash (32) |
//! | `F` | the log's format, [`LOG_FORMAT`] |
//! | `G` | present when positions may skip (a log imported from PostgreSQL that skipped some) |
//!
//! Beside sled's files, `durable-head` holds the last head known durable (position, hash and a
//! checksum), rewritten after every flush and fsync. sled recovers a truncated or damaged log by
//! cutting it at the damage, which would silently forget acknowledged events; the anchor makes
//! that loss an error at open. It is written after the fsync of the log, without an fsync of
//! its own, so it never claims more than the log holds (a power loss can only make it older).
//!
//! A single writer thread owns every write: it checks expected versions and keys, assigns the
//! next positions and hashes, and applies the batch, so positions are gapless by construction and
//! version checks cannot race. Readers read sled directly. Durability is one `flush` plus an
//! `fsync` of the data file for every group of appends the writer drained (sled 0.34's flush uses
//! `sync_file_range`, which is not a full fsync). A failed batch write, flush or fsync poisons the
//! writer: it refuses every later write until the store is reopened. Tests make each of those
//! calls fail on purpose through a hidden [`FaultPlan`] in [`StoreOptions`].

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

mod import;

use super::{
    AppendOutcome, AppendRequest, AppendTicket, EventStore, GroupTicket, Head, IdempotencyRecord,
    StoreError, StoredEvent, GENESIS_HASH,
};

/// Requests waiting for the writer; submitters block (backpressure) beyond this.
pub const WRITER_QUEUE_DEPTH: usize = 4096;
/// Most appends one flush covers.
pub const GROUP_COMMIT_APPENDS_MAX: usize = 1024;
/// How long an append that asked for no immediate flush may wait for one (a batch asks for its
/// flush when it ends; this only bounds how long an abandoned batch stays unflushed).
pub const DEFERRED_FLUSH_MS: u64 = 250;
/// sled's page cache, in bytes.
pub const CACHE_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;

const _: () = assert!(GROUP_COMMIT_APPENDS_MAX <= WRITER_QUEUE_DEPTH);

/// Options of a sled store, passed explicitly rather than taken from sled's defaults.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, bytes.
    pub cache_capacity_bytes: u64,
    /// Whether to fsync the data file after each flush (true in production; tests of other things
    /// may turn it off for speed, never a durability test).
    pub fsync: bool,
    /// Faults to inject at the storage boundary (tests only; `None` in production).
    #[doc(hidden)]
    pub faults: Option<Arc<FaultPlan>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity_bytes: CACHE_CAPACITY_BYTES,
            fsync: true,
            faults: None,
        }
    }
}

/// Faults a test injects at the storage boundary ("cold code is buggy code"): the writer asks the
/// plan before each batch write, flush and fsync, and a planned fault becomes the `io::Error` the
/// real call could have returned, without calling it. Shared (`Arc`) so the test arms it while
/// the store runs. Test-only: production opens stores with `faults: None`.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct FaultPlan {
    /// Batch writes seen so far.
    batches: AtomicU64,
    /// Fail the batch write with this ordinal (1-based, counted over the plan's life); 0: none.
    fail_batch_at: AtomicU64,
    fail_next_flush: AtomicBool,
    fail_next_fsync: AtomicBool,
    disk_full: AtomicBool,
    injected: AtomicU64,
}

impl FaultPlan {
    /// A plan that injects nothing until armed.
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    /// Fails the `n`th batch write from now (1: the next one).
    pub fn fail_nth_batch(&self, n: u64) {
        assert!(n >= 1, "batch ordinals start at 1");
        let seen = self.batches.load(Ordering::SeqCst);
        self.fail_batch_at.store(seen + n, Ordering::SeqCst);
    }

    /// Fails the next flush (sled's write of its buffers to the data file).
    pub fn fail_next_flush(&self) {
        self.fail_next_flush.store(true, Ordering::SeqCst);
    }

    /// Fails the next fsync of the data file (after a flush that succeeded).
    pub fn fail_next_fsync(&self) {
        self.fail_next_fsync.store(true, Ordering::SeqCst);
    }

    /// While on, every batch write and flush fails with ENOSPC (`ErrorKind::StorageFull`).
    pub fn set_disk_full(&self, full: bool) {
        self.disk_full.store(full, Ordering::SeqCst);
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn before_batch(&self) -> Result<(), StoreError> {
        let ordinal = self.batches.fetch_add(1, Ordering::SeqCst) + 1;
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(self.injected_error(disk_full()));
        }
        if self.fail_batch_at.load(Ordering::SeqCst) == ordinal {
            return Err(self.injected_error(std::io::Error::other("injected batch write failure")));
        }
        Ok(())
    }

    fn before_flush(&self) -> Result<(), StoreError> {
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(self.injected_error(disk_full()));
        }
        if self.fail_next_flush.swap(false, Ordering::SeqCst) {
            return Err(self.injected_error(std::io::Error::other("injected flush failure")));
        }
        Ok(())
    }

    fn before_fsync(&self) -> Result<(), StoreError> {
        if self.fail_next_fsync.swap(false, Ordering::SeqCst) {
            let e = std::io::Error::other("injected fsync failure (EIO)");
            return Err(self.injected_error(e));
        }
        Ok(())
    }

    fn injected_error(&self, e: std::io::Error) -> StoreError {
        self.injected.fetch_add(1, Ordering::SeqCst);
        StoreError::Io(e)
    }
}

fn disk_full() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::StorageFull,
        "No space left on device (os error 28, injected)",
    )
}

enum Message {
    Append(
        Box<AppendRequest>,
        oneshot::Sender<Result<AppendOutcome, StoreError>>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    AppendGroup(
        Vec<AppendRequest>,
        oneshot::Sender<Vec<Result<AppendOutcome, StoreError>>>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    Sync(oneshot::Sender<Result<(), StoreError>>),
    Shutdown,
}

/// The sled event store. Cheap to share behind an `Arc`; dropping the last handle stops the
/// writer after it has flushed.
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    /// Whether durability fsyncs the data file (`StoreOptions::fsync`).
    fsync: bool,
    tx: SyncSender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn event_key(position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'E';
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

fn stream_key(member: Uuid, version: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = b'S';
    k[1..17].copy_from_slice(member.as_bytes());
    k[17..].copy_from_slice(&version.to_be_bytes());
    k
}

fn version_key(member: Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = b'V';
    k[1..].copy_from_slice(member.as_bytes());
    k
}

/// The format of the log this build writes: one hash chain per member. A log without it was
/// written by an earlier build with one global chain, which this build cannot check.
pub const LOG_FORMAT: &[u8] = b"member-ledger-log/2 (a hash chain per member)";

/// A member's version and the hash of its last event, as the `V` record holds them.
fn member_record(version: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut record = [0u8; 40];
    record[..8].copy_from_slice(&version.to_be_bytes());
    record[8..].copy_from_slice(hash);
    record
}

fn decode_member_record(bytes: &[u8]) -> Result<(u64, [u8; 32]), StoreError> {
    let corrupt = || StoreError::Corrupt {
        position: 0,
        reason: "a member's version record is not 40 bytes".into(),
    };
    if bytes.len() != 40 {
        return Err(corrupt());
    }
    let version = be_u64(&bytes[..8], 0, "member version")?;
    let hash: [u8; 32] = bytes[8..].try_into().map_err(|_| corrupt())?;
    Ok((version, hash))
}

/// Checks the log's format record, writing it into a log that holds no event yet.
fn check_format(tree: &sled::Tree, head: &Head) -> Result<(), StoreError> {
    match tree.get(b"F")? {
        Some(format) if format.as_ref() == LOG_FORMAT => Ok(()),
        None if head.position == 0 => {
            tree.insert(b"F", LOG_FORMAT)?;
            Ok(())
        }
        found => Err(StoreError::Unsupported(format!(
            "this ledger's log is in format '{}', not '{}': it was written by an earlier build \
             (one global hash chain) that this one cannot check; replay its commands into a new \
             ledger",
            found.map_or("(none)".into(), |f| String::from_utf8_lossy(&f)
                .into_owned()),
            String::from_utf8_lossy(LOG_FORMAT)
        ))),
    }
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(rest.len() + 1);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

fn be_u64(bytes: &[u8], position: u64, what: &str) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: format!("{what} is not 8 bytes"),
    })?;
    Ok(u64::from_be_bytes(arr))
}

fn decode_event(position: u64, bytes: &[u8]) -> Result<StoredEvent, StoreError> {
    let event: StoredEvent = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        position,
        reason: format!("event does not decode: {e}"),
    })?;
    if event.position != position {
        return Err(StoreError::Corrupt {
            position,
            reason: format!("stored under {position} but says {}", event.position),
        });
    }
    Ok(event)
}

/// How long `open` waits for the database's file lock: sled's own I/O threads can hold it for
/// a moment after the previous handle in this process was dropped.
pub const LOCK_WAIT_MS: u64 = 3000;

/// Opens sled, waiting up to [`LOCK_WAIT_MS`] for a lock still held by a closing handle; a lock
/// held longer (another process using the ledger) is reported as the error it is.
fn open_db(path: &Path, options: &StoreOptions) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(None)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < Duration::from_millis(LOCK_WAIT_MS) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// The anchor file's name inside the store's directory.
pub const ANCHOR_FILE: &str = "durable-head";
const ANCHOR_BYTES: usize = 48;

fn anchor_record(head: &Head) -> [u8; ANCHOR_BYTES] {
    let mut record = [0u8; ANCHOR_BYTES];
    record[..8].copy_from_slice(&head.position.to_be_bytes());
    record[8..40].copy_from_slice(&head.hash);
    let check = super::chain_hash(&head.hash, &head.position.to_be_bytes());
    record[40..].copy_from_slice(&check[..8]);
    record
}

/// The durable head the anchor file records; `None` when absent or unreadable (a torn write).
fn read_anchor(path: &Path) -> Option<Head> {
    let bytes = std::fs::read(path.join(ANCHOR_FILE)).ok()?;
    let record: [u8; ANCHOR_BYTES] = bytes.get(..ANCHOR_BYTES)?.try_into().ok()?;
    let position = u64::from_be_bytes(record[..8].try_into().ok()?);
    let hash: [u8; 32] = record[8..40].try_into().ok()?;
    let head = Head { position, hash };
    (anchor_record(&head) == record).then_some(head)
}

/// Refuses a log that holds less than the anchor says was durable, or other events there.
fn check_anchor(path: &Path, tree: &sled::Tree, head: &Head) -> Result<(), StoreError> {
    let Some(anchor) = read_anchor(path) else {
        return Ok(());
    };
    if anchor.position > head.position {
        return Err(StoreError::Corrupt {
            position: head.position + 1,
            reason: format!(
                "the log ends at position {} but position {} was durable and acknowledged ({ANCHOR_FILE}): the database files were truncated or damaged; restore them from a backup",
                head.position, anchor.position
            ),
        });
    }
    if anchor.position == 0 {
        return Ok(());
    }
    let event = tree.get(event_key(anchor.position))?;
    let stored = event
        .map(|bytes| decode_event(anchor.position, &bytes))
        .transpose()?;
    if stored.and_then(|e| e.hash_bytes()) != Some(anchor.hash) {
        return Err(StoreError::Corrupt {
            position: anchor.position,
            reason: format!(
                "the event at position {} is not the one acknowledged there ({ANCHOR_FILE}): the log was replaced or rewritten",
                anchor.position
            ),
        });
    }
    Ok(())
}

fn read_head(tree: &sled::Tree) -> Result<Head, StoreError> {
    let Some(bytes) = tree.get(b"H")? else {
        return Ok(Head {
            position: 0,
            hash: GENESIS_HASH,
        });
    };
    if bytes.len() != 40 {
        return Err(StoreError::Corrupt {
            position: 0,
            reason: "head record is not 40 bytes".into(),
        });
    }
    let position = be_u64(&bytes[..8], 0, "head position")?;
    let hash: [u8; 32] = bytes[8..].try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: "head hash".into(),
    })?;
    Ok(Head { position, hash })
}

impl SledStore {
    /// Opens (or creates) the store in directory `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store with explicit options. Checks that the head record and the
    /// last event agree, so a damaged log is reported at open rather than served.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<SledStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = open_db(&path, &options)?;
        let tree = db.open_tree("log")?;
        let head = read_head(&tree)?;
        let last = tree.scan_prefix(b"E").next_back().transpose()?;
        let last_position = match last {
            Some((k, _)) => be_u64(&k[1..], 0, "event key")?,
            None => 0,
        };
        if last_position != head.position {
            let reason = format!(
                "head says {} but the last event is at {last_position}",
                head.position
            );
            return Err(StoreError::Corrupt {
                position: last_position.max(head.position),
                reason,
            });
        }
        check_anchor(&path, &tree, &head)?;
        check_format(&tree, &head)?;
        let anchor = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(ANCHOR_FILE))?;
        let data_file = File::open(path.join("db"))?;
        if options.fsync {
            // The directory entries of a new database must survive a crash too.
            File::open(&path)?.sync_all()?;
        }
        let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE_DEPTH);
        let writer = Writer {
            db: db.clone(),
            tree: tree.clone(),
            data_file,
            head,
            versions: HashMap::new(),
            dirty: true,
            poisoned: None,
            fsync: options.fsync,
            anchor,
            anchored: None,
            faults: options.faults,
        };
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(SledStore {
            db,
            tree,
            path,
            fsync: options.fsync,
            tx,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw access for tests that damage the log on purpose (tamper-evidence tests).
    #[doc(hidden)]
    pub fn raw_tree(&self) -> &sled::Tree {
        &self.tree
    }

    fn send(&self, message: Message) -> bool {
        self.tx.send(message).is_ok()
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
        read_head(&self.tree)
    }

    fn positions_gapless(&self) -> Result<bool, StoreError> {
        Ok(!self.tree.contains_key(b"G")?)
    }

    fn member_version(&self, member: Uuid) -> Result<u64, StoreError> {
        match self.tree.get(version_key(member))? {
            Some(v) => Ok(decode_member_record(&v)?.0),
            None => Ok(0),
        }
    }

    fn read_member(
        &self,
        member: Uuid,
        max_position: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut prefix = vec![b'S'];
        prefix.extend_from_slice(member.as_bytes());
        let mut events = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (_, v) = item?;
            let position = be_u64(&v, 0, "stream index")?;
            if max_position.is_some_and(|max| position > max) {
                break;
            }
            let bytes = self.tree.get(event_key(position))?;
            let bytes = bytes.ok_or_else(|| StoreError::Corrupt {
                position,
                reason: "indexed event is missing".into(),
            })?;
            events.push(decode_event(position, &bytes)?);
        }
        Ok(events)
    }

    fn members(&self) -> Result<Vec<Uuid>, StoreError> {
        let mut members = Vec::new();
        for item in self.tree.scan_prefix(b"V") {
            let (k, _) = item?;
            let member = Uuid::from_slice(&k[1..]).map_err(|e| StoreError::Corrupt {
                position: 0,
                reason: format!("member version key: {e}"),
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
        let start = stream_key(member, after_version.saturating_add(1));
        let end = stream_key(member, u64::MAX);
        let mut events = Vec::new();
        for item in self.tree.range(start..=end) {
            let (_, v) = item?;
            let position = be_u64(&v, 0, "stream index")?;
            let bytes = self.tree.get(event_key(position))?;
            let bytes = bytes.ok_or_else(|| StoreError::Corrupt {
                position,
                reason: "indexed event is missing".into(),
            })?;
            events.push(decode_event(position, &bytes)?);
        }
        Ok(events)
    }

    fn event_position(&self, event_id: Uuid) -> Result<Option<u64>, StoreError> {
        match self.tree.get(prefixed(b'I', event_id.as_bytes()))? {
            Some(v) => be_u64(&v, 0, "event id index").map(Some),
            None => Ok(None),
        }
    }

    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(limit.min(4096));
        for item in self
            .tree
            .range(event_key(from_position.max(1))..)
            .take(limit)
        {
            let (k, v) = item?;
            if k.first() != Some(&b'E') {
                break;
            }
            let position = be_u64(&k[1..], 0, "event key")?;
            events.push(decode_event(position, &v)?);
        }
        Ok(events)
    }

    fn projection(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(prefixed(b'P', key))?.map(|v| v.to_vec()))
    }

    fn projection_scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefixed(b'P', prefix)) {
            let (k, v) = item?;
            out.push((k[1..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn write_projections(
        &self,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in records {
            match v {
                Some(v) => batch.insert(prefixed(b'P', &k), v),
                None => batch.remove(prefixed(b'P', &k)),
            }
        }
        self.tree.apply_batch(batch)?;
        // Durable on return, as for appends: sled's flush alone is not a full fsync.
        self.db.flush()?;
        if self.fsync {
            File::open(self.path.join("db"))?.sync_all()?;
        }
        Ok(())
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(bytes) = self.tree.get(prefixed(b'K', key.as_bytes()))? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            position: 0,
            reason: format!("idempotency record for '{key}': {e}"),
        })?;
        Ok(Some(record))
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
        // A failed send drops both senders, which the receivers see as `Closed`.
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
}

/// The writer thread's state: the only code that writes the log.
struct Writer {
    db: sled::Db,
    tree: sled::Tree,
    data_file: File,
    head: Head,
    /// Members' versions and last hashes, as far as this writer has read or written them.
    versions: HashMap<Uuid, (u64, [u8; 32])>,
    /// Whether something may be applied that no flush and fsync has covered yet. True at open:
    /// what an earlier process applied may still sit in the page cache only.
    dirty: bool,
    poisoned: Option<String>,
    fsync: bool,
    anchor: File,
    anchored: Option<Head>,
    faults: Option<Arc<FaultPlan>>,
}

type DurableAck = oneshot::Sender<Result<(), StoreError>>;

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Message>) {
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
                    let result = self.apply(*request);
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
                Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
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
    fn flush(&mut self, waiting: &mut Vec<DurableAck>) {
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
        if result.is_ok() {
            self.dirty = false;
        }
        if let Err(e) = &result {
            self.poisoned.get_or_insert_with(|| e.to_string());
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
            use std::os::unix::fs::FileExt;
            self.anchor.write_all_at(&anchor_record(&self.head), 0)?;
            self.anchored = Some(self.head);
        }
        Ok(())
    }

    /// A member's version and the hash of its last event (0 and the genesis hash when new).
    fn member_head(&mut self, member: Uuid) -> Result<(u64, [u8; 32]), StoreError> {
        if let Some(v) = self.versions.get(&member) {
            return Ok(*v);
        }
        let v = match self.tree.get(version_key(member))? {
            Some(bytes) => decode_member_record(&bytes)?,
            None => (0, GENESIS_HASH),
        };
        self.versions.insert(member, v);
        Ok(v)
    }

    fn version(&mut self, member: Uuid) -> Result<u64, StoreError> {
        Ok(self.member_head(member)?.0)
    }

    /// One append: a group of one.
    fn apply(&mut self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.apply_group(vec![request])
            .pop()
            .unwrap_or(Err(StoreError::Closed))
    }

    /// A group's appends in one sled batch: each is checked (key, versions) as if applied alone,
    /// in order, against the log and the group's earlier appends; the accepted ones are written
    /// together. A failed write fails them all and poisons the store.
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
        let result = self.try_apply_group(requests);
        match result {
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
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let mut batch = sled::Batch::default();
        let mut claimed: HashMap<String, IdempotencyRecord> = HashMap::new();
        let mut outcomes = Vec::with_capacity(requests.len());
        // A refused append taints every member it expected or would write: a later append of the
        // group that expects one of them was decided on top of the refused one, and its expected
        // version may still match the log by coincidence (another submitter appended as many
        // events meanwhile), so it is refused as a conflict too.
        let mut tainted: std::collections::BTreeSet<Uuid> = std::collections::BTreeSet::new();
        for request in &requests {
            let stale = request.expected.iter().find(|(m, _)| tainted.contains(m));
            let refused = match stale {
                Some(&(member, expected)) => Some(AppendOutcome::VersionConflict {
                    member,
                    expected,
                    actual: self.version(member)?,
                }),
                None => self.precheck(request, &claimed)?,
            };
            if let Some(refused) = refused {
                tainted.extend(request.expected.iter().map(|(m, _)| *m));
                tainted.extend(request.events.iter().map(|e| e.member));
                outcomes.push(refused);
                continue;
            }
            let (stored, versions) = self.build_batch(&mut batch, request)?;
            if let Some(claim) = &request.idempotency {
                let record = IdempotencyRecord {
                    payload_hash: hex::encode(claim.payload_hash),
                    positions: stored.iter().map(|e| e.position).collect(),
                };
                claimed.insert(claim.key.clone(), record);
            }
            self.advance(&stored, versions);
            outcomes.push(AppendOutcome::Committed(stored));
        }
        if let Some(faults) = &self.faults {
            faults.before_batch()?;
        }
        self.tree.apply_batch(batch)?;
        self.dirty |= outcomes
            .iter()
            .any(|o| matches!(o, AppendOutcome::Committed(_)));
        Ok(outcomes)
    }

    /// Why an append cannot be written (its key was used, or a member moved on), if so.
    fn precheck(
        &mut self,
        request: &AppendRequest,
        claimed: &HashMap<String, IdempotencyRecord>,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        if let Some(claim) = &request.idempotency {
            let record = match claimed.get(&claim.key) {
                Some(record) => Some(record.clone()),
                None => match self.tree.get(prefixed(b'K', claim.key.as_bytes()))? {
                    Some(bytes) => Some(
                        serde_json::from_slice::<IdempotencyRecord>(&bytes).map_err(|e| {
                            StoreError::Corrupt {
                                position: 0,
                                reason: format!("idempotency record: {e}"),
                            }
                        })?,
                    ),
                    None => None,
                },
            };
            if let Some(record) = record {
                return Ok(Some(
                    if record.payload_hash == hex::encode(claim.payload_hash) {
                        AppendOutcome::Duplicate(record)
                    } else {
                        AppendOutcome::KeyReused
                    },
                ));
            }
        }
        for (member, expected) in &request.expected {
            let actual = self.version(*member)?;
            if actual != *expected {
                return Ok(Some(AppendOutcome::VersionConflict {
                    member: *member,
                    expected: *expected,
                    actual,
                }));
            }
        }
        Ok(None)
    }

    /// Moves the writer's head and member versions past appended events.
    fn advance(&mut self, stored: &[StoredEvent], versions: HashMap<Uuid, (u64, [u8; 32])>) {
        if let Some(last) = stored.last() {
            self.head = Head {
                position: last.position,
                hash: last.hash_bytes().unwrap_or(GENESIS_HASH),
            };
        }
        self.versions.extend(versions);
    }

    /// Assigns positions, versions and hashes, and gathers every write of the append in one batch.
    fn build_batch(
        &mut self,
        batch: &mut sled::Batch,
        request: &AppendRequest,
    ) -> Result<(Vec<StoredEvent>, HashMap<Uuid, (u64, [u8; 32])>), StoreError> {
        let mut versions: HashMap<Uuid, (u64, [u8; 32])> = HashMap::new();
        let mut stored = Vec::with_capacity(request.events.len());
        let mut position = self.head.position;
        let recorded_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        for new in &request.events {
            position += 1;
            let (last_version, prev) = match versions.get(&new.member) {
                Some(v) => *v,
                None => self.member_head(new.member)?,
            };
            let version = last_version + 1;
            let mut event = StoredEvent {
                position,
                // Time-ordered (UUIDv7): the event-id index grows at its end instead of touching a
                // random leaf per event.
                event_id: Uuid::now_v7(),
                schema_version: new.schema_version,
                member: new.member,
                member_version: version,
                event_type: new.event_type.clone(),
                effective_date: new.effective_date,
                recorded_at: recorded_at.clone(),
                idempotency_key: request.idempotency.as_ref().map(|c| c.key.clone()),
                policy_version: new.policy_version.clone(),
                data: new.data.clone(),
                prev_hash: hex::encode(prev),
                hash: String::new(),
            };
            let hash = event.compute_hash(&prev);
            event.hash = hex::encode(hash);
            versions.insert(new.member, (version, hash));
            let bytes = serde_json::to_vec(&event).map_err(|e| StoreError::Corrupt {
                position,
                reason: e.to_string(),
            })?;
            batch.insert(&event_key(position), bytes);
            batch.insert(&stream_key(new.member, version), &position.to_be_bytes());
            batch.insert(
                prefixed(b'I', event.event_id.as_bytes()),
                &position.to_be_bytes(),
            );
            stored.push(event);
        }
        assert_eq!(
            position,
            self.head.position + stored.len() as u64,
            "positions are gapless"
        );
        for (member, (version, hash)) in &versions {
            batch.insert(
                &version_key(*member),
                member_record(*version, hash).as_slice(),
            );
        }
        if let Some(claim) = &request.idempotency {
            let record = IdempotencyRecord {
                payload_hash: hex::encode(claim.payload_hash),
                positions: stored.iter().map(|e| e.position).collect(),
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
                position,
                reason: e.to_string(),
            })?;
            batch.insert(prefixed(b'K', claim.key.as_bytes()), bytes);
        }
        for (key, value) in &request.projections {
            match value {
                Some(v) => batch.insert(prefixed(b'P', key), v.as_slice()),
                None => batch.remove(prefixed(b'P', key)),
            }
        }
        if let Some(last) = stored.last() {
            let mut head = Vec::with_capacity(40);
            head.extend_from_slice(&position.to_be_bytes());
            head.extend_from_slice(&last.hash_bytes().unwrap_or(GENESIS_HASH));
            batch.insert(b"H", head);
        }
        Ok((stored, versions))
    }
}
