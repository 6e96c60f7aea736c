//! The stored form of one event: a compact, versioned binary record, written once and hashed as
//! it is stored, and [`StoredEvent`], its decoded envelope.
//!
//! Layout of [`RECORD_FORMAT`] 1 (all integers little-endian; `varint` is LEB128, unsigned, and
//! `zigzag` a signed LEB128):
//!
//! | field | encoding |
//! |---|---|
//! | format | `u8` = 1 |
//! | position | `u64` |
//! | event id | 16 bytes |
//! | member | 16 bytes |
//! | member version | varint |
//! | schema version | varint |
//! | event type | varint length ‖ UTF-8 |
//! | effective date | zigzag days from 0001-01-01 (CE day 1) |
//! | recorded at | zigzag milliseconds since 1970-01-01 UTC |
//! | idempotency key | `u8` 0 / 1 ‖ (varint length ‖ UTF-8) |
//! | actor | `u8` 0 / 1 ‖ (varint length ‖ UTF-8) |
//! | policy version | varint length ‖ UTF-8 |
//! | data | varint length ‖ bytes (the event's fields, [`crate::codec`]'s encoding) |
//! | prev hash | 32 bytes: the hash of the same member's previous event (genesis: zeros) |
//!
//! An event's hash is SHA-256 over exactly these bytes. Nothing is re-serialised to check it, so
//! no dependency's features or versions can change what a hash covers. Every field is bounded
//! before it is written ([`RecordLimits`]); a record that breaks a bound never reaches the log.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::bytes::{Reader, Writer};
use super::StoreError;

/// The hash before a member's first event: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0; 32];
/// The version of the record layout this build writes and reads.
pub const RECORD_FORMAT: u8 = 1;

/// Longest event type name, bytes.
pub const EVENT_TYPE_BYTES_MAX: usize = 64;
/// Longest idempotency key, bytes (the contract's key limit).
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 256;
/// Longest actor (client) name, bytes.
pub const ACTOR_BYTES_MAX: usize = 128;
/// Longest policy version, bytes.
pub const POLICY_VERSION_BYTES_MAX: usize = 128;
/// Largest event data, bytes: every record fits one stored chunk on its own.
pub const EVENT_DATA_BYTES_MAX: usize = 4 * 1024;
/// Largest record, bytes: the fixed fields, the bounded strings and the data.
pub const RECORD_BYTES_MAX: usize = 1
    + 8
    + 16
    + 16
    + 10
    + 10
    + 10
    + EVENT_TYPE_BYTES_MAX
    + 10
    + 10
    + 11
    + IDEMPOTENCY_KEY_BYTES_MAX
    + 11
    + ACTOR_BYTES_MAX
    + 10
    + POLICY_VERSION_BYTES_MAX
    + 10
    + EVENT_DATA_BYTES_MAX
    + 32;

/// An event as the ledger hands it to the store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The member (stream) the event belongs to.
    pub member: Uuid,
    /// The event's type name.
    pub event_type: String,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The date the event takes effect.
    pub effective_date: NaiveDate,
    /// The policy version that decided it.
    pub policy_version: String,
    /// The event's fields, encoded by [`crate::codec`].
    pub data: Vec<u8>,
}

/// An event as stored: its envelope, decoded from the record, and the record itself. Two
/// stored events are equal when their records are (the record determines every field).
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Global position: rises with every event, from 1 (gapless on sled).
    pub position: u64,
    /// Unique id of the event.
    pub event_id: Uuid,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The member.
    pub member: Uuid,
    /// The member's version after this event (1 for the first).
    pub member_version: u64,
    /// The event's type.
    pub event_type: String,
    /// The date it takes effect.
    pub effective_date: NaiveDate,
    /// When the ledger recorded it: milliseconds since 1970-01-01 UTC.
    pub recorded_at_ms: i64,
    /// The idempotency key of the command that wrote it.
    pub idempotency_key: Option<String>,
    /// The name of the client that submitted it (the HTTP service's token name), if any.
    pub actor: Option<String>,
    /// The policy version that decided it.
    pub policy_version: String,
    /// The hash of the same member's previous event ([`GENESIS_HASH`] for its first).
    pub prev_hash: [u8; 32],
    /// SHA-256 of `record`, computed the first time it is asked for ([`StoredEvent::hash`]):
    /// a fold that never checks the chain never pays for it.
    hash: OnceLock<[u8; 32]>,
    /// Where the data starts and ends inside `record`.
    data_range: (usize, usize),
    /// The stored bytes, exactly as hashed.
    record: Vec<u8>,
}

/// The envelope fields of a record to be written (everything but the data and the chain).
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// Its position.
    pub position: u64,
    /// Its id.
    pub event_id: Uuid,
    /// The member's version after it.
    pub member_version: u64,
    /// When it was recorded, ms since the epoch.
    pub recorded_at_ms: i64,
    /// The command's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// The submitting client.
    pub actor: Option<&'a str>,
    /// The member's previous hash.
    pub prev_hash: [u8; 32],
}

/// Why a record cannot be written: a field beyond its bound.
pub fn check_bounds(new: &NewEvent, key: Option<&str>, actor: Option<&str>) -> Result<(), String> {
    let over = |what: &str, len: usize, max: usize| {
        (len > max).then(|| format!("{what} is {len} bytes, more than the {max} a record holds"))
    };
    let problems = [
        over("the event type", new.event_type.len(), EVENT_TYPE_BYTES_MAX),
        over(
            "the policy version",
            new.policy_version.len(),
            POLICY_VERSION_BYTES_MAX,
        ),
        over("the event's data", new.data.len(), EVENT_DATA_BYTES_MAX),
        over(
            "the idempotency key",
            key.map_or(0, str::len),
            IDEMPOTENCY_KEY_BYTES_MAX,
        ),
        over("the actor", actor.map_or(0, str::len), ACTOR_BYTES_MAX),
    ];
    match problems.into_iter().flatten().next() {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// Encodes a record. The caller has checked the bounds ([`check_bounds`]).
pub fn encode(new: &NewEvent, envelope: &Envelope<'_>) -> Vec<u8> {
    let mut w = Writer::with_capacity(new.data.len() + 160);
    w.u8(RECORD_FORMAT);
    w.u64_fixed(envelope.position);
    w.bytes_fixed(envelope.event_id.as_bytes());
    w.bytes_fixed(new.member.as_bytes());
    w.varint(envelope.member_version);
    w.varint(u64::from(new.schema_version));
    w.str(&new.event_type);
    w.zigzag(i64::from(days_from_ce(new.effective_date)));
    w.zigzag(envelope.recorded_at_ms);
    w.opt_str(envelope.idempotency_key);
    w.opt_str(envelope.actor);
    w.str(&new.policy_version);
    w.bytes(&new.data);
    w.bytes_fixed(&envelope.prev_hash);
    debug_assert!(w.len() <= RECORD_BYTES_MAX, "a bounded record fits");
    w.into_inner()
}

/// Encodes a record and gives it as stored: hashed, its envelope filled in, without parsing
/// the bytes just written. The caller has checked the bounds ([`check_bounds`]).
pub fn build(new: &NewEvent, envelope: &Envelope<'_>) -> StoredEvent {
    let record = encode(new, envelope);
    let data_end = record.len() - 32;
    StoredEvent {
        position: envelope.position,
        event_id: envelope.event_id,
        schema_version: new.schema_version,
        member: new.member,
        member_version: envelope.member_version,
        event_type: new.event_type.clone(),
        effective_date: new.effective_date,
        recorded_at_ms: envelope.recorded_at_ms,
        idempotency_key: envelope.idempotency_key.map(str::to_string),
        actor: envelope.actor.map(str::to_string),
        policy_version: new.policy_version.clone(),
        prev_hash: envelope.prev_hash,
        hash: OnceLock::from(record_hash(&record)),
        data_range: (data_end - new.data.len(), data_end),
        record,
    }
}

impl PartialEq for StoredEvent {
    fn eq(&self, other: &StoredEvent) -> bool {
        self.position == other.position && self.record == other.record
    }
}

impl Eq for StoredEvent {}

fn days_from_ce(date: NaiveDate) -> i32 {
    chrono::Datelike::num_days_from_ce(&date)
}

/// SHA-256 of a record: the event's hash.
pub fn record_hash(record: &[u8]) -> [u8; 32] {
    Sha256::digest(record).into()
}

impl StoredEvent {
    /// Decodes a record. `Corrupt` at `position` when the bytes are not a record of this
    /// format, or say another position. The hash is computed when first asked for.
    pub fn decode(position: u64, record: Vec<u8>) -> Result<StoredEvent, StoreError> {
        let fields = parse_at(position, &record)?;
        let owned = |s: Option<&str>| s.map(str::to_string);
        Ok(StoredEvent {
            position,
            event_id: fields.event_id,
            schema_version: fields.view.schema_version,
            member: fields.view.member,
            member_version: fields.view.member_version,
            event_type: fields.view.event_type.to_string(),
            effective_date: fields.view.effective_date,
            recorded_at_ms: fields.recorded_at_ms,
            idempotency_key: owned(fields.idempotency_key),
            actor: owned(fields.actor),
            policy_version: fields.policy_version.to_string(),
            prev_hash: fields.prev_hash,
            hash: OnceLock::new(),
            data_range: fields.data_range,
            record,
        })
    }

    /// The parts of the event a fold reads, borrowed from it.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            position: self.position,
            member: self.member,
            member_version: self.member_version,
            schema_version: self.schema_version,
            event_type: &self.event_type,
            effective_date: self.effective_date,
            data: self.data(),
        }
    }

    /// Decodes a record whose position is not known beforehand (a dossier's): the position the
    /// record names.
    pub fn decode_any(record: Vec<u8>) -> Result<StoredEvent, StoreError> {
        let position = parse(&record)
            .map_err(|e| StoreError::Corrupt {
                position: 0,
                reason: format!("record does not decode: {e}"),
            })?
            .view
            .position;
        StoredEvent::decode(position, record)
    }

    /// The event's fields, as [`crate::codec`] encoded them.
    pub fn data(&self) -> &[u8] {
        &self.record[self.data_range.0..self.data_range.1]
    }

    /// The stored bytes, exactly as hashed.
    pub fn record(&self) -> &[u8] {
        &self.record
    }

    /// Moves the stored bytes out.
    pub fn into_record(self) -> Vec<u8> {
        self.record
    }

    /// SHA-256 of the stored record: the event's hash, the next event of the member's
    /// `prev_hash`.
    pub fn hash(&self) -> [u8; 32] {
        *self.hash.get_or_init(|| record_hash(&self.record))
    }

    /// Recomputes the hash from the stored bytes, whatever was computed before.
    pub fn computed_hash(&self) -> [u8; 32] {
        record_hash(&self.record)
    }

    /// When it was recorded, RFC 3339 in UTC with milliseconds.
    pub fn recorded_at(&self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.recorded_at_ms)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_else(|| format!("{} ms", self.recorded_at_ms))
    }
}

/// The parts of a stored event a fold reads (what [`crate::codec`] decodes an event from),
/// borrowed from the stored bytes: a fold that keeps nothing of a record copies nothing of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Global position.
    pub position: u64,
    /// The member.
    pub member: Uuid,
    /// The member's version after this event.
    pub member_version: u64,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The event's type.
    pub event_type: &'a str,
    /// The date it takes effect.
    pub effective_date: NaiveDate,
    /// The event's fields, as [`crate::codec`] encoded them.
    pub data: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Reads the record stored at `position`, checked as [`StoredEvent::decode`] checks it
    /// (the same errors), without copying anything.
    pub fn of(position: u64, record: &'a [u8]) -> Result<RecordView<'a>, StoreError> {
        parse_at(position, record).map(|f| f.view)
    }
}

/// The fields of a record, parsed, borrowed from it.
struct Fields<'a> {
    view: RecordView<'a>,
    event_id: Uuid,
    recorded_at_ms: i64,
    idempotency_key: Option<&'a str>,
    actor: Option<&'a str>,
    policy_version: &'a str,
    data_range: (usize, usize),
    prev_hash: [u8; 32],
}

/// Parses the record stored at `position`; `Corrupt` at `position` when the bytes are not a
/// record of this format, or say another position.
fn parse_at(position: u64, record: &[u8]) -> Result<Fields<'_>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let fields = parse(record).map_err(|e| corrupt(format!("record does not decode: {e}")))?;
    if fields.view.position != position {
        return Err(corrupt(format!(
            "the record stored at position {position} says it is at {} (an event is missing \
             or out of place)",
            fields.view.position
        )));
    }
    Ok(fields)
}

fn parse(record: &[u8]) -> Result<Fields<'_>, String> {
    let mut r = Reader::new(record);
    let format = r.u8()?;
    if format != RECORD_FORMAT {
        return Err(format!(
            "record format {format}; this build reads format {RECORD_FORMAT}"
        ));
    }
    let position = r.u64_fixed()?;
    let event_id = Uuid::from_bytes(r.array::<16>()?);
    let member = Uuid::from_bytes(r.array::<16>()?);
    let member_version = r.varint()?;
    let schema_version =
        u32::try_from(r.varint()?).map_err(|_| "schema version beyond u32".to_string())?;
    let event_type = r.str(EVENT_TYPE_BYTES_MAX)?;
    let days = i32::try_from(r.zigzag()?).map_err(|_| "effective date out of range".to_string())?;
    let effective_date =
        NaiveDate::from_num_days_from_ce_opt(days).ok_or("effective date out of range")?;
    let recorded_at_ms = r.zigzag()?;
    let idempotency_key = r.opt_str(IDEMPOTENCY_KEY_BYTES_MAX)?;
    let actor = r.opt_str(ACTOR_BYTES_MAX)?;
    let policy_version = r.str(POLICY_VERSION_BYTES_MAX)?;
    let data_len = r.len_prefix(EVENT_DATA_BYTES_MAX)?;
    let start = r.offset();
    let data = r.take(data_len)?;
    let prev_hash = r.array::<32>()?;
    if !r.is_empty() {
        return Err(format!("{} bytes after the record", r.remaining()));
    }
    Ok(Fields {
        view: RecordView {
            position,
            member,
            member_version,
            schema_version,
            event_type,
            effective_date,
            data,
        },
        event_id,
        recorded_at_ms,
        idempotency_key,
        actor,
        policy_version,
        data_range: (start, start + data_len),
        prev_hash,
    })
}

/// The member a record belongs to and its position, read without decoding the rest (a walk
/// that skips other members' events).
pub fn peek_member(record: &[u8]) -> Option<(u64, Uuid)> {
    let position = u64::from_le_bytes(record.get(1..9)?.try_into().ok()?);
    let member = Uuid::from_bytes(record.get(25..41)?.try_into().ok()?);
    Some((position, member))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(data: Vec<u8>) -> NewEvent {
        NewEvent {
            member: Uuid::from_u128(7),
            event_type: "spent".into(),
            schema_version: 1,
            effective_date: NaiveDate::from_ymd_opt(2024, 3, 9).expect("date"),
            policy_version: "luzhou@1".into(),
            data,
        }
    }

    fn envelope(position: u64) -> Envelope<'static> {
        Envelope {
            position,
            event_id: Uuid::from_u128(99),
            member_version: 3,
            recorded_at_ms: 1_700_000_000_123,
            idempotency_key: Some("r-1"),
            actor: None,
            prev_hash: [5; 32],
        }
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded_and_its_hash_covers_every_byte() {
        let new = sample(vec![1, 2, 3]);
        let record = encode(&new, &envelope(42));
        let event = StoredEvent::decode(42, record.clone()).expect("decodes");
        assert_eq!(build(&new, &envelope(42)), event, "built as decoded");
        assert_eq!(event.member, new.member);
        assert_eq!(event.member_version, 3);
        assert_eq!(event.effective_date, new.effective_date);
        assert_eq!(event.idempotency_key.as_deref(), Some("r-1"));
        assert_eq!(event.data(), &[1, 2, 3]);
        assert_eq!(event.prev_hash, [5; 32]);
        assert_eq!(event.recorded_at(), "2023-11-14T22:13:20.123Z");
        assert_eq!(peek_member(&record), Some((42, new.member)));
        for i in 0..record.len() {
            let mut flipped = record.clone();
            flipped[i] ^= 0x01;
            let hash = record_hash(&flipped);
            assert_ne!(hash, event.hash(), "byte {i} is covered by the hash");
        }
    }

    #[test]
    fn a_record_under_another_position_or_cut_short_is_corrupt() {
        let record = encode(&sample(vec![9; 10]), &envelope(42));
        assert!(StoredEvent::decode(43, record.clone()).is_err());
        for cut in 0..record.len() {
            assert!(
                StoredEvent::decode(42, record[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = record;
        longer.push(0);
        assert!(StoredEvent::decode(42, longer).is_err());
    }

    // Invariant: a record read in place (a fold's view) is read exactly as a decoded event
    // is: the same parts, and the same error for the same bytes.
    #[test]
    fn a_view_of_a_record_reads_what_its_decoded_event_holds() {
        let record = encode(&sample(vec![7; 12]), &envelope(42));
        let stored = StoredEvent::decode(42, record.clone()).expect("decodes");
        assert_eq!(RecordView::of(42, &record).ok(), Some(stored.view()));
        for (position, cut) in [(43, record.len()), (42, 20), (42, record.len() - 1)] {
            let bytes = &record[..cut];
            let decoded = StoredEvent::decode(position, bytes.to_vec()).map(|_| ());
            let viewed = RecordView::of(position, bytes).map(|_| ());
            assert_eq!(
                format!("{viewed:?}"),
                format!("{decoded:?}"),
                "at {position}, {cut} bytes"
            );
            assert!(viewed.is_err());
        }
    }

    #[test]
    fn bounds_are_checked_before_a_record_is_built() {
        let big = sample(vec![0; EVENT_DATA_BYTES_MAX + 1]);
        assert!(check_bounds(&big, None, None).is_err());
        let ok = sample(vec![0; EVENT_DATA_BYTES_MAX]);
        assert!(check_bounds(&ok, Some(&"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX)), None).is_ok());
        assert!(check_bounds(&ok, Some(&"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX + 1)), None).is_err());
        let full = encode(
            &ok,
            &Envelope {
                idempotency_key: Some(&"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX)),
                actor: Some(&"a".repeat(ACTOR_BYTES_MAX)),
                ..envelope(u64::MAX)
            },
        );
        assert!(full.len() <= RECORD_BYTES_MAX);
    }
}
