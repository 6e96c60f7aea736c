//! Faults a test injects at the sled backend's storage boundary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::store::StoreError;

/// Faults a test injects at the storage boundary ("cold code is buggy code"): the writer asks the
/// plan before each batch write, flush and fsync, and a planned fault becomes the `io::Error` the
/// real call could have returned, without calling it. Shared (`Arc`) so the test arms it while
/// the store runs. Test-only: production opens stores with `faults: None`.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct FaultPlan {
    /// Batch writes seen so far.
    batches: AtomicU64,
    /// Fail the batch write with this ordinal (1-based, counted over the plan's life); 0: none.
    fail_batch_at: AtomicU64,
    fail_next_flush: AtomicBool,
    fail_next_fsync: AtomicBool,
    disk_full: AtomicBool,
    injected: AtomicU64,
}

impl FaultPlan {
    /// A plan that injects nothing until armed.
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    /// Fails the `n`th batch write from now (1: the next one).
    pub fn fail_nth_batch(&self, n: u64) {
        assert!(n >= 1, "batch ordinals start at 1");
        let seen = self.batches.load(Ordering::SeqCst);
        self.fail_batch_at.store(seen + n, Ordering::SeqCst);
    }

    /// Fails the next flush (sled's write of its buffers to the data file).
    pub fn fail_next_flush(&self) {
        self.fail_next_flush.store(true, Ordering::SeqCst);
    }

    /// Fails the next fsync of the data file (after a flush that succeeded).
    pub fn fail_next_fsync(&self) {
        self.fail_next_fsync.store(true, Ordering::SeqCst);
    }

    /// While on, every batch write and flush fails with ENOSPC (`ErrorKind::StorageFull`).
    pub fn set_disk_full(&self, full: bool) {
        self.disk_full.store(full, Ordering::SeqCst);
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    pub(super) fn before_batch(&self) -> Result<(), StoreError> {
        let ordinal = self.batches.fetch_add(1, Ordering::SeqCst) + 1;
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(self.injected_error(disk_full()));
        }
        if self.fail_batch_at.load(Ordering::SeqCst) == ordinal {
            return Err(self.injected_error(std::io::Error::other("injected batch write failure")));
        }
        Ok(())
    }

    pub(super) fn before_flush(&self) -> Result<(), StoreError> {
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(self.injected_error(disk_full()));
        }
        if self.fail_next_flush.swap(false, Ordering::SeqCst) {
            return Err(self.injected_error(std::io::Error::other("injected flush failure")));
        }
        Ok(())
    }

    pub(super) fn before_fsync(&self) -> Result<(), StoreError> {
        if self.fail_next_fsync.swap(false, Ordering::SeqCst) {
            let e = std::io::Error::other("injected fsync failure (EIO)");
            return Err(self.injected_error(e));
        }
        Ok(())
    }

    fn injected_error(&self, e: std::io::Error) -> StoreError {
        self.injected.fetch_add(1, Ordering::SeqCst);
        StoreError::Io(e)
    }
}

fn disk_full() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::StorageFull,
        "No space left on device (os error 28, injected)",
    )
}
