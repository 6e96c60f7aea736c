//! A read-only handle on a ledger's log, for services and tests that follow or inspect it: what
//! a [`crate::Ledger`] hands out instead of its store, so nothing outside the ledger can append
//! an event its rules did not decide.
//!
//! The calls block their thread while the store reads; from async code, call them inside
//! `tokio::task::spawn_blocking` (or use the ledger's own async queries).

use std::sync::Arc;

use uuid::Uuid;

use super::{EventStore, Head, IdempotencyRecord, StoreError, StoredEvent};

/// Reads of the durable log: events by position and by member, members, idempotency keys.
#[derive(Clone)]
pub struct LogReader {
    store: Arc<dyn EventStore>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}

impl LogReader {
    /// A reader of `store`'s log.
    pub fn new(store: Arc<dyn EventStore>) -> LogReader {
        LogReader { store }
    }

    /// The last durable event's position and hash.
    pub fn head(&self) -> Result<Head, StoreError> {
        self.store.head()
    }

    /// Up to `limit` durable events from `from_position` on, in log order.
    pub fn read_from(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.read_from(from_position, limit)
    }

    /// The durable event at `position`, if any.
    pub fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.store.event_at(position)
    }

    /// A member's durable events, up to `max_position` when given, in version order.
    pub fn read_member(
        &self,
        member: Uuid,
        max_position: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.read_member(member, max_position)
    }

    /// Every member with at least one event, in id order.
    pub fn members(&self) -> Result<Vec<Uuid>, StoreError> {
        self.store.members()
    }

    /// What the log remembers of an idempotency key (the events it appended, or its
    /// rejection).
    pub fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store.idempotency(key)
    }

    /// The bytes the log takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.store.size_on_disk()
    }
}
