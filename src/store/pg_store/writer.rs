//! The PostgreSQL backend's writers: each a thread with its own connection and runtime, one
//! transaction at a time for every append it drained, checked and built by
//! [`crate::store::append_rules`].

use std::future::Future;
use std::sync::mpsc;

use tokio::sync::oneshot;
use tokio_postgres::Client;

use super::schema::{connect, connect_with_backoff, PgConfig};
use super::txn::{append_all, import, write_projections, Import, WriteStatements, KEY_RACE};
use crate::store::{AppendOutcome, AppendRequest, EventIds, StoreError};

/// Appends one transaction (one claim of positions, one commit) may carry.
pub const TXN_APPENDS_MAX: usize = 1024;
/// After this long without a transaction, a writer checks its connection before the next one
/// (ms).
pub const IDLE_PROBE_MS: u64 = 1_000;

/// A job for a writer.
pub enum Job {
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
pub struct Writer {
    runtime: tokio::runtime::Runtime,
    statements: WriteStatements,
    ids: EventIds,
    config: PgConfig,
    schema: Option<String>,
}

impl Writer {
    /// A writer with its own single-threaded runtime and connection.
    pub fn start(
        config: &PgConfig,
        schema: Option<&str>,
        ids: EventIds,
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
                ids,
                config: config.clone(),
                schema: schema.map(str::to_string),
            },
            client,
        ))
    }

    /// Makes the connection again when it was lost (the jobs then run on the new one; when it
    /// cannot be made they fail on the old one, and the next jobs try again).
    ///
    /// The connection is driven only while this thread runs a transaction, so after an idle
    /// spell a lost one may not show as closed yet: it is probed first (one empty round trip).
    fn reconnect_if_lost(&mut self, client: &mut Client, idle: std::time::Duration) {
        let probe = || async { client.batch_execute("").await };
        let lost = client.is_closed()
            || (idle.as_millis() >= u128::from(IDLE_PROBE_MS)
                && self.runtime.block_on(probe()).is_err());
        if !lost {
            return;
        }
        tracing::warn!("PostgreSQL write connection lost; reconnecting");
        let fresh = self.runtime.block_on(async {
            let fresh = connect_with_backoff(&self.config, self.schema.as_deref()).await?;
            let statements = WriteStatements::new(&fresh).await?;
            Ok::<_, StoreError>((fresh, statements))
        });
        match fresh {
            Ok((fresh, statements)) => {
                *client = fresh;
                self.statements = statements;
            }
            Err(e) => tracing::error!(error = %e, "PostgreSQL write connection not restored"),
        }
    }

    /// Serves jobs until shutdown or until every sender is gone.
    pub fn run(&mut self, client: &mut Client, rx: mpsc::Receiver<Job>) {
        let mut last_used = std::time::Instant::now();
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
            self.reconnect_if_lost(client, last_used.elapsed());
            if self.handle_jobs(client, jobs) {
                return;
            }
            last_used = std::time::Instant::now();
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
        let flush = crate::observe::Flush::start("postgres");
        let result = loop {
            attempt += 1;
            match self.block_on(append_all(client, &self.statements, &requests, &self.ids)) {
                Err(StoreError::Postgres(why)) if retryable(&why) && attempt < RETRY_ATTEMPTS => {
                    continue
                }
                other => break other,
            }
        };
        flush.finish(
            result
                .as_ref()
                .map(|outcomes| committed_events(outcomes))
                .map_err(|e| e as &dyn std::fmt::Display),
        );
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

/// Events the transaction's appends committed.
fn committed_events(outcomes: &[AppendOutcome]) -> u64 {
    let events: usize = outcomes
        .iter()
        .map(|outcome| match outcome {
            AppendOutcome::Committed(events) => events.len(),
            _ => 0,
        })
        .sum();
    u64::try_from(events).unwrap_or(u64::MAX)
}

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
