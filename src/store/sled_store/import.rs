//! Building a sled log from another store's events, verbatim (`member-ledger migrate`).
//!
//! The copy writes sled's key layout directly, without the writer thread: the target must hold
//! no event, and nothing else may open it until the copy returns (sled's own lock refuses a
//! second opener). Every event keeps its position, id, member version and hashes; each link is
//! checked before it is written, so a broken source is refused rather than copied. A source whose
//! positions skip (PostgreSQL after a failed transaction) keeps its positions: the copy records
//! that its positions may skip (`G`), and walks of it accept rising positions.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use uuid::Uuid;

use super::{
    anchor_record, event_key, member_record, prefixed, read_head, stream_key, version_key,
    SledStore, StoreOptions, ANCHOR_FILE, LOG_FORMAT,
};
use crate::store::{ChainWalk, EventStore, StoreError};

/// Events read from the source and written in one sled batch.
const IMPORT_CHUNK_EVENTS: usize = 4096;

impl SledStore {
    /// Copies every event and idempotency record of `source` into a new sled log at `path`
    /// (which must hold no event), then flushes and fsyncs it. Returns the events copied.
    /// Projections are not copied: open the ledger and rebuild them.
    pub fn import_from(path: impl AsRef<Path>, source: &dyn EventStore) -> Result<u64, StoreError> {
        let path = path.as_ref();
        let options = StoreOptions::default();
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(None)
            .open()?;
        let tree = db.open_tree("log")?;
        let mut head = read_head(&tree)?;
        if head.position != 0 || tree.scan_prefix(b"E").next().is_some() {
            return Err(StoreError::Unsupported(format!(
                "{} already holds {} events: migrate into an empty ledger",
                path.display(),
                head.position
            )));
        }
        let mut walk = ChainWalk::new(source.positions_gapless()?);
        let mut skipped = false;
        let mut keys: BTreeSet<String> = BTreeSet::new();
        loop {
            let chunk = source.read_from(walk.expected_position(), IMPORT_CHUNK_EVENTS)?;
            if chunk.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            let mut touched: BTreeSet<Uuid> = BTreeSet::new();
            for event in &chunk {
                skipped |= event.position != walk.expected_position();
                walk.check_source(event)?;
                touched.insert(event.member);
                let bytes = serde_json::to_vec(event).map_err(|e| StoreError::Corrupt {
                    position: event.position,
                    reason: e.to_string(),
                })?;
                batch.insert(&event_key(event.position), bytes);
                let position = event.position.to_be_bytes();
                batch.insert(&stream_key(event.member, event.member_version), &position);
                batch.insert(prefixed(b'I', event.event_id.as_bytes()), &position);
                if let Some(key) = &event.idempotency_key {
                    if keys.insert(key.clone()) {
                        let record =
                            source
                                .idempotency(key)?
                                .ok_or_else(|| StoreError::Corrupt {
                                    position: event.position,
                                    reason: format!("the source has no record of key '{key}'"),
                                })?;
                        let bytes =
                            serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
                                position: event.position,
                                reason: e.to_string(),
                            })?;
                        batch.insert(prefixed(b'K', key.as_bytes()), bytes);
                    }
                }
            }
            for member in touched {
                if let Some((version, hash)) = walk.member_head(member) {
                    batch.insert(
                        &version_key(member),
                        member_record(version, &hash).as_slice(),
                    );
                }
            }
            head = walk.last();
            if skipped {
                batch.insert(b"G", b"");
            }
            batch.insert(b"F", LOG_FORMAT);
            let mut record = Vec::with_capacity(40);
            record.extend_from_slice(&head.position.to_be_bytes());
            record.extend_from_slice(&head.hash);
            batch.insert(b"H", record);
            tree.apply_batch(batch)?;
        }
        db.flush()?;
        File::open(path.join("db"))?.sync_all()?;
        std::fs::write(path.join(ANCHOR_FILE), anchor_record(&head))?;
        File::open(path.join(ANCHOR_FILE))?.sync_all()?;
        File::open(path)?.sync_all()?;
        Ok(head.position)
    }
}
