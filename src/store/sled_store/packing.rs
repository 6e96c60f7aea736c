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
    /// How well the last full chunks compressed, to guess how many records the next one holds.
    pub ratio: CompressionRatio,
}

impl Tail {
    /// The open chunk from `first` holding `records`.
    pub fn new(first: u64, records: Vec<Vec<u8>>) -> Tail {
        Tail {
            first,
            records,
            ratio: CompressionRatio::default(),
        }
    }

    /// Seals full chunks of the tail and rewrites the open one, each within the value bound.
    pub fn pack_into(&mut self, batch: &mut sled::Batch) {
        self.pack_with(|first, bytes| batch.insert(&chunk_key(first), bytes));
    }

    /// [`Tail::pack_into`], handing each chunk and its first position to `put`.
    fn pack_with(&mut self, mut put: impl FnMut(u64, Vec<u8>)) {
        loop {
            let raw: usize = self.records.iter().map(Vec::len).sum();
            let full = self.records.len() >= CHUNK_SEAL_RECORDS || raw >= CHUNK_SEAL_RAW_BYTES;
            let (count, bytes) = pack(&self.records, &mut self.ratio);
            put(self.first, bytes);
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

/// Uncompressed bytes per stored byte of the last chunk that filled at least half a sled value,
/// in 1/1024ths (0 until one has).
///
/// Guessing a chunk's record count from it means about one compression per sealed chunk. Without
/// it, a chunk was compressed at the most records allowed, then at half, and so on until it fit
/// the value bound: two or three compressions of more records than were kept, and chunks only
/// half to three quarters full (the profile of `submit` had LZ4 at 6.7 % of all samples, all on
/// the writer's thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct CompressionRatio(usize);

/// A guessed chunk aims at this share of the value bound, in 1/16ths (chunks compress a little
/// differently from one another; aiming at the bound itself would mean compressing again often).
const GUESS_FILL_SIXTEENTHS: usize = 15;

impl CompressionRatio {
    /// Uncompressed bytes a chunk may hold to fit the value bound, by the last ratio seen.
    fn raw_budget(self) -> Option<usize> {
        (self.0 > 0).then(|| SLED_VALUE_BYTES_MAX * GUESS_FILL_SIXTEENTHS / 16 * self.0 / 1024)
    }

    /// Learns from a chunk of `raw` uncompressed bytes stored in `stored` bytes. Small chunks
    /// (the open one, rewritten with every group) compress worse than full ones: not learnt.
    fn observe(&mut self, raw: usize, stored: usize) {
        if stored >= SLED_VALUE_BYTES_MAX / 2 {
            self.0 = (raw * 1024 / stored).max(1);
        }
    }
}

/// Packs as many leading records as fit one chunk within the value bound (at most
/// [`CHUNK_SEAL_RECORDS`] and [`CHUNK_SEAL_RAW_BYTES`]); returns how many, and the chunk.
///
/// The count is guessed from `ratio` and compressed once when the guess holds; when the chunk
/// comes out over the bound, the count shrinks in proportion to the excess and is compressed
/// again. Guessing low only seals a chunk a few records early: the records are the same.
fn pack(records: &[Vec<u8>], ratio: &mut CompressionRatio) -> (usize, Vec<u8>) {
    let budget = ratio.raw_budget().unwrap_or(usize::MAX);
    let mut count = 0;
    let mut raw = 0;
    for record in records.iter().take(CHUNK_SEAL_RECORDS) {
        let within = raw + record.len() <= CHUNK_SEAL_RAW_BYTES && raw + record.len() <= budget;
        if count > 0 && !within {
            break;
        }
        raw += record.len();
        count += 1;
    }
    loop {
        let refs: Vec<&[u8]> = records[..count].iter().map(Vec::as_slice).collect();
        let bytes = chunk::encode(&refs);
        let raw: usize = refs.iter().map(|r| r.len()).sum();
        ratio.observe(raw, bytes.len());
        if bytes.len() <= SLED_VALUE_BYTES_MAX || count == 1 {
            debug_assert!(
                bytes.len() <= SLED_VALUE_BYTES_MAX,
                "one record always fits"
            );
            return (count, bytes);
        }
        let scaled = count * SLED_VALUE_BYTES_MAX * GUESS_FILL_SIXTEENTHS / 16 / bytes.len();
        count = scaled.clamp(1, count - 1);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Records that compress about as events do: a repeated text with numbers that vary.
    fn records(count: usize) -> Vec<Vec<u8>> {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..count)
            .map(|i| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                format!(
                    "{{\"type\":\"contribution\",\"position\":{i},\"amount\":\"{}.{:02}\",\"hash\":\"{:016x}{:016x}\",\"rule\":\"employer share of the wage base at the regional rate\"}}",
                    seed % 5000,
                    seed % 97,
                    seed,
                    seed.rotate_left(17)
                )
                .into_bytes()
            })
            .collect()
    }

    /// Packs `input` a group at a time, as the writer does; returns the chunks as stored (a
    /// later write under the same first position replaces the earlier one) and the open one's
    /// first position.
    fn pack_in_groups(input: &[Vec<u8>], group: usize) -> (BTreeMap<u64, Vec<u8>>, u64) {
        let mut tail = Tail::new(1, Vec::new());
        let mut stored = BTreeMap::new();
        for part in input.chunks(group) {
            tail.records.extend(part.iter().cloned());
            tail.pack_with(|first, bytes| {
                stored.insert(first, bytes);
            });
        }
        (stored, tail.first)
    }

    // Invariant: whatever the groups, the stored chunks hold every record once, in order, under
    // the position of their first record, each within the sled value bound; and a sealed chunk
    // is either at the record or raw-byte cap or at least three quarters of the value bound
    // (the count is guessed well, not halved until it fits).
    #[test]
    fn chunks_hold_every_record_in_order_and_fill_the_value_bound() {
        let input = records(5_000);
        for group in [1, 7, 100, 1024, 5_000] {
            let (stored, open_first) = pack_in_groups(&input, group);
            let mut next = 1u64;
            let mut decoded = Vec::new();
            for (first, bytes) in &stored {
                assert_eq!(*first, next, "group {group}: a gap or overlap at {first}");
                assert!(
                    bytes.len() <= SLED_VALUE_BYTES_MAX,
                    "group {group}: over the bound"
                );
                let chunk = chunk::decode(bytes).expect("a stored chunk decodes");
                let raw: usize = chunk.records().map(<[u8]>::len).sum();
                let capped = chunk.len() >= CHUNK_SEAL_RECORDS || raw >= CHUNK_SEAL_RAW_BYTES;
                if *first != open_first && !capped {
                    assert!(
                        bytes.len() * 4 >= SLED_VALUE_BYTES_MAX * 3,
                        "group {group}: a sealed chunk at {first} is only {} bytes",
                        bytes.len()
                    );
                }
                decoded.extend(chunk.records().map(<[u8]>::to_vec));
                next += chunk.len() as u64;
            }
            assert_eq!(decoded, input, "group {group}: the records changed");
        }
    }
}
