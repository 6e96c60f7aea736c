//! Instrumentation the library emits: the storage flush's span, log event and metrics, and the
//! names of every metric the ledger and its server record.
//!
//! Only facades (`tracing`, `metrics`) are used here: nothing is recorded or printed until a
//! program installs a subscriber or a recorder (`member-ledger serve` does both), so the library
//! pays almost nothing for them.

use std::time::Instant;

/// Histogram: seconds one storage flush took (sled: flush + fsync; PostgreSQL: the commit).
pub const FLUSH_SECONDS: &str = "member_ledger_flush_seconds";
/// Counter: events made durable (appended) by the store.
pub const APPENDED_EVENTS_TOTAL: &str = "member_ledger_appended_events_total";
/// Counter: storage flushes that failed.
pub const FLUSH_FAILURES_TOTAL: &str = "member_ledger_flush_failures_total";

/// One storage flush being timed: a `storage_flush` span entered on the writer's thread, closed
/// with a log event and the metrics when [`Flush::finish`] is called.
#[derive(Debug)]
pub struct Flush {
    backend: &'static str,
    started: Instant,
    span: tracing::span::EnteredSpan,
}

impl Flush {
    /// Starts timing a flush on `backend` (`sled`, `postgres`).
    pub fn start(backend: &'static str) -> Flush {
        let span = tracing::debug_span!("storage_flush", backend).entered();
        Flush {
            backend,
            started: Instant::now(),
            span,
        }
    }

    /// Records how the flush ended: `Ok(events)` made durable, or the error.
    pub fn finish(self, result: Result<u64, &dyn std::fmt::Display>) {
        let elapsed = self.started.elapsed();
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        metrics::histogram!(FLUSH_SECONDS, "backend" => self.backend).record(elapsed.as_secs_f64());
        match result {
            Ok(events) => {
                metrics::counter!(APPENDED_EVENTS_TOTAL, "backend" => self.backend)
                    .increment(events);
                tracing::debug!(elapsed_us, events, "flushed");
            }
            Err(e) => {
                metrics::counter!(FLUSH_FAILURES_TOTAL, "backend" => self.backend).increment(1);
                tracing::error!(elapsed_us, error = %e, "storage flush failed");
            }
        }
        drop(self.span);
    }
}
