//! The PostgreSQL backend's reads: a connection with its prepared statements.
//!
//! What readers see (`read_from`, `head`) stops below the oldest transaction in flight
//! (`pg_snapshot_xmin`), so a reader never skips a late commit; see the module above.

use tokio_postgres::{Client, Statement};

use super::schema::{from_db, STABLE_HEAD_SQL};
use crate::store::{IdempotencyRecord, StoreError, StoredEvent};

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
            read_members_after: client
                .prepare(
                    "SELECT e.position, e.record FROM events e \
                     JOIN UNNEST($1::uuid[], $2::bigint[]) AS f(member, after) \
                     ON e.member = f.member AND e.member_version > f.after \
                     ORDER BY e.member, e.member_version",
                )
                .await?,
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
            idempotency: client
                .prepare("SELECT record FROM idempotency WHERE key = $1")
                .await?,
            client,
        })
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
