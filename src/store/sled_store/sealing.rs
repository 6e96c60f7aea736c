//! The writer's part in sealing: the log's Merkle frontier grown with every event, its tiles
//! stored every eighth level, and a signed checkpoint written when one is due.

use std::time::Duration;

use tokio::sync::oneshot;

use super::keys::{checkpoint_key, tile_key, TILE_LEVEL_STEP};
use super::writer::{DurableAck, Writer};
use crate::store::merkle::{leaf_hash, Frontier};
use crate::store::seal::{Checkpoint, Signer};
use crate::store::StoreError;

/// A signed checkpoint is due after this many events…
pub const SEAL_EVERY_EVENTS: u64 = 65_536;
/// …or this long after the last one, at the next flush that makes events durable.
pub const SEAL_EVERY_MS: u64 = 10_000;

/// The writer's part in sealing: the Merkle frontier of the log, and the signing key.
pub struct Seal {
    /// The compact range of the tree over every applied event.
    pub frontier: Frontier,
    /// The key checkpoints are signed with, if any.
    pub signer: Option<Signer>,
    /// The ledger's tag, hex (a checkpoint's origin).
    pub origin: String,
    /// The size of the last checkpoint written.
    pub sealed_size: u64,
    /// Whether the log keeps a tree (its positions have no gap, so leaf i is position i + 1).
    pub keeps_tree: bool,
}

/// Adds an event's leaf to a frontier; puts the subtrees it completes at every eighth level into
/// the batch.
pub fn grow(frontier: &mut Frontier, batch: &mut sled::Batch, event_hash: &[u8; 32]) {
    for (level, index, root) in frontier.push(leaf_hash(event_hash)) {
        if level > 0 && level % TILE_LEVEL_STEP == 0 {
            batch.insert(&tile_key(level, index), &root);
        }
    }
}

impl Writer {
    /// Signs a checkpoint of everything applied and flushes it with every waiting append.
    pub(super) fn seal_now(
        &mut self,
        waiting: &mut Vec<DurableAck>,
    ) -> Result<Option<String>, StoreError> {
        if let Some(why) = &self.poisoned {
            return Err(StoreError::Poisoned(why.clone()));
        }
        let Some(text) = self.write_checkpoint()? else {
            return Ok(None);
        };
        self.dirty = true;
        let (tx, rx) = oneshot::channel();
        waiting.push(tx);
        self.flush(waiting);
        match rx.blocking_recv() {
            Ok(Ok(())) => Ok(Some(text)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Signs the head's checkpoint, when a key is set, and puts it in the log (durable with the
    /// next flush); returns its text.
    pub(super) fn write_checkpoint(&mut self) -> Result<Option<String>, StoreError> {
        let Some(signer) = self.seal.signer.as_ref().filter(|_| self.seal.keeps_tree) else {
            return Ok(None);
        };
        let size = self.seal.frontier.size();
        let checkpoint = Checkpoint {
            origin: self.seal.origin.clone(),
            size,
            root: self.seal.frontier.root(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let text = signer.sign(checkpoint).to_text();
        self.tree.insert(checkpoint_key(size), text.as_bytes())?;
        self.seal.sealed_size = size;
        self.sealed_at = std::time::Instant::now();
        Ok(Some(text))
    }

    /// Whether a checkpoint is due with this flush.
    pub(super) fn seal_due(&self) -> bool {
        let grown =
            self.seal.frontier.size() - self.seal.sealed_size.min(self.seal.frontier.size());
        self.seal.signer.is_some()
            && grown > 0
            && (grown >= SEAL_EVERY_EVENTS
                || self.sealed_at.elapsed() >= Duration::from_millis(SEAL_EVERY_MS))
    }
}
