//! Event ids that say where the event is: a UUID (version 8, RFC 9562's custom layout) made of
//! the ledger's random tag and the event's position, so that finding an event by id needs no
//! index. Ids of events copied from a log written before this scheme keep their own value and are
//! found through a small index the copy writes.
//!
//! Layout: bytes 0–5 and the low nibble of byte 6 and byte 7 carry 60 bits of the ledger's tag;
//! byte 6's high nibble is the version (8); byte 8's top two bits are the RFC variant (`10`), its
//! low six bits and bytes 9–15 the position (62 bits).

use uuid::Uuid;

/// The largest position an id can carry.
pub const POSITION_IN_ID_MAX: u64 = (1 << 62) - 1;

/// Makes and reads the ids of one ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventIds {
    tag: u64,
}

impl EventIds {
    /// The ids of the ledger with this tag (its low 60 bits are used).
    pub fn new(tag: u64) -> EventIds {
        EventIds {
            tag: tag & ((1 << 60) - 1),
        }
    }

    /// The tag, as stored in the log's format record.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The id of the event at `position`.
    pub fn id(&self, position: u64) -> Uuid {
        debug_assert!(position <= POSITION_IN_ID_MAX);
        let t = self.tag.to_be_bytes(); // t[0] holds only 4 bits of the 60
        let p = position.to_be_bytes();
        let bytes = [
            t[1],
            t[2],
            t[3],
            t[4],
            t[5],
            t[6],
            0x80 | (t[0] & 0x0f),
            t[7],
            0x80 | (p[0] & 0x3f),
            p[1],
            p[2],
            p[3],
            p[4],
            p[5],
            p[6],
            p[7],
        ];
        Uuid::from_bytes(bytes)
    }

    /// The position an id of this ledger names; `None` for an id made elsewhere.
    pub fn position_of(&self, id: Uuid) -> Option<u64> {
        let b = id.as_bytes();
        if b[6] >> 4 != 8 || b[8] >> 6 != 0b10 {
            return None;
        }
        let tag = u64::from_be_bytes([b[6] & 0x0f, b[0], b[1], b[2], b[3], b[4], b[5], b[7]]);
        if tag != self.tag {
            return None;
        }
        Some(u64::from_be_bytes([
            b[8] & 0x3f,
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15],
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_gives_back_its_position_only_in_its_own_ledger() {
        let ids = EventIds::new(0x0abc_def0_1234_5678);
        for position in [1, 2, 1 << 40, POSITION_IN_ID_MAX] {
            let id = ids.id(position);
            assert_eq!(id.get_version_num(), 8);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(ids.position_of(id), Some(position));
            assert_eq!(EventIds::new(1).position_of(id), None);
        }
        assert_eq!(ids.position_of(Uuid::now_v7()), None);
        assert_ne!(ids.id(1), ids.id(2));
    }
}
