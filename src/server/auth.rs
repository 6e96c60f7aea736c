//! Access control: the tokens file, and the caller a request's bearer token names.
//!
//! The file (docs/CONTRACT.md "HTTP service") is a JSON array of
//! `{"name": "claims-service", "token_sha256": "<hex>", "roles": ["submit", "read"]}`: the
//! server keeps only each token's SHA-256, so the file reveals no token. [`Tokens`] holds the
//! table the server answers with and replaces it whole on [`Tokens::reload`] (SIGHUP); a file
//! that does not validate leaves the table in force unchanged.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::store::record::ACTOR_BYTES_MAX;

/// Largest tokens file read, bytes.
pub const TOKENS_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Most clients one tokens file may name.
pub const TOKENS_ENTRIES_MAX: usize = 10_000;
/// Longest bearer token considered, bytes (longer ones are refused unread).
pub const TOKEN_BYTES_MAX: usize = 1024;

/// What a client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `POST /v1/commands`.
    Submit,
    /// The account and statement of any member.
    Read,
    /// The whole log (`GET /v1/events`).
    Audit,
}

impl Role {
    /// The role's name in the tokens file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Submit => "submit",
            Role::Read => "read",
            Role::Audit => "audit",
        }
    }
}

/// A client the tokens file names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// Its name: what each event it submits records as `actor`.
    pub name: String,
    /// What it may do.
    pub roles: BTreeSet<Role>,
}

/// Why a tokens file was refused.
#[derive(Debug, thiserror::Error)]
#[error("tokens file {path}: {reason}")]
pub struct TokensError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    token_sha256: String,
    roles: Vec<Role>,
}

/// The clients by the hex SHA-256 of their token.
#[derive(Debug, Default)]
struct Table {
    by_hash: HashMap<String, Arc<Client>>,
}

/// The tokens the server accepts, replaced whole on reload.
#[derive(Debug)]
pub struct Tokens {
    path: Option<PathBuf>,
    table: RwLock<Arc<Table>>,
}

impl Tokens {
    /// The tokens of the file at `path`; with none, no token is valid and every request but
    /// `/v1/health` is refused (401).
    pub fn load(path: Option<&Path>) -> Result<Tokens, TokensError> {
        let table = match path {
            Some(p) => read_table(p)?,
            None => Table::default(),
        };
        Ok(Tokens {
            path: path.map(Path::to_path_buf),
            table: RwLock::new(Arc::new(table)),
        })
    }

    /// Reads the file again and, when it validates, answers with it from now on; returns how
    /// many clients it names. A file that does not validate changes nothing.
    pub fn reload(&self) -> Result<usize, TokensError> {
        let Some(path) = &self.path else {
            return Ok(0);
        };
        let table = read_table(path)?;
        let clients = table.by_hash.len();
        match self.table.write() {
            Ok(mut current) => *current = Arc::new(table),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(table),
        }
        Ok(clients)
    }

    /// How many tokens are valid now.
    pub fn len(&self) -> usize {
        self.current().by_hash.len()
    }

    /// Whether no token is valid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client whose token this is.
    pub fn client(&self, token: &str) -> Option<Arc<Client>> {
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        self.current().by_hash.get(&digest).cloned()
    }

    fn current(&self) -> Arc<Table> {
        match self.table.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// Reads and validates a tokens file.
fn read_table(path: &Path) -> Result<Table, TokensError> {
    let refuse = |reason: String| TokensError {
        path: path.display().to_string(),
        reason,
    };
    let bound = usize::try_from(TOKENS_FILE_BYTES_MAX).unwrap_or(usize::MAX);
    let text = crate::files::read_bounded(path, bound)
        .map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let entries: Vec<Entry> = serde_path_to_error::deserialize(de).map_err(|e| {
        refuse(format!(
            "{} at {}; expected a JSON array of {{\"name\", \"token_sha256\", \"roles\"}}",
            e.inner(),
            e.path()
        ))
    })?;
    if entries.len() > TOKENS_ENTRIES_MAX {
        return Err(refuse(format!(
            "{} entries, more than {TOKENS_ENTRIES_MAX}",
            entries.len()
        )));
    }
    let mut table = Table::default();
    for (i, entry) in entries.into_iter().enumerate() {
        let (hash, client) = validate(entry).map_err(|why| refuse(format!("[{i}]: {why}")))?;
        if table.by_hash.insert(hash, Arc::new(client)).is_some() {
            return Err(refuse(format!(
                "[{i}]: token_sha256 is given twice (each token names one client)"
            )));
        }
    }
    Ok(table)
}

fn validate(entry: Entry) -> Result<(String, Client), String> {
    let name = entry.name;
    if name.trim().is_empty() || name.len() > ACTOR_BYTES_MAX {
        return Err(format!(
            "name must be 1 to {ACTOR_BYTES_MAX} bytes (each event records it)"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not hold control characters".into());
    }
    let hash = entry.token_sha256.to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("token_sha256 must be 64 hex digits (the token's SHA-256)".into());
    }
    let roles = entry.roles.into_iter().collect();
    Ok((hash, Client { name, roles }))
}

/// The authenticated client of a request: a valid `Authorization: Bearer TOKEN`, or 401.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<Client>);

impl Caller {
    /// The client's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// 403 unless the client holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.roles.contains(&role) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "client '{}' does not hold the role '{}' this request needs",
                self.0.name,
                role.as_str()
            ),
        ))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "this request needs `Authorization: Bearer TOKEN`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= TOKEN_BYTES_MAX);
        let Some(token) = token else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer TOKEN`",
            ));
        };
        let Some(client) = state.tokens.client(token) else {
            return Err(ApiError::unauthorized("the token is not valid"));
        };
        tracing::Span::current().record("client", client.name.as_str());
        Ok(Caller(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table, TokensError> {
        let dir = tempfile::tempdir().map_err(|e| TokensError {
            path: String::new(),
            reason: e.to_string(),
        })?;
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, text).map_err(|e| TokensError {
            path: String::new(),
            reason: e.to_string(),
        })?;
        read_table(&path)
    }

    #[test]
    fn a_token_is_found_by_its_hash_and_names_its_client_and_roles() {
        let hash = hex::encode(Sha256::digest(b"s3cret"));
        let text = format!(
            r#"[{{"name":"claims-service","token_sha256":"{}","roles":["submit","read"]}}]"#,
            hash.to_uppercase()
        );
        let table = table(&text).expect("valid");
        let client = table
            .by_hash
            .get(&hash)
            .expect("found by the lower-case hash");
        assert_eq!(client.name, "claims-service");
        assert!(client.roles.contains(&Role::Submit) && !client.roles.contains(&Role::Audit));
    }

    #[test]
    fn bad_tokens_files_are_refused_with_the_place() {
        let hash = "a".repeat(64);
        for (text, expected) in [
            ("{}".to_string(), "expected a JSON array"),
            (
                format!(r#"[{{"name":"x","token_sha256":"{hash}","roles":["admin"]}}]"#),
                "[0].roles[0]",
            ),
            (
                r#"[{"name":"x","token_sha256":"abc","roles":[]}]"#.to_string(),
                "64 hex digits",
            ),
            (
                format!(r#"[{{"name":"","token_sha256":"{hash}","roles":[]}}]"#),
                "name must be",
            ),
            (
                format!(
                    r#"[{{"name":"a","token_sha256":"{hash}","roles":[]}},{{"name":"b","token_sha256":"{hash}","roles":[]}}]"#
                ),
                "given twice",
            ),
            (
                format!(r#"[{{"name":"x","token_sha256":"{hash}","roles":[],"extra":1}}]"#),
                "unknown field",
            ),
        ] {
            let err = table(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
