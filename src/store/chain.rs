//! Checking the log's links as it is walked in position order: positions rise (without gaps
//! where the backend promises none), each member's versions run 1, 2, 3…, and each event's
//! `prev_hash` is the hash of the member's previous event (the genesis hash for its first).
//!
//! One walker serves every reader that must trust the log: `verify`, a replay, and a migration's
//! import. The hash of an event's own contents is checked separately ([`check_hash`]) so that a
//! caller can spread that work over threads and keep only the links in order.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Head, StoreError, StoredEvent, GENESIS_HASH};

/// The state of a walk: the last position and each member's last version and hash.
#[derive(Debug)]
pub struct ChainWalk {
    gapless: bool,
    last: Head,
    members: HashMap<Uuid, (u64, [u8; 32])>,
}

impl ChainWalk {
    /// A walk from the start of a log; `gapless` when the backend promises positions 1, 2, 3….
    pub fn new(gapless: bool) -> ChainWalk {
        ChainWalk {
            gapless,
            last: Head {
                position: 0,
                hash: GENESIS_HASH,
            },
            members: HashMap::new(),
        }
    }

    /// The last event walked (position 0 and the genesis hash before any).
    pub fn last(&self) -> Head {
        self.last
    }

    /// Members seen so far.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// A member's last version and hash, if the walk has seen the member.
    pub fn member_head(&self, member: Uuid) -> Option<(u64, [u8; 32])> {
        self.members.get(&member).copied()
    }

    /// The position the next event must have (gapless logs) or exceed (the last one).
    pub fn expected_position(&self) -> u64 {
        self.last.position + 1
    }

    /// Checks `event`'s links (position, member version, `prev_hash`) and moves past it. Does
    /// not recompute its hash: see [`check_hash`]. A broken link is `Corrupt` at the position
    /// where the event was expected.
    pub fn link(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
        let at = self.expected_position();
        let corrupt = |reason: String| StoreError::Corrupt {
            position: if self.gapless {
                at
            } else {
                event.position.max(at)
            },
            reason,
        };
        if self.gapless && event.position != at {
            return Err(corrupt(format!(
                "expected position {at}, found {} (an event is missing or out of place)",
                event.position
            )));
        }
        if event.position < at {
            return Err(corrupt(format!(
                "position {} does not follow {}",
                event.position, self.last.position
            )));
        }
        let (version, prev) = self
            .members
            .get(&event.member)
            .copied()
            .unwrap_or((0, GENESIS_HASH));
        if event.member_version != version + 1 {
            return Err(corrupt(format!(
                "member {} jumps from version {version} to {}",
                event.member, event.member_version
            )));
        }
        if event.prev_hash_bytes() != Some(prev) {
            return Err(corrupt(format!(
                "prev_hash does not match the hash of member {}'s previous event",
                event.member
            )));
        }
        let hash = event
            .hash_bytes()
            .ok_or_else(|| corrupt("hash is not a hash".into()))?;
        self.members
            .insert(event.member, (event.member_version, hash));
        self.last = Head {
            position: event.position,
            hash,
        };
        Ok(())
    }

    /// [`check_hash`] then [`ChainWalk::link`]: the whole check of one event.
    pub fn check(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
        check_hash(event).map_err(|e| match e {
            StoreError::Corrupt { reason, .. } => StoreError::Corrupt {
                position: if self.gapless {
                    self.expected_position()
                } else {
                    event.position
                },
                reason,
            },
            other => other,
        })?;
        self.link(event)
    }

    /// [`ChainWalk::check`] of an event read from another store (a migration's source): a
    /// break is reported as the source's.
    pub fn check_source(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
        self.check(event).map_err(|e| match e {
            StoreError::Corrupt { position, reason } => StoreError::Corrupt {
                position,
                reason: format!("the source's log breaks here: {reason}"),
            },
            other => other,
        })
    }

    /// Checks that the walk ended where the store's head says the log ends.
    pub fn finish(&self, head: &Head) -> Result<(), StoreError> {
        if head.position != self.last.position || head.hash != self.last.hash {
            return Err(StoreError::Corrupt {
                position: self.last.position + 1,
                reason: format!(
                    "the head says the log ends at {}, but the events that chain end at {} \
                     (truncated, or extra data)",
                    head.position, self.last.position
                ),
            });
        }
        Ok(())
    }
}

/// Checks that an event's `hash` is SHA-256 of its own `prev_hash` and canonical bytes: no
/// field was altered after it was written.
pub fn check_hash(event: &StoredEvent) -> Result<(), StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        position: event.position,
        reason: reason.to_string(),
    };
    let prev = event
        .prev_hash_bytes()
        .ok_or_else(|| corrupt("prev_hash is not a hash"))?;
    if event.hash_bytes() != Some(event.compute_hash(&prev)) {
        return Err(corrupt(
            "hash does not match the event's contents: the event was altered",
        ));
    }
    Ok(())
}
