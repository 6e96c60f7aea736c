//! Copying a ledger to another location (`member-ledger migrate`): between backends (sled ↔
//! PostgreSQL) record for record, or from a sled log of the previous format into this build's.
//!
//! - Between two logs of this format, every record is copied as stored: positions, ids,
//!   versions and hashes unchanged, each link checked on the way.
//! - From the previous format (JSON envelopes, SHA-256 over canonical JSON), every old hash is
//!   checked first; each event is then written as a record of this format with the same
//!   position, id, member version, dates, key and fields, and chained anew. Its old chain
//!   cannot carry over (the hash covers the stored bytes, and the bytes change), so the report
//!   names the old log's head, for the record.
//!
//! Either way the projections are rebuilt on the target and the target is verified.

use std::collections::HashMap;
use std::path::Path;

use uuid::Uuid;

use crate::audit::verify::VerifyReport;
use crate::codec;
use crate::policy::PolicySet;
use crate::store::record::{self, Envelope};
use crate::store::{
    DataLocation, EventIds, IdempotencyRecord, ImportSource, LegacyEvent, LegacyLog, NewEvent,
    StoreError, StoreSource, StoredEvent, GENESIS_HASH,
};
use crate::Ledger;

/// What a migration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateReport {
    /// Events copied.
    pub copied: u64,
    /// Whether the source was a log of the previous format (re-encoded, chained anew).
    pub from_previous_format: bool,
    /// The previous format's head (position, hex hash), when the source was one.
    pub previous_head: Option<(u64, String)>,
    /// Members whose projections were rebuilt on the target.
    pub members_rebuilt: usize,
    /// The target's verification.
    pub verified: VerifyReport,
}

/// Copies the ledger at `from` into `to` (which must hold none), rebuilds the target's
/// projections and verifies it.
pub async fn migrate(
    from: &DataLocation,
    to: &DataLocation,
    policies: PolicySet,
) -> Result<MigrateReport, StoreError> {
    if from == to {
        return Err(StoreError::Unsupported(
            "--from and --to name the same ledger".into(),
        ));
    }
    let (source, target) = (from.clone(), to.clone());
    let (copied, previous_head) = tokio::task::spawn_blocking(move || copy_log(&source, &target))
        .await
        .map_err(|_| StoreError::Closed)??;
    let target = match to {
        DataLocation::Directory(path) => path.to_string_lossy().into_owned(),
        DataLocation::Postgres(url) => url.clone(),
    };
    let ledger = Ledger::open_url(&target, policies).await?;
    let (_, members_rebuilt) = ledger.rebuild_projections(|_, _| {}).await?;
    let verified = ledger.verify(|_, _| {}).await?;
    Ok(MigrateReport {
        copied,
        from_previous_format: previous_head.is_some(),
        previous_head,
        members_rebuilt,
        verified,
    })
}

/// Copies the log; returns the events copied and, for a log of the previous format, its head.
fn copy_log(
    from: &DataLocation,
    to: &DataLocation,
) -> Result<(u64, Option<(u64, String)>), StoreError> {
    if let DataLocation::Directory(path) = from {
        if LegacyLog::is_legacy(path) {
            let mut source = PreviousFormat::open(path)?;
            let copied = to.import_log(&mut source)?;
            return Ok((copied, source.last));
        }
    }
    let store = from.open()?;
    let copied = to.import_log(&mut StoreSource::new(store.as_ref()))?;
    Ok((copied, None))
}

/// A log of the previous format, read as records of this one.
struct PreviousFormat {
    log: LegacyLog,
    chains: HashMap<Uuid, [u8; 32]>,
    last: Option<(u64, String)>,
}

impl PreviousFormat {
    fn open(path: &Path) -> Result<PreviousFormat, StoreError> {
        Ok(PreviousFormat {
            log: LegacyLog::open(path)?,
            chains: HashMap::new(),
            last: None,
        })
    }

    /// One old event as a record of this format, chained to the member's previous record.
    fn convert(&mut self, old: LegacyEvent) -> Result<StoredEvent, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            position: old.position,
            reason,
        };
        let event = codec::from_json(old.schema_version, &old.event_type, old.data.clone())
            .map_err(corrupt)?;
        let new = NewEvent {
            member: old.member,
            event_type: old.event_type.clone(),
            schema_version: crate::domain::EVENT_SCHEMA_VERSION,
            effective_date: old.effective_date,
            policy_version: old.policy_version.clone(),
            data: codec::encode_fields(&event).map_err(corrupt)?,
        };
        record::check_bounds(&new, old.idempotency_key.as_deref(), None).map_err(corrupt)?;
        let recorded_at_ms = chrono::DateTime::parse_from_rfc3339(&old.recorded_at)
            .map_err(|e| corrupt(format!("recorded_at '{}': {e}", old.recorded_at)))?
            .timestamp_millis();
        let prev_hash = self
            .chains
            .get(&old.member)
            .copied()
            .unwrap_or(GENESIS_HASH);
        let stored = record::build(
            &new,
            &Envelope {
                position: old.position,
                event_id: old.event_id,
                member_version: old.member_version,
                recorded_at_ms,
                idempotency_key: old.idempotency_key.as_deref(),
                actor: None,
                prev_hash,
            },
        );
        self.chains.insert(old.member, stored.hash());
        self.last = Some((old.position, old.hash));
        Ok(stored)
    }
}

impl ImportSource for PreviousFormat {
    fn positions_gapless(&self) -> Result<bool, StoreError> {
        Ok(self.log.positions_gapless())
    }

    fn event_ids(&self) -> Result<Option<EventIds>, StoreError> {
        Ok(None)
    }

    fn next_events(&mut self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let old = self.log.next_events(limit)?;
        old.into_iter().map(|e| self.convert(e)).collect()
    }

    fn key_record(&mut self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.log.key_record(key)
    }
}
