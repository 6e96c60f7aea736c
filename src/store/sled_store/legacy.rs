//! Reading a sled log of the previous format (`member-ledger-log/2`: one JSON envelope per
//! key, SHA-256 over canonical JSON), so that `migrate` can copy it into this build's format.
//! Read only: this build never writes that format.
//!
//! Its hashes are checked as they were made, over the envelope's canonical JSON with every
//! object's keys sorted ([`crate::store::canonical_json`]): the same bytes a stock serde_json
//! build wrote, whatever features this build enables.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::keys::{be_u64, LEGACY_LOG_FORMAT, LEGACY_TREE, TREE};
use super::open::{open_db, CACHE_CAPACITY_BYTES};
use crate::store::{canonical_json, IdempotencyRecord, KeyOutcome, StoreError, GENESIS_HASH};

/// An event of the previous format, as its JSON envelope held it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyEvent {
    /// Global position.
    pub position: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The member.
    pub member: Uuid,
    /// The member's version after it.
    pub member_version: u64,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The date it takes effect.
    pub effective_date: NaiveDate,
    /// When it was recorded (RFC 3339, UTC, milliseconds).
    pub recorded_at: String,
    /// The command's idempotency key.
    pub idempotency_key: Option<String>,
    /// The policy version that decided it.
    pub policy_version: String,
    /// The event's fields, JSON.
    pub data: serde_json::Value,
    /// Hex hash of the member's previous event.
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash` ‖ the canonical JSON.
    pub hash: String,
}

#[derive(Deserialize)]
struct LegacyKeyRecord {
    payload_hash: String,
    positions: Vec<u64>,
}

/// Refuses to open a directory that holds a log of the previous format, saying how to copy it.
pub fn refuse_legacy(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    let names = db.tree_names();
    let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
    if has(LEGACY_TREE) && !has(TREE) && !db.open_tree(LEGACY_TREE)?.is_empty() {
        return Err(StoreError::Unsupported(format!(
            "the ledger at {dir} is in the previous format (JSON envelopes, '{}'); copy it into \
             this build's format with `member-ledger migrate --from {dir} --to NEW_DIR`, which \
             checks every hash of the old log and verifies the copy",
            String::from_utf8_lossy(LEGACY_LOG_FORMAT),
            dir = path.display()
        )));
    }
    Ok(())
}

/// A log of the previous format, opened for reading.
pub struct LegacyLog {
    tree: sled::Tree,
    next: u64,
    chains: HashMap<Uuid, (u64, [u8; 32])>,
    gapless: bool,
    _db: sled::Db,
}

impl LegacyLog {
    /// Whether `path` holds a log of the previous format (without changing anything there).
    pub fn is_legacy(path: &Path) -> bool {
        let Ok(db) = open_db(path, CACHE_CAPACITY_BYTES) else {
            return false;
        };
        refuse_legacy(&db, path).is_err()
    }

    /// Opens the log in `path`, checking its format record.
    pub fn open(path: &Path) -> Result<LegacyLog, StoreError> {
        let db = open_db(path, CACHE_CAPACITY_BYTES)?;
        let tree = db.open_tree(LEGACY_TREE)?;
        if tree.get(b"F")?.as_deref() != Some(LEGACY_LOG_FORMAT) {
            return Err(StoreError::Unsupported(format!(
                "{} holds no log of the format '{}'",
                path.display(),
                String::from_utf8_lossy(LEGACY_LOG_FORMAT)
            )));
        }
        let gapless = !tree.contains_key(b"G")?;
        Ok(LegacyLog {
            tree,
            next: 1,
            chains: HashMap::new(),
            gapless,
            _db: db,
        })
    }

    /// Whether its positions run without a gap.
    pub fn positions_gapless(&self) -> bool {
        self.gapless
    }

    /// Up to `limit` next events, each checked: its hash over its canonical JSON, its link to
    /// the member's previous event, rising positions and member versions.
    pub fn next_events(&mut self, limit: usize) -> Result<Vec<LegacyEvent>, StoreError> {
        let mut out = Vec::new();
        let start = event_key(self.next);
        for item in self.tree.range(start..event_key(u64::MAX)).take(limit) {
            let (key, value) = item?;
            let position = be_u64(&key[1..], "event key")?;
            let event: LegacyEvent =
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                    position,
                    reason: format!("event does not decode: {e}"),
                })?;
            self.check(position, &event)?;
            self.next = position + 1;
            out.push(event);
        }
        Ok(out)
    }

    fn check(&mut self, position: u64, event: &LegacyEvent) -> Result<(), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            position,
            reason: format!("the old log breaks here: {reason}"),
        };
        if event.position != position || (self.gapless && position != self.next) {
            return Err(corrupt(format!(
                "expected position {}, found {position}",
                self.next
            )));
        }
        let (version, prev) = self
            .chains
            .get(&event.member)
            .copied()
            .unwrap_or((0, GENESIS_HASH));
        if event.member_version != version + 1 || event.prev_hash != hex::encode(prev) {
            return Err(corrupt(format!(
                "member {}'s chain does not continue here",
                event.member
            )));
        }
        let hash = legacy_hash(event).ok_or_else(|| corrupt("unreadable hash".into()))?;
        if hex::encode(hash) != event.hash {
            return Err(corrupt(
                "hash does not match the event's contents: it was altered".into(),
            ));
        }
        self.chains
            .insert(event.member, (event.member_version, hash));
        Ok(())
    }

    /// What the old log remembers of a key.
    pub fn key_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let mut k = vec![b'K'];
        k.extend_from_slice(key.as_bytes());
        let Some(bytes) = self.tree.get(k)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            position: 0,
            reason: format!("idempotency record of key '{key}': {reason}"),
        };
        let record: LegacyKeyRecord =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let payload_hash: [u8; 32] = hex::decode(&record.payload_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("payload hash".into()))?;
        Ok(Some(IdempotencyRecord {
            payload_hash,
            outcome: KeyOutcome::Appended(record.positions),
        }))
    }
}

fn event_key(position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'E';
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

/// SHA-256(prev ‖ canonical JSON of the envelope without its hashes), as the old build made it:
/// the envelope's fields in their declared order, `data` with sorted keys.
fn legacy_hash(event: &LegacyEvent) -> Option<[u8; 32]> {
    let prev: [u8; 32] = hex::decode(&event.prev_hash).ok()?.try_into().ok()?;
    let mut bytes = Vec::with_capacity(512);
    let fields: [(&str, serde_json::Value); 10] = [
        ("position", event.position.into()),
        ("event_id", event.event_id.to_string().into()),
        ("schema_version", event.schema_version.into()),
        ("member", event.member.to_string().into()),
        ("member_version", event.member_version.into()),
        ("type", event.event_type.clone().into()),
        ("effective_date", event.effective_date.to_string().into()),
        ("recorded_at", event.recorded_at.clone().into()),
        ("idempotency_key", event.idempotency_key.clone().into()),
        ("policy_version", event.policy_version.clone().into()),
    ];
    bytes.push(b'{');
    for (name, value) in &fields {
        canonical_json(&serde_json::Value::String((*name).to_string()), &mut bytes);
        bytes.push(b':');
        canonical_json(value, &mut bytes);
        bytes.push(b',');
    }
    bytes.extend_from_slice(b"\"data\":");
    canonical_json(&event.data, &mut bytes);
    bytes.push(b'}');
    let mut h = Sha256::new();
    h.update(prev);
    h.update(&bytes);
    Some(h.finalize().into())
}
