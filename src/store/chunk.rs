//! Chunks: runs of consecutive records stored as one value, compressed together.
//!
//! Events of one member and one period look alike (the same rule texts, rates and field
//! names), so a run of records compresses about tenfold, where one record alone hardly does.
//! A chunk is what the sled backend stores under its first position.
//!
//! Layout of [`CHUNK_FORMAT`] 1:
//!
//! | field | encoding |
//! |---|---|
//! | format | `u8` = 1 |
//! | compression | `u8`: 0 none, 1 LZ4 block |
//! | records | varint count |
//! | raw length | varint: bytes of the uncompressed payload |
//! | checksum | `u32` little-endian, CRC-32 of the uncompressed payload |
//! | payload | the records, each as varint length ‖ record bytes (compressed when flagged) |
//!
//! The checksum catches damage to the medium before anything decodes; tampering is the hash
//! chain's job (each record's hash covers its own bytes, not the chunk's framing).

use super::bytes::{Reader, Writer};
use super::record::RECORD_BYTES_MAX;

/// The chunk layout this build writes and reads.
pub const CHUNK_FORMAT: u8 = 1;
/// Most records in one chunk.
pub const CHUNK_RECORDS_MAX: usize = 256;
/// Largest uncompressed payload of a chunk, bytes.
pub const CHUNK_RAW_BYTES_MAX: usize = 256 * 1024;
/// Header bytes at most before the payload.
const CHUNK_HEADER_BYTES_MAX: usize = 1 + 1 + 10 + 10 + 4;

const _: () = assert!(RECORD_BYTES_MAX + 10 <= CHUNK_RAW_BYTES_MAX);

const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_LZ4: u8 = 1;

/// Encodes records as one chunk, compressed when that makes it smaller.
pub fn encode(records: &[&[u8]]) -> Vec<u8> {
    debug_assert!(!records.is_empty() && records.len() <= CHUNK_RECORDS_MAX);
    let mut payload = Writer::with_capacity(records.iter().map(|r| r.len() + 2).sum());
    for record in records {
        payload.bytes(record);
    }
    let raw = payload.into_inner();
    debug_assert!(raw.len() <= CHUNK_RAW_BYTES_MAX);
    let compressed = lz4_flex::block::compress(&raw);
    let (kind, body) = if compressed.len() < raw.len() {
        (COMPRESSION_LZ4, compressed.as_slice())
    } else {
        (COMPRESSION_NONE, raw.as_slice())
    };
    let mut out = Writer::with_capacity(body.len() + CHUNK_HEADER_BYTES_MAX);
    out.u8(CHUNK_FORMAT);
    out.u8(kind);
    out.varint(records.len() as u64);
    out.varint(raw.len() as u64);
    out.bytes_fixed(&crc32fast::hash(&raw).to_le_bytes());
    out.bytes_fixed(body);
    out.into_inner()
}

/// A decoded chunk: its uncompressed payload and where each record lies in it.
#[derive(Clone, Debug)]
pub struct Chunk {
    raw: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Chunk {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Bytes of its uncompressed payload (what it costs in memory).
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Record `i` (0-based), if the chunk has it.
    pub fn record(&self, i: usize) -> Option<&[u8]> {
        let (start, end) = *self.spans.get(i)?;
        Some(&self.raw[start..end])
    }

    /// Every record in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|(s, e)| &self.raw[*s..*e])
    }
}

/// Decodes a chunk, checking its framing and checksum; bounded before anything is allocated.
pub fn decode(bytes: &[u8]) -> Result<Chunk, String> {
    let mut r = Reader::new(bytes);
    let format = r.u8()?;
    if format != CHUNK_FORMAT {
        return Err(format!(
            "chunk format {format}; this build reads format {CHUNK_FORMAT}"
        ));
    }
    let kind = r.u8()?;
    let count = r.len_prefix(CHUNK_RECORDS_MAX)?;
    let raw_len = r.len_prefix(CHUNK_RAW_BYTES_MAX)?;
    let checksum = u32::from_le_bytes(r.array::<4>()?);
    let body = r.take(r.remaining())?;
    let raw = match kind {
        COMPRESSION_NONE => body.to_vec(),
        COMPRESSION_LZ4 => lz4_flex::block::decompress(body, raw_len)
            .map_err(|e| format!("chunk does not decompress: {e}"))?,
        other => return Err(format!("unknown compression {other}")),
    };
    if raw.len() != raw_len {
        return Err(format!(
            "chunk says {raw_len} bytes but holds {}",
            raw.len()
        ));
    }
    if crc32fast::hash(&raw) != checksum {
        return Err("chunk checksum does not match: the stored bytes are damaged".into());
    }
    let mut spans = Vec::with_capacity(count);
    let mut reader = Reader::new(&raw);
    for _ in 0..count {
        let len = reader.len_prefix(RECORD_BYTES_MAX)?;
        let start = reader.offset();
        reader.skip(len)?;
        spans.push((start, start + len));
    }
    if !reader.is_empty() {
        return Err(format!(
            "{} bytes after the chunk's records",
            reader.remaining()
        ));
    }
    Ok(Chunk { raw, spans })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alike_records_compress_and_come_back_in_order() {
        let records: Vec<Vec<u8>> = (0..100u8)
            .map(|i| {
                let mut r = b"contribution_posted base 1200.00 employee 2% [000 Q43]".to_vec();
                r.push(i);
                r
            })
            .collect();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let bytes = encode(&refs);
        let raw: usize = records.iter().map(|r| r.len() + 1).sum();
        assert!(bytes.len() * 4 < raw, "{} bytes for {raw}", bytes.len());
        let chunk = decode(&bytes).expect("decodes");
        assert_eq!(chunk.len(), 100);
        assert!(chunk.records().eq(refs.iter().copied()));
        assert_eq!(chunk.record(99), Some(records[99].as_slice()));
        assert_eq!(chunk.record(100), None);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused() {
        let records = [b"one record".as_slice(), b"and another".as_slice()];
        let bytes = encode(&records);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            if let Ok(chunk) = decode(&damaged) {
                panic!("a flip at byte {i} decoded to {} records", chunk.len());
            }
        }
    }

    proptest! {
        // Any bytes decode to a chunk or an error, never a panic or an allocation beyond the
        // bounds.
        #[test]
        fn hostile_chunks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
