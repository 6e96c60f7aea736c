//! Reading files the ledger is handed (policy files, dossiers, keys, checkpoints): only regular
//! files, and never more than a bound, whatever the file claims to hold. A symlink to a device
//! (`/dev/zero` reports a length of 0 and never ends) or a FIFO (opening it blocks until a
//! writer appears) is refused before it is opened.

use std::io::Read;
use std::path::Path;

/// Reads a regular file of at most `max_bytes` as UTF-8 text.
pub fn read_bounded(path: &Path, max_bytes: usize) -> std::io::Result<String> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let file = std::fs::File::open(path)?;
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::with_capacity(max_bytes.min(64 * 1024));
    file.take(limit).read_to_end(&mut bytes)?;
    if bytes.len() > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is larger than {max_bytes} bytes", path.display()),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_long_files_are_refused_and_short_ones_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let short = dir.path().join("short");
        std::fs::write(&short, "hello").expect("write");
        assert_eq!(read_bounded(&short, 5).expect("read"), "hello");
        assert!(read_bounded(&short, 4).is_err(), "one byte over the bound");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        assert!(
            read_bounded(&zero, 1024).is_err(),
            "a device is not a regular file"
        );
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(
                read_bounded(&fifo, 1024).is_err(),
                "a FIFO is refused without blocking"
            );
        }
    }
}
