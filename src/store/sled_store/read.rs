//! Reading the sled log: chunks by position (through a small cache of decoded chunks), a
//! member's positions through its runs, keys and projection records.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::keys::{be_u64, chunk_key, decode_run, piece_key, prefixed, run_key};
use crate::store::chunk::{self, Chunk};
use crate::store::{IdempotencyRecord, RecordView, StoreError, StoredEvent};

/// Decoded chunks kept for readers, bytes of uncompressed payload.
pub const READ_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// What the log remembers of a key.
pub fn key_record(tree: &sled::Tree, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
    let Some(bytes) = tree.get(prefixed(b'K', key.as_bytes()))? else {
        return Ok(None);
    };
    IdempotencyRecord::decode(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            position: 0,
            reason: format!("idempotency record of key '{key}': {e}"),
        })
}

/// A member's last run: its first version and positions (`(1, [])` for a member without one).
pub fn last_run(tree: &sled::Tree, member: Uuid) -> Result<(u64, Vec<u64>), StoreError> {
    let prefix = prefixed(b'M', member.as_bytes());
    match tree.scan_prefix(prefix).next_back() {
        Some(item) => {
            let (key, value) = item?;
            Ok((be_u64(&key[17..], "run key")?, decode_run(&value)?))
        }
        None => Ok((1, Vec::new())),
    }
}

/// A member's (version, position) pairs after `after_version`, up to `max_position`.
pub fn member_positions(
    tree: &sled::Tree,
    member: Uuid,
    after_version: u64,
    max_position: u64,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let wanted = after_version.saturating_add(1);
    let start = match tree
        .range(run_key(member, 0)..=run_key(member, wanted))
        .next_back()
    {
        Some(item) => item?.0.to_vec(),
        None => run_key(member, 0).to_vec(),
    };
    let mut out = Vec::new();
    let mut next_first = None;
    for item in tree.range(start..=run_key(member, u64::MAX).to_vec()) {
        let (key, value) = item?;
        let first = be_u64(&key[17..], "run key")?;
        if next_first.is_some_and(|n| n != first) {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: format!("member {member}'s runs of positions skip to version {first}"),
            });
        }
        let positions = decode_run(&value)?;
        next_first = Some(first + positions.len() as u64);
        for (i, position) in positions.into_iter().enumerate() {
            let version = first + i as u64;
            if position > max_position {
                return Ok(out);
            }
            if version >= wanted {
                out.push((version, position));
            }
        }
    }
    Ok(out)
}

/// A projection record, its pieces put together.
pub fn projection(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(head) = tree.get(prefixed(b'P', key))? else {
        return Ok(None);
    };
    assemble(tree, key, &head).map(Some)
}

fn assemble(tree: &sled::Tree, key: &[u8], head: &[u8]) -> Result<Vec<u8>, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        position: 0,
        reason: format!("projection record: {reason}"),
    };
    let (&count, first) = head.split_first().ok_or_else(|| corrupt("empty"))?;
    let mut value = first.to_vec();
    for piece in 1..count {
        let bytes = tree
            .get(piece_key(key, piece))?
            .ok_or_else(|| corrupt("a piece is missing"))?;
        value.extend_from_slice(&bytes);
    }
    Ok(value)
}

/// Projection records whose key starts with `prefix`.
pub fn projection_scan(
    tree: &sled::Tree,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for item in tree.scan_prefix(prefixed(b'P', prefix)) {
        let (k, v) = item?;
        let key = k[1..].to_vec();
        let value = assemble(tree, &key, &v)?;
        out.push((key, value));
    }
    Ok(out)
}

/// Decoded chunks, shared by readers: a bounded cache in front of sled.
#[derive(Debug, Default)]
pub struct Chunks {
    cache: Mutex<ChunkCache>,
}

#[derive(Debug, Default)]
struct ChunkCache {
    chunks: HashMap<u64, Arc<Chunk>>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl Chunks {
    /// The chunk holding `position`: its first position and its records.
    pub fn chunk_at(
        &self,
        tree: &sled::Tree,
        position: u64,
    ) -> Result<Option<(u64, Arc<Chunk>)>, StoreError> {
        let Some(item) = tree.range(chunk_key(0)..=chunk_key(position)).next_back() else {
            return Ok(None);
        };
        let (key, value) = item?;
        let first = be_u64(&key[1..], "chunk key")?;
        if let Some(chunk) = self.cached(first) {
            // A chunk only grows under its key (the open chunk is rewritten with more records):
            // a cached copy serves every position it holds.
            if position < first + chunk.len() as u64 {
                return Ok(Some((first, chunk)));
            }
        }
        let chunk = Arc::new(chunk::decode(&value).map_err(|reason| StoreError::Corrupt {
            position: first,
            reason: format!("chunk at {first}: {reason}"),
        })?);
        self.remember(first, Arc::clone(&chunk));
        Ok(Some((first, chunk)))
    }

    /// The event at `position`, if the log has one there.
    pub fn event_at(
        &self,
        tree: &sled::Tree,
        position: u64,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let Some((first, chunk)) = self.chunk_at(tree, position)? else {
            return Ok(None);
        };
        let Some(index) = usize::try_from(position - first).ok() else {
            return Ok(None);
        };
        match chunk.record(index) {
            Some(record) => StoredEvent::decode(position, record.to_vec()).map(Some),
            None => Ok(None),
        }
    }

    /// The events at `positions` (rising), each of which the log must hold.
    pub fn events_at(
        &self,
        tree: &sled::Tree,
        positions: &[u64],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        self.records_at(tree, positions, &mut |position, record| {
            out.push(StoredEvent::decode(position, record.to_vec())?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands `visit` the events at `positions` (rising), each of which the log must hold,
    /// borrowed from their decoded chunk.
    pub fn visit_at(
        &self,
        tree: &sled::Tree,
        positions: &[u64],
        visit: &mut dyn FnMut(RecordView<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.records_at(tree, positions, &mut |position, record| {
            visit(RecordView::of(position, record)?)
        })
    }

    /// Hands `each` the stored record at every one of `positions` (rising), each of which the
    /// log must hold, reading each chunk once for the positions it holds.
    fn records_at(
        &self,
        tree: &sled::Tree,
        positions: &[u64],
        each: &mut dyn FnMut(u64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut current: Option<(u64, Arc<Chunk>)> = None;
        for &position in positions {
            let holds = |(first, chunk): &(u64, Arc<Chunk>)| {
                position >= *first && position < first + chunk.len() as u64
            };
            if !current.as_ref().is_some_and(holds) {
                current = self.chunk_at(tree, position)?;
            }
            let record = current
                .as_ref()
                .filter(|c| holds(c))
                .and_then(|(first, chunk)| {
                    usize::try_from(position - first)
                        .ok()
                        .and_then(|i| chunk.record(i))
                });
            let record = record.ok_or_else(|| StoreError::Corrupt {
                position,
                reason: "an indexed event is missing from its chunk".into(),
            })?;
            each(position, record)?;
        }
        Ok(())
    }

    /// Up to `limit` events from `from` on, none past `max_position`.
    pub fn read_from(
        &self,
        tree: &sled::Tree,
        from: u64,
        limit: usize,
        max_position: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(4096));
        let mut position = from.max(1);
        while out.len() < limit && position <= max_position {
            let Some((first, chunk)) = self.chunk_at(tree, position)? else {
                break;
            };
            let end = first + chunk.len() as u64;
            if position >= end {
                // Past the chunk holding the last position below: the next chunk starts later
                // (a log whose positions may skip).
                match next_chunk_start(tree, position)? {
                    Some(next) => {
                        position = next;
                        continue;
                    }
                    None => break,
                }
            }
            for (i, record) in chunk.records().enumerate() {
                let at = first + i as u64;
                if at < position {
                    continue;
                }
                if at > max_position || out.len() >= limit {
                    return Ok(out);
                }
                out.push(StoredEvent::decode(at, record.to_vec())?);
            }
            position = end;
        }
        Ok(out)
    }

    /// Forgets every cached chunk.
    pub fn clear(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            *cache = ChunkCache::default();
        }
    }

    fn cached(&self, first: u64) -> Option<Arc<Chunk>> {
        let cache = self.cache.lock().ok()?;
        cache.chunks.get(&first).cloned()
    }

    fn remember(&self, first: u64, chunk: Arc<Chunk>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        let size = chunk.raw_len();
        if let Some(old) = cache.chunks.insert(first, chunk) {
            cache.bytes -= old.raw_len();
        } else {
            cache.order.push_back(first);
        }
        cache.bytes += size;
        while cache.bytes > READ_CACHE_BYTES {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            if let Some(old) = cache.chunks.remove(&oldest) {
                cache.bytes -= old.raw_len();
            }
        }
    }
}

/// The first position of the first chunk after `position`, if any.
fn next_chunk_start(tree: &sled::Tree, position: u64) -> Result<Option<u64>, StoreError> {
    match tree
        .range(chunk_key(position + 1)..chunk_key(u64::MAX))
        .next()
    {
        Some(item) => {
            let (key, _) = item?;
            Ok(Some(be_u64(&key[1..], "chunk key")?))
        }
        None => Ok(None),
    }
}
