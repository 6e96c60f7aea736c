//! The PostgreSQL backend's tables and connections: the schema, created at open, the checks of
//! an existing database, and conversions between the store's numbers and PostgreSQL's.

use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::{Client, NoTls};

use crate::store::{EventIds, StoreError};

/// Tables, created at open when missing (under an advisory lock, so that processes opening a
/// new database at once do not race on the catalogue).
const SCHEMA_SQL: &str = "
CREATE SEQUENCE IF NOT EXISTS event_position AS bigint MINVALUE 1;
CREATE TABLE IF NOT EXISTS events (
    position       bigint PRIMARY KEY CHECK (position > 0),
    xid            xid8   NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid   NOT NULL UNIQUE,
    member         uuid   NOT NULL,
    member_version bigint NOT NULL CHECK (member_version > 0),
    record         bytea  NOT NULL,
    hash           bytea  NOT NULL,
    UNIQUE (member, member_version)
);
CREATE TABLE IF NOT EXISTS members (
    member  uuid   PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 0),
    hash    bytea  NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key    bytea PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS projections (
    key   bytea PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS log_format (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    format text    NOT NULL,
    id_tag bigint  NOT NULL
);

-- Claims n positions for the calling transaction, and gives it its transaction id, both under
-- one short lock: transaction ids and positions are then in the same order, which is what lets
-- a reader stop below the oldest transaction in flight and never skip a late commit.
CREATE OR REPLACE FUNCTION ml_claim_positions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    first bigint;
BEGIN
    PERFORM pg_advisory_lock(27756, 1);
    BEGIN
        PERFORM pg_current_xact_id();
        first := nextval('event_position');
        IF n > 1 THEN
            PERFORM setval('event_position', first + n - 1);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(27756, 1);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(27756, 1);
    RETURN first;
END $$;

-- The start of an append transaction, in one round trip: claims n positions (and the
-- transaction's id), gives every member touched a row (version 0 when new), and locks those rows
-- in member order. Both passes go in member order, so two writers cannot deadlock on them.
CREATE OR REPLACE FUNCTION ml_begin_append(n bigint, touched uuid[])
RETURNS TABLE (o_first bigint, o_member uuid, o_version bigint, o_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    first bigint := 0;
BEGIN
    IF n > 0 THEN
        first := ml_claim_positions(n);
    END IF;
    INSERT INTO members (member, version, hash)
        SELECT m, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
        FROM unnest(touched) AS m ORDER BY m
        ON CONFLICT (member) DO NOTHING;
    RETURN QUERY SELECT first, r.member, r.version, r.hash FROM members r
        WHERE r.member = ANY(touched) ORDER BY r.member FOR UPDATE;
END $$;

-- The same for a migration, whose events keep their positions: the sequence moves past them.
CREATE OR REPLACE FUNCTION ml_claim_imported(last_position bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    claimed bigint;
BEGIN
    PERFORM pg_advisory_lock(27756, 1);
    BEGIN
        PERFORM pg_current_xact_id();
        SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO claimed FROM event_position;
        IF greatest(last_position, claimed) > 0 THEN
            PERFORM setval('event_position', greatest(last_position, claimed));
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(27756, 1);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(27756, 1);
END $$;
";

/// The format this build writes, as `log_format` records it.
pub const LOG_FORMAT: &str = "member-ledger-log/3 (binary records, a hash chain per member)";
/// The format of the previous build (JSON envelopes), which this one cannot read.
const LEGACY_FORMAT: &str = "member-ledger-log/2 (a hash chain per member)";

/// The advisory lock (two-key form, "ml", 0) taken while creating the tables; the claim of
/// positions takes ("ml", 1) for a moment (`ml_claim_positions`).
const SCHEMA_LOCK: (i32, i32) = (27756, 0);

/// The end of the stable log: the last event below every transaction still in flight.
pub const STABLE_HEAD_SQL: &str = "SELECT position, hash FROM events \
     WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY position DESC LIMIT 1";

/// A PostgreSQL error as a store error, with its SQLSTATE.
pub fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            StoreError::Postgres(format!("{} (SQLSTATE {})", db.message(), db.code().code()))
        }
        None => StoreError::Postgres(e.to_string()),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_error(e)
    }
}

/// A position or version as a bigint.
pub fn to_db(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Postgres(format!("{value} exceeds bigint")))
}

/// A bigint as a position or version.
pub fn from_db(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        position: 0,
        reason: format!("{what} is negative ({value})"),
    })
}

/// A stored hash.
pub fn hash_from_db(bytes: &[u8], position: u64) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: "a stored hash is not 32 bytes".into(),
    })
}

/// The smallest key above every key starting with `prefix` (`None`: no bound).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Attempts to reach the server when a connection is (re)made; the delay between attempts
/// doubles from [`RECONNECT_FIRST_DELAY_MS`] (about 6 s in all).
pub const RECONNECT_ATTEMPTS_MAX: u32 = 7;
/// The first delay between connection attempts, ms.
pub const RECONNECT_FIRST_DELAY_MS: u64 = 100;

/// What a location names: the connection settings and TLS.
#[derive(Clone)]
pub struct PgConfig {
    /// Host, database, user, … as tokio-postgres reads them.
    pub pg: tokio_postgres::Config,
    /// TLS (`sslmode`, `sslrootcert`); `None` for none.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The connection settings a location names.
pub fn config(url: &str) -> Result<PgConfig, StoreError> {
    let (rest, tls) = super::tls::split_location(url)?;
    let mut pg = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| StoreError::Unsupported(format!("not a PostgreSQL location: {e}")))?;
    pg.ssl_mode(match tls.mode {
        super::tls::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        super::tls::SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let tls = super::tls::client_config(&tls)?;
    Ok(PgConfig { pg, tls })
}

/// Connects as [`connect`] does, trying again with a doubling delay when the server cannot be
/// reached (at most [`RECONNECT_ATTEMPTS_MAX`] attempts).
pub async fn connect_with_backoff(
    config: &PgConfig,
    schema: Option<&str>,
) -> Result<Client, StoreError> {
    let mut delay_ms = RECONNECT_FIRST_DELAY_MS;
    let mut attempt = 1;
    loop {
        match connect(config, schema).await {
            Ok(client) => return Ok(client),
            Err(e) if attempt >= RECONNECT_ATTEMPTS_MAX => return Err(e),
            Err(e) => {
                tracing::warn!(attempt, delay_ms, error = %e, "PostgreSQL unreachable; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                delay_ms = delay_ms.saturating_mul(2);
                attempt += 1;
            }
        }
    }
}

/// Connects (with TLS when the location asks), sets the schema and the session's settings,
/// and spawns the connection's driver.
pub async fn connect(config: &PgConfig, schema: Option<&str>) -> Result<Client, StoreError> {
    let client = match &config.tls {
        None => {
            let (client, connection) = config.pg.connect(NoTls).await?;
            // The error, if any, reaches the next query as a closed connection.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        }
        Some(tls) => {
            let make =
                tokio_postgres_rustls::MakeRustlsConnect::new(rustls::ClientConfig::clone(tls));
            let (client, connection) = config.pg.connect(make).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        }
    };
    // Durability of every acknowledged append rests on this, not on the server's default.
    client.batch_execute("SET synchronous_commit = on").await?;
    if let Some(schema) = schema {
        let quoted = quote_identifier(schema);
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {quoted}; SET search_path TO {quoted}"
            ))
            .await?;
    }
    let row = client.query_one("SELECT current_schema()", &[]).await?;
    if row.get::<_, Option<String>>(0).is_none() {
        return Err(StoreError::Unsupported(
            "the connection's search_path names no existing schema: create it first".into(),
        ));
    }
    Ok(client)
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the tables when missing, checks the log's format and its position sequence, and
/// returns how its event ids are made.
pub async fn prepare_schema(client: &mut Client) -> Result<EventIds, StoreError> {
    let txn = client.transaction().await?;
    txn.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&SCHEMA_LOCK.0, &SCHEMA_LOCK.1],
    )
    .await?;
    let earlier = txn
        .query_one(
            "SELECT to_regclass('head') IS NOT NULL, \
             (SELECT count(*) FROM information_schema.columns \
              WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = 'envelope')",
            &[],
        )
        .await?;
    if earlier.get::<_, bool>(0) || earlier.get::<_, i64>(1) > 0 {
        return Err(StoreError::Unsupported(format!(
            "this database holds a log written by an earlier build ('{LEGACY_FORMAT}' or older) \
             that this one cannot read: copy it to a directory with that build's `migrate`, then \
             into this format with this build's `migrate`"
        )));
    }
    txn.batch_execute(SCHEMA_SQL).await?;
    let tag = i64::from_le_bytes(uuid::Uuid::new_v4().as_u64_pair().0.to_le_bytes());
    txn.execute(
        "INSERT INTO log_format (id, format, id_tag) VALUES (true, $1, $2) ON CONFLICT (id) DO NOTHING",
        &[&LOG_FORMAT, &tag],
    )
    .await?;
    let row = txn
        .query_one("SELECT format, id_tag FROM log_format", &[])
        .await?;
    let format: String = row.get(0);
    if format != LOG_FORMAT {
        return Err(StoreError::Unsupported(format!(
            "this database's log is in format '{format}', not '{LOG_FORMAT}'"
        )));
    }
    let ids = EventIds::new(u64::from_le_bytes(row.get::<_, i64>(1).to_le_bytes()));
    txn.commit().await?;
    check_sequence(client).await?;
    Ok(ids)
}

/// Refuses a position sequence behind the last event (new events would collide).
async fn check_sequence(client: &Client) -> Result<(), StoreError> {
    let row = client
        .query_one(
            "SELECT coalesce((SELECT max(position) FROM events), 0), \
             (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_position)",
            &[],
        )
        .await?;
    let last_position: i64 = row.get(0);
    let claimed: i64 = row.get(1);
    if claimed < last_position {
        return Err(StoreError::Corrupt {
            position: from_db(last_position, "last position")?,
            reason: format!(
                "the position sequence is at {claimed}, behind the last event at {last_position}: \
                 new events would collide with stored ones"
            ),
        });
    }
    Ok(())
}
