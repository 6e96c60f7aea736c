//! Catch-up subscriptions: the log from a position, in order, then new events as they become
//! durable, and a checkpoint a consumer keeps to resume where it stopped.
//!
//! A subscription reads what readers see ([`EventStore::read_from`]): only durable events, and
//! on PostgreSQL only below every transaction still in flight, so it never skips an event that
//! commits late and never shows one that is not acknowledged. Between reads it waits on the
//! store's watch of the durable position (sled: the writer's flush; PostgreSQL: a poll of the
//! stable head), never in a sleep loop on the caller's runtime.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::store::{EventStore, StoreError, StoredEvent};

/// Events read from the store per step of a subscription.
pub const SUBSCRIPTION_READ_EVENTS: usize = 512;

/// The log from a position on, event by event.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    next: u64,
    buffer: VecDeque<StoredEvent>,
    durable: watch::Receiver<u64>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("next", &self.next)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// A subscription delivering events from `from_position` on (1 for the whole log).
    pub fn new(store: Arc<dyn EventStore>, from_position: u64) -> Subscription {
        let durable = store.watch_durable();
        Subscription {
            store,
            next: from_position.max(1),
            buffer: VecDeque::new(),
            durable,
        }
    }

    /// The next event: at once when one is durable, else once one becomes so.
    pub async fn next(&mut self) -> Result<StoredEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.next = event.position + 1;
                return Ok(event);
            }
            // Marks the watch seen before reading, so that a flush between the read and the
            // wait below is not missed.
            self.durable.borrow_and_update();
            self.fill().await?;
            if self.buffer.is_empty() && self.durable.changed().await.is_err() {
                return Err(StoreError::Closed);
            }
        }
    }

    /// The next event if one is durable now, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<StoredEvent>, StoreError> {
        if self.buffer.is_empty() {
            self.fill().await?;
        }
        Ok(self
            .buffer
            .pop_front()
            .inspect(|event| self.next = event.position + 1))
    }

    /// Where the subscription stands: the position after the last event delivered. Persist it
    /// ([`SubscriptionCheckpoint`]) and start again from it to miss nothing and repeat nothing.
    pub fn checkpoint(&self) -> u64 {
        self.next
    }

    /// How many durable events lie beyond what was delivered (a consumer's lag).
    pub fn lag(&self) -> u64 {
        let durable = *self.durable.borrow();
        (durable + 1).saturating_sub(self.next)
    }

    async fn fill(&mut self) -> Result<(), StoreError> {
        let store = Arc::clone(&self.store);
        let from = self.next;
        let read =
            tokio::task::spawn_blocking(move || store.read_from(from, SUBSCRIPTION_READ_EVENTS))
                .await
                .map_err(|_| StoreError::Closed)??;
        self.buffer.extend(read);
        Ok(())
    }
}

/// A subscription's checkpoint kept in a file: the position to resume from, written atomically
/// (a temporary file, fsynced, renamed over the old one, the directory fsynced), so that a crash
/// leaves the old value or the new one, never a torn one.
#[derive(Clone, Debug)]
pub struct SubscriptionCheckpoint {
    path: PathBuf,
}

impl SubscriptionCheckpoint {
    /// The checkpoint kept at `path`.
    pub fn at(path: impl AsRef<Path>) -> SubscriptionCheckpoint {
        SubscriptionCheckpoint {
            path: path.as_ref().to_path_buf(),
        }
    }

    /// The position saved (1, the log's start, when none was).
    pub fn load(&self) -> std::io::Result<u64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} does not hold a position", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(1),
            Err(e) => Err(e),
        }
    }

    /// Saves `position` durably.
    pub fn save(&self, position: u64) -> std::io::Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("tmp");
        {
            let mut file = std::fs::File::create(&tmp)?;
            writeln!(file, "{position}")?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}
