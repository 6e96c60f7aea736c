//! Member snapshots: a member's state at some version, kept so that a read folds only the events
//! after it. Their keys, their cadence, their encoding, and the retiree index beside them.
//!
//! A snapshot is a cache: deleting every one changes no answer, only how long a cold read takes
//! (`replay` writes them all again). One written by a build whose [`MemberState`] had another
//! shape ([`STATE_FORMAT`]) is not trusted: the member is folded from its events instead, since a
//! field added with a default would otherwise read as its default rather than as the events
//! made it.
//!
//! Encoding: [`STATE_FORMAT`] (`u32` LE) ‖ LZ4 block of the state as MessagePack with named
//! fields in serde's binary (not human-readable) form: ids as 16 bytes, and the months, nearly
//! all of a career's state, as compact bytes (`domain::state::months_binary`); amounts and
//! dates elsewhere stay text. Format 1 was the human-readable form throughout (a long career's
//! state was tens of KiB); a build of format 2 ignores those snapshots and writes its own.

use serde::{Deserialize, Serialize};

use crate::domain::{MemberId, MemberState};

/// The shape of [`MemberState`] that snapshots of this build hold. Bump it whenever a field of
/// the state (or of anything inside it) is added, removed, renamed or changes meaning, or
/// `MemberState::apply` makes something else of an event. `tests/snapshots.rs` folds the events
/// recorded in `tests/golden/member_states.json` and fails while the states differ from the
/// recorded ones and this number still equals the recorded one; after the bump, regenerate
/// the golden with `UPDATE_GOLDEN=1 cargo test --test snapshots`. (A field skipped when empty
/// and left empty by every recorded member escapes it: give the golden's history such a member.)
pub const STATE_FORMAT: u32 = 2;
/// A member's snapshot is rewritten each time its version crosses a multiple of this: a cold
/// read folds fewer events than this after the snapshot, and a long history is not rewritten
/// on every event.
pub const SNAPSHOT_EVERY_EVENTS: u64 = 64;
/// Largest snapshot read back, bytes of state (a bound before decompressing).
pub const SNAPSHOT_STATE_BYTES_MAX: usize = 64 * 1024 * 1024;

const SNAPSHOT_PREFIX: u8 = b'C';
const RETIREE_PREFIX: u8 = b'R';

/// The projection key of a member's snapshot.
pub fn snapshot_key(member: MemberId) -> Vec<u8> {
    let mut k = vec![SNAPSHOT_PREFIX];
    k.extend_from_slice(member.as_bytes());
    k
}

/// The projection key prefix of every snapshot.
pub fn snapshot_prefix() -> [u8; 1] {
    [SNAPSHOT_PREFIX]
}

/// The projection key marking a member as a retiree (what an allocation to every retiree reads).
pub fn retiree_key(member: MemberId) -> Vec<u8> {
    let mut k = vec![RETIREE_PREFIX];
    k.extend_from_slice(member.as_bytes());
    k
}

/// The projection key prefix of the retiree index.
pub fn retiree_prefix() -> [u8; 1] {
    [RETIREE_PREFIX]
}

/// The member a projection key names (after its one-byte prefix).
pub fn member_of_key(key: &[u8]) -> Option<MemberId> {
    uuid::Uuid::from_slice(key.get(1..)?).ok()
}

/// Whether a member going from version `before` to `after` is due a new snapshot.
pub fn due(before: u64, after: u64) -> bool {
    after / SNAPSHOT_EVERY_EVENTS > before / SNAPSHOT_EVERY_EVENTS
}

/// Whether a state belongs in the retiree index.
pub fn is_retiree(state: &MemberState) -> bool {
    state.retired_on.is_some() && state.closed_on.is_none()
}

/// A snapshot's bytes.
pub fn encode(state: &MemberState) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(4096);
    let mut serializer = rmp_serde::Serializer::new(&mut bytes).with_struct_map();
    state
        .serialize(&mut serializer)
        .map_err(|e| format!("member {}'s state does not encode: {e}", state.member))?;
    let mut out = STATE_FORMAT.to_le_bytes().to_vec();
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&bytes));
    Ok(out)
}

/// A snapshot's state; `Ok(None)` when it was written for another state shape.
pub fn decode(bytes: &[u8]) -> Result<Option<MemberState>, String> {
    let Some((format, body)) = bytes.split_first_chunk::<4>() else {
        return Err("a snapshot shorter than its header".into());
    };
    if u32::from_le_bytes(*format) != STATE_FORMAT {
        return Ok(None);
    }
    let size = body
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or("a snapshot without its size")?;
    if usize::try_from(size).map_or(true, |s| s > SNAPSHOT_STATE_BYTES_MAX) {
        return Err(format!("a snapshot of {size} bytes, beyond the bound"));
    }
    let raw = lz4_flex::block::decompress_size_prepended(body)
        .map_err(|e| format!("a snapshot does not decompress: {e}"))?;
    let mut de = rmp_serde::Deserializer::from_read_ref(&raw);
    MemberState::deserialize(&mut de)
        .map(Some)
        .map_err(|e| format!("a snapshot does not decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_another_shape_is_ignored() {
        let mut state = MemberState::new(uuid::Uuid::from_u128(5));
        state.version = 64;
        let bytes = encode(&state).expect("encodes");
        assert_eq!(decode(&bytes), Ok(Some(state)));
        let mut other = bytes.clone();
        other[0] = other[0].wrapping_add(1);
        assert_eq!(decode(&other), Ok(None));
        assert!(decode(&bytes[..6]).is_err());
    }

    #[test]
    fn snapshots_are_due_each_time_the_version_crosses_a_multiple() {
        assert!(!due(0, SNAPSHOT_EVERY_EVENTS - 1));
        assert!(due(SNAPSHOT_EVERY_EVENTS - 1, SNAPSHOT_EVERY_EVENTS));
        assert!(due(10, 3 * SNAPSHOT_EVERY_EVENTS + 1));
        assert!(!due(SNAPSHOT_EVERY_EVENTS, 2 * SNAPSHOT_EVERY_EVENTS - 1));
    }
}
