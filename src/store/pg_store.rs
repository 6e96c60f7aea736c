//! The PostgreSQL backend (feature `postgres`): the same log, versions, keys, hash chain and
//! projections as [`super::SledStore`], in five tables, with every append one transaction.
//!
//! | table | holds |
//! |---|---|
//! | `events` | position (bigint, primary key), event_id (uuid, unique), member, member_version (unique per member), the envelope JSON as text (the exact bytes sled stores), prev_hash, hash |
//! | `members` | each member's current version (the optimistic-concurrency check, `members()`) |
//! | `idempotency` | key (bytea), the command's payload hash, the positions it wrote |
//! | `projections` | key (bytea), value (bytea): opaque to the store |
//! | `head` | one row: the last position and its hash |
//!
//! **Ordering.** The hash chain is global (`hash = SHA-256(prev_hash ‖ canonical bytes)`, the
//! canonical bytes naming the position), so an append must know the previous event's hash
//! before it can write: every append transaction first locks the `head` row
//! (`SELECT … FOR UPDATE`), then checks keys and versions, assigns the next positions, hashes,
//! inserts, moves the head and commits. Appends therefore serialize on that row, across
//! connections and processes, and commit in position order: a transaction holding positions
//! n+1… cannot commit before the one holding n has (it waited for its lock), so a reader
//! polling `position > cursor` never skips an event that commits late. The checks read under
//! the lock (READ COMMITTED: each statement sees every earlier holder's commit), so a version
//! check cannot race and positions are gapless by construction. POSTGRES.md says what a
//! per-member chain would change.
//!
//! **Throughput.** The lock is held for one commit (one WAL flush), so the writer thread of a
//! store drains its queue and puts up to [`TXN_APPENDS_MAX`] appends in one transaction: each
//! is checked and refused or written on its own, in order, as if alone; a storage error fails
//! the whole transaction and every append in it (nothing of it is visible).
//!
//! **Durability.** A ticket's `applied` and `durable` both resolve after COMMIT returns, with
//! `synchronous_commit = on` set on the writer's connection: the commit record is flushed.
//!
//! **Threads.** The trait is sync and is called from async code, so the store drives
//! `tokio-postgres` on a small runtime of its own: a read spawns its query there and waits on
//! a channel; the writer is a thread that blocks on its queue and runs each transaction on that
//! runtime. A lost connection is not re-established: the store answers errors until reopened.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{SecondsFormat, Utc};
use tokio::sync::oneshot;
use tokio_postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};
use uuid::Uuid;

use super::location::check_next;
use super::{
    AppendOutcome, AppendRequest, AppendTicket, EventStore, GroupTicket, Head, IdempotencyRecord,
    StoreError, StoredEvent, GENESIS_HASH,
};

/// Appends one transaction (one head lock, one commit) may carry.
pub const TXN_APPENDS_MAX: usize = 1024;
/// Requests waiting for the writer; submitters block (backpressure) beyond this.
pub const WRITER_QUEUE_DEPTH: usize = 4096;
/// Connections shared by readers (queries are pipelined on each).
pub const READ_CONNECTIONS: usize = 2;
/// Worker threads of the store's own runtime (it only waits on sockets).
pub const RUNTIME_THREADS: usize = 1;
/// Events read from a source and written in one transaction by [`PgStore::import_from`].
pub const IMPORT_CHUNK_EVENTS: usize = 4096;

const _: () = assert!(TXN_APPENDS_MAX <= WRITER_QUEUE_DEPTH);

/// Tables, created at open when missing (under an advisory lock, so that processes opening a
/// new database at once do not race on the catalogue).
const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       bigint PRIMARY KEY CHECK (position > 0),
    event_id       uuid   NOT NULL UNIQUE,
    member         uuid   NOT NULL,
    member_version bigint NOT NULL CHECK (member_version > 0),
    envelope       text   NOT NULL,
    prev_hash      bytea  NOT NULL,
    hash           bytea  NOT NULL,
    UNIQUE (member, member_version)
);
CREATE TABLE IF NOT EXISTS members (
    member  uuid   PRIMARY KEY,
    version bigint NOT NULL CHECK (version > 0)
);
CREATE TABLE IF NOT EXISTS idempotency (
    key          bytea    PRIMARY KEY,
    payload_hash text     NOT NULL,
    positions    bigint[] NOT NULL
);
CREATE TABLE IF NOT EXISTS projections (
    key   bytea PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint  NOT NULL CHECK (position >= 0),
    hash     bytea   NOT NULL
);
INSERT INTO head (id, position, hash) VALUES (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000')
    ON CONFLICT (id) DO NOTHING;
";

/// The advisory lock key taken while creating the tables ("ml-schema").
const SCHEMA_LOCK_KEY: i64 = 0x6d6c_2d73_6368_656d;

/// Options of a PostgreSQL store.
#[derive(Clone, Debug, Default)]
pub struct PgOptions {
    /// A schema to create (when missing) and keep the tables in, set as every connection's
    /// `search_path`; `None` uses the connection's own (`options=-csearch_path=…` in the URL).
    pub schema: Option<String>,
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            StoreError::Postgres(format!("{} (SQLSTATE {})", db.message(), db.code().code()))
        }
        None => StoreError::Postgres(e.to_string()),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_error(e)
    }
}

fn to_db(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Postgres(format!("{value} exceeds bigint")))
}

fn from_db(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        position: 0,
        reason: format!("{what} is negative ({value})"),
    })
}

fn hash_from_db(bytes: &[u8], position: u64) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: "a stored hash is not 32 bytes".into(),
    })
}

fn decode_event(position: i64, envelope: &str) -> Result<StoredEvent, StoreError> {
    let position = from_db(position, "position")?;
    let event: StoredEvent = serde_json::from_str(envelope).map_err(|e| StoreError::Corrupt {
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

fn decode_record(
    payload_hash: String,
    positions: Vec<i64>,
) -> Result<IdempotencyRecord, StoreError> {
    let positions = positions
        .into_iter()
        .map(|p| from_db(p, "idempotency position"))
        .collect::<Result<_, _>>()?;
    Ok(IdempotencyRecord {
        payload_hash,
        positions,
    })
}

/// The smallest key above every key starting with `prefix` (`None`: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Connects, sets the schema and the session's settings, and spawns the connection's driver.
async fn connect(
    config: &tokio_postgres::Config,
    schema: Option<&str>,
) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // The error, if any, reaches the next query as a closed connection.
        let _ = connection.await;
    });
    // Durability of every acknowledged append rests on this, not on the server's default.
    client.batch_execute("SET synchronous_commit = on").await?;
    if let Some(schema) = schema {
        let quoted = quote_identifier(schema);
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {quoted}; SET search_path TO {quoted}"
            ))
            .await?;
    }
    let row = client.query_one("SELECT current_schema()", &[]).await?;
    if row.get::<_, Option<String>>(0).is_none() {
        return Err(StoreError::Unsupported(
            "the connection's search_path names no existing schema: create it first".into(),
        ));
    }
    Ok(client)
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the tables when missing and checks that the head and the last event agree.
async fn prepare_schema(client: &mut Client) -> Result<(), StoreError> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
        .await?;
    txn.batch_execute(SCHEMA_SQL).await?;
    txn.commit().await?;
    let row = client
        .query_one(
            "SELECT h.position, h.hash, e.position, e.hash FROM head h \
             LEFT JOIN LATERAL (SELECT position, hash FROM events ORDER BY position DESC LIMIT 1) e ON true",
            &[],
        )
        .await?;
    let head_position = from_db(row.get(0), "head position")?;
    let last_position = row.get::<_, Option<i64>>(2).unwrap_or(0);
    let last_position = from_db(last_position, "last position")?;
    let head_hash: Vec<u8> = row.get(1);
    let last_hash = row
        .get::<_, Option<Vec<u8>>>(3)
        .unwrap_or(GENESIS_HASH.to_vec());
    if head_position != last_position || head_hash != last_hash {
        return Err(StoreError::Corrupt {
            position: head_position.max(last_position),
            reason: format!(
                "head says {head_position} but the last event is at {last_position} (or their hashes differ)"
            ),
        });
    }
    Ok(())
}

/// A read connection and its prepared statements.
struct Reader {
    client: Client,
    head: Statement,
    member_version: Statement,
    read_member: Statement,
    read_member_after: Statement,
    members: Statement,
    event_position: Statement,
    read_from: Statement,
    projection: Statement,
    projection_scan: Statement,
    idempotency: Statement,
}

impl Reader {
    async fn new(client: Client) -> Result<Reader, StoreError> {
        let envelope = "SELECT position, envelope FROM events";
        Ok(Reader {
            head: client
                .prepare("SELECT position, hash FROM head WHERE id")
                .await?,
            member_version: client
                .prepare("SELECT version FROM members WHERE member = $1")
                .await?,
            read_member: client
                .prepare(&format!(
                    "{envelope} WHERE member = $1 AND position <= $2 ORDER BY member_version"
                ))
                .await?,
            read_member_after: client
                .prepare(&format!(
                    "{envelope} WHERE member = $1 AND member_version > $2 ORDER BY member_version"
                ))
                .await?,
            members: client
                .prepare("SELECT member FROM members ORDER BY member")
                .await?,
            event_position: client
                .prepare("SELECT position FROM events WHERE event_id = $1")
                .await?,
            read_from: client
                .prepare(&format!(
                    "{envelope} WHERE position >= $1 ORDER BY position LIMIT $2"
                ))
                .await?,
            projection: client
                .prepare("SELECT value FROM projections WHERE key = $1")
                .await?,
            projection_scan: client
                .prepare(
                    "SELECT key, value FROM projections \
                     WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) ORDER BY key",
                )
                .await?,
            idempotency: client
                .prepare("SELECT payload_hash, positions FROM idempotency WHERE key = $1")
                .await?,
            client,
        })
    }

    async fn events(
        &self,
        statement: &Statement,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = self.client.query(statement, params).await?;
        rows.iter()
            .map(|row| decode_event(row.get(0), row.get(1)))
            .collect()
    }
}

enum Job {
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
    Projections(
        Vec<(Vec<u8>, Option<Vec<u8>>)>,
        mpsc::SyncSender<Result<(), StoreError>>,
    ),
    Import(
        Vec<StoredEvent>,
        Vec<(String, IdempotencyRecord)>,
        mpsc::SyncSender<Result<(), StoreError>>,
    ),
    Shutdown,
}

/// The PostgreSQL event store. Share it behind an `Arc`; dropping the last handle stops the
/// writer after the transaction it is running.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    readers: Vec<Arc<Reader>>,
    next_reader: AtomicUsize,
    tx: SyncSender<Job>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl PgStore {
    /// Opens the store at `url` (a `postgres://` URL or a libpq connection string), creating
    /// the tables when missing.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        PgStore::open_with(url, PgOptions::default())
    }

    /// Opens the store with explicit options.
    pub fn open_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Unsupported(format!("not a PostgreSQL location: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("ledger-pg")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let schema = options.schema.clone();
        let (mut writer_client, statements, readers) = run_on(&handle, async move {
            let mut writer = connect(&config, schema.as_deref()).await?;
            prepare_schema(&mut writer).await?;
            let statements = WriteStatements::new(&writer).await?;
            let mut readers = Vec::with_capacity(READ_CONNECTIONS);
            for _ in 0..READ_CONNECTIONS {
                let client = connect(&config, schema.as_deref()).await?;
                readers.push(Arc::new(Reader::new(client).await?));
            }
            Ok((writer, statements, readers))
        })?;
        let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE_DEPTH);
        let writer_handle = handle.clone();
        let writer = std::thread::Builder::new()
            .name("ledger-pg-writer".into())
            .spawn(move || {
                let writer = Writer {
                    handle: writer_handle,
                    statements,
                };
                writer.run(&mut writer_client, rx);
            })?;
        Ok(PgStore {
            runtime: Some(runtime),
            handle,
            readers,
            next_reader: AtomicUsize::new(0),
            tx,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Copies every event and idempotency record of `source` into this store, which must hold
    /// no event: positions, ids, member versions and hashes unchanged (each link checked).
    /// Projections are not copied: rebuild them. Returns the events copied.
    pub fn import_from(&self, source: &dyn EventStore) -> Result<u64, StoreError> {
        if self.head()?.position != 0 {
            return Err(StoreError::Unsupported(
                "the target database already holds events: migrate into an empty ledger".into(),
            ));
        }
        let mut next = 1;
        loop {
            let chunk = source.read_from(next, IMPORT_CHUNK_EVENTS)?;
            let Some(last) = chunk.last() else {
                break;
            };
            next = last.position + 1;
            let keys: BTreeSet<&String> = chunk
                .iter()
                .filter_map(|e| e.idempotency_key.as_ref())
                .collect();
            let mut records = Vec::with_capacity(keys.len());
            for key in keys {
                let record = source
                    .idempotency(key)?
                    .ok_or_else(|| StoreError::Corrupt {
                        position: 0,
                        reason: format!("the source has no record of key '{key}'"),
                    })?;
                records.push((key.clone(), record));
            }
            let (done_tx, done) = mpsc::sync_channel(1);
            self.send(Job::Import(chunk, records, done_tx));
            done.recv().unwrap_or(Err(StoreError::Closed))?;
        }
        Ok(next - 1)
    }

    fn reader(&self) -> Arc<Reader> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        Arc::clone(&self.readers[i])
    }

    /// Runs a future on the store's runtime and waits for it (callable from async code too).
    fn run<T, F>(&self, future: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        run_on(&self.handle, future)
    }

    fn send(&self, job: Job) {
        // A failed send drops the job's senders, which its receivers see as `Closed`.
        let _ = self.tx.send(job);
    }
}

fn run_on<T, F>(handle: &tokio::runtime::Handle, future: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().unwrap_or(Err(StoreError::Closed))
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let _ = self.tx.send(Job::Shutdown);
        if let Ok(mut guard) = self.writer.lock() {
            if let Some(handle) = guard.take() {
                let _ = handle.join();
            }
        }
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime blocks, which async code (where the last handle may go) forbids.
            runtime.shutdown_background();
        }
    }
}

impl EventStore for PgStore {
    fn head(&self) -> Result<Head, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader.client.query_one(&reader.head, &[]).await?;
            let position = from_db(row.get(0), "head position")?;
            let hash = hash_from_db(row.get(1), position)?;
            Ok(Head { position, hash })
        })
    }

    fn member_version(&self, member: Uuid) -> Result<u64, StoreError> {
        let reader = self.reader();
        self.run(async move {
            match reader
                .client
                .query_opt(&reader.member_version, &[&member])
                .await?
            {
                Some(row) => from_db(row.get(0), "member version"),
                None => Ok(0),
            }
        })
    }

    fn read_member(
        &self,
        member: Uuid,
        max_position: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let reader = self.reader();
        let max = to_db(
            max_position
                .unwrap_or(u64::MAX)
                .min(i64::MAX.unsigned_abs()),
        )?;
        self.run(async move { reader.events(&reader.read_member, &[&member, &max]).await })
    }

    fn members(&self) -> Result<Vec<Uuid>, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let rows = reader.client.query(&reader.members, &[]).await?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn read_member_after(
        &self,
        member: Uuid,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let reader = self.reader();
        let after = to_db(after_version.min(i64::MAX.unsigned_abs()))?;
        self.run(async move {
            reader
                .events(&reader.read_member_after, &[&member, &after])
                .await
        })
    }

    fn event_position(&self, event_id: Uuid) -> Result<Option<u64>, StoreError> {
        let reader = self.reader();
        self.run(async move {
            match reader
                .client
                .query_opt(&reader.event_position, &[&event_id])
                .await?
            {
                Some(row) => from_db(row.get(0), "event position").map(Some),
                None => Ok(None),
            }
        })
    }

    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let reader = self.reader();
        let from = to_db(from_position.min(i64::MAX.unsigned_abs()))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(async move { reader.events(&reader.read_from, &[&from, &limit]).await })
    }

    fn projection(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let reader = self.reader();
        let key = key.to_vec();
        self.run(async move {
            let row = reader.client.query_opt(&reader.projection, &[&key]).await?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn projection_scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let reader = self.reader();
        let start = prefix.to_vec();
        let end = prefix_end(prefix);
        self.run(async move {
            let rows = reader
                .client
                .query(&reader.projection_scan, &[&start, &end])
                .await?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    fn write_projections(
        &self,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Projections(records, tx));
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let reader = self.reader();
        let key = key.as_bytes().to_vec();
        self.run(async move {
            match reader
                .client
                .query_opt(&reader.idempotency, &[&key])
                .await?
            {
                Some(row) => decode_record(row.get(0), row.get(1)).map(Some),
                None => Ok(None),
            }
        })
    }

    fn append(&self, request: AppendRequest) -> AppendTicket {
        let (applied_tx, applied) = oneshot::channel();
        let (durable_tx, durable) = oneshot::channel();
        self.send(Job::Append(Box::new(request), applied_tx, durable_tx));
        AppendTicket { applied, durable }
    }

    fn append_group(&self, requests: Vec<AppendRequest>) -> GroupTicket {
        let (applied_tx, applied) = oneshot::channel();
        let (durable_tx, durable) = oneshot::channel();
        self.send(Job::AppendGroup(requests, applied_tx, durable_tx));
        GroupTicket { applied, durable }
    }

    fn sync(&self) -> oneshot::Receiver<Result<(), StoreError>> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Sync(tx));
        rx
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader
                .client
                .query_one(
                    "SELECT (pg_total_relation_size('events') + pg_total_relation_size('members') \
                     + pg_total_relation_size('idempotency') + pg_total_relation_size('projections') \
                     + pg_total_relation_size('head'))::bigint",
                    &[],
                )
                .await?;
            from_db(row.get(0), "size")
        })
    }
}

/// The writer's prepared statements.
struct WriteStatements {
    lock_head: Statement,
    key: Statement,
    versions: Statement,
    insert_events: Statement,
    upsert_members: Statement,
    insert_key: Statement,
    upsert_projections: Statement,
    delete_projections: Statement,
    set_head: Statement,
}

impl WriteStatements {
    async fn new(client: &Client) -> Result<WriteStatements, StoreError> {
        Ok(WriteStatements {
            lock_head: client
                .prepare("SELECT position, hash FROM head WHERE id FOR UPDATE")
                .await?,
            key: client
                .prepare("SELECT payload_hash, positions FROM idempotency WHERE key = $1")
                .await?,
            versions: client
                .prepare("SELECT member, version FROM members WHERE member = ANY($1)")
                .await?,
            insert_events: client
                .prepare(
                    "INSERT INTO events (position, event_id, member, member_version, envelope, prev_hash, hash) \
                     SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::bytea[], $7::bytea[])",
                )
                .await?,
            upsert_members: client
                .prepare(
                    "INSERT INTO members (member, version) SELECT * FROM UNNEST($1::uuid[], $2::bigint[]) \
                     ON CONFLICT (member) DO UPDATE SET version = EXCLUDED.version",
                )
                .await?,
            insert_key: client
                .prepare("INSERT INTO idempotency (key, payload_hash, positions) VALUES ($1, $2, $3)")
                .await?,
            upsert_projections: client
                .prepare(
                    "INSERT INTO projections (key, value) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .await?,
            delete_projections: client
                .prepare("DELETE FROM projections WHERE key = ANY($1)")
                .await?,
            set_head: client
                .prepare("UPDATE head SET position = $1, hash = $2 WHERE id")
                .await?,
        })
    }
}

/// Where an append's answers go.
enum Reply {
    One(
        oneshot::Sender<Result<AppendOutcome, StoreError>>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    Group(
        usize,
        oneshot::Sender<Vec<Result<AppendOutcome, StoreError>>>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
}

/// The writer thread: the only code of this process that writes the database.
struct Writer {
    handle: tokio::runtime::Handle,
    statements: WriteStatements,
}

impl Writer {
    fn run(&self, client: &mut Client, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            let mut appends = 0;
            while appends < TXN_APPENDS_MAX {
                match rx.try_recv() {
                    Ok(job) => {
                        appends += match &job {
                            Job::AppendGroup(requests, ..) => requests.len(),
                            _ => 1,
                        };
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            if self.handle_jobs(client, jobs) {
                return;
            }
        }
    }

    /// Handles jobs in order: runs of appends share a transaction. Returns whether to stop.
    fn handle_jobs(&self, client: &mut Client, jobs: Vec<Job>) -> bool {
        // Each request with the ordinal of its job: taint stays within one group.
        let mut requests: Vec<(usize, AppendRequest)> = Vec::new();
        let mut replies: Vec<Reply> = Vec::new();
        for (ordinal, job) in jobs.into_iter().enumerate() {
            match job {
                Job::Append(request, applied, durable) => {
                    requests.push((ordinal, *request));
                    replies.push(Reply::One(applied, durable));
                }
                Job::AppendGroup(group, applied, durable) => {
                    replies.push(Reply::Group(group.len(), applied, durable));
                    requests.extend(group.into_iter().map(|r| (ordinal, r)));
                }
                other => {
                    self.commit_appends(
                        client,
                        std::mem::take(&mut requests),
                        std::mem::take(&mut replies),
                    );
                    match other {
                        Job::Sync(ack) => {
                            let _ = ack.send(Ok(()));
                        }
                        Job::Projections(records, ack) => {
                            let done = write_projections(client, &self.statements, records);
                            let _ = ack.send(self.block_on(done));
                        }
                        Job::Import(events, records, ack) => {
                            let done = import(client, &self.statements, events, records);
                            let _ = ack.send(self.block_on(done));
                        }
                        Job::Shutdown => return true,
                        Job::Append(..) | Job::AppendGroup(..) => unreachable!("handled above"),
                    }
                }
            }
        }
        self.commit_appends(client, requests, replies);
        false
    }

    fn block_on<T>(
        &self,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.handle.block_on(future)
    }

    /// One transaction for the appends; answers each (applied and durable after COMMIT).
    fn commit_appends(
        &self,
        client: &mut Client,
        requests: Vec<(usize, AppendRequest)>,
        replies: Vec<Reply>,
    ) {
        if requests.is_empty() {
            return;
        }
        let result = self.block_on(append_all(client, &self.statements, &requests));
        let mut outcomes = match result {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect::<Vec<_>>().into_iter(),
            Err(e) => {
                let why = e.to_string();
                (0..requests.len())
                    .map(|_| Err(StoreError::Postgres(why.clone())))
                    .collect::<Vec<_>>()
                    .into_iter()
            }
        };
        for reply in replies {
            match reply {
                Reply::One(applied, durable) => {
                    let outcome = outcomes.next().unwrap_or(Err(StoreError::Closed));
                    let _ = durable.send(durability(&outcome));
                    let _ = applied.send(outcome);
                }
                Reply::Group(n, applied, durable) => {
                    let group: Vec<_> = outcomes.by_ref().take(n).collect();
                    let failed = group
                        .iter()
                        .find_map(|o| o.as_ref().err().map(|e| e.to_string()));
                    let _ =
                        durable.send(failed.map_or(Ok(()), |why| Err(StoreError::Postgres(why))));
                    let _ = applied.send(group);
                }
            }
        }
    }
}

fn durability(outcome: &Result<AppendOutcome, StoreError>) -> Result<(), StoreError> {
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(StoreError::Postgres(e.to_string())),
    }
}

async fn begin(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    // READ COMMITTED on purpose: each statement after the head lock sees every earlier
    // holder's commit (REPEATABLE READ would fail the lock with a serialization error).
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await?)
}

async fn lock_head(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
) -> Result<Head, StoreError> {
    let row = txn.query_one(&statements.lock_head, &[]).await?;
    let position = from_db(row.get(0), "head position")?;
    let hash = hash_from_db(row.get(1), position)?;
    Ok(Head { position, hash })
}

async fn set_head(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    head: &Head,
) -> Result<(), StoreError> {
    let position = to_db(head.position)?;
    txn.execute(&statements.set_head, &[&position, &head.hash.as_slice()])
        .await?;
    Ok(())
}

async fn append_all(
    client: &mut Client,
    statements: &WriteStatements,
    requests: &[(usize, AppendRequest)],
) -> Result<Vec<AppendOutcome>, StoreError> {
    let txn = begin(client).await?;
    let start = lock_head(&txn, statements).await?;
    let mut head = start;
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut tainted: BTreeSet<Uuid> = BTreeSet::new();
    let mut job = None;
    for (ordinal, request) in requests {
        if job != Some(*ordinal) {
            tainted.clear();
            job = Some(*ordinal);
        }
        let outcome = match tainted_conflict(&txn, statements, &tainted, request).await? {
            Some(conflict) => conflict,
            None => append_one(&txn, statements, &mut head, request).await?,
        };
        if !matches!(outcome, AppendOutcome::Committed(_)) {
            tainted.extend(request.expected.iter().map(|(m, _)| *m));
            tainted.extend(request.events.iter().map(|e| e.member));
        }
        outcomes.push(outcome);
    }
    if head != start {
        set_head(&txn, statements, &head).await?;
    }
    txn.commit().await?;
    Ok(outcomes)
}

/// A request of a group that expects a member an earlier refused request of the group expected
/// or would have written was decided on top of that refused request: its expected version may
/// still match the log by coincidence (another writer appended as many events), so it is
/// refused as a conflict too, as the sled backend does.
async fn tainted_conflict(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    tainted: &BTreeSet<Uuid>,
    request: &AppendRequest,
) -> Result<Option<AppendOutcome>, StoreError> {
    let Some((member, expected)) = request.expected.iter().find(|(m, _)| tainted.contains(m))
    else {
        return Ok(None);
    };
    let members = vec![*member];
    let actual = match txn.query(&statements.versions, &[&members]).await?.first() {
        Some(row) => from_db(row.get(1), "member version")?,
        None => 0,
    };
    Ok(Some(AppendOutcome::VersionConflict {
        member: *member,
        expected: *expected,
        actual,
    }))
}

/// Checks and writes one append inside the transaction that holds the head.
async fn append_one(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    head: &mut Head,
    request: &AppendRequest,
) -> Result<AppendOutcome, StoreError> {
    if let Some(claim) = &request.idempotency {
        if let Some(row) = txn
            .query_opt(&statements.key, &[&claim.key.as_bytes()])
            .await?
        {
            let record = decode_record(row.get(0), row.get(1))?;
            return Ok(if record.payload_hash == hex::encode(claim.payload_hash) {
                AppendOutcome::Duplicate(record)
            } else {
                AppendOutcome::KeyReused
            });
        }
    }
    let members: Vec<Uuid> = request
        .expected
        .iter()
        .map(|(m, _)| *m)
        .chain(request.events.iter().map(|e| e.member))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut versions: HashMap<Uuid, u64> = HashMap::new();
    for row in txn.query(&statements.versions, &[&members]).await? {
        versions.insert(row.get(0), from_db(row.get(1), "member version")?);
    }
    for (member, expected) in &request.expected {
        let actual = versions.get(member).copied().unwrap_or(0);
        if actual != *expected {
            return Ok(AppendOutcome::VersionConflict {
                member: *member,
                expected: *expected,
                actual,
            });
        }
    }
    let stored = build_events(head, &mut versions, request);
    insert_events(txn, statements, &stored).await?;
    if let Some(claim) = &request.idempotency {
        let positions = stored
            .iter()
            .map(|e| to_db(e.position))
            .collect::<Result<Vec<_>, _>>()?;
        let payload_hash = hex::encode(claim.payload_hash);
        txn.execute(
            &statements.insert_key,
            &[&claim.key.as_bytes(), &payload_hash, &positions],
        )
        .await?;
    }
    write_projection_records(txn, statements, &request.projections).await?;
    if let Some(last) = stored.last() {
        *head = Head {
            position: last.position,
            hash: last.hash_bytes().unwrap_or(GENESIS_HASH),
        };
    }
    Ok(AppendOutcome::Committed(stored))
}

/// Assigns positions, member versions and hashes: the same envelope sled writes.
fn build_events(
    head: &Head,
    versions: &mut HashMap<Uuid, u64>,
    request: &AppendRequest,
) -> Vec<StoredEvent> {
    let recorded_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut position = head.position;
    let mut prev = head.hash;
    let mut stored = Vec::with_capacity(request.events.len());
    for new in &request.events {
        position += 1;
        let version = versions.get(&new.member).copied().unwrap_or(0) + 1;
        versions.insert(new.member, version);
        let mut event = StoredEvent {
            position,
            event_id: Uuid::new_v4(),
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
        prev = hash;
        stored.push(event);
    }
    assert_eq!(
        position,
        head.position + stored.len() as u64,
        "positions are gapless"
    );
    stored
}

/// Inserts events and moves their members' versions (one statement each, whatever the count).
async fn insert_events(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    events: &[StoredEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut positions = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    let mut members = Vec::with_capacity(events.len());
    let mut versions = Vec::with_capacity(events.len());
    let mut envelopes = Vec::with_capacity(events.len());
    let mut prev_hashes = Vec::with_capacity(events.len());
    let mut hashes = Vec::with_capacity(events.len());
    let mut latest: BTreeMap<Uuid, i64> = BTreeMap::new();
    for event in events {
        let corrupt = |reason: &str| StoreError::Corrupt {
            position: event.position,
            reason: reason.to_string(),
        };
        positions.push(to_db(event.position)?);
        ids.push(event.event_id);
        members.push(event.member);
        versions.push(to_db(event.member_version)?);
        latest.insert(event.member, to_db(event.member_version)?);
        envelopes.push(serde_json::to_string(event).map_err(|e| corrupt(&e.to_string()))?);
        prev_hashes.push(
            event
                .prev_hash_bytes()
                .ok_or_else(|| corrupt("prev_hash"))?
                .to_vec(),
        );
        hashes.push(event.hash_bytes().ok_or_else(|| corrupt("hash"))?.to_vec());
    }
    txn.execute(
        &statements.insert_events,
        &[
            &positions,
            &ids,
            &members,
            &versions,
            &envelopes,
            &prev_hashes,
            &hashes,
        ],
    )
    .await?;
    let (members, versions): (Vec<Uuid>, Vec<i64>) = latest.into_iter().unzip();
    txn.execute(&statements.upsert_members, &[&members, &versions])
        .await?;
    Ok(())
}

/// Writes projection records in request order (the last write of a key wins, as in a batch).
async fn write_projection_records(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    records: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let last: BTreeMap<&Vec<u8>, &Option<Vec<u8>>> = records.iter().map(|(k, v)| (k, v)).collect();
    let mut upsert_keys = Vec::new();
    let mut upsert_values = Vec::new();
    let mut deletes = Vec::new();
    for (key, value) in last {
        match value {
            Some(value) => {
                upsert_keys.push(key.clone());
                upsert_values.push(value.clone());
            }
            None => deletes.push(key.clone()),
        }
    }
    if !upsert_keys.is_empty() {
        txn.execute(
            &statements.upsert_projections,
            &[&upsert_keys, &upsert_values],
        )
        .await?;
    }
    if !deletes.is_empty() {
        txn.execute(&statements.delete_projections, &[&deletes])
            .await?;
    }
    Ok(())
}

async fn write_projections(
    client: &mut Client,
    statements: &WriteStatements,
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<(), StoreError> {
    let txn = begin(client).await?;
    write_projection_records(&txn, statements, &records).await?;
    txn.commit().await?;
    Ok(())
}

/// Appends already-stored events verbatim (a migration) with their idempotency records, after
/// checking that each one follows the head in the chain and in its member's stream.
async fn import(
    client: &mut Client,
    statements: &WriteStatements,
    events: Vec<StoredEvent>,
    records: Vec<(String, IdempotencyRecord)>,
) -> Result<(), StoreError> {
    let txn = begin(client).await?;
    let mut head = lock_head(&txn, statements).await?;
    let members: Vec<Uuid> = events
        .iter()
        .map(|e| e.member)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut versions: HashMap<Uuid, u64> = HashMap::new();
    for row in txn.query(&statements.versions, &[&members]).await? {
        versions.insert(row.get(0), from_db(row.get(1), "member version")?);
    }
    for event in &events {
        check_next(event, &head, versions.get(&event.member).copied())?;
        versions.insert(event.member, event.member_version);
        head = Head {
            position: event.position,
            hash: event.hash_bytes().unwrap_or(GENESIS_HASH),
        };
    }
    insert_events(&txn, statements, &events).await?;
    for (key, record) in records {
        let positions = record
            .positions
            .iter()
            .map(|p| to_db(*p))
            .collect::<Result<Vec<i64>, _>>()?;
        txn.execute(
            "INSERT INTO idempotency (key, payload_hash, positions) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
            &[&key.as_bytes(), &record.payload_hash, &positions],
        )
        .await?;
    }
    set_head(&txn, statements, &head).await?;
    txn.commit().await?;
    Ok(())
}
