//! The sled backend's key layout and its small fixed records. One tree ([`TREE`]) holds every
//! family, so that each append is a single atomic `apply_batch`:
//!
//! | key | value |
//! |---|---|
//! | `F` | the log's format: [`LOG_FORMAT`] ‖ the ledger's event-id tag (`u64` LE) |
//! | `H` | the applied head: position (`u64` BE) ‖ hash (32) ‖ the Merkle frontier (32 per set bit of the event count) |
//! | `C` position (`u64` BE) | a chunk ([`crate::store::chunk`]) whose first record is at that position |
//! | `M` member (16) first version (`u64` BE) | a run of the member's positions from that version: varint count ‖ varint steps |
//! | `V` member (16) | the member's record: version (`u64` BE) ‖ last hash (32) ‖ last position (`u64` BE) |
//! | `K` key bytes | what the log remembers of an idempotency key ([`crate::store::IdempotencyRecord`]) |
//! | `I` event id (16) | position (`u64` BE), only for ids copied from a log of an earlier format |
//! | `P` projection key | piece count (`u8`) ‖ the first piece of a projection record |
//! | `Q` projection key ‖ piece (`u8`) | the further pieces of a long projection record |
//! | `G` | present when positions may skip (a log copied from PostgreSQL that skipped some) |
//! | `T` level (`u8`) index (`u64` BE) | the root of a perfect subtree of the log's Merkle tree, at every eighth level |
//! | `W` size (`u64` BE) | a signed checkpoint of the log at that size ([`crate::store::seal`]) |
//!
//! Every value stays below [`SLED_VALUE_BYTES_MAX`]: sled 0.34 writes a node larger than a
//! quarter of its 512 KiB segment as a separate blob file, which it does not fsync.

use uuid::Uuid;

use crate::store::StoreError;

/// The sled tree that holds the log.
pub const TREE: &str = "ledger";
/// The format this build writes: binary records in chunks, a hash chain per member.
pub const LOG_FORMAT: &[u8] = b"member-ledger-log/3 (binary records in chunks, a chain per member)";
/// The format record of the previous build (JSON envelopes, one key per event).
pub const LEGACY_LOG_FORMAT: &[u8] = b"member-ledger-log/2 (a hash chain per member)";
/// The tree the previous build kept its log in.
pub const LEGACY_TREE: &str = "log";

/// Largest value the store writes, bytes.
pub const SLED_VALUE_BYTES_MAX: usize = 6 * 1024;
/// sled 0.34's segment size (its default, which this store keeps).
pub const SLED_SEGMENT_BYTES: usize = 512 * 1024;
/// Items a sled 0.34 leaf holds before it splits (17 at most).
const SLED_LEAF_ITEMS_MAX: usize = 17;
/// Longest key the store writes (an idempotency key with its prefix), bytes.
const KEY_BYTES_MAX: usize = 1 + crate::store::record::IDEMPOTENCY_KEY_BYTES_MAX;

// A full leaf, with room for per-item framing, stays inline (below sled's blob threshold of a
// quarter segment less its header).
const _: () = assert!(
    SLED_LEAF_ITEMS_MAX * (SLED_VALUE_BYTES_MAX + KEY_BYTES_MAX + 32) < SLED_SEGMENT_BYTES / 4 - 64
);

/// Most positions one `M` run holds.
pub const RUN_POSITIONS_MAX: usize = 128;

/// Key of the chunk starting at `position`.
pub fn chunk_key(position: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'C';
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

/// Key of a member's run starting at `first_version`.
pub fn run_key(member: Uuid, first_version: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = b'M';
    k[1..17].copy_from_slice(member.as_bytes());
    k[17..].copy_from_slice(&first_version.to_be_bytes());
    k
}

/// Key of a member's record.
pub fn member_key(member: Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = b'V';
    k[1..].copy_from_slice(member.as_bytes());
    k
}

/// A one-byte prefix before other bytes.
pub fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(rest.len() + 1);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

/// Key of a further piece of a projection record.
pub fn piece_key(key: &[u8], piece: u8) -> Vec<u8> {
    let mut k = prefixed(b'Q', key);
    k.push(piece);
    k
}

/// A `u64` from 8 big-endian bytes.
pub fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        position: 0,
        reason: format!("{what} is not 8 bytes"),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// A member's version, last hash and last position, as the `V` record holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// The member's version (its number of events).
    pub version: u64,
    /// The hash of its last event.
    pub hash: [u8; 32],
    /// The position of its last event.
    pub last_position: u64,
}

impl MemberRecord {
    /// The stored bytes.
    pub fn encode(&self) -> [u8; 48] {
        let mut record = [0u8; 48];
        record[..8].copy_from_slice(&self.version.to_be_bytes());
        record[8..40].copy_from_slice(&self.hash);
        record[40..].copy_from_slice(&self.last_position.to_be_bytes());
        record
    }

    /// Decodes the stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<MemberRecord, StoreError> {
        if bytes.len() != 48 {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: "a member's record is not 48 bytes".into(),
            });
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[8..40]);
        Ok(MemberRecord {
            version: be_u64(&bytes[..8], "member version")?,
            hash,
            last_position: be_u64(&bytes[40..], "member's last position")?,
        })
    }
}

/// A run of a member's positions: the stored bytes.
pub fn encode_run(positions: &[u64]) -> Vec<u8> {
    let mut w = crate::store::bytes::Writer::with_capacity(positions.len() * 3 + 2);
    w.varint(positions.len() as u64);
    let mut last = 0u64;
    for p in positions {
        w.varint(p.wrapping_sub(last));
        last = *p;
    }
    w.into_inner()
}

/// Decodes a run's stored bytes.
pub fn decode_run(bytes: &[u8]) -> Result<Vec<u64>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        position: 0,
        reason: format!("a member's run of positions: {reason}"),
    };
    let mut r = crate::store::bytes::Reader::new(bytes);
    let count = r.len_prefix(RUN_POSITIONS_MAX).map_err(corrupt)?;
    let mut positions = Vec::with_capacity(count);
    let mut last = 0u64;
    for _ in 0..count {
        let step = r.varint().map_err(corrupt)?;
        last = last
            .checked_add(step)
            .ok_or_else(|| corrupt("positions beyond u64".into()))?;
        positions.push(last);
    }
    if !r.is_empty() {
        return Err(corrupt("bytes after the positions".into()));
    }
    Ok(positions)
}

/// The Merkle tree's subtrees are stored at every this many levels (a subtree of 256 leaves,
/// of 65,536, …): a proof reads a few stored roots and at most 255 leaves per side.
pub const TILE_LEVEL_STEP: u32 = 8;

/// The applied head record: position, hash, and the Merkle frontier.
pub fn encode_head(position: u64, hash: &[u8; 32], frontier: &[[u8; 32]]) -> Vec<u8> {
    let mut record = Vec::with_capacity(40 + 32 * frontier.len());
    record.extend_from_slice(&position.to_be_bytes());
    record.extend_from_slice(hash);
    for node in frontier {
        record.extend_from_slice(node);
    }
    record
}

/// Key of a stored subtree root.
pub fn tile_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = b'T';
    // Levels are below 64.
    #[allow(clippy::cast_possible_truncation)]
    let level = level as u8;
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Key of a checkpoint.
pub fn checkpoint_key(size: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'W';
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

/// The format record of a new log with this event-id tag.
pub fn encode_format(tag: u64) -> Vec<u8> {
    let mut record = LOG_FORMAT.to_vec();
    record.extend_from_slice(&tag.to_le_bytes());
    record
}

/// The event-id tag a format record holds, if it is this build's format.
pub fn decode_format(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(LOG_FORMAT)?;
    Some(u64::from_le_bytes(rest.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let record = MemberRecord {
            version: 7,
            hash: [9; 32],
            last_position: 1234,
        };
        assert_eq!(MemberRecord::decode(&record.encode()).ok(), Some(record));
        let run = vec![3, 4, 900, 901, u64::MAX];
        assert_eq!(decode_run(&encode_run(&run)).ok(), Some(run));
        assert_eq!(decode_format(&encode_format(42)), Some(42));
        assert_eq!(decode_format(LEGACY_LOG_FORMAT), None);
    }
}
