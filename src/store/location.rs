//! Where a ledger lives: [`DataLocation`], a directory (sled) or a PostgreSQL database, and
//! opening or copying the log there.
//!
//! `--data` and [`crate::Ledger::open_url`] take one string: `postgres://…` and
//! `postgresql://…` URLs and libpq connection strings (`host=… dbname=…`) name a PostgreSQL
//! database; anything else is a directory. A build without the feature `postgres` refuses a
//! PostgreSQL location with [`StoreError::Unsupported`] instead of creating a directory named
//! after the URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::seal::Signer;
use super::{EventStore, ImportSource, SledStore, StoreError, StoreOptions};

/// Keywords that make a string a libpq connection string (`host=/run/postgresql dbname=ledger`).
const CONNINFO_KEYWORDS: [&str; 7] = [
    "host", "hostaddr", "port", "dbname", "user", "password", "options",
];

/// A ledger's storage location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataLocation {
    /// A directory holding a sled database.
    Directory(PathBuf),
    /// A PostgreSQL database: a URL or a libpq connection string, as given.
    Postgres(String),
}

impl DataLocation {
    /// Reads a location as `--data` gives it.
    pub fn parse(text: &str) -> DataLocation {
        if is_postgres(text) {
            DataLocation::Postgres(text.to_string())
        } else {
            DataLocation::Directory(PathBuf::from(text))
        }
    }

    /// Reads a location from a path argument (a URL is a valid path too).
    pub fn from_path(path: &Path) -> DataLocation {
        DataLocation::parse(&path.to_string_lossy())
    }

    /// Whether a ledger may be there without opening it: a directory exists; a database is
    /// assumed to (opening it says otherwise).
    pub fn may_exist(&self) -> bool {
        match self {
            DataLocation::Directory(path) => path.exists(),
            DataLocation::Postgres(_) => true,
        }
    }

    /// Opens (or creates) the store at this location.
    pub fn open(&self) -> Result<Arc<dyn EventStore>, StoreError> {
        self.open_with(None)
    }

    /// Opens (or creates) the store, signing checkpoints of its log with `signer` (embedded
    /// ledgers; PostgreSQL keeps no tree of its log and signs none).
    pub fn open_with(&self, signer: Option<Signer>) -> Result<Arc<dyn EventStore>, StoreError> {
        match self {
            DataLocation::Directory(path) => {
                let options = StoreOptions {
                    signer,
                    ..StoreOptions::default()
                };
                Ok(Arc::new(SledStore::open_with(path, options)?))
            }
            DataLocation::Postgres(url) => open_postgres(url),
        }
    }

    /// Copies a whole log into this location, which must hold no event: every record with its
    /// position, id, member version and hash unchanged (each link checked on the way), and
    /// every idempotency record. Projections are not copied: rebuild them
    /// ([`crate::Ledger::rebuild_projections`]). Returns the events copied.
    pub fn import_log(&self, source: &mut dyn ImportSource) -> Result<u64, StoreError> {
        match self {
            DataLocation::Directory(path) => SledStore::import(path, source),
            DataLocation::Postgres(url) => import_postgres(url, source),
        }
    }
}

impl fmt::Display for DataLocation {
    /// The location for messages, without a password a URL may carry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataLocation::Directory(path) => write!(f, "{}", path.display()),
            DataLocation::Postgres(url) => write!(f, "{}", redact(url)),
        }
    }
}

fn is_postgres(text: &str) -> bool {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return true;
    }
    let first = text.split_whitespace().next().unwrap_or_default();
    match first.split_once('=') {
        Some((keyword, _)) => CONNINFO_KEYWORDS.contains(&keyword),
        None => false,
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; `password=secret` → `password=***`.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    Ok(Arc::new(super::PgStore::open(url)?))
}

#[cfg(feature = "postgres")]
fn import_postgres(url: &str, source: &mut dyn ImportSource) -> Result<u64, StoreError> {
    super::PgStore::open(url)?.import(source)
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    Err(no_postgres(url))
}

#[cfg(not(feature = "postgres"))]
fn import_postgres(url: &str, _source: &mut dyn ImportSource) -> Result<u64, StoreError> {
    Err(no_postgres(url))
}

#[cfg(not(feature = "postgres"))]
fn no_postgres(url: &str) -> StoreError {
    StoreError::Unsupported(format!(
        "{} names a PostgreSQL database, but this build has no PostgreSQL backend: rebuild with `cargo build --features postgres`",
        redact(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_connection_strings_are_postgres_anything_else_a_directory() {
        for pg in [
            "postgres://u@localhost/ledger",
            "postgresql:///ledger?host=/tmp/pg",
            "host=/tmp/pg dbname=ledger",
            "dbname=ledger",
        ] {
            assert!(
                matches!(DataLocation::parse(pg), DataLocation::Postgres(_)),
                "{pg}"
            );
        }
        for dir in [
            "./ledger-data",
            "/srv/ledger",
            "postgres",
            "a=b",
            "my dir/x",
        ] {
            assert!(
                matches!(DataLocation::parse(dir), DataLocation::Directory(_)),
                "{dir}"
            );
        }
    }

    #[test]
    fn passwords_are_not_displayed() {
        let url = DataLocation::parse("postgres://ledger:s3cret@db:5432/ledger");
        assert_eq!(url.to_string(), "postgres://ledger:***@db:5432/ledger");
        let conninfo = DataLocation::parse("host=db password=s3cret dbname=ledger");
        assert_eq!(conninfo.to_string(), "host=db password=*** dbname=ledger");
    }
}
