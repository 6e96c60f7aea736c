//! [`EventStore`] on PostgreSQL: each read is one of [`Reader`]'s queries run on the store's
//! runtime; each append goes to a writer's queue.

use std::collections::HashMap;
use std::future::Future;
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::reader::Reader;
use super::writer::Job;
use super::PgStore;
use crate::store::{
    AppendRequest, AppendTicket, EventIds, EventStore, GroupTicket, Head, IdempotencyRecord,
    StoreError, StoredEvent,
};

impl PgStore {
    /// Runs one query on a reader whose connection is open, and waits for its answer.
    fn read<T, Q, F>(&self, query: Q) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Q: Fn(Arc<Reader>) -> F,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let reader = self.reader();
        match self.run(query(Arc::clone(&reader))) {
            // The server ended the connection before its client noticed (`is_closed` was
            // still false when it was picked): a read changes nothing, so it is asked once
            // more, on a connection made again.
            Err(StoreError::Postgres(_)) if reader.client.is_closed() => {
                self.run(query(self.reader()))
            }
            answer => answer,
        }
    }
}

impl EventStore for PgStore {
    fn positions_gapless(&self) -> Result<bool, StoreError> {
        // Positions are claimed when a transaction starts; a refused append or a failed
        // transaction leaves its claim unused.
        Ok(false)
    }

    fn event_at(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.read(|r| async move { r.event_at(position).await })
    }

    fn committed_position(&self) -> Result<u64, StoreError> {
        self.read(|r| async move { r.committed_position().await })
    }

    fn head(&self) -> Result<Head, StoreError> {
        self.read(|r| async move { r.head().await })
    }

    fn event_ids(&self) -> Result<EventIds, StoreError> {
        Ok(self.ids)
    }

    fn watch_durable(&self) -> watch::Receiver<u64> {
        self.start_watching();
        self.watch.subscribe()
    }

    fn member_head(&self, member: Uuid) -> Result<(u64, [u8; 32]), StoreError> {
        self.read(|r| async move { r.member_head(member).await })
    }

    fn read_member(
        &self,
        member: Uuid,
        max_position: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let max = max_position.unwrap_or(u64::MAX);
        self.read(|r| async move { r.read_member(member, max).await })
    }

    fn members(&self) -> Result<Vec<Uuid>, StoreError> {
        self.read(|r| async move { r.members().await })
    }

    fn read_member_after(
        &self,
        member: Uuid,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|r| async move { r.read_member_after(member, after_version).await })
    }

    fn event_position(&self, event_id: Uuid) -> Result<Option<u64>, StoreError> {
        if let Some(position) = self.ids.position_of(event_id) {
            return Ok(self.event_at(position)?.map(|e| e.position));
        }
        self.read(|r| async move { r.event_position(event_id).await })
    }

    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|r| async move { r.read_from(from_position, limit).await })
    }

    fn projection(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.read(|r| {
            let key = key.clone();
            async move { r.projection(key).await }
        })
    }

    fn member_versions(&self, members: &[Uuid]) -> Result<Vec<u64>, StoreError> {
        let asked = members.to_vec();
        let found = self.read(|r| {
            let asked = asked.clone();
            async move { r.member_versions(asked).await }
        })?;
        Ok(members
            .iter()
            .map(|m| found.get(m).copied().unwrap_or(0))
            .collect())
    }

    fn projections(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let asked = keys.to_vec();
        let mut found = self.read(|r| {
            let asked = asked.clone();
            async move { r.projections(asked).await }
        })?;
        Ok(keys.iter().map(|k| found.remove(k)).collect())
    }

    fn read_members_after(
        &self,
        from: &[(Uuid, u64)],
    ) -> Result<Vec<Vec<StoredEvent>>, StoreError> {
        let asked = from.to_vec();
        let events = self.read(|r| {
            let asked = asked.clone();
            async move { r.read_members_after(asked).await }
        })?;
        let mut by_member: HashMap<Uuid, Vec<StoredEvent>> = HashMap::new();
        for event in events {
            by_member.entry(event.member).or_default().push(event);
        }
        Ok(from
            .iter()
            .map(|(m, _)| by_member.remove(m).unwrap_or_default())
            .collect())
    }

    fn idempotency_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<IdempotencyRecord>>, StoreError> {
        let asked: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        let mut found = self.read(|r| {
            let asked = asked.clone();
            async move { r.idempotency_many(asked).await }
        })?;
        Ok(keys.iter().map(|k| found.remove(k.as_bytes())).collect())
    }

    fn projection_scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let prefix = prefix.to_vec();
        self.read(|r| {
            let prefix = prefix.clone();
            async move { r.projection_scan(prefix).await }
        })
    }

    fn projection_keys_in(
        &self,
        from: &[u8],
        until: Option<&[u8]>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let (from, until) = (from.to_vec(), until.map(<[u8]>::to_vec));
        self.read(|r| {
            let (from, until) = (from.clone(), until.clone());
            async move { r.projection_keys_in(from, until).await }
        })
    }

    fn write_projections(
        &self,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Projections(records, tx));
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let key = key.as_bytes().to_vec();
        self.read(|r| {
            let key = key.clone();
            async move { r.idempotency(key).await }
        })
    }

    fn append(&self, request: AppendRequest) -> AppendTicket {
        let (applied_tx, applied) = oneshot::channel();
        let (durable_tx, durable) = oneshot::channel();
        self.send(Job::Append(Box::new(request), applied_tx, durable_tx));
        AppendTicket { applied, durable }
    }

    fn append_group(&self, requests: Vec<AppendRequest>) -> GroupTicket {
        let (applied_tx, applied) = oneshot::channel();
        let (durable_tx, durable) = oneshot::channel();
        self.send(Job::AppendGroup(requests, applied_tx, durable_tx));
        GroupTicket { applied, durable }
    }

    fn sync(&self) -> oneshot::Receiver<Result<(), StoreError>> {
        // Every append is answered after its COMMIT, on a connection with synchronous_commit
        // on: whatever was applied is durable already.
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        rx
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.read(|r| async move { r.size_on_disk().await })
    }
}
