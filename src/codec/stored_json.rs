//! A stored event's JSON written straight into a byte buffer: the bytes serde_json writes for
//! [`super::StoredJson`], without serde's machinery, and strings that need no escaping (a
//! contribution's rule text, most of every line `submit` prints) copied whole.
//!
//! [`write_event`] writes the envelope from the record and walks the fields' MessagePack with
//! [`super::msgpack::Cursor`]; a value of a shape it does not write by hand (a float, bytes) is
//! transcoded by serde_json as before, and an event it cannot walk at all (a key that is not a
//! string, text that is not UTF-8, nesting beyond the cursor's bound) is written whole by
//! serde_json. [`write_str`] escapes exactly the bytes serde_json escapes, the same way.

use serde::Serialize;

use super::msgpack::{Cursor, Token};
use super::{hex_of, StoredJson};
use crate::store::StoredEvent;

/// Deepest nesting of an event's fields written by hand (the events' own values nest three
/// levels); deeper fields go to serde_json.
const FIELDS_DEPTH_MAX: u32 = 32;

/// Appends `stored` as JSON, byte for byte what `serde_json::to_writer(out, &StoredJson(stored))`
/// writes (and its error where that one fails).
pub fn write_event(out: &mut Vec<u8>, stored: &StoredEvent) -> Result<(), serde_json::Error> {
    let start = out.len();
    write_envelope(out, stored);
    out.extend_from_slice(b",\"data\":");
    let written = write_fields(out, stored.data());
    if written.is_none() {
        // Not a shape walked here: serde_json writes the whole event, as it always did.
        out.truncate(start);
        return serde_json::to_writer(&mut *out, &StoredJson(stored));
    }
    let mut hex_text = [0u8; 64];
    out.extend_from_slice(b",\"prev_hash\":\"");
    out.extend_from_slice(hex_of(&stored.prev_hash, &mut hex_text).as_bytes());
    out.extend_from_slice(b"\",\"hash\":\"");
    out.extend_from_slice(hex_of(&stored.hash(), &mut hex_text).as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(())
}

/// A UUID as serde writes it (hyphenated, lower case), without quotes.
fn write_uuid(out: &mut Vec<u8>, id: uuid::Uuid) {
    let mut text = uuid::Uuid::encode_buffer();
    out.extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
}

/// The envelope's entries, from `{` to the policy version.
fn write_envelope(out: &mut Vec<u8>, e: &StoredEvent) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"position\":");
    out.extend_from_slice(number.format(e.position).as_bytes());
    out.extend_from_slice(b",\"event_id\":\"");
    write_uuid(out, e.event_id);
    out.extend_from_slice(b"\",\"schema_version\":");
    out.extend_from_slice(number.format(e.schema_version).as_bytes());
    out.extend_from_slice(b",\"member\":\"");
    write_uuid(out, e.member);
    out.extend_from_slice(b"\",\"member_version\":");
    out.extend_from_slice(number.format(e.member_version).as_bytes());
    out.extend_from_slice(b",\"type\":");
    write_str(out, &e.event_type);
    out.extend_from_slice(b",\"effective_date\":\"");
    write_date(out, e.effective_date);
    out.extend_from_slice(b"\",\"recorded_at\":");
    write_recorded_at(out, e);
    out.extend_from_slice(b",\"idempotency_key\":");
    match &e.idempotency_key {
        Some(key) => write_str(out, key),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(actor) = &e.actor {
        out.extend_from_slice(b",\"actor\":");
        write_str(out, actor);
    }
    out.extend_from_slice(b",\"policy_version\":");
    write_str(out, &e.policy_version);
}

/// A date as chrono serialises it: `YYYY-MM-DD` for years 0 to 9999, its `Debug` text otherwise.
fn write_date(out: &mut Vec<u8>, date: chrono::NaiveDate) {
    use chrono::Datelike;
    use std::io::Write;
    match four_digit_year(date.year()) {
        Some(year) => {
            out.extend_from_slice(&digits::<4>(year));
            out.push(b'-');
            out.extend_from_slice(&digits::<2>(date.month()));
            out.push(b'-');
            out.extend_from_slice(&digits::<2>(date.day()));
        }
        // Digits, signs and dashes: nothing to escape. Writing to a Vec cannot fail.
        None => {
            let _ = write!(out, "{date:?}");
        }
    }
}

/// A year of 0 to 9999 (what four digits write).
fn four_digit_year(year: i32) -> Option<u32> {
    u32::try_from(year).ok().filter(|y| *y <= 9999)
}

/// The last `N` decimal digits of `n`, zero-padded.
fn digits<const N: usize>(mut n: u32) -> [u8; N] {
    let mut text = [b'0'; N];
    for digit in text.iter_mut().rev() {
        *digit = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
    }
    text
}

/// When the event was recorded, as [`super::RecordedAt`] writes it: RFC 3339, UTC, milliseconds,
/// written here for four-digit years and by that serialiser otherwise.
fn write_recorded_at(out: &mut Vec<u8>, e: &StoredEvent) {
    use chrono::{Datelike, Timelike};
    let instant = chrono::DateTime::from_timestamp_millis(e.recorded_at_ms);
    let Some((t, year)) = instant.and_then(|t| Some((t, four_digit_year(t.year())?))) else {
        let mut text = Vec::with_capacity(32);
        let mut serializer = serde_json::Serializer::new(&mut text);
        match super::RecordedAt(e).serialize(&mut serializer) {
            Ok(()) => out.extend_from_slice(&text),
            Err(_) => write_str(out, &e.recorded_at()),
        }
        return;
    };
    out.push(b'"');
    out.extend_from_slice(&digits::<4>(year));
    for (separator, field) in [(b'-', t.month()), (b'-', t.day()), (b'T', t.hour())] {
        out.push(separator);
        out.extend_from_slice(&digits::<2>(field));
    }
    for (separator, field) in [(b':', t.minute()), (b':', t.second())] {
        out.push(separator);
        out.extend_from_slice(&digits::<2>(field));
    }
    out.push(b'.');
    out.extend_from_slice(&digits::<3>(t.timestamp_subsec_millis()));
    out.extend_from_slice(b"Z\"");
}

/// The event's fields (MessagePack) as JSON; `None` when they hold something not walked here
/// (the caller then has serde_json write the whole event).
fn write_fields(out: &mut Vec<u8>, data: &[u8]) -> Option<()> {
    let mut cursor = Cursor::new(data);
    write_value(out, &mut cursor, 0)?;
    // serde_json reads one value and ignores what follows it: so does this.
    Some(())
}

fn write_value(out: &mut Vec<u8>, cursor: &mut Cursor<'_>, depth: u32) -> Option<()> {
    if depth > FIELDS_DEPTH_MAX {
        return None;
    }
    let Some(token) = cursor.token() else {
        return write_transcoded(out, cursor.value()?);
    };
    let mut number = itoa::Buffer::new();
    match token {
        Token::Nil => out.extend_from_slice(b"null"),
        Token::Bool(true) => out.extend_from_slice(b"true"),
        Token::Bool(false) => out.extend_from_slice(b"false"),
        Token::Unsigned(n) => out.extend_from_slice(number.format(n).as_bytes()),
        Token::Signed(n) => out.extend_from_slice(number.format(n).as_bytes()),
        Token::Str(bytes) => write_str_bytes(out, utf8(bytes)?),
        Token::Array(len) => {
            out.push(b'[');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, cursor, depth + 1)?;
            }
            out.push(b']');
        }
        Token::Map(len) => {
            out.push(b'{');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                // serde_json writes some other keys as strings, or refuses them: its call.
                let Some(Token::Str(key)) = cursor.token() else {
                    return None;
                };
                write_str_bytes(out, utf8(key)?);
                out.push(b':');
                write_value(out, cursor, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

/// One value serde_json writes from its MessagePack, as `StoredJson` transcodes it.
fn write_transcoded(out: &mut Vec<u8>, value: &[u8]) -> Option<()> {
    let mut de = rmp_serde::Deserializer::from_read_ref(value).with_human_readable();
    let mut serializer = serde_json::Serializer::new(&mut *out);
    serde_transcode::transcode(&mut de, &mut serializer).ok()
}

/// Whether JSON text must escape this byte (serde_json escapes exactly these: `"`, `\` and the
/// control characters below U+0020; it leaves U+007F and every non-ASCII character as they are).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends `text` as a JSON string, byte for byte what serde_json writes: copied whole when it
/// holds nothing to escape (scanned a chunk at a time), escaped as serde_json escapes otherwise.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    write_str_bytes(out, text.as_bytes());
}

/// `bytes` when they are UTF-8. Most stored text is short and ASCII: checked as such first
/// (the general check's setup cost more than the check, 3 % of `submit`'s samples).
fn utf8(bytes: &[u8]) -> Option<&[u8]> {
    (bytes.is_ascii() || simdutf8::basic::from_utf8(bytes).is_ok()).then_some(bytes)
}

/// [`write_str`] of text already known to be UTF-8.
fn write_str_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // The words with nothing to escape, found eight bytes at a time.
    let clean = bytes
        .chunks_exact(WORD_BYTES)
        .take_while(|word| {
            // Exact chunks are eight bytes; were one not, the zero word would count as one to
            // escape, and the bytes would be escaped one by one.
            let word = u64::from_le_bytes(<[u8; WORD_BYTES]>::try_from(*word).unwrap_or([0; 8]));
            !word_needs_escape(word)
        })
        .count()
        * WORD_BYTES;
    let rest = &bytes[clean..];
    if rest.len() < WORD_BYTES && !word_needs_escape(padded_word(rest)) {
        // The last few bytes, checked as one word too (most stored strings are this short).
        out.extend_from_slice(bytes);
    } else {
        out.extend_from_slice(&bytes[..clean]);
        write_escaped(out, rest);
    }
    out.push(b'"');
}

/// Fewer than eight bytes as a word, padded with `a` (which never needs escaping); built by
/// shifts (a copy into an array became a call to `memcpy`, and a stall, for every string).
fn padded_word(bytes: &[u8]) -> u64 {
    let filled_bits = 8 * bytes.len().min(WORD_BYTES - 1);
    let padding = u64::from_le_bytes([b'a'; WORD_BYTES]) & !((1u64 << filled_bits) - 1);
    bytes
        .iter()
        .take(WORD_BYTES - 1)
        .enumerate()
        .fold(padding, |word, (i, byte)| {
            word | u64::from(*byte) << (8 * i)
        })
}

/// Bytes in a word of [`word_needs_escape`].
const WORD_BYTES: usize = 8;

/// Whether any of the eight bytes of `word` [`needs_escape`]: the bit tricks of "Bit Twiddling
/// Hacks" (`hasless(x, n)` for the control characters, `haszero(x ^ c)` for `"` and `\`), each
/// exact as an answer for the whole word (a borrow can only mark a byte above one that matched).
/// A byte of 0x80 or more never matches: its top bit is cleared by `!word`.
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote & HIGH;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash & HIGH;
    below_space | is_quote | is_backslash != 0
}

/// `bytes` escaped as serde_json escapes them (short escapes where JSON has one, `\u00XX` with
/// lower-case hex for the other control characters).
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        out.extend_from_slice(&bytes[from..i]);
        from = i + 1;
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Event;
    use proptest::prelude::*;

    /// A stored event holding `data` as its fields, with the envelope's optional parts as given.
    fn stored(data: Vec<u8>, key: Option<String>, actor: Option<String>, ms: i64) -> StoredEvent {
        let new = crate::store::NewEvent {
            member: uuid::Uuid::from_u128(0x1234_5678_9abc_def0),
            event_type: "contribution_posted".into(),
            schema_version: 1,
            effective_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 31).expect("date"),
            policy_version: "luzhou-2024 \"v1\"".into(),
            data,
        };
        let envelope = crate::store::record::Envelope {
            position: 42,
            event_id: uuid::Uuid::from_u128(7 << 100),
            member_version: 3,
            recorded_at_ms: ms,
            idempotency_key: key.as_deref(),
            actor: actor.as_deref(),
            prev_hash: [9; 32],
        };
        crate::store::record::build(&new, &envelope)
    }

    fn by_hand(e: &StoredEvent) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        write_event(&mut out, e).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn by_serde(e: &StoredEvent) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&StoredJson(e)).map_err(|e| e.to_string())
    }

    /// Any JSON value, strings drawn from all of Unicode and the characters JSON escapes.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let text = "(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}é长])*";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(text, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Any byte, weighted towards the ones that need escaping and their neighbours (where a
    /// bit trick would go wrong first).
    fn escape_prone_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            Just(b'"'),
            Just(b'\\'),
            0x1eu8..=0x22,
            0x5bu8..=0x5d,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        // Invariant: a word needs escaping exactly when one of its eight bytes does (so a
        // string is copied whole only when serde_json would copy it whole).
        #[test]
        fn a_word_needs_escaping_when_one_of_its_bytes_does(
            bytes in proptest::array::uniform8(escape_prone_byte()),
        ) {
            prop_assert_eq!(
                word_needs_escape(u64::from_le_bytes(bytes)),
                bytes.iter().any(|b| needs_escape(*b))
            );
        }

        // Invariant: a short tail as a padded word needs escaping exactly when one of its
        // bytes does.
        #[test]
        fn a_padded_tail_needs_escaping_when_one_of_its_bytes_does(
            bytes in proptest::collection::vec(escape_prone_byte(), 0..WORD_BYTES),
        ) {
            prop_assert_eq!(
                word_needs_escape(padded_word(&bytes)),
                bytes.iter().any(|b| needs_escape(*b))
            );
        }

        // Invariant: a string is written exactly as serde_json writes it, whatever it holds
        // (quotes, backslashes, every control character, U+007F, U+2028, any non-ASCII text),
        // and wherever the first character to escape stands relative to the scanned words.
        #[test]
        fn a_string_is_written_as_serde_json_writes_it(
            text in "(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}])*",
            clean in 0usize..80,
        ) {
            let text = format!("{}{text}", "a".repeat(clean));
            let mut out = Vec::new();
            write_str(&mut out, &text);
            prop_assert_eq!(out, serde_json::to_vec(&text).expect("a string serialises"));
        }

        // Invariant: a stored event is written byte for byte as serde_json writes `StoredJson`
        // of it, whatever its fields hold (any JSON value, stored as the encoder stores fields)
        // and whatever its key, actor and recording time.
        #[test]
        fn an_event_is_written_as_serde_json_writes_it(
            fields in json_value(),
            key in proptest::option::of("\\PC{0,20}"),
            actor in proptest::option::of("[a-z\"\\\\\n]{0,8}"),
            ms in prop_oneof![Just(1_764_555_522_123i64), Just(-62_167_219_200_001), any::<i64>()],
        ) {
            let mut data = Vec::new();
            let mut serializer = rmp_serde::Serializer::new(&mut data)
                .with_struct_map()
                .with_human_readable();
            fields.serialize(&mut serializer).expect("encodes");
            let e = stored(data, key, actor, ms);
            prop_assert_eq!(by_hand(&e), by_serde(&e));
        }

        // Invariant: whatever bytes the fields hold (an encoded event with one byte changed or
        // cut short), the hand writer writes what serde_json writes, or fails where it fails.
        #[test]
        fn damaged_fields_are_written_as_serde_json_writes_them(
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let event: Event = serde_json::from_str(super::super::tests::CONTRIBUTION)
                .expect("a contribution");
            let mut data = super::super::encode_fields(&event).expect("encodes");
            let i = at.index(data.len());
            if cut {
                data.truncate(i);
            } else {
                data[i] = byte;
            }
            let e = stored(data, None, None, 0);
            match (by_hand(&e), by_serde(&e)) {
                (Ok(hand), Ok(serde)) => prop_assert_eq!(hand, serde),
                (hand, serde) => prop_assert!(hand.is_err() && serde.is_err(), "{:?} / {:?}", hand, serde),
            }
        }
    }

    #[test]
    fn fields_not_walked_by_hand_are_written_by_serde_json() {
        // A key that is an integer, bytes, and nesting beyond the bound.
        let mut int_key = vec![0x81, 0x07, 0xc3];
        let bin = vec![0x81, 0xa1, b'b', 0xc4, 0x02, 0x01, 0x02];
        let deep = [vec![0x91; 40], vec![0xc0]].concat();
        let bad_utf8 = vec![0x81, 0xa1, b's', 0xa2, 0xff, 0xfe];
        for data in [std::mem::take(&mut int_key), bin, deep, bad_utf8] {
            let e = stored(data.clone(), Some("k".into()), None, 5);
            assert_eq!(by_hand(&e), by_serde(&e), "fields {data:02x?}");
        }
    }
}
