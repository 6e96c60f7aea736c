//! Projection records in sled: a value longer than one sled value is split into pieces, the
//! first under `P` (with the count), the rest under `Q`; a shorter rewrite removes stale pieces.

use super::keys::{piece_key, prefixed, SLED_VALUE_BYTES_MAX};
use crate::store::StoreError;

/// Writes projection records into `batch`: the first piece under `P`, further pieces under `Q`,
/// stale pieces of a longer earlier value removed.
pub fn write(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    records: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<(), StoreError> {
    let piece = SLED_VALUE_BYTES_MAX - 1;
    for (key, value) in records {
        let old = match tree.get(prefixed(b'P', key))? {
            Some(bytes) => bytes.first().copied().unwrap_or(1),
            None => 0,
        };
        let pieces: Vec<&[u8]> = match value {
            Some(v) if v.is_empty() => vec![&[][..]],
            Some(v) => v.chunks(piece).collect(),
            None => Vec::new(),
        };
        let Ok(count) = u8::try_from(pieces.len()) else {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: format!(
                    "a projection record of {} bytes is beyond the bound",
                    value.as_ref().map_or(0, Vec::len)
                ),
            });
        };
        match pieces.first() {
            Some(first) => {
                let mut head = Vec::with_capacity(first.len() + 1);
                head.push(count);
                head.extend_from_slice(first);
                batch.insert(prefixed(b'P', key), head);
            }
            None => batch.remove(prefixed(b'P', key)),
        }
        for (i, rest) in pieces.iter().enumerate().skip(1) {
            #[allow(clippy::cast_possible_truncation)] // i < count ≤ u8::MAX
            batch.insert(piece_key(key, i as u8), *rest);
        }
        for i in count.max(1)..old.max(1) {
            batch.remove(piece_key(key, i));
        }
    }
    Ok(())
}
