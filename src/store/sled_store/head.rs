//! What opening finds in the log, checked before anything is served: the format record, the
//! applied head and its Merkle frontier, the open chunk the writer goes on filling, and the
//! `durable-head` anchor (a log shorter than what was acknowledged is refused).

use std::path::Path;

use uuid::Uuid;

use super::keys::{be_u64, chunk_key, decode_format, encode_format, TREE};
use super::packing::{Tail, CHUNK_SEAL_RAW_BYTES, CHUNK_SEAL_RECORDS};
use super::read::Chunks;
use super::{legacy, open, ANCHOR_FILE};
use crate::store::merkle::Frontier;
use crate::store::{chunk, EventIds, Head, StoreError, GENESIS_HASH};

/// The checks and state of an opened database.
pub(super) fn check_log(db: &sled::Db, path: &Path) -> Result<Opened, StoreError> {
    legacy::refuse_legacy(db, path)?;
    let tree = db.open_tree(TREE)?;
    let ids = match tree.get(b"F")? {
        Some(format) => decode_format(&format).map(EventIds::new).ok_or_else(|| {
            StoreError::Unsupported(format!(
                "the ledger at {} is in format '{}', which this build does not read",
                path.display(),
                String::from_utf8_lossy(&format)
            ))
        })?,
        None if tree.is_empty() => {
            let ids = EventIds::new(Uuid::new_v4().as_u64_pair().0);
            tree.insert(b"F", encode_format(ids.tag()))?;
            ids
        }
        None => {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: "the log has no format record".into(),
            })
        }
    };
    let (head, frontier) = read_head(&tree)?;
    let tail = last_chunk(&tree, &head)?;
    if let Some(anchor) = open::read_anchor(path) {
        check_anchor(&tree, &head, anchor)?;
    }
    let gapless = !tree.contains_key(b"G")?;
    Ok(Opened {
        tree,
        ids,
        head,
        frontier,
        tail,
        gapless,
    })
}

/// What opening found: the tree, how ids are made, the head, the Merkle frontier, the open
/// chunk, whether positions may skip.
pub(super) struct Opened {
    pub(super) tree: sled::Tree,
    pub(super) ids: EventIds,
    pub(super) head: Head,
    pub(super) frontier: Frontier,
    pub(super) tail: Tail,
    pub(super) gapless: bool,
}

/// The applied head and the Merkle frontier of the log's events.
pub(super) fn read_head(tree: &sled::Tree) -> Result<(Head, Frontier), StoreError> {
    let Some(bytes) = tree.get(b"H")? else {
        let head = Head {
            position: 0,
            hash: GENESIS_HASH,
        };
        return Ok((head, Frontier::default()));
    };
    let corrupt = |reason: &str| StoreError::Corrupt {
        position: 0,
        reason: format!("the head record: {reason}"),
    };
    if bytes.len() < 40 || (bytes.len() - 40) % 32 != 0 {
        return Err(corrupt("not 40 bytes and whole frontier nodes"));
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[8..40]);
    let position = be_u64(&bytes[..8], "head position")?;
    let nodes = bytes[40..]
        .chunks(32)
        .map(|c| c.try_into().map_err(|_| corrupt("a frontier node")))
        .collect::<Result<Vec<[u8; 32]>, _>>()?;
    let frontier = if tree.contains_key(b"G")? {
        // A log whose positions skip keeps no tree (its leaves would not be its positions).
        Frontier::default()
    } else {
        Frontier::from_parts(position, nodes)
            .ok_or_else(|| corrupt("its frontier does not fit its position"))?
    };
    Ok((Head { position, hash }, frontier))
}

/// Checks that the last chunk ends at the head with the head's hash; returns the open chunk
/// (its records, when it is not sealed) for the writer to go on filling.
fn last_chunk(tree: &sled::Tree, head: &Head) -> Result<Tail, StoreError> {
    let last = tree
        .range(chunk_key(0)..=chunk_key(u64::MAX))
        .next_back()
        .transpose()?;
    let Some((key, value)) = last else {
        if head.position != 0 {
            return Err(StoreError::Corrupt {
                position: head.position,
                reason: format!("the head says {} but the log holds no event", head.position),
            });
        }
        return Ok(Tail::new(1, Vec::new()));
    };
    let first = be_u64(&key[1..], "chunk key")?;
    let chunk = chunk::decode(&value).map_err(|reason| StoreError::Corrupt {
        position: first,
        reason: format!("the last chunk: {reason}"),
    })?;
    let end = first + chunk.len() as u64 - 1;
    let last_hash = chunk
        .record(chunk.len().saturating_sub(1))
        .map(crate::store::record::record_hash);
    if end != head.position || last_hash != Some(head.hash) {
        return Err(StoreError::Corrupt {
            position: end.max(head.position),
            reason: format!(
                "the head says {} but the last event is at {end} (or has another hash)",
                head.position
            ),
        });
    }
    let raw: usize = chunk.records().map(<[u8]>::len).sum();
    if chunk.len() >= CHUNK_SEAL_RECORDS || raw >= CHUNK_SEAL_RAW_BYTES {
        return Ok(Tail::new(head.position + 1, Vec::new()));
    }
    Ok(Tail::new(
        first,
        chunk.records().map(<[u8]>::to_vec).collect(),
    ))
}

/// Refuses a log that holds less than the anchor says was durable, or another event there.
fn check_anchor(tree: &sled::Tree, head: &Head, anchor: Head) -> Result<(), StoreError> {
    if anchor.position > head.position {
        return Err(StoreError::Corrupt {
            position: head.position + 1,
            reason: format!(
                "the log ends at position {} but position {} was durable and acknowledged ({ANCHOR_FILE}): the database files were truncated or damaged; restore them from a backup",
                head.position, anchor.position
            ),
        });
    }
    if anchor.position == 0 {
        return Ok(());
    }
    let event = Chunks::default().event_at(tree, anchor.position)?;
    if event.map(|e| e.hash()) != Some(anchor.hash) {
        return Err(StoreError::Corrupt {
            position: anchor.position,
            reason: format!(
                "the event at position {} is not the one acknowledged there ({ANCHOR_FILE}): the log was replaced or rewritten",
                anchor.position
            ),
        });
    }
    Ok(())
}
