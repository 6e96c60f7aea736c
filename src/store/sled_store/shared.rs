//! What the writer publishes to readers: the durable head (readers never see further), the
//! applied position (decisions may), and a watch on the durable position for followers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use crate::store::Head;

/// What the writer tells readers: the durable head, and a watch on its position.
#[derive(Debug)]
pub struct Shared {
    durable: Mutex<Head>,
    durable_position: AtomicU64,
    applied_position: AtomicU64,
    watch: watch::Sender<u64>,
}

impl Shared {
    /// State at open: everything in the log is durable.
    pub fn new(head: Head) -> Shared {
        let (watch, _) = watch::channel(head.position);
        Shared {
            durable: Mutex::new(head),
            durable_position: AtomicU64::new(head.position),
            applied_position: AtomicU64::new(head.position),
            watch,
        }
    }

    /// The last durable event's position and hash.
    pub fn durable_head(&self) -> Head {
        match self.durable.lock() {
            Ok(head) => *head,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// The last durable position.
    pub fn durable_position(&self) -> u64 {
        self.durable_position.load(Ordering::Acquire)
    }

    /// The last applied position (durable or not).
    pub fn applied_position(&self) -> u64 {
        self.applied_position.load(Ordering::Acquire)
    }

    /// A receiver of the durable position.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.watch.subscribe()
    }

    /// Records the last applied position (the writer's, before its flush).
    pub(super) fn record_applied(&self, position: u64) {
        self.applied_position.store(position, Ordering::Release);
    }

    pub(super) fn publish(&self, head: Head) {
        match self.durable.lock() {
            Ok(mut durable) => *durable = head,
            Err(poisoned) => *poisoned.into_inner() = head,
        }
        self.durable_position
            .store(head.position, Ordering::Release);
        self.watch.send_replace(head.position);
    }
}
