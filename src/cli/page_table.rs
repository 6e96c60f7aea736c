//! After a process appended many events to a sled directory: sled's page-table snapshot written
//! before the process ends, so that the next open does not read everything this one wrote.
//!
//! sled 0.34 writes that snapshot only while it opens (see
//! [`SledStore::snapshot_page_table`]); without this the first open after a 10 M-event `load`
//! took 2.75 s, later ones 0.3 s. Opening sled again inside the writing process would hold the
//! writer's memory and sled's rebuilt page table at once (516–582 MiB at 10 M events, tried), so
//! the process replaces its own image instead (`exec`): the hidden subcommand
//! `snapshot-page-table` opens and closes the database, then exits with the status the writing
//! subcommand chose.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use member_ledger::store::{DataLocation, SledStore};

/// Events a process appends to one sled directory before it has sled write its page-table
/// snapshot as it ends (unless [`SNAPSHOT_AFTER_ENV`] says otherwise). Reading the log since
/// the last snapshot costs sled ≈ 0.25 s per million events (BENCHMARKS.md), so below this an
/// open pays at most ≈ 25 ms for it.
pub const PAGE_TABLE_SNAPSHOT_AFTER_EVENTS: u64 = 100_000;

/// The environment variable that replaces [`PAGE_TABLE_SNAPSHOT_AFTER_EVENTS`] (a count of
/// events; 0: after every command that appended any).
pub const SNAPSHOT_AFTER_ENV: &str = "MEMBER_LEDGER_SNAPSHOT_AFTER_EVENTS";

/// The threshold in force: the environment's when it is a count, else the default.
fn threshold() -> u64 {
    std::env::var(SNAPSHOT_AFTER_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(PAGE_TABLE_SNAPSHOT_AFTER_EVENTS)
}

/// The sled directory this process appended to, and how many events.
static APPENDED: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

/// Records that this process appended `events` events to the ledger at `data` (a PostgreSQL URL
/// is ignored: only sled needs this).
pub(super) fn note_appended(data: &Path, events: u64) {
    if !matches!(DataLocation::from_path(data), DataLocation::Directory(_)) {
        return;
    }
    if let Ok(mut appended) = APPENDED.lock() {
        match appended.as_mut() {
            Some((path, count)) if path == data => *count += events,
            _ => *appended = Some((data.to_path_buf(), events)),
        }
    }
}

/// Called once the subcommand has finished and every ledger handle is closed: when this
/// process appended at least [`PAGE_TABLE_SNAPSHOT_AFTER_EVENTS`] events, replaces the process with
/// `member-ledger --data DIR snapshot-page-table --exit-status STATUS` (which ends with
/// `status`). Returns `status` when there is nothing to do, or when `exec` fails (the snapshot is
/// only an optimisation: the log is durable either way).
pub(super) fn after_appends(status: u8, report: bool) -> u8 {
    let appended = APPENDED.lock().ok().and_then(|mut a| a.take());
    let Some((dir, events)) = appended else {
        return status;
    };
    if events == 0 || events < threshold() {
        return status;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::warn!("sled's page-table snapshot not written (no path to this program: {e}); the next open reads the log written by this one");
            return status;
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let mut command = std::process::Command::new(exe);
    command
        .arg("--data")
        .arg(&dir)
        .arg("snapshot-page-table")
        .arg("--exit-status")
        .arg(status.to_string());
    if report {
        command.arg("--report");
    }
    // Only returns on failure.
    let e = command.exec();
    tracing::warn!("sled's page-table snapshot not written (cannot re-execute: {e}); the next open reads the log written by this process");
    status
}

/// The hidden subcommand: opens and closes the sled database in `data` (sled writes its
/// page-table snapshot while opening), then returns `exit_status`. A failure is a warning only.
pub(super) fn run(data: &Path, exit_status: u8, report: bool) -> u8 {
    let started = Instant::now();
    match SledStore::snapshot_page_table(data) {
        Ok(()) if report => println!(
            "page table: sled's snapshot written in {:.2} s (the next open reads it instead of the log)",
            started.elapsed().as_secs_f64()
        ),
        Ok(()) => {}
        Err(e) => eprintln!(
            "member-ledger: sled's page-table snapshot not written ({e}); the ledger is intact, \
             its next open reads the log written since the last one"
        ),
    }
    exit_status
}
