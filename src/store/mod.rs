//! The event log: append-only, rising positions (gapless on sled), per-member versions,
//! idempotency keys and one hash chain per member. The store knows bytes, positions and
//! envelopes, never insurance.
//!
//! - [`EventStore`]: the interface a backend implements ([`SledStore`] is the embedded default;
//!   `PgStore`, with the feature `postgres`, keeps the log in PostgreSQL).
//! - [`DataLocation`]: where a ledger lives (a directory or a PostgreSQL URL), and opening it.
//! - [`StoredEvent`]: the envelope every event is stored in.
//! - [`AppendRequest`] / [`AppendOutcome`]: one atomic append with its optimistic-concurrency
//!   expectations, idempotency claim and projection writes.
//!
//! **Invariants**: positions rise with every event (1, 2, 3… without gaps where
//! [`EventStore::positions_gapless`] says so: sled always; PostgreSQL may skip the positions of
//! a transaction that failed); an event's member version is the previous one plus one; every
//! event's `hash` is SHA-256(`prev_hash` ‖ canonical bytes), where `prev_hash` is the hash of
//! the same member's previous event (the genesis hash for its first): one hash chain per member,
//! so that writers for different members never wait for each other's hashes; an append is all
//! or nothing; a ticket's `durable` resolves only after the bytes are on disk (flushed and
//! fsynced). [`ChainWalk`] checks all of it in one pass.

pub mod append_rules;
mod bytes;
mod chain;
pub mod chunk;
mod event_id;
mod idempotency;
mod location;
mod log_reader;
pub mod merkle;
#[cfg(feature = "postgres")]
mod pg_store;
pub mod record;
pub mod seal;
mod sled_store;

use tokio::sync::{oneshot, watch};
use uuid::Uuid;

pub use chain::ChainWalk;
pub use event_id::EventIds;
pub use idempotency::{
    canonical_json, command_digest, IdempotencyClaim, IdempotencyRecord, KeyOutcome,
};
pub use location::DataLocation;
pub use log_reader::LogReader;
#[cfg(feature = "postgres")]
pub use pg_store::{PgOptions, PgStore};
pub use record::{NewEvent, RecordView, StoredEvent, GENESIS_HASH};
pub use sled_store::{
    FaultPlan, ImportSource, LegacyEvent, LegacyLog, SledStore, StoreOptions, StoreSource,
    ANCHOR_FILE, SLED_VALUE_BYTES_MAX,
};

/// A storage failure: the machine's problem, not the caller's. Nothing acknowledged is lost; the
/// command that met it may or may not be in the log, and its result was never acknowledged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded database failed.
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation (fsync) failed.
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record does not decode or breaks an invariant.
    #[error("corrupt log at position {position}: {reason}")]
    Corrupt {
        /// The position (0 when not tied to one).
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier flush failed; the store refuses writes until it is reopened (as PostgreSQL does
    /// after a failed fsync, since the kernel may have dropped the dirty pages).
    #[error("the store refuses writes after an earlier failure ({0}); reopen it")]
    Poisoned(String),
    /// The writer thread has stopped.
    #[error("the store's writer has stopped")]
    Closed,
    /// PostgreSQL failed: the connection, the server or a statement. The transaction it met was
    /// rolled back or its outcome is unknown; it was never acknowledged.
    #[error("storage (PostgreSQL): {0}")]
    Postgres(String),
    /// The data location names a backend this build lacks, or is malformed. Fix the location
    /// (or rebuild with `--features postgres`).
    #[error("{0}")]
    Unsupported(String),
    /// Another process holds the ledger: the embedded store admits one process at a time.
    #[error(
        "the ledger at {0} is in use by another process (the embedded store admits one): \
         talk to the process that holds it (`member-ledger serve`, then `--server URL`), or stop it"
    )]
    Locked(String),
    /// Readers are held below events already committed for longer than a walk of the whole log
    /// waits (PostgreSQL: a transaction in flight since before them). Try again.
    #[error("the log is busy: {0}")]
    Busy(String),
}

/// The end of the log: the last event's position and hash. On PostgreSQL, the last event
/// below every transaction still in flight: nothing will ever appear at or before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Position of the last event (0 for an empty log).
    pub position: u64,
    /// Its hash (the genesis hash for an empty log).
    pub hash: [u8; 32],
}

/// One atomic append.
#[derive(Clone, Debug, Default)]
pub struct AppendRequest {
    /// Events in order; each names its member.
    pub events: Vec<NewEvent>,
    /// The member versions the decision read; any difference is a conflict.
    pub expected: Vec<(Uuid, u64)>,
    /// The command's idempotency key, if any.
    pub idempotency: Option<IdempotencyClaim>,
    /// With a key and no events: the rejection (contract code, message) to record under the
    /// key, so that a retry gets the same answer.
    pub rejection: Option<(String, String)>,
    /// The submitting client's name, recorded in each event.
    pub actor: Option<String>,
    /// Projection records (opaque keys and values) written in the same atomic batch;
    /// `None` deletes.
    pub projections: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Whether to flush as soon as the writer is idle (false lets a batch share one flush).
    pub sync: bool,
}

/// The result of applying an append (before durability).
#[derive(Clone, Debug)]
pub enum AppendOutcome {
    /// Written; durable when the ticket's `durable` resolves.
    Committed(Vec<StoredEvent>),
    /// The key was used before with the same command: nothing written, this is its record.
    Duplicate(IdempotencyRecord),
    /// The key was used before with a different command: nothing written.
    KeyReused,
    /// A record would break a bound (a field too long): nothing written.
    Invalid(String),
    /// A member changed since the decision read it: nothing written; re-decide.
    VersionConflict {
        /// The member.
        member: Uuid,
        /// The version the decision read.
        expected: u64,
        /// The version in the log.
        actual: u64,
    },
}

/// The answers to one append: first when applied, then when durable.
#[derive(Debug)]
pub struct AppendTicket {
    /// Resolves once the append is applied (visible to readers) or refused.
    pub applied: oneshot::Receiver<Result<AppendOutcome, StoreError>>,
    /// Resolves once everything applied so far is on disk.
    pub durable: oneshot::Receiver<Result<(), StoreError>>,
}

/// The answers to a group of appends sent in one message: each request's outcome in order, then
/// durability of them all.
#[derive(Debug)]
pub struct GroupTicket {
    /// Resolves once every request of the group is applied or refused, in order.
    pub applied: oneshot::Receiver<Vec<Result<AppendOutcome, StoreError>>>,
    /// Resolves once everything applied so far is on disk.
    pub durable: oneshot::Receiver<Result<(), StoreError>>,
}

/// How long [`settled_head`] waits for readers to reach the last committed event.
pub const SETTLE_WAIT_MS: u64 = 10_000;

/// The head once readers show every event committed when it was called: what a walk of the
/// whole log (`verify`, a replay, a dossier) starts from, so that it sees everything written
/// before it began. Immediate on sled; on PostgreSQL it waits for transactions in flight, at
/// most [`SETTLE_WAIT_MS`], then answers [`StoreError::Busy`].
pub fn settled_head(store: &dyn EventStore) -> Result<Head, StoreError> {
    let target = store.committed_position()?;
    // Waited for by polling (not `blocking_recv`), so that a caller inside an async context
    // (a test, a tool) is not refused by the runtime: on PostgreSQL the answer is immediate,
    // on sled it comes with the next flush.
    let mut synced = store.sync();
    loop {
        match synced.try_recv() {
            Ok(result) => break result?,
            Err(oneshot::error::TryRecvError::Empty) => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::Closed),
        }
    }
    let started = std::time::Instant::now();
    loop {
        let head = store.head()?;
        if head.position >= target {
            return Ok(head);
        }
        if started.elapsed() > std::time::Duration::from_millis(SETTLE_WAIT_MS) {
            return Err(StoreError::Busy(format!(
                "events up to position {target} are committed, but a transaction in flight \
                 holds readers at {} (for {} s)",
                head.position,
                SETTLE_WAIT_MS / 1000
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Awaits a writer's answer, mapping a dropped sender to [`StoreError::Closed`].
pub async fn answer<T>(rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    rx.await.unwrap_or(Err(StoreError::Closed))
}

/// An event log backend.
///
/// Two kinds of reads: what readers see (`head`, `read_from`, `read_member`, `event_at`) is only
/// ever durable, so nothing a reader saw can vanish in a crash; what a decision reads
/// (`member_version(s)`, `member_head`, `read_member(s)_after`, `idempotency`, `projection(s)`,
/// `event_position`, `committed_position`) includes every applied append, durable or on its way,
/// so that a decision never works on a state its own writer has moved past.
pub trait EventStore: Send + Sync + 'static {
    /// The end of the log.
    fn head(&self) -> Result<Head, StoreError>;
    /// Whether positions run 1, 2, 3… without a gap (a walk then refuses any skip).
    fn positions_gapless(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// The position of the last committed event, which readers (`head`, `read_from`) may not
    /// show yet: on PostgreSQL, not while a transaction that began before it is in flight.
    fn committed_position(&self) -> Result<u64, StoreError> {
        Ok(self.head()?.position)
    }
    /// How this log makes event ids (and reads positions back from them).
    fn event_ids(&self) -> Result<EventIds, StoreError>;
    /// A receiver of the last durable position: it changes whenever more events become
    /// durable (what a subscription waits on).
    fn watch_durable(&self) -> watch::Receiver<u64>;
    /// A member's current version (0 when the member has no events).
    fn member_version(&self, member: Uuid) -> Result<u64, StoreError> {
        Ok(self.member_head(member)?.0)
    }
    /// A member's version and the hash of its last event, as the store records them (0 and the
    /// genesis hash for a member without events).
    fn member_head(&self, member: Uuid) -> Result<(u64, [u8; 32]), StoreError>;
    /// A member's events in order, up to `max_position` when given.
    fn read_member(
        &self,
        member: Uuid,
        max_position: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Every member with at least one event.
    fn members(&self) -> Result<Vec<Uuid>, StoreError>;
    /// A member's events after `after_version`, in order.
    fn read_member_after(
        &self,
        member: Uuid,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = self.read_member(member, None)?;
        events.retain(|e| e.member_version > after_version);
        Ok(events)
    }
    /// Hands `visit` a member's events after `after_version`, in order, each borrowed from the
    /// stored bytes where the backend can (a fold that keeps nothing of them copies nothing);
    /// stops at the first error, `visit`'s own included.
    fn visit_member_after(
        &self,
        member: Uuid,
        after_version: u64,
        visit: &mut dyn FnMut(RecordView<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for stored in self.read_member_after(member, after_version)? {
            visit(stored.view())?;
        }
        Ok(())
    }
    /// The position of the event with this id, if the log has it.
    fn event_position(&self, event_id: Uuid) -> Result<Option<u64>, StoreError>;
    /// Up to `limit` events from `from_position` on, in position order. Never one that a later
    /// commit could precede: a reader that continues after the last position it was given
    /// misses nothing (on PostgreSQL, only events below every transaction still in flight).
    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// The event at `position`, if one was committed there (whether or not `read_from` shows
    /// it yet: a point read cannot skip anything).
    fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self
            .read_from(position, 1)?
            .into_iter()
            .find(|e| e.position == position))
    }
    /// A projection record.
    fn projection(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Several members' versions, in the order asked (a backend with round trips answers in
    /// one).
    fn member_versions(&self, members: &[Uuid]) -> Result<Vec<u64>, StoreError> {
        members.iter().map(|m| self.member_version(*m)).collect()
    }
    /// Several projection records, in the order asked.
    fn projections(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.projection(k)).collect()
    }
    /// Several members' events after the given versions, in the order asked.
    fn read_members_after(
        &self,
        from: &[(Uuid, u64)],
    ) -> Result<Vec<Vec<StoredEvent>>, StoreError> {
        from.iter()
            .map(|(m, after)| self.read_member_after(*m, *after))
            .collect()
    }
    /// What the log remembers of several idempotency keys, in the order asked.
    fn idempotency_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<IdempotencyRecord>>, StoreError> {
        keys.iter().map(|k| self.idempotency(k)).collect()
    }
    /// Projection records whose key starts with `prefix`.
    fn projection_scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;
    /// The keys of the projection records whose key starts with `prefix`, without their values
    /// (a check of which members have a snapshot reads no snapshot).
    fn projection_keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .projection_scan(prefix)?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }
    /// The keys of the projection records from `from` (included) to `until` (excluded; `None`:
    /// to the end), in key order, without their values where the backend can.
    fn projection_keys_in(
        &self,
        from: &[u8],
        until: Option<&[u8]>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let common = until.map_or(0, |u| {
            from.iter().zip(u).take_while(|(a, b)| a == b).count()
        });
        Ok(self
            .projection_keys(&from[..common])?
            .into_iter()
            .filter(|k| k.as_slice() >= from && until.is_none_or(|u| k.as_slice() < u))
            .collect())
    }
    /// Rewrites projection records outside any append (a rebuild); durable on return.
    fn write_projections(&self, records: Vec<(Vec<u8>, Option<Vec<u8>>)>)
        -> Result<(), StoreError>;
    /// What the log remembers of an idempotency key.
    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Submits an append to the writer.
    fn append(&self, request: AppendRequest) -> AppendTicket;
    /// Submits several appends at once: each is applied (or refused) on its own, in order, as if
    /// appended one by one, without a round trip to the writer for each. One exception: a
    /// request that expects a member an earlier refused request of the group expected or would
    /// have written is refused as a version conflict, since it was decided on top of the
    /// refused one (its expected version can match the log by coincidence).
    fn append_group(&self, requests: Vec<AppendRequest>) -> GroupTicket;
    /// Resolves once everything applied so far is durable.
    fn sync(&self) -> oneshot::Receiver<Result<(), StoreError>>;
    /// Bytes on disk.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
    /// The log as a Merkle tree ([`merkle`]) up to the durable head: its size and where to read
    /// its nodes; `None` where the backend keeps none (PostgreSQL, a log whose positions skip).
    fn tree(&self) -> Result<Option<(u64, Box<dyn merkle::NodeSource + '_>)>, StoreError> {
        Ok(None)
    }
    /// The latest signed checkpoint ([`seal`]) at or below the durable head, as text.
    fn latest_checkpoint(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    /// Every signed checkpoint kept in the log, smallest first, as text.
    fn checkpoints(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    /// Signs a checkpoint of the durable head now and keeps it; `None` without a signing key.
    fn seal_now(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
}
