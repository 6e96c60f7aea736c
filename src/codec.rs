//! Between domain events and stored records: encoding, decoding, upcasting old schema versions,
//! and the JSON form of a stored event at the edges (command line, wire, dossiers).
//!
//! The only place that knows both [`crate::domain::Event`] and [`crate::store::StoredEvent`].
//! An event's fields are stored as MessagePack with named fields, in serde's human-readable
//! form (the same shapes as the event's JSON: strings for money, dates and ids), so that a field
//! added later with a default decodes from old records, and a record's fields turn into the
//! event's JSON without knowing its type. The bytes are written once and hashed as stored: a
//! build with other serde features reads and checks them unchanged.
//!
//! An event of an older schema version is upcast to the current one here, on read, through its
//! JSON form, so the domain only ever sees current events; the stored bytes are never rewritten.

use serde::{Deserialize, Serialize};

use crate::domain::{Contribution, Event, MemberId, EVENT_SCHEMA_VERSION};
use crate::store::{NewEvent, RecordView, StoreError, StoredEvent};

mod contribution;
mod msgpack;
mod stored_json;
mod tag_checked;

pub use stored_json::{write_event as write_event_json, write_str as write_json_str};

/// Wraps a decided event for the store; refused (with the reason) when a value could not be
/// read back, such as an amount beyond what the ledger holds.
pub fn encode(member: MemberId, event: &Event, policy_version: &str) -> Result<NewEvent, String> {
    Ok(NewEvent {
        member,
        event_type: event.type_name().to_string(),
        schema_version: EVENT_SCHEMA_VERSION,
        effective_date: event.effective_date(),
        policy_version: policy_version.to_string(),
        data: encode_fields(event)?,
    })
}

/// An event's fields as stored.
pub fn encode_fields(event: &Event) -> Result<Vec<u8>, String> {
    // A contribution's fields and rule take 600–900 bytes: room for them at once.
    let mut bytes = Vec::with_capacity(ENCODED_EVENT_BYTES);
    let mut serializer = rmp_serde::Serializer::new(&mut bytes)
        .with_struct_map()
        .with_human_readable();
    event
        .serialize(&mut serializer)
        .map_err(|e| format!("{} cannot be stored: {e}", event.type_name()))?;
    Ok(bytes)
}

/// Room reserved for an event's stored fields.
const ENCODED_EVENT_BYTES: usize = 1024;

/// Decodes a stored event, upcasting older schema versions; a mismatch is corruption.
pub fn decode(stored: &StoredEvent) -> Result<Event, StoreError> {
    decode_view(&stored.view())
}

/// Decodes an event from the parts of its record a fold reads (see [`decode`]).
pub fn decode_view(stored: &RecordView<'_>) -> Result<Event, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        position: stored.position,
        reason,
    };
    let event = if stored.schema_version == EVENT_SCHEMA_VERSION {
        decode_current(stored.event_type, stored.data)
            .map_err(|e| corrupt(format!("{} does not decode: {e}", stored.event_type)))?
    } else {
        let fields = data_json(stored.data)
            .map_err(|e| corrupt(format!("{} does not decode: {e}", stored.event_type)))?;
        from_json(stored.schema_version, stored.event_type, fields).map_err(corrupt)?
    };
    check_envelope(stored, &event).map_err(corrupt)?;
    Ok(event)
}

/// Decodes an event of the current schema version. The variant is chosen from the record's
/// type where its fields are a struct of their own (a contribution, nearly every event of a
/// log), so they decode straight from the stored bytes (read by hand where they have the shape
/// the encoder writes, by serde otherwise); the other variants go through serde's internally
/// tagged decoding, which buffers the fields first.
fn decode_current(event_type: &str, data: &[u8]) -> Result<Event, rmp_serde::decode::Error> {
    let mut de = rmp_serde::Deserializer::from_read_ref(data).with_human_readable();
    match event_type {
        CONTRIBUTION_POSTED => {
            if let Some(read) = contribution::read(data, CONTRIBUTION_POSTED) {
                return Ok(Event::ContributionPosted(read));
            }
            let fields = tag_checked::fields(&mut de, CONTRIBUTION_POSTED);
            Ok(Event::ContributionPosted(Contribution::deserialize(
                fields,
            )?))
        }
        _ => Event::deserialize(&mut de),
    }
}

/// The stored type of [`Event::ContributionPosted`].
const CONTRIBUTION_POSTED: &str = "contribution_posted";

/// The envelope's type and date must be the event's own.
fn check_envelope(stored: &RecordView<'_>, event: &Event) -> Result<(), String> {
    if event.type_name() != stored.event_type {
        return Err(format!(
            "envelope says {} but the data is {}",
            stored.event_type,
            event.type_name()
        ));
    }
    if event.effective_date() != stored.effective_date {
        return Err(format!(
            "envelope date {} differs from the event's {}",
            stored.effective_date,
            event.effective_date()
        ));
    }
    Ok(())
}

/// A stored event's fields as JSON, as stored (not upcast): `{"type": …, …}`.
pub fn fields_json(stored: &StoredEvent) -> Result<serde_json::Value, StoreError> {
    data_json(stored.data()).map_err(|e| StoreError::Corrupt {
        position: stored.position,
        reason: format!("{} does not decode: {e}", stored.event_type),
    })
}

/// An event's stored fields as JSON.
fn data_json(data: &[u8]) -> Result<serde_json::Value, rmp_serde::decode::Error> {
    let mut de = rmp_serde::Deserializer::from_read_ref(data).with_human_readable();
    serde_json::Value::deserialize(&mut de)
}

/// An event from its JSON fields of `schema_version`, upcast to the current version.
pub fn from_json(
    schema_version: u32,
    event_type: &str,
    data: serde_json::Value,
) -> Result<Event, String> {
    let data = upcast(schema_version, event_type, data)?;
    Event::deserialize(data).map_err(|e| format!("{event_type} does not decode: {e}"))
}

/// Brings `data` of `schema_version` to [`EVENT_SCHEMA_VERSION`]. Version 1 is current, so this
/// only refuses versions it does not know; a version 2 adds its step here (v1 → v2), never edits v1.
pub fn upcast(
    schema_version: u32,
    event_type: &str,
    data: serde_json::Value,
) -> Result<serde_json::Value, String> {
    match schema_version {
        EVENT_SCHEMA_VERSION => Ok(data),
        other => Err(format!("{event_type} has schema version {other}; this build reads version {EVENT_SCHEMA_VERSION}")),
    }
}

/// A stored event as JSON at the edges: the envelope, the fields and the hashes (hex).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventJson {
    /// Global position.
    pub position: u64,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// The member.
    pub member: MemberId,
    /// The member's version after it.
    pub member_version: u64,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The date it takes effect.
    pub effective_date: chrono::NaiveDate,
    /// When the ledger recorded it (RFC 3339, UTC, milliseconds).
    pub recorded_at: String,
    /// The command's idempotency key.
    pub idempotency_key: Option<String>,
    /// The client that submitted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The policy version that decided it.
    pub policy_version: String,
    /// The event's fields.
    pub data: serde_json::Value,
    /// Hex hash of the member's previous event.
    pub prev_hash: String,
    /// Hex SHA-256 of the stored record.
    pub hash: String,
}

impl EventJson {
    /// The JSON form of a stored event.
    pub fn of(stored: &StoredEvent) -> Result<EventJson, StoreError> {
        Ok(EventJson {
            position: stored.position,
            event_id: stored.event_id,
            schema_version: stored.schema_version,
            member: stored.member,
            member_version: stored.member_version,
            event_type: stored.event_type.clone(),
            effective_date: stored.effective_date,
            recorded_at: stored.recorded_at(),
            idempotency_key: stored.idempotency_key.clone(),
            actor: stored.actor.clone(),
            policy_version: stored.policy_version.clone(),
            data: fields_json(stored)?,
            prev_hash: hex::encode(stored.prev_hash),
            hash: hex::encode(stored.hash()),
        })
    }
}

/// A stored event serialised as [`EventJson`] is, straight from its stored bytes: the fields
/// are transcoded from their stored form into the output, with no value built in between (the
/// server's answers; `submit` writes the same bytes by hand, [`write_event_json`]).
#[derive(Clone, Copy, Debug)]
pub struct StoredJson<'a>(pub &'a StoredEvent);

impl Serialize for StoredJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("position", &e.position)?;
        map.serialize_entry("event_id", &e.event_id)?;
        map.serialize_entry("schema_version", &e.schema_version)?;
        map.serialize_entry("member", &e.member)?;
        map.serialize_entry("member_version", &e.member_version)?;
        map.serialize_entry("type", &e.event_type)?;
        map.serialize_entry("effective_date", &e.effective_date)?;
        map.serialize_entry("recorded_at", &RecordedAt(e))?;
        map.serialize_entry("idempotency_key", &e.idempotency_key)?;
        if let Some(actor) = &e.actor {
            map.serialize_entry("actor", actor)?;
        }
        map.serialize_entry("policy_version", &e.policy_version)?;
        let mut de = rmp_serde::Deserializer::from_read_ref(e.data()).with_human_readable();
        map.serialize_entry("data", &serde_transcode::Transcoder::new(&mut de))?;
        let mut hex_text = [0u8; 64];
        map.serialize_entry("prev_hash", hex_of(&e.prev_hash, &mut hex_text))?;
        map.serialize_entry("hash", hex_of(&e.hash(), &mut hex_text))?;
        map.end()
    }
}

/// A hash as lower-case hex, as `hex::encode` writes it, written into `buf` (no allocation).
fn hex_of<'b>(hash: &[u8; 32], buf: &'b mut [u8; 64]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in hash.iter().zip(buf.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    // Every byte written is an ASCII digit.
    std::str::from_utf8(buf).unwrap_or("")
}

/// When a stored event was recorded, serialised as [`StoredEvent::recorded_at`] writes it
/// (RFC 3339, UTC, milliseconds) without building the string first.
struct RecordedAt<'a>(&'a StoredEvent);

impl Serialize for RecordedAt<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use chrono::{Datelike, Timelike};
        let ms = self.0.recorded_at_ms;
        match chrono::DateTime::from_timestamp_millis(ms) {
            // Four-digit years: RFC 3339's own form, which `recorded_at` writes too.
            Some(t) if (0..=9999).contains(&t.year()) => serializer.collect_str(&format_args!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.timestamp_subsec_millis()
            )),
            _ => serializer.serialize_str(&self.0.recorded_at()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;

    #[test]
    fn an_event_round_trips_through_its_stored_fields_and_reads_as_its_json() {
        let event = Event::Spent {
            date: chrono::NaiveDate::from_ymd_opt(2024, 5, 6).expect("date"),
            amount: Money::parse("12.30").expect("money"),
            purpose: crate::domain::Purpose::Pharmacy,
            beneficiary: None,
            coverage_year: None,
        };
        let bytes = encode_fields(&event).expect("encodes");
        let mut de = rmp_serde::Deserializer::from_read_ref(&bytes).with_human_readable();
        assert_eq!(Event::deserialize(&mut de).ok(), Some(event.clone()));
        let mut de = rmp_serde::Deserializer::from_read_ref(&bytes).with_human_readable();
        let json = serde_json::Value::deserialize(&mut de).expect("json");
        assert_eq!(json, serde_json::to_value(&event).expect("json"));
    }

    // Invariant: the JSON of a stored event writes its hashes and its recording time exactly
    // as `hex::encode` and `StoredEvent::recorded_at` write them, at any instant.
    #[test]
    fn hashes_and_recording_times_serialise_as_their_strings() {
        let hash: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 37 % 256).unwrap_or(0));
        assert_eq!(hex_of(&hash, &mut [0u8; 64]), hex::encode(hash));
        let event = Event::DeathRecorded {
            date: chrono::NaiveDate::from_ymd_opt(2024, 5, 6).expect("date"),
        };
        let new = encode(uuid::Uuid::nil(), &event, "v1").expect("encodes");
        let instants = [
            0,
            -1,
            1_764_555_522_123,
            1_764_555_522_009,
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
            i64::MAX,
            i64::MIN,
        ];
        for ms in instants {
            let envelope = crate::store::record::Envelope {
                position: 1,
                event_id: uuid::Uuid::nil(),
                member_version: 1,
                recorded_at_ms: ms,
                idempotency_key: None,
                actor: None,
                prev_hash: [0; 32],
            };
            let stored = crate::store::record::build(&new, &envelope);
            let json = serde_json::to_value(StoredJson(&stored)).expect("json");
            assert_eq!(json["recorded_at"], stored.recorded_at(), "at {ms} ms");
            assert_eq!(json["hash"], hex::encode(stored.hash()));
            assert_eq!(
                json,
                serde_json::to_value(EventJson::of(&stored).expect("json")).expect("json")
            );
        }
    }

    /// A contribution as a log stores it (the workload's first one).
    pub(super) const CONTRIBUTION: &str = r#"{"type":"contribution_posted","month":"2000-01","date":"2000-01-31","payer":"employer","employer_class":"enterprise","wage":"10000.00","base":"10000.00","employee_rate":"0.02","employer_rate":"0.0775","employee":"200.00","employer":"775.00","credit_rate":"0.028","account_credit":"280.00","counts_month":true,"credit":{"own_rate":"0.02","employer_part_rate":"0.008"},"benefits":null,"rule":"base 10000.00; employee 2% [000 Q43]"}"#;

    /// What serde's internally tagged decoding makes of `bytes` (the reference).
    fn tagged(bytes: &[u8]) -> Option<Event> {
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes).with_human_readable();
        Event::deserialize(&mut de).ok()
    }

    // Invariant: choosing the variant from the record's type decodes exactly the maps that
    // serde's internally tagged decoding decodes, to the same event, wherever the tag stands,
    // and refuses the same maps (tag missing, wrong or repeated, a field unknown).
    #[test]
    fn a_contribution_decodes_from_the_record_type_as_the_tagged_decoding_does() {
        let event: Event = serde_json::from_str(CONTRIBUTION).expect("a contribution");
        let stored = encode_fields(&event).expect("encodes");
        let decoded = decode_current(CONTRIBUTION_POSTED, &stored).ok();
        assert_eq!(decoded.as_ref(), Some(&event));
        assert_eq!(decoded, tagged(&stored));
        let base: serde_json::Value = serde_json::from_str(CONTRIBUTION).expect("json");
        let edits: [(&str, Option<serde_json::Value>); 6] = [
            ("type", None),
            ("type", Some("spent".into())),
            ("type", Some(7.into())),
            ("surplus", Some(1.into())),
            ("benefits", None),
            ("wage", Some("x".into())),
        ];
        for (field, value) in edits {
            let mut map = base.clone();
            let object = map.as_object_mut().expect("object");
            match value {
                None => object.remove(field),
                Some(v) => object.insert(field.to_string(), v),
            };
            // Keys sorted: the tag stands among the fields, not first.
            let bytes = rmp_serde::to_vec_named(&map).expect("encodes");
            let fast = decode_current(CONTRIBUTION_POSTED, &bytes).ok();
            assert_eq!(fast, tagged(&bytes), "{field} set to {map}");
        }
        let twice = rmp_serde::to_vec_named(&base).expect("encodes");
        let mut repeated = twice.clone();
        // The map's length (a map16 of 17 entries) grows by one; the tag is written again.
        assert_eq!(repeated[..3], [0xde, 0, 17]);
        repeated[2] += 1;
        repeated.extend(rmp_serde::to_vec("type").expect("key"));
        repeated.extend(rmp_serde::to_vec(CONTRIBUTION_POSTED).expect("value"));
        assert!(decode_current(CONTRIBUTION_POSTED, &repeated).is_err());
        assert!(tagged(&repeated).is_none());
        assert!(contribution::read(&repeated, CONTRIBUTION_POSTED).is_none());
    }

    /// A contribution with every optional part present or absent as `bits` says.
    fn contribution_of(bits: u8, fen: i64, rule: String) -> Contribution {
        let Event::ContributionPosted(mut c) =
            serde_json::from_str(CONTRIBUTION).expect("a contribution")
        else {
            unreachable!("CONTRIBUTION is a contribution")
        };
        let money = Money::from_fen;
        c.wage = money(fen);
        c.account_credit = money(fen / 7);
        c.counts_month = bits & 1 == 0;
        c.rule = rule;
        if bits & 2 != 0 {
            c.mutual_aid = Some(MutualAidPaid {
                employer_rate: c.employer_rate,
                employer: money(fen / 100),
                personal: money(200),
            });
        }
        if bits & 4 != 0 {
            c.surcharges = vec![crate::domain::SurchargePaid {
                name: "大额医疗费用补助".into(),
                period: "2024-H1".into(),
                rate: (bits & 8 != 0).then_some(c.employee_rate),
                amount: money(fen / 50),
            }];
        }
        if bits & 16 != 0 {
            c.credit = None;
        } else if let (true, Some(credit)) = (bits & 64 != 0, c.credit.as_mut()) {
            credit.rounding = crate::policy::CreditRounding::Combined;
            credit.tier = crate::terms::Tier::PoolOnly;
        }
        if bits & 128 != 0 {
            c.payer = crate::terms::Payer::Individual;
            c.employer_class = crate::terms::EmployerClass::Public;
        }
        if bits & 32 != 0 {
            c.benefits = Some(crate::domain::BenefitChange::Waits {
                from_month: c.month,
                months_needed: u32::from(bits),
                rule: "R2".into(),
            });
        }
        c
    }

    use crate::domain::MutualAidPaid;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        // Invariant: the hand reader gives back every contribution the encoder wrote, equal to
        // what serde's decoding gives.
        #[test]
        fn the_hand_reader_reads_every_encoded_contribution_as_serde_does(
            bits in any::<u8>(),
            fen in 0i64..1_000_000_000_000,
            rule in "\\PC{0,80}",
        ) {
            let event = Event::ContributionPosted(contribution_of(bits, fen, rule));
            let bytes = encode_fields(&event).expect("encodes");
            let read = contribution::read(&bytes, CONTRIBUTION_POSTED);
            prop_assert_eq!(read.map(Event::ContributionPosted), Some(event.clone()));
            prop_assert_eq!(tagged(&bytes), Some(event));
        }

        // Invariant: whatever the bytes (a stored contribution with one byte changed, cut short,
        // or grown), the hand reader answers only where serde answers, with the same
        // contribution; elsewhere it leaves the decision to serde.
        #[test]
        fn the_hand_reader_never_reads_what_serde_would_not(
            bits in any::<u8>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let event = Event::ContributionPosted(contribution_of(bits, 123_456, "R1".into()));
            let mut bytes = encode_fields(&event).expect("encodes");
            let i = at.index(bytes.len());
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            if let Some(read) = contribution::read(&bytes, CONTRIBUTION_POSTED) {
                prop_assert_eq!(tagged(&bytes), Some(Event::ContributionPosted(read)));
            }
        }
    }
}
