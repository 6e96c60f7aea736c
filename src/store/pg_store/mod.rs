//! The PostgreSQL backend (feature `postgres`): the same records (byte for byte), member
//! versions, keys, per-member hash chains and projections as [`super::SledStore`], with every
//! append one transaction, and writers for different members never waiting for each other. The
//! append rules are [`crate::store::append_rules`], as on sled; this module holds only the I/O.
//!
//! | table | holds |
//! |---|---|
//! | `events` | position (bigint, primary key), xid (xid8: the writing transaction), event_id (uuid, unique), member, member_version (unique per member), the record (bytea: the exact bytes sled stores and the hash covers), its hash |
//! | `members` | each member's version and last hash: the row a writer locks, and `members()` |
//! | `idempotency` | key (bytea), what the log remembers of it (bytea, [`crate::store::IdempotencyRecord`]) |
//! | `projections` | key (bytea), value (bytea): opaque to the store |
//! | `log_format` | the format of the log, and the tag its event ids carry |
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
//! only delays what comes after it. No NOTIFY is sent from the append transaction; a
//! subscription's wake-up ([`EventStore::watch_durable`]) polls the stable head, while anyone
//! watches, every [`WATCH_POLL_MS`].
//!
//! **Durability.** A ticket's `applied` and `durable` both resolve after COMMIT returns, with
//! `synchronous_commit = on` set on every writer connection: the commit record is flushed.
//!
//! **Threads.** The trait is sync and is called from async code, so the store drives
//! `tokio-postgres` on runtimes of its own: a read spawns its query on a small shared runtime and
//! waits on a channel; each writer ([`PgOptions::writers`]) is a thread with its own connection
//! and single-threaded runtime that blocks on its queue and runs each transaction there (no
//! round trip waits for another thread); a member's appends always go to the same writer.
//!
//! **Connections.** TLS over rustls when the location asks (`sslmode`, `sslrootcert`: see
//! `tls.rs`). A lost connection, a reader's or a writer's, is made again at its next use, with a
//! doubling delay between attempts ([`schema::RECONNECT_ATTEMPTS_MAX`]); what was in flight on it
//! failed and was never acknowledged (a keyed retry is safe).

mod event_store;
mod reader;
mod schema;
mod tls;
mod txn;
mod writer;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::watch;
use uuid::Uuid;

pub use self::writer::TXN_APPENDS_MAX;

use self::reader::Reader;
use self::schema::{connect, connect_with_backoff, from_db, prepare_schema, PgConfig};
use self::txn::Import;
use self::writer::{Job, Writer};
use super::{ChainWalk, EventIds, EventStore, ImportSource, StoreError};

/// Requests waiting for the writer; submitters block (backpressure) beyond this.
pub const WRITER_QUEUE_DEPTH: usize = 4096;
/// Connections shared by readers (queries are pipelined on each).
pub const READ_CONNECTIONS: usize = 2;
/// Worker threads of the store's own runtime (it only waits on sockets).
pub const RUNTIME_THREADS: usize = 1;
/// Events read from a source and written in one transaction by [`PgStore::import`].
pub const IMPORT_CHUNK_EVENTS: usize = 4096;
/// How often the stable head is polled while a subscription watches it, milliseconds.
pub const WATCH_POLL_MS: u64 = 50;

const _: () = assert!(TXN_APPENDS_MAX <= WRITER_QUEUE_DEPTH);

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

/// The PostgreSQL event store. Share it behind an `Arc`; dropping the last handle stops the
/// writers after the transactions they are running.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    readers: Arc<Readers>,
    /// One queue per writer connection.
    writers: Vec<SyncSender<Job>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ids: EventIds,
    watch: Arc<watch::Sender<u64>>,
    watching: AtomicBool,
}

/// The read connections, each made again when found closed.
struct Readers {
    slots: Vec<Mutex<Arc<Reader>>>,
    next: AtomicUsize,
    config: PgConfig,
    schema: Option<String>,
}

impl Readers {
    /// The next reader in turn, and its slot.
    fn pick(&self) -> (usize, Arc<Reader>) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let reader = match self.slots[i].lock() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        (i, reader)
    }

    /// A reader whose connection is open: the one in turn, or, when its connection was lost, a
    /// new one in its slot (the lost one when reconnecting fails: its queries then fail).
    async fn get(&self) -> Arc<Reader> {
        let (i, reader) = self.pick();
        if !reader.client.is_closed() {
            return reader;
        }
        tracing::warn!(slot = i, "PostgreSQL read connection lost; reconnecting");
        let fresh = async {
            let client = connect_with_backoff(&self.config, self.schema.as_deref()).await?;
            Reader::new(client).await
        };
        match fresh.await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if let Ok(mut slot) = self.slots[i].lock() {
                    *slot = Arc::clone(&fresh);
                }
                fresh
            }
            Err(e) => {
                tracing::error!(error = %e, "PostgreSQL read connection not restored");
                reader
            }
        }
    }
}

/// A store's connections, once they all answered.
struct Started {
    readers: Vec<Arc<Reader>>,
    writers: Vec<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    ids: EventIds,
}

impl PgStore {
    /// Opens the store at `url` (a `postgres://` URL or a libpq connection string), creating
    /// the tables when missing.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        PgStore::open_with(url, PgOptions::default())
    }

    /// Opens the store with explicit options.
    pub fn open_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let config = schema::config(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("ledger-pg")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        match PgStore::start(config.clone(), options.clone(), handle) {
            Ok(started) => {
                let (watch, _) = watch::channel(0);
                let readers = Readers {
                    slots: started.readers.into_iter().map(Mutex::new).collect(),
                    next: AtomicUsize::new(0),
                    config,
                    schema: options.schema.clone(),
                };
                Ok(PgStore {
                    handle: runtime.handle().clone(),
                    runtime: Some(runtime),
                    readers: Arc::new(readers),
                    writers: started.writers,
                    threads: Mutex::new(started.threads),
                    ids: started.ids,
                    watch: Arc::new(watch),
                    watching: AtomicBool::new(false),
                })
            }
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
        config: PgConfig,
        options: PgOptions,
        handle: tokio::runtime::Handle,
    ) -> Result<Started, StoreError> {
        let schema = options.schema.clone();
        let writer_count = options.writers.max(1);
        let reader_config = config.clone();
        let reader_schema = schema.clone();
        let (readers, ids) = run_on(&handle, async move {
            let mut first = connect(&reader_config, reader_schema.as_deref()).await?;
            let ids = prepare_schema(&mut first).await?;
            let mut readers = vec![Arc::new(Reader::new(first).await?)];
            for _ in 1..READ_CONNECTIONS {
                let client = connect(&reader_config, reader_schema.as_deref()).await?;
                readers.push(Arc::new(Reader::new(client).await?));
            }
            Ok((readers, ids))
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
                        let started = Writer::start(&config, schema.as_deref(), ids);
                        match started {
                            Ok((mut writer, mut client)) => {
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
            ids,
        })
    }

    /// Copies every record and idempotency record of `source` into this store, which must hold
    /// no event: positions, ids, member versions and hashes unchanged (each link checked).
    /// Projections are not copied: rebuild them. Returns the events copied.
    pub fn import(&self, source: &mut dyn ImportSource) -> Result<u64, StoreError> {
        if self.committed_position()? != 0 {
            return Err(StoreError::Unsupported(
                "the target database already holds events: migrate into an empty ledger".into(),
            ));
        }
        if let Some(ids) = source.event_ids()? {
            if ids != self.ids {
                self.adopt_ids(ids)?;
            }
        }
        let mut walk = ChainWalk::new(source.positions_gapless()?);
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut copied = 0u64;
        loop {
            let chunk = source.next_events(IMPORT_CHUNK_EVENTS)?;
            if chunk.is_empty() {
                break;
            }
            for event in &chunk {
                walk.check_source(event)?;
            }
            copied += chunk.len() as u64;
            let members: BTreeSet<Uuid> = chunk.iter().map(|e| e.member).collect();
            let heads = members
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
                    .key_record(&key)?
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

    /// Makes this (empty) log's event ids the way the source's were made, so that ids copied
    /// verbatim still name their positions once the store is opened again (until then, they
    /// are found through the `event_id` column).
    fn adopt_ids(&self, ids: EventIds) -> Result<(), StoreError> {
        let reader = self.reader();
        let tag = i64::from_le_bytes(ids.tag().to_le_bytes());
        self.run(async move {
            reader
                .client
                .execute("UPDATE log_format SET id_tag = $1", &[&tag])
                .await?;
            Ok(())
        })
    }

    /// Starts polling the stable head for watchers, once.
    fn start_watching(&self) {
        if self.watching.swap(true, Ordering::SeqCst) {
            return;
        }
        let readers = Arc::clone(&self.readers);
        let watch = Arc::clone(&self.watch);
        self.handle.spawn(async move {
            while !watch.is_closed() {
                let reader = readers.get().await;
                if let Ok(Some(row)) = reader.client.query_opt(&reader.head, &[]).await {
                    if let Ok(position) = from_db(row.get(0), "head position") {
                        watch.send_if_modified(|p| std::mem::replace(p, position) != position);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(WATCH_POLL_MS)).await;
            }
        });
    }

    /// A reader with an open connection (made again, off the caller's thread, when lost).
    fn reader(&self) -> Arc<Reader> {
        let (_, reader) = self.readers.pick();
        if !reader.client.is_closed() {
            return reader;
        }
        let readers = Arc::clone(&self.readers);
        run_on(&self.handle, async move { Ok(readers.get().await) }).unwrap_or(reader)
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
