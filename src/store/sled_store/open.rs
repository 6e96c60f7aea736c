//! Opening sled safely: what is cleaned up before sled reads its files, how a held lock and a
//! panic inside sled become typed errors, and the `durable-head` anchor beside the database.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::store::{Head, StoreError};

/// How long `open` waits for the database's file lock: sled's own I/O threads can hold it for
/// a moment after the previous handle in this process was dropped.
pub const LOCK_WAIT_MS: u64 = 3000;
/// sled's page cache, in bytes.
pub const CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// The anchor file's name inside the store's directory.
pub const ANCHOR_FILE: &str = "durable-head";
const ANCHOR_BYTES: usize = 48;

/// Removes the snapshot files sled 0.34 left half-written (`snap.<lsn>.generating`): a kill or
/// a full disk while sled writes one at open leaves it, and the next open would read it as the
/// newest snapshot and fail forever. The complete snapshot before it is still there, so nothing
/// is lost. Returns the files removed, for the caller to report.
pub fn remove_incomplete_snapshots(path: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    if !removed.is_empty() {
        File::open(path)?.sync_all()?;
    }
    Ok(removed)
}

/// Opens sled in `path`, waiting up to [`LOCK_WAIT_MS`] for a lock still held by a closing
/// handle; a lock held longer is [`StoreError::Locked`]. A panic inside sled (damaged files) is
/// [`StoreError::Corrupt`], never a crash of the caller.
pub fn open_db(path: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = catch_unwind(AssertUnwindSafe(|| {
            sled::Config::new()
                .path(path)
                .mode(sled::Mode::HighThroughput)
                .cache_capacity(cache_capacity_bytes)
                .flush_every_ms(None)
                .open()
        }))
        .map_err(|panic| damaged(path, &panic_text(&panic)))?;
        match opened {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= Duration::from_millis(LOCK_WAIT_MS) {
                    return Err(StoreError::Locked(path.display().to_string()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(sled::Error::Corruption { .. }) => {
                return Err(damaged(path, "sled reports corrupted data"));
            }
            other => return Ok(other?),
        }
    }
}

/// Runs a first read of a freshly opened database, turning a panic inside sled into the typed
/// "damaged" error.
pub fn guarded<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(read)).map_err(|panic| damaged(path, &panic_text(&panic)))?
}

fn damaged(path: &Path, why: &str) -> StoreError {
    StoreError::Corrupt {
        position: 0,
        reason: format!(
            "the database files in {} are damaged ({why}); `member-ledger verify` says more, \
             restore them from a backup",
            path.display()
        ),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic inside sled".into())
}

/// The anchor's bytes for a head: position, hash and an 8-byte check.
pub fn anchor_record(head: &Head) -> [u8; ANCHOR_BYTES] {
    let mut record = [0u8; ANCHOR_BYTES];
    record[..8].copy_from_slice(&head.position.to_be_bytes());
    record[8..40].copy_from_slice(&head.hash);
    let check = crate::store::record::record_hash(&record[..40]);
    record[40..].copy_from_slice(&check[..8]);
    record
}

/// The durable head the anchor file records; `None` when absent or unreadable (a torn write).
pub fn read_anchor(path: &Path) -> Option<Head> {
    let bytes = std::fs::read(path.join(ANCHOR_FILE)).ok()?;
    let record: [u8; ANCHOR_BYTES] = bytes.get(..ANCHOR_BYTES)?.try_into().ok()?;
    let position = u64::from_be_bytes(record[..8].try_into().ok()?);
    let hash: [u8; 32] = record[8..40].try_into().ok()?;
    let head = Head { position, hash };
    (anchor_record(&head) == record).then_some(head)
}

/// Writes the anchor (after the log's fsync, without one of its own: a power loss can only
/// leave it older than the log, never ahead of it).
pub fn write_anchor(file: &File, head: &Head) -> Result<(), StoreError> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(&anchor_record(head), 0)?;
    Ok(())
}

/// The anchor file, opened for rewriting.
pub fn open_anchor(path: &Path) -> Result<File, StoreError> {
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(ANCHOR_FILE))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_written_snapshots_are_removed_and_complete_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("snap.00000000000012AB.generating"), b"").expect("write");
        std::fs::write(dir.path().join("snap.0000000000001000"), b"complete").expect("write");
        let removed = remove_incomplete_snapshots(dir.path()).expect("clean");
        assert_eq!(removed.len(), 1);
        assert!(!dir.path().join("snap.00000000000012AB.generating").exists());
        assert!(dir.path().join("snap.0000000000001000").exists());
    }

    #[test]
    fn an_anchor_reads_back_and_a_torn_one_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let head = Head {
            position: 77,
            hash: [4; 32],
        };
        let file = open_anchor(dir.path()).expect("open");
        write_anchor(&file, &head).expect("write");
        assert_eq!(read_anchor(dir.path()), Some(head));
        std::fs::write(dir.path().join(ANCHOR_FILE), &anchor_record(&head)[..20]).expect("tear");
        assert_eq!(read_anchor(dir.path()), None);
    }
}
