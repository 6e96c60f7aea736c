//! One PostgreSQL transaction of a writer: the prepared statements, the append transaction
//! (claim positions, lock members' rows in order, check with [`crate::store::append_rules`],
//! write, commit), projection writes, and a migration's verbatim import.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio_postgres::{Client, IsolationLevel, Statement, Transaction};
use uuid::Uuid;

use super::reader::decode_key;
use super::schema::{from_db, hash_from_db, to_db};
use crate::store::append_rules::{GroupRules, LogView, MemberHead, NEW_MEMBER};
use crate::store::{
    AppendOutcome, AppendRequest, EventIds, IdempotencyRecord, StoreError, StoredEvent,
};

/// The start of the error a transaction ends with when another writer committed one of its
/// idempotency keys first: it rolls back and runs again (and then sees the key).
pub(super) const KEY_RACE: &str = "an idempotency key was claimed by another writer meanwhile";
/// The writer's prepared statements.
pub struct WriteStatements {
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
    pub(super) async fn new(client: &Client) -> Result<WriteStatements, StoreError> {
        Ok(WriteStatements {
            begin_append: client
                .prepare("SELECT * FROM ml_begin_append($1::bigint, $2::uuid[])")
                .await?,
            claim_imported: client
                .prepare("SELECT ml_claim_imported($1::bigint)")
                .await?,
            keys: client
                .prepare("SELECT key, record FROM idempotency WHERE key = ANY($1)")
                .await?,
            insert_events: client
                .prepare(
                    "INSERT INTO events (position, event_id, member, member_version, record, hash) \
                     SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[], $5::bytea[], $6::bytea[])",
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
                    "INSERT INTO idempotency (key, record) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
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

pub(super) async fn begin(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    // READ COMMITTED on purpose: each statement after a row lock sees the commit of the
    // transaction that held it (REPEATABLE READ would fail the lock with a serialization error).
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await?)
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
pub(super) async fn append_all(
    client: &mut Client,
    statements: &WriteStatements,
    requests: &[(usize, AppendRequest)],
    ids: &EventIds,
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
    let first_position = match rows.first() {
        Some(row) if claimed > 0 => from_db(row.get(0), "claimed position")?,
        _ => 0,
    };
    let mut log = Locked::default();
    for row in &rows {
        let version = from_db(row.get(2), "member version")?;
        log.heads
            .insert(row.get(1), (version, hash_from_db(row.get(3), 0)?));
    }
    let keys: Vec<Vec<u8>> = requests
        .iter()
        .filter_map(|(_, r)| r.idempotency.as_ref().map(|c| c.key.as_bytes().to_vec()))
        .collect();
    if !keys.is_empty() {
        for row in txn.query(&statements.keys, &[&keys]).await? {
            log.keys.insert(row.get(0), decode_key(row.get(1))?);
        }
    }
    // The append rules, in order, against the locked rows and the transaction's earlier
    // appends; positions from the claim, in order, for the accepted events.
    let recorded_at_ms = chrono::Utc::now().timestamp_millis();
    let mut rules = GroupRules::new();
    let mut positions = first_position..;
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut records = Vec::new();
    let mut projections = Vec::new();
    let mut job = None;
    for (ordinal, request) in requests {
        if job != Some(*ordinal) {
            rules.end_group();
            job = Some(*ordinal);
        }
        if let Some(refused) = rules.check(&mut log, request)? {
            outcomes.push(refused);
            continue;
        }
        let accepted = rules.accept(&mut log, request, &mut positions, recorded_at_ms, ids)?;
        records.extend(accepted.key_record);
        projections.extend(request.projections.iter().cloned());
        outcomes.push(AppendOutcome::Committed(accepted.events));
    }
    let all: Vec<&StoredEvent> = outcomes
        .iter()
        .filter_map(|o| match o {
            AppendOutcome::Committed(events) => Some(events),
            _ => None,
        })
        .flatten()
        .collect();
    // Four statements on independent tables, sent together (the connection pipelines them).
    tokio::try_join!(
        insert_events(&txn, statements, &all),
        update_members(&txn, statements, rules.heads()),
        insert_keys(&txn, statements, &records),
        write_projection_records(&txn, statements, &projections),
    )?;
    txn.commit().await?;
    Ok(outcomes)
}

/// The rows an append transaction locked, as the append rules read them.
#[derive(Default)]
struct Locked {
    heads: HashMap<Uuid, MemberHead>,
    keys: HashMap<Vec<u8>, IdempotencyRecord>,
}

impl LogView for Locked {
    fn member_head(&mut self, member: Uuid) -> Result<MemberHead, StoreError> {
        Ok(self.heads.get(&member).copied().unwrap_or(NEW_MEMBER))
    }

    fn key_record(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.keys.get(key.as_bytes()).cloned())
    }
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
    let mut records = Vec::with_capacity(events.len());
    let mut hashes = Vec::with_capacity(events.len());
    for event in events {
        positions.push(to_db(event.position)?);
        ids.push(event.event_id);
        members.push(event.member);
        versions.push(to_db(event.member_version)?);
        records.push(event.record());
        hashes.push(event.hash().to_vec());
    }
    txn.execute(
        &statements.insert_events,
        &[&positions, &ids, &members, &versions, &records, &hashes],
    )
    .await?;
    Ok(())
}

/// Moves the members' rows to their last version and hash.
async fn update_members(
    txn: &Transaction<'_>,
    statements: &WriteStatements,
    heads: &HashMap<Uuid, MemberHead>,
) -> Result<(), StoreError> {
    if heads.is_empty() {
        return Ok(());
    }
    let mut members = Vec::with_capacity(heads.len());
    let mut versions = Vec::with_capacity(heads.len());
    let mut hashes = Vec::with_capacity(heads.len());
    for (member, (version, hash)) in heads {
        members.push(*member);
        versions.push(to_db(*version)?);
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
    let keys: Vec<&[u8]> = records.iter().map(|(k, _)| k.as_bytes()).collect();
    let values: Vec<Vec<u8>> = records.iter().map(|(_, r)| r.encode()).collect();
    let inserted = txn
        .query(&statements.insert_keys, &[&keys, &values])
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

pub(super) async fn write_projections(
    client: &mut Client,
    statements: &WriteStatements,
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<(), StoreError> {
    let txn = begin(client).await?;
    write_projection_records(&txn, statements, &records).await?;
    txn.commit().await?;
    Ok(())
}

/// A step of a migration, checked by [`super::PgStore::import`].
pub struct Import {
    /// The events, with their records.
    pub events: Vec<StoredEvent>,
    /// The last version and hash of every member of the step.
    pub heads: HashMap<Uuid, MemberHead>,
    /// The idempotency records of keys first seen in the step.
    pub records: Vec<(String, IdempotencyRecord)>,
    /// The position the sequence must move past.
    pub last_position: u64,
}

/// Appends already-stored records verbatim (a migration) with their idempotency records, and
/// moves the position sequence past them.
pub(super) async fn import(
    client: &mut Client,
    statements: &WriteStatements,
    chunk: Import,
) -> Result<(), StoreError> {
    let last = to_db(chunk.last_position)?;
    let txn = begin(client).await?;
    txn.execute(&statements.claim_imported, &[&last]).await?;
    let all: Vec<&StoredEvent> = chunk.events.iter().collect();
    insert_events(&txn, statements, &all).await?;
    update_members(&txn, statements, &chunk.heads).await?;
    insert_keys(&txn, statements, &chunk.records).await?;
    txn.commit().await?;
    Ok(())
}
