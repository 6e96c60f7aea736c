//! The PostgreSQL backend (feature `postgres`): the same envelopes, member versions, keys,
//! per-member hash chains and projections as [`super::SledStore`], with every append one
//! transaction, and writers for different members never waiting for each other.
//!
//! | table | holds |
//! |---|---|
//! | `events` | position (bigint, primary key), xid (xid8: the writing transaction), event_id (uuid, unique), member, member_version (unique per member), the envelope JSON as text (the exact bytes sled stores), prev_hash, hash |
//! | `members` | each member's version and last hash: the row a writer locks, and `members()` |
//! | `idempotency` | key (bytea), the command's payload hash, the positions it wrote |
//! | `projections` | key (bytea), value (bytea): opaque to the store |
//! | `log_format` | the format of the log (a hash chain per member) |
//!
//! **Writing.** A transaction (one append, or every append a writer drained from its queue, at
//! most [`TXN_APPENDS_MAX`]) first makes sure each member it touches has a row, then claims
//! positions for all its events with `ml_claim_positions(n)`, which under a short advisory lock
//! also gives the transaction its id; then it locks its members' rows (`FOR UPDATE`, in member
//! order, so that writers cannot deadlock), checks keys and versions, chains each member's new
//! events to the hash in its row, writes, and commits. Writers for other members take other
//! rows and commit in parallel; writers for the same member wait for each other's commit and
//! then see it (READ COMMITTED). A refused append or a failed transaction leaves its claimed
//! positions unused: positions rise but may skip ([`EventStore::positions_gapless`] is false).
//!
//! **Reading in order.** Transactions commit in any order, but because ids and positions are
//! claimed together, a transaction's positions are above those of every transaction with a
//! smaller id. `read_from` and `head` only return events whose transaction id is below
//! `pg_snapshot_xmin(pg_current_snapshot())`: every transaction that could still commit has an
//! id at or above it, hence positions above everything returned. A consumer that continues after
//! the last position it read never skips an event that committed late; a transaction in flight
//! only delays what comes after it. No NOTIFY is sent from the append transaction.
//!
//! **Durability.** A ticket's `applied` and `durable` both resolve after COMMIT returns, with
//! `synchronous_commit = on` set on every writer connection: the commit record is flushed.
//!
//! **Threads.** The trait is sync and is called from async code, so the store drives
//! `tokio-postgres` on runtimes of its own: a read spawns its query on a small shared runtime and
//! waits on a channel; each writer ([`PgOptions::writers`]) is a thread with its own connection
//! and single-threaded runtime that blocks on its queue and runs each transaction there (no
//! round trip waits for another thread); a member's appends always go to the same writer. A lost connection is not re-established: the store answers errors until
//! reopened.

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

use super::{
    AppendOutcome, AppendRequest, AppendTicket, ChainWalk, EventStore, GroupTicket, Head,
    IdempotencyRecord, NewEvent, StoreError, StoredEvent, GENESIS_HASH,
};

/// Appends one transaction (one claim of positions, one commit) may carry.
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
CREATE SEQUENCE IF NOT EXISTS event_position AS bigint MINVALUE 1;
CREATE TABLE IF NOT EXISTS events (
    position       bigint PRIMARY KEY CHECK (position > 0),
    xid            xid8   NOT NULL DEFAULT pg_current_xact_id(),
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
    version bigint NOT NULL CHECK (version >= 0),
    hash    bytea  NOT NULL
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
CREATE TABLE IF NOT EXISTS log_format (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    format text    NOT NULL
);
INSERT INTO log_format (id, format) VALUES (true, 'member-ledger-log/2 (a hash chain per member)')
    ON CONFLICT (id) DO NOTHING;

-- Claims n positions for the calling transaction, and gives it its transaction id, both under
-- one short lock: transaction ids and positions are then in the same order, which is what lets
-- a reader stop below the oldest transaction in flight and never skip a late commit.
CREATE OR REPLACE FUNCTION ml_claim_positions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    first bigint;
BEGIN
    PERFORM pg_advisory_lock(27756, 1);
    BEGIN
        PERFORM pg_current_xact_id();
        first := nextval('event_position');
        IF n > 1 THEN
            PERFORM setval('event_position', first + n - 1);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(27756, 1);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(27756, 1);
    RETURN first;
END $$;

-- The start of an append transaction, in one round trip: claims n positions (and the
-- transaction's id), gives every member touched a row (version 0 when new), and locks those rows
-- in member order. Both passes go in member order, so two writers cannot deadlock on them.
CREATE OR REPLACE FUNCTION ml_begin_append(n bigint, touched uuid[])
RETURNS TABLE (o_first bigint, o_member uuid, o_version bigint, o_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    first bigint := 0;
BEGIN
    IF n > 0 THEN
        first := ml_claim_positions(n);
    END IF;
    INSERT INTO members (member, version, hash)
        SELECT m, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
        FROM unnest(touched) AS m ORDER BY m
        ON CONFLICT (member) DO NOTHING;
    RETURN QUERY SELECT first, r.member, r.version, r.hash FROM members r
        WHERE r.member = ANY(touched) ORDER BY r.member FOR UPDATE;
END $$;

-- The same for a migration, whose events keep their positions: the sequence moves past them.
CREATE OR REPLACE FUNCTION ml_claim_imported(last_position bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    claimed bigint;
BEGIN
    PERFORM pg_advisory_lock(27756, 1);
    BEGIN
        PERFORM pg_current_xact_id();
        SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO claimed FROM event_position;
        IF greatest(last_position, claimed) > 0 THEN
            PERFORM setval('event_position', greatest(last_position, claimed));
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(27756, 1);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(27756, 1);
END $$;
";

/// The format this build writes, as `log_format` records it.
const LOG_FORMAT: &str = "member-ledger-log/2 (a hash chain per member)";

/// The advisory lock (two-key form, "ml", 0) taken while creating the tables; the claim of
/// positions takes ("ml", 1) for a moment (`ml_claim_positions`).
const SCHEMA_LOCK: (i32, i32) = (27756, 0);

/// The end of the stable log: the last event below every transaction still in flight.
const STABLE_HEAD_SQL: &str = "SELECT position, hash FROM events \
     WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY position DESC LIMIT 1";

/// Options of a PostgreSQL store.
#[derive(Clone, Debug, Default)]
pub struct PgOptions {
    /// Writer connections (at least one): appends for different members run on them in
    /// parallel, each a transaction of its own.
    pub writers: usize,
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

/// Creates the tables when missing and checks the log's format and its position sequence.
async fn prepare_schema(client: &mut Client) -> Result<(), StoreError> {
    let txn = client.transaction().await?;
    txn.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&SCHEMA_LOCK.0, &SCHEMA_LOCK.1],
    )
    .await?;
    let earlier = txn
        .query_one("SELECT to_regclass('head') IS NOT NULL", &[])
        .await?;
    if earlier.get::<_, bool>(0) {
        return Err(StoreError::Unsupported(
            "this database holds a log written by an earlier build (one global hash chain, a \
             `head` table) that this one cannot check; use a new database or schema"
                .into(),
        ));
    }
    txn.batch_execute(SCHEMA_SQL).await?;
    let format: String = txn
        .query_one("SELECT format FROM log_format", &[])
        .await?
        .get(0);
    if format != LOG_FORMAT {
        return Err(StoreError::Unsupported(format!(
            "this database's log is in format '{format}', not '{LOG_FORMAT}'"
        )));
    }
    txn.commit().await?;
    let row = client
        .query_one(
            "SELECT coalesce((SELECT max(position) FROM events), 0), \
             (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_position)",
            &[],
        )
        .await?;
    let last_position: i64 = row.get(0);
    let claimed: i64 = row.get(1);
    if claimed < last_position {
        return Err(StoreError::Corrupt {
            position: from_db(last_position, "last position")?,
            reason: format!(
                "the position sequence is at {claimed}, behind the last event at {last_position}: \
                 new events would collide with stored ones"
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
    event_at: Statement,
    member_versions: Statement,
    projections: Statement,
    read_members_after: Statement,
    idempotency_many: Statement,
    projection: Statement,
    projection_scan: Statement,
    idempotency: Statement,
}

impl Reader {
    async fn new(client: Client) -> Result<Reader, StoreError> {
        let envelope = "SELECT position, envelope FROM events";
        Ok(Reader {
            head: client.prepare(STABLE_HEAD_SQL).await?,
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
                .prepare("SELECT member FROM members WHERE version > 0 ORDER BY member")
                .await?,
            event_position: client
                .prepare("SELECT position FROM events WHERE event_id = $1")
                .await?,
            read_from: client
                .prepare(&format!(
                    "{envelope} WHERE position >= $1 \
                     AND xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY position LIMIT $2"
                ))
                .await?,
            event_at: client
                .prepare(&format!("{envelope} WHERE position = $1"))
                .await?,
            member_versions: client
                .prepare("SELECT member, version FROM members WHERE member = ANY($1)")
                .await?,
            projections: client
                .prepare("SELECT key, value FROM projections WHERE key = ANY($1)")
                .await?,
            read_members_after: client
                .prepare(
                    "SELECT e.position, e.envelope FROM events e \
                     JOIN UNNEST($1::uuid[], $2::bigint[]) AS f(member, after) \
                     ON e.member = f.member AND e.member_version > f.after \
                     ORDER BY e.member, e.member_version",
                )
                .await?,
            idempotency_many: client
                .prepare("SELECT key, payload_hash, positions FROM idempotency WHERE key = ANY($1)")
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
    Projections(
        Vec<(Vec<u8>, Option<Vec<u8>>)>,
        mpsc::SyncSender<Result<(), StoreError>>,
    ),
    Import(Box<Import>, mpsc::SyncSender<Result<(), StoreError>>),
    Shutdown,
}

/// The PostgreSQL event store. Share it behind an `Arc`; dropping the last handle stops the
/// writers after the transactions they are running.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    readers: Vec<Arc<Reader>>,
    next_reader: AtomicUsize,
    /// One queue per writer connection.
    writers: Vec<SyncSender<Job>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A store's connections, once they all answered.
struct Started {
    readers: Vec<Arc<Reader>>,
    writers: Vec<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
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
        match PgStore::start(config, options, handle) {
            Ok(started) => Ok(PgStore {
                handle: runtime.handle().clone(),
                runtime: Some(runtime),
                readers: started.readers,
                next_reader: AtomicUsize::new(0),
                writers: started.writers,
                threads: Mutex::new(started.threads),
            }),
            Err(e) => {
                // Dropping a runtime blocks, which async code (where `open` is often called)
                // forbids; writers already started stop when their queues close.
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    /// Connects the readers (creating the schema on the first) and starts the writers.
    fn start(
        config: tokio_postgres::Config,
        options: PgOptions,
        handle: tokio::runtime::Handle,
    ) -> Result<Started, StoreError> {
        let schema = options.schema.clone();
        let writer_count = options.writers.max(1);
        let reader_config = config.clone();
        let reader_schema = schema.clone();
        let readers = run_on(&handle, async move {
            let mut first = connect(&reader_config, reader_schema.as_deref()).await?;
            prepare_schema(&mut first).await?;
            let mut readers = vec![Arc::new(Reader::new(first).await?)];
            for _ in 1..READ_CONNECTIONS {
                let client = connect(&reader_config, reader_schema.as_deref()).await?;
                readers.push(Arc::new(Reader::new(client).await?));
            }
            Ok(readers)
        })?;
        // Each writer drives its own connection on a runtime of its own thread: a transaction's
        // round trips never wait for another thread to be scheduled.
        let (ready_tx, ready) = mpsc::channel();
        let mut writers = Vec::with_capacity(writer_count);
        let mut threads = Vec::with_capacity(writer_count);
        for i in 0..writer_count {
            let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE_DEPTH);
            let (config, schema, ready_tx) = (config.clone(), schema.clone(), ready_tx.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ledger-pg-writer-{i}"))
                    .spawn(move || {
                        let started = Writer::start(&config, schema.as_deref());
                        match started {
                            Ok((writer, mut client)) => {
                                let _ = ready_tx.send(Ok(()));
                                writer.run(&mut client, rx);
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                            }
                        }
                    })?,
            );
            writers.push(tx);
        }
        drop(ready_tx);
        for _ in 0..writer_count {
            ready.recv().unwrap_or(Err(StoreError::Closed))?;
        }
        Ok(Started {
            readers,
            writers,
            threads,
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
        let mut walk = ChainWalk::new(source.positions_gapless()?);
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut copied = 0u64;
        loop {
            let chunk = source.read_from(walk.expected_position(), IMPORT_CHUNK_EVENTS)?;
            if chunk.is_empty() {
                break;
            }
            for event in &chunk {
                walk.check_source(event)?;
            }
            copied += chunk.len() as u64;
            let members: BTreeSet<Uuid> = chunk.iter().map(|e| e.member).collect();
            let heads: HashMap<Uuid, (u64, [u8; 32])> = members
                .iter()
                .filter_map(|m| walk.member_head(*m).map(|h| (*m, h)))
                .collect();
            let keys: BTreeSet<String> = chunk
                .iter()
                .filter_map(|e| e.idempotency_key.clone())
                .filter(|k| seen.insert(k.clone()))
                .collect();
            let mut records = Vec::with_capacity(keys.len());
            for key in keys {
                let record = source
                    .idempotency(&key)?
                    .ok_or_else(|| StoreError::Corrupt {
                        position: 0,
                        reason: format!("the source has no record of key '{key}'"),
                    })?;
                records.push((key, record));
            }
            let import = Import {
                events: chunk,
                heads,
                records,
                last_position: walk.last().position,
            };
            let (done_tx, done) = mpsc::sync_channel(1);
            self.send(Job::Import(Box::new(import), done_tx));
            done.recv().unwrap_or(Err(StoreError::Closed))?;
        }
        Ok(copied)
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

    /// Sends a job to a writer: the appends of one member always to the same one (so that a
    /// member's appends from this store queue behind each other instead of conflicting), other
    /// jobs to the first.
    fn send(&self, job: Job) {
        let member = match &job {
            Job::Append(request, ..) => request.events.first().map(|e| e.member),
            Job::AppendGroup(requests, ..) => requests
                .first()
                .and_then(|r| r.events.first().map(|e| e.member)),
            _ => None,
        };
        let i = member.map_or(0, |m| (m.as_u128() % self.writers.len() as u128) as usize);
        // A failed send drops the job's senders, which its receivers see as `Closed`.
        let _ = self.writers[i].send(job);
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
        for writer in &self.writers {
            let _ = writer.send(Job::Shutdown);
        }
        if let Ok(mut threads) = self.threads.lock() {
            for handle in threads.drain(..) {
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
    fn positions_gapless(&self) -> Result<bool, StoreError> {
        // Positions are claimed when a transaction starts; a refused append or a failed
        // transaction leaves its claim unused.
        Ok(false)
    }

    fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        let reader = self.reader();
        let at = to_db(position.min(i64::MAX.unsigned_abs()))?;
        self.run(async move {
            let events = reader.events(&reader.event_at, &[&at]).await?;
            Ok(events.into_iter().next())
        })
    }

    fn committed_position(&self) -> Result<u64, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader
                .client
                .query_one("SELECT coalesce(max(position), 0) FROM events", &[])
                .await?;
            from_db(row.get(0), "last position")
        })
    }

    fn head(&self) -> Result<Head, StoreError> {
        let reader = self.reader();
        self.run(async move {
            match reader.client.query_opt(&reader.head, &[]).await? {
                Some(row) => {
                    let position = from_db(row.get(0), "head position")?;
                    let hash = hash_from_db(row.get(1), position)?;
                    Ok(Head { position, hash })
                }
                None => Ok(Head {
                    position: 0,
                    hash: GENESIS_HASH,
                }),
            }
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

    fn member_versions(&self, members: &[Uuid]) -> Result<Vec<u64>, StoreError> {
        let reader = self.reader();
        let asked = members.to_vec();
        let found: HashMap<Uuid, u64> = self.run(async move {
            let rows = reader
                .client
                .query(&reader.member_versions, &[&asked])
                .await?;
            rows.iter()
                .map(|row| Ok((row.get(0), from_db(row.get(1), "member version")?)))
                .collect()
        })?;
        Ok(members
            .iter()
            .map(|m| found.get(m).copied().unwrap_or(0))
            .collect())
    }

    fn projections(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let reader = self.reader();
        let asked = keys.to_vec();
        let mut found: HashMap<Vec<u8>, Vec<u8>> = self.run(async move {
            let rows = reader.client.query(&reader.projections, &[&asked]).await?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })?;
        Ok(keys.iter().map(|k| found.remove(k)).collect())
    }

    fn read_members_after(
        &self,
        from: &[(Uuid, u64)],
    ) -> Result<Vec<Vec<StoredEvent>>, StoreError> {
        let reader = self.reader();
        let members: Vec<Uuid> = from.iter().map(|(m, _)| *m).collect();
        let after = from
            .iter()
            .map(|(_, v)| to_db((*v).min(i64::MAX.unsigned_abs())))
            .collect::<Result<Vec<i64>, _>>()?;
        let events = self.run(async move {
            reader
                .events(&reader.read_members_after, &[&members, &after])
                .await
        })?;
        let mut by_member: HashMap<Uuid, Vec<StoredEvent>> = HashMap::new();
        for event in events {
            by_member.entry(event.member).or_default().push(event);
        }
        Ok(from
            .iter()
            .map(|(m, _)| by_member.remove(m).unwrap_or_default())
            .collect())
    }

    fn idempotency_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<IdempotencyRecord>>, StoreError> {
        let reader = self.reader();
        let asked: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        let mut found: HashMap<Vec<u8>, IdempotencyRecord> = self.run(async move {
            let rows = reader
                .client
                .query(&reader.idempotency_many, &[&asked])
                .await?;
            rows.iter()
                .map(|row| Ok((row.get(0), decode_record(row.get(1), row.get(2))?)))
                .collect()
        })?;
        Ok(keys.iter().map(|k| found.remove(k.as_bytes())).collect())
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
        // Every append is answered after its COMMIT, on a connection with synchronous_commit
        // on: whatever was applied is durable already.
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        rx
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader
                .client
                .query_one(
                    "SELECT (pg_total_relation_size('events') + pg_total_relation_size('members') \
                     + pg_total_relation_size('idempotency') + pg_total_relation_size('projections'))::bigint",
                    &[],
                )
                .await?;
            from_db(row.get(0), "size")
        })
    }
}

/// The writer's prepared statements.
struct WriteStatements {
    begin_append: Statement,
    claim_imported: Statement,
    keys: Statement,
    insert_events: Statement,
    update_members: Statement,
    insert_keys: Statement,
    upsert_projections: Statement,
    delete_projections: Statement,
}

impl WriteStatements {
    async fn new(client: &Client) -> Result<WriteStatements, StoreError> {
        Ok(WriteStatements {
            begin_append: client
                .prepare("SELECT * FROM ml_begin_append($1::bigint, $2::uuid[])")
                .await?,
            claim_imported: client
                .prepare("SELECT ml_claim_imported($1::bigint)")
                .await?,
            keys: client
                .prepare(
                    "SELECT key, payload_hash, positions FROM idempotency WHERE key = ANY($1)",
                )
                .await?,
            insert_events: client
                .prepare(
                    "INSERT INTO events (position, event_id, member, member_version, envelope, prev_hash, hash) \
                     SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::bytea[], $7::bytea[])",
                )
                .await?,
            update_members: client
                .prepare(
                    "INSERT INTO members (member, version, hash) \
                     SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::bytea[]) \
                     ON CONFLICT (member) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash",
                )
                .await?,
            insert_keys: client
                .prepare(
                    "INSERT INTO idempotency (key, payload_hash, positions) \
                     SELECT k, h, p::bigint[] FROM UNNEST($1::bytea[], $2::text[], $3::text[]) AS t(k, h, p) \
                     ON CONFLICT (key) DO NOTHING RETURNING key",
                )
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

/// A writer thread: one connection, one transaction at a time.
struct Writer {
    runtime: tokio::runtime::Runtime,
    statements: WriteStatements,
}

impl Writer {
    /// A writer with its own single-threaded runtime and connection.
    fn start(
        config: &tokio_postgres::Config,
        schema: Option<&str>,
    ) -> Result<(Writer, Client), StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (client, statements) = runtime.block_on(async {
            let client = connect(config, schema).await?;
            let statements = WriteStatements::new(&client).await?;
            Ok::<_, StoreError>((client, statements))
        })?;
        Ok((
            Writer {
                runtime,
                statements,
            },
            client,
        ))
    }

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
                        Job::Projections(records, ack) => {
                            let done = write_projections(client, &self.statements, records);
                            let _ = ack.send(self.block_on(done));
                        }
                        Job::Import(chunk, ack) => {
                            let done = import(client, &self.statements, *chunk);
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
        self.runtime.block_on(future)
    }

    /// One transaction for the appends (run again after a lost race: [`retryable`]);
    /// answers each (applied and durable after COMMIT).
    fn commit_appends(
        &self,
        client: &mut Client,
        requests: Vec<(usize, AppendRequest)>,
        replies: Vec<Reply>,
    ) {
        if requests.is_empty() {
            return;
        }
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match self.block_on(append_all(client, &self.statements, &requests)) {
                Err(StoreError::Postgres(why)) if retryable(&why) && attempt < RETRY_ATTEMPTS => {
                    continue
                }
                other => break other,
            }
        };
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

/// The start of the error a transaction ends with when another writer committed one of its
/// idempotency keys first: it rolls back and runs again (and then sees the key).
const KEY_RACE: &str = "an idempotency key was claimed by another writer meanwhile";
/// Runs of a transaction that keeps losing races before it reports the error.
const RETRY_ATTEMPTS: u32 = 4;

/// Whether a failed append transaction may simply run again: it lost a key race, or the
/// server broke a deadlock by failing it (none is expected, since rows are locked in member
/// order, but one costs a rerun, not an error).
fn retryable(why: &str) -> bool {
    why.starts_with(KEY_RACE) || why.contains("SQLSTATE 40P01")
}

fn durability(outcome: &Result<AppendOutcome, StoreError>) -> Result<(), StoreError> {
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(StoreError::Postgres(e.to_string())),
    }
}

async fn begin(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    // READ COMMITTED on purpose: each statement after a row lock sees the commit of the
    // transaction that held it (REPEATABLE READ would fail the lock with a serialization error).
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await?)
}

/// What the checks decided for one append of a transaction.
enum Plan {
    /// Refused: nothing of it is written.
    Refused(AppendOutcome),
    /// Its key was claimed by the accepted append at this index of the transaction.
    SameKeyAs(usize),
    /// Written.
    Accepted,
}

/// The members an append reads or writes.
fn members_of(request: &AppendRequest) -> impl Iterator<Item = Uuid> + '_ {
    request
        .expected
        .iter()
        .map(|(m, _)| *m)
        .chain(request.events.iter().map(|e| e.member))
}

/// One transaction for a run of appends:
///
/// 1. `ml_begin_append`: claims positions for every event the appends carry (which also gives
///    the transaction its id, in claim order), makes sure each member touched has a row, and
///    locks those rows in member order (`FOR UPDATE`: writers for other members do not wait;
///    writers for the same ones wait for this commit, then see it);
/// 2. checks each append in order, as if alone (key, then versions; a refused one taints its
///    members for the rest of its group), and builds the accepted ones' events: positions from
///    the claim, each member's chain from its row;
/// 3. writes events, members' versions and hashes, keys and projections (pipelined); commits.
async fn append_all(
    client: &mut Client,
    statements: &WriteStatements,
    requests: &[(usize, AppendRequest)],
) -> Result<Vec<AppendOutcome>, StoreError> {
    let members: Vec<Uuid> = requests
        .iter()
        .flat_map(|(_, r)| members_of(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let txn = begin(client).await?;
    let claimed = requests.iter().map(|(_, r)| r.events.len()).sum::<usize>();
    let n = i64::try_from(claimed).unwrap_or(i64::MAX);
    let rows = txn.query(&statements.begin_append, &[&n, &members]).await?;
    let mut next_position = match rows.first() {
        Some(row) if claimed > 0 => from_db(row.get(0), "claimed position")?,
        _ => 0,
    };
    let mut heads: HashMap<Uuid, (u64, [u8; 32])> = HashMap::with_capacity(members.len());
    for row in &rows {
        let version = from_db(row.get(2), "member version")?;
        heads.insert(row.get(1), (version, hash_from_db(row.get(3), 0)?));
    }
    let keys: Vec<Vec<u8>> = requests
        .iter()
        .filter_map(|(_, r)| r.idempotency.as_ref().map(|c| c.key.as_bytes().to_vec()))
        .collect();
    let mut stored_keys: HashMap<Vec<u8>, IdempotencyRecord> = HashMap::new();
    if !keys.is_empty() {
        for row in txn.query(&statements.keys, &[&keys]).await? {
            stored_keys.insert(row.get(0), decode_record(row.get(1), row.get(2))?);
        }
    }

    // Checks, in order, against the log and the transaction's earlier appends.
    let mut versions: HashMap<Uuid, u64> = heads.iter().map(|(m, (v, _))| (*m, *v)).collect();
    let mut claimed_keys: HashMap<&str, (usize, String)> = HashMap::new();
    let mut plans = Vec::with_capacity(requests.len());
    let mut tainted: BTreeSet<Uuid> = BTreeSet::new();
    let mut job = None;
    for (i, (ordinal, request)) in requests.iter().enumerate() {
        if job != Some(*ordinal) {
            tainted.clear();
            job = Some(*ordinal);
        }
        let plan = plan(request, &versions, &tainted, &stored_keys, &claimed_keys);
        match &plan {
            Plan::Accepted => {
                for event in &request.events {
                    *versions.entry(event.member).or_insert(0) += 1;
                }
                if let Some(claim) = &request.idempotency {
                    claimed_keys.insert(&claim.key, (i, hex::encode(claim.payload_hash)));
                }
            }
            // Refused (a repeated key included): what the group decided on top of it is stale.
            Plan::Refused(_) | Plan::SameKeyAs(_) => tainted.extend(members_of(request)),
        }
        plans.push(plan);
    }

    // The accepted appends' events: positions in order from the claim, each member's chain.
    let recorded_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut written: Vec<Option<Vec<StoredEvent>>> = Vec::with_capacity(requests.len());
    for ((_, request), plan) in requests.iter().zip(&plans) {
        if !matches!(plan, Plan::Accepted) {
            written.push(None);
            continue;
        }
        let mut events = Vec::with_capacity(request.events.len());
        for new in &request.events {
            let (version, prev) = heads.get(&new.member).copied().unwrap_or((0, GENESIS_HASH));
            let event = build_event(new, next_position, version + 1, prev, &recorded_at, request);
            heads.insert(
                new.member,
                (version + 1, event.hash_bytes().unwrap_or(GENESIS_HASH)),
            );
            next_position += 1;
            events.push(event);
        }
        written.push(Some(events));
    }

    // Writes.
    let all: Vec<&StoredEvent> = written.iter().flatten().flatten().collect();
    let moved: BTreeSet<Uuid> = all.iter().map(|e| e.member).collect();
    let mut records: Vec<(String, IdempotencyRecord)> = Vec::new();
    for ((_, request), events) in requests.iter().zip(&written) {
        if let (Some(claim), Some(events)) = (&request.idempotency, events) {
            records.push((
                claim.key.clone(),
                IdempotencyRecord {
                    payload_hash: hex::encode(claim.payload_hash),
                    positions: events.iter().map(|e| e.position).collect(),
                },
            ));
        }
    }
    let projections: Vec<(Vec<u8>, Option<Vec<u8>>)> = requests
        .iter()
        .zip(&written)
        .filter(|(_, events)| events.is_some())
        .flat_map(|((_, request), _)| request.projections.iter().cloned())
        .collect();
    // Four statements on independent tables, sent together (the connection pipelines them).
    tokio::try_join!(
        insert_events(&txn, statements, &all),
        update_members(&txn, statements, &heads, &moved),
        insert_keys(&txn, statements, &records),
        write_projection_records(&txn, statements, &projections),
    )?;
    txn.commit().await?;

    let mut outcomes = Vec::with_capacity(requests.len());
    for (plan, events) in plans.into_iter().zip(&written) {
        outcomes.push(match plan {
            Plan::Refused(outcome) => outcome,
            Plan::Accepted => AppendOutcome::Committed(events.clone().unwrap_or_default()),
            Plan::SameKeyAs(first) => AppendOutcome::Duplicate(IdempotencyRecord {
                payload_hash: requests[first]
                    .1
                    .idempotency
                    .as_ref()
                    .map(|c| hex::encode(c.payload_hash))
                    .unwrap_or_default(),
                positions: written[first]
                    .iter()
                    .flatten()
                    .map(|e| e.position)
                    .collect(),
            }),
        });
    }
    Ok(outcomes)
}

/// Whether one append can be written after the transaction's earlier ones.
fn plan(
    request: &AppendRequest,
    versions: &HashMap<Uuid, u64>,
    tainted: &BTreeSet<Uuid>,
    stored_keys: &HashMap<Vec<u8>, IdempotencyRecord>,
    claimed_keys: &HashMap<&str, (usize, String)>,
) -> Plan {
    let actual = |member: &Uuid| versions.get(member).copied().unwrap_or(0);
    // A request of a group that expects a member an earlier refused request of the group
    // expected or would have written was decided on top of that refused request: its expected
    // version may still match by coincidence, so it is refused as a conflict too (as sled does).
    if let Some((member, expected)) = request.expected.iter().find(|(m, _)| tainted.contains(m)) {
        return Plan::Refused(AppendOutcome::VersionConflict {
            member: *member,
            expected: *expected,
            actual: actual(member),
        });
    }
    if let Some(claim) = &request.idempotency {
        let payload_hash = hex::encode(claim.payload_hash);
        if let Some(record) = stored_keys.get(claim.key.as_bytes()) {
            return Plan::Refused(if record.payload_hash == payload_hash {
                AppendOutcome::Duplicate(record.clone())
            } else {
                AppendOutcome::KeyReused
            });
        }
        if let Some((first, hash)) = claimed_keys.get(claim.key.as_str()) {
            return if *hash == payload_hash {
                Plan::SameKeyAs(*first)
            } else {
                Plan::Refused(AppendOutcome::KeyReused)
            };
        }
    }
    for (member, expected) in &request.expected {
        if actual(member) != *expected {
            return Plan::Refused(AppendOutcome::VersionConflict {
                member: *member,
                expected: *expected,
                actual: actual(member),
            });
        }
    }
    Plan::Accepted
}

/// One stored event: the envelope sled writes, chained to the member's previous event.
fn build_event(
    new: &NewEvent,
    position: u64,
    member_version: u64,
    prev: [u8; 32],
    recorded_at: &str,
    request: &AppendRequest,
) -> StoredEvent {
    let mut event = StoredEvent {
        position,
        event_id: Uuid::now_v7(),
        schema_version: new.schema_version,
        member: new.member,
        member_version,
        event_type: new.event_type.clone(),
        effective_date: new.effective_date,
        recorded_at: recorded_at.to_string(),
        idempotency_key: request.idempotency.as_ref().map(|c| c.key.clone()),
        policy_version: new.policy_version.clone(),
        data: new.data.clone(),
        prev_hash: hex::encode(prev),
        hash: String::new(),
    };
    event.hash = hex::encode(event.compute_hash(&prev));
    event
}

/// Inserts events (one statement, whatever the count).
async fn insert_events(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    events: &[&StoredEvent],
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
    for event in events {
        let corrupt = |reason: &str| StoreError::Corrupt {
            position: event.position,
            reason: reason.to_string(),
        };
        positions.push(to_db(event.position)?);
        ids.push(event.event_id);
        members.push(event.member);
        versions.push(to_db(event.member_version)?);
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
    Ok(())
}

/// Moves the members' rows to their last version and hash.
async fn update_members(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    heads: &HashMap<Uuid, (u64, [u8; 32])>,
    moved: &BTreeSet<Uuid>,
) -> Result<(), StoreError> {
    if moved.is_empty() {
        return Ok(());
    }
    let mut members = Vec::with_capacity(moved.len());
    let mut versions = Vec::with_capacity(moved.len());
    let mut hashes = Vec::with_capacity(moved.len());
    for member in moved {
        let (version, hash) = heads.get(member).copied().unwrap_or((0, GENESIS_HASH));
        members.push(*member);
        versions.push(to_db(version)?);
        hashes.push(hash.to_vec());
    }
    txn.execute(&statements.update_members, &[&members, &versions, &hashes])
        .await?;
    Ok(())
}

/// Inserts idempotency records; a key another writer committed first fails the transaction
/// with [`KEY_RACE`] (it is run again and then answers that key as the log knows it).
async fn insert_keys(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    records: &[(String, IdempotencyRecord)],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(records.len());
    let mut payload_hashes = Vec::with_capacity(records.len());
    let mut positions = Vec::with_capacity(records.len());
    for (key, record) in records {
        keys.push(key.as_bytes().to_vec());
        payload_hashes.push(record.payload_hash.clone());
        let list: Vec<String> = record.positions.iter().map(u64::to_string).collect();
        positions.push(format!("{{{}}}", list.join(",")));
    }
    let inserted = txn
        .query(
            &statements.insert_keys,
            &[&keys, &payload_hashes, &positions],
        )
        .await?;
    if inserted.len() != records.len() {
        return Err(StoreError::Postgres(KEY_RACE.into()));
    }
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

/// A chunk of a migration, checked by [`PgStore::import_from`].
struct Import {
    events: Vec<StoredEvent>,
    /// The last version and hash of every member of the chunk.
    heads: HashMap<Uuid, (u64, [u8; 32])>,
    /// The idempotency records of keys first seen in the chunk.
    records: Vec<(String, IdempotencyRecord)>,
    last_position: u64,
}

/// Appends already-stored events verbatim (a migration) with their idempotency records, and
/// moves the position sequence past them.
async fn import(
    client: &mut Client,
    statements: &WriteStatements,
    chunk: Import,
) -> Result<(), StoreError> {
    let last = to_db(chunk.last_position)?;
    let members: BTreeSet<Uuid> = chunk.heads.keys().copied().collect();
    let txn = begin(client).await?;
    txn.execute(&statements.claim_imported, &[&last]).await?;
    let all: Vec<&StoredEvent> = chunk.events.iter().collect();
    insert_events(&txn, statements, &all).await?;
    update_members(&txn, statements, &chunk.heads, &members).await?;
    insert_keys(&txn, statements, &chunk.records).await?;
    txn.commit().await?;
    Ok(())
}
