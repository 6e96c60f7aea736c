//! The envelope every event is stored in, its canonical bytes and the member's hash chain.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before the first event: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// An event as the caller hands it to the store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The member (stream) the event belongs to.
    pub member: Uuid,
    /// The event's type name.
    pub event_type: String,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The date the event takes effect.
    pub effective_date: NaiveDate,
    /// The policy version that decided it.
    pub policy_version: String,
    /// The event's fields.
    pub data: serde_json::Value,
}

/// An event as stored: the envelope of ISSUE #2 with its position and hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredEvent {
    /// Global position: rises with every event, from 1 (gapless on sled).
    pub position: u64,
    /// Unique id of the event.
    pub event_id: Uuid,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The member.
    pub member: Uuid,
    /// The member's version after this event (1 for the first).
    pub member_version: u64,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The date it takes effect.
    pub effective_date: NaiveDate,
    /// When the ledger recorded it (UTC, RFC 3339, milliseconds).
    pub recorded_at: String,
    /// The idempotency key of the command that wrote it.
    pub idempotency_key: Option<String>,
    /// The policy version that decided it.
    pub policy_version: String,
    /// The event's fields.
    pub data: serde_json::Value,
    /// Hex hash of the same member's previous event (the genesis hash, 64 zeros, for the
    /// member's first): each member's events form one hash chain.
    pub prev_hash: String,
    /// Hex SHA-256(prev_hash ‖ canonical bytes).
    pub hash: String,
}

/// The hashed part of an envelope, in a fixed field order; `data` keys are sorted by serde_json.
#[derive(Serialize)]
struct Canonical<'a> {
    position: u64,
    event_id: &'a Uuid,
    schema_version: u32,
    member: &'a Uuid,
    member_version: u64,
    #[serde(rename = "type")]
    event_type: &'a str,
    effective_date: &'a NaiveDate,
    recorded_at: &'a str,
    idempotency_key: &'a Option<String>,
    policy_version: &'a str,
    data: &'a serde_json::Value,
}

impl StoredEvent {
    /// The canonical bytes the hash covers: every field but the two hashes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let c = Canonical {
            position: self.position,
            event_id: &self.event_id,
            schema_version: self.schema_version,
            member: &self.member,
            member_version: self.member_version,
            event_type: &self.event_type,
            effective_date: &self.effective_date,
            recorded_at: &self.recorded_at,
            idempotency_key: &self.idempotency_key,
            policy_version: &self.policy_version,
            data: &self.data,
        };
        serde_json::to_vec(&c).expect("a JSON value always serialises")
    }

    /// Recomputes the hash from `prev` and the canonical bytes.
    pub fn compute_hash(&self, prev: &[u8; 32]) -> [u8; 32] {
        chain_hash(prev, &self.canonical_bytes())
    }

    /// The stored hash as bytes, if well-formed.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        decode_hash(&self.hash)
    }

    /// The stored previous hash as bytes, if well-formed.
    pub fn prev_hash_bytes(&self) -> Option<[u8; 32]> {
        decode_hash(&self.prev_hash)
    }
}

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// SHA-256(prev ‖ bytes).
pub fn chain_hash(prev: &[u8; 32], bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(bytes);
    h.finalize().into()
}
