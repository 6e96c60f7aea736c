//! Checking the log's links as it is walked in position order: positions rise (without gaps
//! where the backend promises none), each member's versions run 1, 2, 3…, and each event's
//! `prev_hash` is the hash of the member's previous event (the genesis hash for its first).
//!
//! An event's hash is computed from its stored bytes, never stored beside them, so an edited
//! record shows as a broken link: the member's next event (or the store's record of the
//! member's last hash, or the head) no longer names it. The walk then reports the edited event.
//!
//! One walker serves every reader that must trust the log: `verify`, a migration's import, a
//! dossier's check.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Head, StoreError, StoredEvent, GENESIS_HASH};

/// The state of a walk: the last position and each member's last version, hash and position.
#[derive(Debug)]
pub struct ChainWalk {
    gapless: bool,
    last: Head,
    members: HashMap<Uuid, (u64, [u8; 32], u64)>,
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
        self.members.get(&member).map(|(v, h, _)| (*v, *h))
    }

    /// Every member seen, with its last version and hash.
    pub fn member_heads(&self) -> impl Iterator<Item = (Uuid, u64, [u8; 32])> + '_ {
        self.members.iter().map(|(m, (v, h, _))| (*m, *v, *h))
    }

    /// The position the next event must have (gapless logs) or exceed (the last one).
    pub fn expected_position(&self) -> u64 {
        self.last.position + 1
    }

    /// Checks `event`'s links (position, member version, `prev_hash`) and moves past it. The
    /// event's `hash` must have been computed from its bytes (as [`StoredEvent::decode`] does).
    /// A broken link is `Corrupt`, at the position where an event is missing or was edited.
    pub fn check(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
        let at = self.expected_position();
        let corrupt = |position: u64, reason: String| StoreError::Corrupt { position, reason };
        if self.gapless && event.position != at {
            return Err(corrupt(
                at,
                format!(
                    "expected position {at}, found {} (an event is missing or out of place)",
                    event.position
                ),
            ));
        }
        if event.position < at {
            return Err(corrupt(
                at,
                format!(
                    "position {} does not follow {}",
                    event.position, self.last.position
                ),
            ));
        }
        let (version, prev, prev_position) =
            self.members
                .get(&event.member)
                .copied()
                .unwrap_or((0, GENESIS_HASH, 0));
        if event.member_version != version + 1 {
            return Err(corrupt(
                event.position,
                format!(
                    "member {} jumps from version {version} to {} (an event is missing)",
                    event.member, event.member_version
                ),
            ));
        }
        if event.prev_hash != prev {
            let (position, reason) = if prev_position == 0 {
                (
                    event.position,
                    format!(
                        "member {}'s first event does not start from the genesis hash: it was altered",
                        event.member
                    ),
                )
            } else {
                (
                    prev_position,
                    format!(
                        "the event does not match the hash member {}'s next event (position {}) \
                         records for it: it was altered",
                        event.member, event.position
                    ),
                )
            };
            return Err(corrupt(position, reason));
        }
        self.members.insert(
            event.member,
            (event.member_version, event.hash(), event.position),
        );
        self.last = Head {
            position: event.position,
            hash: event.hash(),
        };
        Ok(())
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

    /// Checks a member's last hash as the store records it: an edited last event shows here.
    pub fn check_member_record(
        &self,
        member: Uuid,
        version: u64,
        hash: [u8; 32],
    ) -> Result<(), StoreError> {
        let Some((walked, walked_hash, position)) = self.members.get(&member).copied() else {
            return Ok(());
        };
        if walked == version && walked_hash != hash {
            return Err(StoreError::Corrupt {
                position,
                reason: format!(
                    "member {member}'s last event does not match the hash the store records for \
                     it: it was altered"
                ),
            });
        }
        Ok(())
    }

    /// Checks that the walk ended where the store's head says the log ends.
    pub fn finish(&self, head: &Head) -> Result<(), StoreError> {
        if head.position != self.last.position {
            return Err(StoreError::Corrupt {
                position: self.last.position + 1,
                reason: format!(
                    "the head says the log ends at {}, but the events that chain end at {} \
                     (truncated, or extra data)",
                    head.position, self.last.position
                ),
            });
        }
        if head.hash != self.last.hash {
            return Err(StoreError::Corrupt {
                position: self.last.position,
                reason: "the last event does not match the hash the head records for it: it \
                         was altered"
                    .into(),
            });
        }
        Ok(())
    }
}
