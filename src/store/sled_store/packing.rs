//! How records become chunks: the open chunk (the tail) the writer goes on filling, when a
//! chunk is sealed, and how many records fit one sled value.

use super::keys::{chunk_key, SLED_VALUE_BYTES_MAX};
use crate::store::chunk;

/// A chunk is sealed at this many records…
pub const CHUNK_SEAL_RECORDS: usize = 128;
/// …or at this many uncompressed bytes.
pub const CHUNK_SEAL_RAW_BYTES: usize = 64 * 1024;

const _: () = assert!(CHUNK_SEAL_RECORDS <= chunk::CHUNK_RECORDS_MAX);
const _: () = assert!(
    CHUNK_SEAL_RAW_BYTES + crate::store::record::RECORD_BYTES_MAX <= chunk::CHUNK_RAW_BYTES_MAX
);

/// The chunk being filled: records from `first` on, rewritten under `first` until sealed.
#[derive(Debug, Default)]
pub struct Tail {
    /// Position of its first record.
    pub first: u64,
    /// The records.
    pub records: Vec<Vec<u8>>,
}

impl Tail {
    /// Seals full chunks of the tail and rewrites the open one, each within the value bound.
    pub fn pack_into(&mut self, batch: &mut sled::Batch) {
        loop {
            let raw: usize = self.records.iter().map(Vec::len).sum();
            let full = self.records.len() >= CHUNK_SEAL_RECORDS || raw >= CHUNK_SEAL_RAW_BYTES;
            let (count, bytes) = pack(&self.records);
            batch.insert(&chunk_key(self.first), bytes);
            if count == self.records.len() && !full {
                return;
            }
            self.records.drain(..count);
            self.first += count as u64;
            if self.records.is_empty() {
                return;
            }
        }
    }
}

/// Packs as many leading records as fit one chunk within the value bound (at most
/// [`CHUNK_SEAL_RECORDS`] and [`CHUNK_SEAL_RAW_BYTES`]); returns how many, and the chunk.
fn pack(records: &[Vec<u8>]) -> (usize, Vec<u8>) {
    let mut count = 0;
    let mut raw = 0;
    for record in records.iter().take(CHUNK_SEAL_RECORDS) {
        if count > 0 && raw + record.len() > CHUNK_SEAL_RAW_BYTES {
            break;
        }
        raw += record.len();
        count += 1;
    }
    loop {
        let refs: Vec<&[u8]> = records[..count].iter().map(Vec::as_slice).collect();
        let bytes = chunk::encode(&refs);
        if bytes.len() <= SLED_VALUE_BYTES_MAX || count == 1 {
            debug_assert!(
                bytes.len() <= SLED_VALUE_BYTES_MAX,
                "one record always fits"
            );
            return (count, bytes);
        }
        count /= 2;
    }
}
