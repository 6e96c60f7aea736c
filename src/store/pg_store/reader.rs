//! The PostgreSQL backend's reads: a connection with its prepared statements.
//!
//! What readers see (`read_from`, `head`) stops below the oldest transaction in flight
//! (`pg_snapshot_xmin`), so a reader never skips a late commit; see the module above.

use std::collections::HashMap;

use tokio_postgres::{Client, Statement};
use uuid::Uuid;

use super::schema::{from_db, hash_from_db, prefix_end, to_db, STABLE_HEAD_SQL};
use crate::store::{Head, IdempotencyRecord, StoreError, StoredEvent, GENESIS_HASH};

/// A position or version as the database stores it (bigint), capped at `i64::MAX`.
fn db_position(value: u64) -> Result<i64, StoreError> {
    to_db(value.min(i64::MAX.unsigned_abs()))
}

/// The events of several members after a version each, member by member in version order.
///
/// Each member's tail is a range of the `(member, member_version)` index, reached through a
/// LATERAL subquery (its ORDER BY keeps the planner from flattening it into a join). A plain
/// join of `events` with the UNNEST let PostgreSQL's generic plan (which a prepared statement
/// keeps after five runs) hash-join a sequential scan of the whole table: one scan per command
/// decided, slower as the log grows.
pub const READ_MEMBERS_AFTER_SQL: &str = "SELECT e.position, e.record \
     FROM UNNEST($1::uuid[], $2::bigint[]) AS f(member, after) \
     CROSS JOIN LATERAL (SELECT position, record, member_version FROM events \
         WHERE member = f.member AND member_version > f.after ORDER BY member_version) AS e \
     ORDER BY f.member, e.member_version";

/// A read connection and its prepared statements.
pub struct Reader {
    pub(super) client: Client,
    pub(super) head: Statement,
    pub(super) member_head: Statement,
    pub(super) read_member: Statement,
    pub(super) read_member_after: Statement,
    pub(super) members: Statement,
    pub(super) event_position: Statement,
    pub(super) read_from: Statement,
    pub(super) event_at: Statement,
    pub(super) member_versions: Statement,
    pub(super) projections: Statement,
    pub(super) read_members_after: Statement,
    pub(super) idempotency_many: Statement,
    pub(super) projection: Statement,
    pub(super) projection_scan: Statement,
    pub(super) projection_keys_in: Statement,
    pub(super) idempotency: Statement,
}

impl Reader {
    /// Prepares the statements on a connection.
    pub async fn new(client: Client) -> Result<Reader, StoreError> {
        let record = "SELECT position, record FROM events";
        Ok(Reader {
            head: client.prepare(STABLE_HEAD_SQL).await?,
            member_head: client
                .prepare("SELECT version, hash FROM members WHERE member = $1")
                .await?,
            read_member: client
                .prepare(&format!(
                    "{record} WHERE member = $1 AND position <= $2 ORDER BY member_version"
                ))
                .await?,
            read_member_after: client
                .prepare(&format!(
                    "{record} WHERE member = $1 AND member_version > $2 ORDER BY member_version"
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
                    "{record} WHERE position >= $1 \
                     AND xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY position LIMIT $2"
                ))
                .await?,
            event_at: client
                .prepare(&format!("{record} WHERE position = $1"))
                .await?,
            member_versions: client
                .prepare("SELECT member, version FROM members WHERE member = ANY($1)")
                .await?,
            projections: client
                .prepare("SELECT key, value FROM projections WHERE key = ANY($1)")
                .await?,
            read_members_after: client.prepare(READ_MEMBERS_AFTER_SQL).await?,
            idempotency_many: client
                .prepare("SELECT key, record FROM idempotency WHERE key = ANY($1)")
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
            projection_keys_in: client
                .prepare(
                    "SELECT key FROM projections \
                     WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) ORDER BY key",
                )
                .await?,
            idempotency: client
                .prepare("SELECT record FROM idempotency WHERE key = $1")
                .await?,
            client,
        })
    }

    /// The event at `position`, if committed.
    pub async fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        let at = db_position(position)?;
        Ok(self
            .events(&self.event_at, &[&at])
            .await?
            .into_iter()
            .next())
    }

    /// The highest committed position (stable or not).
    pub async fn committed_position(&self) -> Result<u64, StoreError> {
        let row = self
            .client
            .query_one("SELECT coalesce(max(position), 0) FROM events", &[])
            .await?;
        from_db(row.get(0), "last position")
    }

    /// The stable head: the last event below every transaction still in flight.
    pub async fn head(&self) -> Result<Head, StoreError> {
        match self.client.query_opt(&self.head, &[]).await? {
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
    }

    /// A member's version and last hash (0 and genesis for a member never written).
    pub async fn member_head(&self, member: Uuid) -> Result<(u64, [u8; 32]), StoreError> {
        match self.client.query_opt(&self.member_head, &[&member]).await? {
            Some(row) => Ok((
                from_db(row.get(0), "member version")?,
                hash_from_db(row.get(1), 0)?,
            )),
            None => Ok((0, GENESIS_HASH)),
        }
    }

    /// A member's events up to `max_position`, in version order.
    pub async fn read_member(
        &self,
        member: Uuid,
        max_position: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let max = db_position(max_position)?;
        self.events(&self.read_member, &[&member, &max]).await
    }

    /// Every member with at least one event, in id order.
    pub async fn members(&self) -> Result<Vec<Uuid>, StoreError> {
        let rows = self.client.query(&self.members, &[]).await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// A member's events after `after_version`.
    pub async fn read_member_after(
        &self,
        member: Uuid,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let after = db_position(after_version)?;
        self.events(&self.read_member_after, &[&member, &after])
            .await
    }

    /// The position of the event with this id.
    pub async fn event_position(&self, event_id: Uuid) -> Result<Option<u64>, StoreError> {
        match self
            .client
            .query_opt(&self.event_position, &[&event_id])
            .await?
        {
            Some(row) => from_db(row.get(0), "event position").map(Some),
            None => Ok(None),
        }
    }

    /// Up to `limit` stable events from `from_position` on.
    pub async fn read_from(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let from = db_position(from_position)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.events(&self.read_from, &[&from, &limit]).await
    }

    /// A projection record.
    pub async fn projection(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self.client.query_opt(&self.projection, &[&key]).await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// The versions of the members that have one.
    pub async fn member_versions(
        &self,
        members: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, u64>, StoreError> {
        let rows = self
            .client
            .query(&self.member_versions, &[&members])
            .await?;
        rows.iter()
            .map(|row| Ok((row.get(0), from_db(row.get(1), "member version")?)))
            .collect()
    }

    /// The projection records found among `keys`.
    pub async fn projections(
        &self,
        keys: Vec<Vec<u8>>,
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>, StoreError> {
        let rows = self.client.query(&self.projections, &[&keys]).await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The events of each member after its version, ordered by member then version.
    pub async fn read_members_after(
        &self,
        from: Vec<(Uuid, u64)>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let members: Vec<Uuid> = from.iter().map(|(m, _)| *m).collect();
        let after = from
            .iter()
            .map(|(_, v)| db_position(*v))
            .collect::<Result<Vec<i64>, _>>()?;
        self.events(&self.read_members_after, &[&members, &after])
            .await
    }

    /// The idempotency records found among `keys`.
    pub async fn idempotency_many(
        &self,
        keys: Vec<Vec<u8>>,
    ) -> Result<HashMap<Vec<u8>, IdempotencyRecord>, StoreError> {
        let rows = self.client.query(&self.idempotency_many, &[&keys]).await?;
        rows.iter()
            .map(|row| Ok((row.get(0), decode_key(row.get(1))?)))
            .collect()
    }

    /// The projection records whose keys start with `prefix`, in key order.
    pub async fn projection_scan(
        &self,
        prefix: Vec<u8>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let end = prefix_end(&prefix);
        let rows = self
            .client
            .query(&self.projection_scan, &[&prefix, &end])
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The keys of the projection records from `from` (included) to `until` (excluded).
    pub async fn projection_keys_in(
        &self,
        from: Vec<u8>,
        until: Option<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self
            .client
            .query(&self.projection_keys_in, &[&from, &until])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// What the log remembers of an idempotency key.
    pub async fn idempotency(&self, key: Vec<u8>) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self.client.query_opt(&self.idempotency, &[&key]).await? {
            Some(row) => decode_key(row.get(0)).map(Some),
            None => Ok(None),
        }
    }

    /// The bytes the store's tables take on disk.
    pub async fn size_on_disk(&self) -> Result<u64, StoreError> {
        let row = self
            .client
            .query_one(
                "SELECT (pg_total_relation_size('events') + pg_total_relation_size('members') \
                 + pg_total_relation_size('idempotency') + pg_total_relation_size('projections'))::bigint",
                &[],
            )
            .await?;
        from_db(row.get(0), "size")
    }

    /// The events a statement selects as (position, record) rows.
    pub async fn events(
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

/// A stored record, read back.
pub fn decode_event(position: i64, record: Vec<u8>) -> Result<StoredEvent, StoreError> {
    StoredEvent::decode(from_db(position, "position")?, record)
}

/// A stored idempotency record, read back.
pub fn decode_key(bytes: &[u8]) -> Result<IdempotencyRecord, StoreError> {
    IdempotencyRecord::decode(bytes).map_err(|reason| StoreError::Corrupt {
        position: 0,
        reason: format!("idempotency record: {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pg_store::schema::{config, connect, prepare_schema};

    /// Runs when `MEMBER_LEDGER_PG_URL` names a database (`.ci/postgres` sets it).
    #[test]
    fn read_members_after_reaches_each_member_through_the_index_under_a_generic_plan() {
        let Ok(url) = std::env::var("MEMBER_LEDGER_PG_URL") else {
            eprintln!("MEMBER_LEDGER_PG_URL is not set: the plan check needs PostgreSQL");
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let plan = runtime.block_on(async {
            let schema = format!("plan_{}", std::process::id());
            let config = config(&url).expect("url");
            let mut client = connect(&config, Some(&schema)).await.expect("connect");
            prepare_schema(&mut client).await.expect("schema");
            // A young log of 20,000 members with one event each, not yet analysed (as in the
            // first minutes of a busy store): the planner guesses how many events a member has.
            let fill = "ALTER TABLE events SET (autovacuum_enabled = false); \
                 INSERT INTO events (position, event_id, member, member_version, record, hash) \
                 SELECT g, md5('e' || g)::uuid, md5('m' || g)::uuid, 1, '\\x00', '\\x00' \
                 FROM generate_series(1, 20000) g; \
                 SET plan_cache_mode = force_generic_plan";
            client.batch_execute(fill).await.expect("fill");
            let prepare = format!("PREPARE tails(uuid[], bigint[]) AS {READ_MEMBERS_AFTER_SQL}");
            client.batch_execute(&prepare).await.expect("prepare");
            let explain = "EXPLAIN EXECUTE tails(ARRAY[md5('m7')::uuid], ARRAY[0::bigint])";
            let rows = client.simple_query(explain).await.expect("explain");
            let plan: Vec<String> = rows
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(String::from),
                    _ => None,
                })
                .collect();
            client
                .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .expect("drop");
            plan.join("\n")
        });
        assert!(plan.contains("events_member_member_version_key"), "{plan}");
        assert!(!plan.contains("Seq Scan on events"), "{plan}");
    }
}
