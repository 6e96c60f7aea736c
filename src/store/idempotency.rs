//! What the log remembers of an idempotency key, and the canonical digest it is checked with.
//!
//! **The idempotency rule** (its one authoritative statement; both backends apply it through
//! [`super::append_rules`]): a command carrying a key is answered once. The first time, its
//! outcome (the positions it appended, or the rejection it met) is stored under the key with a
//! digest of the command. A later command with the same key and the same digest gets that first
//! outcome back and writes nothing; with another digest it is refused `key_reused`.
//!
//! The digest is SHA-256 over the command's canonical JSON as this module defines it (object
//! keys sorted by their UTF-8 bytes, no whitespace, strings escaped minimally), so that it does
//! not depend on how a serializer orders maps or which of its features a build enables.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::bytes::{Reader, Writer};

/// Longest rejection message kept under a key, bytes (longer ones are cut at a character).
pub const REJECTION_MESSAGE_BYTES_MAX: usize = 1024;
/// Longest rejection code kept under a key, bytes.
pub const REJECTION_CODE_BYTES_MAX: usize = 64;
/// Most positions one command appends.
pub const COMMAND_EVENTS_MAX: usize = 4096;

const RECORD_APPENDED: u8 = 1;
const RECORD_REJECTED: u8 = 2;

/// An idempotency key's claim on an append: the key and the digest of the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The caller's key.
    pub key: String,
    /// [`command_digest`] of the command (without its key).
    pub payload_hash: [u8; 32],
}

impl IdempotencyClaim {
    /// **The idempotency rule**, the one place it is decided: a key the log already holds
    /// answers a retry of the same command (same digest) with what the first did, and refuses
    /// any other command under it (`key_reused`). The writer applies it to every append
    /// ([`crate::store::append_rules`]); the ledger applies it to answer a retry without deciding
    /// it again.
    pub fn is_retry_of(&self, record: &IdempotencyRecord) -> bool {
        self.payload_hash == record.payload_hash
    }
}

/// What the first command with a key did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// It appended events at these positions (none: it was accepted and changed nothing).
    Appended(Vec<u64>),
    /// It was refused with this contract code and message; nothing was appended.
    Rejected {
        /// The contract's code (`insufficient_balance`, …).
        code: String,
        /// The message the caller was given.
        message: String,
    },
}

/// What the log remembers of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The first command's digest.
    pub payload_hash: [u8; 32],
    /// What it did.
    pub outcome: KeyOutcome,
}

impl IdempotencyRecord {
    /// The positions the first command appended (none for a rejection).
    pub fn positions(&self) -> &[u64] {
        match &self.outcome {
            KeyOutcome::Appended(p) => p,
            KeyOutcome::Rejected { .. } => &[],
        }
    }

    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.bytes_fixed(&self.payload_hash);
        match &self.outcome {
            KeyOutcome::Appended(positions) => {
                w.u8(RECORD_APPENDED);
                w.varint(positions.len() as u64);
                let mut last = 0u64;
                for p in positions {
                    // Positions rise within a command: store the steps.
                    w.varint(p.wrapping_sub(last));
                    last = *p;
                }
            }
            KeyOutcome::Rejected { code, message } => {
                w.u8(RECORD_REJECTED);
                w.str(code);
                w.str(message);
            }
        }
        w.into_inner()
    }

    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<IdempotencyRecord, String> {
        let mut r = Reader::new(bytes);
        let payload_hash = r.array::<32>()?;
        let outcome = match r.u8()? {
            RECORD_APPENDED => {
                let count = r.len_prefix(COMMAND_EVENTS_MAX)?;
                let mut positions = Vec::with_capacity(count);
                let mut last = 0u64;
                for _ in 0..count {
                    last = last.wrapping_add(r.varint()?);
                    positions.push(last);
                }
                KeyOutcome::Appended(positions)
            }
            RECORD_REJECTED => KeyOutcome::Rejected {
                code: r.str(REJECTION_CODE_BYTES_MAX)?.to_string(),
                message: r.str(REJECTION_MESSAGE_BYTES_MAX)?.to_string(),
            },
            other => return Err(format!("unknown idempotency record kind {other}")),
        };
        if !r.is_empty() {
            return Err("bytes after an idempotency record".into());
        }
        Ok(IdempotencyRecord {
            payload_hash,
            outcome,
        })
    }
}

/// Cuts a message to at most `max` bytes at a character boundary.
pub fn bounded_message(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_string();
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

/// SHA-256 of a value's canonical JSON: the same command gives the same digest however its
/// JSON was spelled and whatever serde_json's features.
pub fn command_digest<T: Serialize>(command: &T) -> [u8; 32] {
    let value = serde_json::to_value(command).unwrap_or(serde_json::Value::Null);
    let mut out = Vec::with_capacity(256);
    canonical_json(&value, &mut out);
    Sha256::digest(&out).into()
}

/// Writes `value` as canonical JSON: keys sorted by their UTF-8 bytes, no whitespace, numbers
/// as serde_json prints them, strings with only `"`, `\` and control characters escaped (the
/// short escapes `\b \f \n \r \t`, else `\u00xx`). These are the bytes a stock serde_json
/// build writes for a `Value`, so digests taken by earlier builds still match.
pub fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => canonical_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_string(key, out);
                out.push(b':');
                canonical_json(item, out);
            }
            out.push(b'}');
        }
    }
}

fn canonical_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if u32::from(c) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for outcome in [
            KeyOutcome::Appended(vec![]),
            KeyOutcome::Appended(vec![7, 8, 12]),
            KeyOutcome::Rejected {
                code: "insufficient_balance".into(),
                message: "balance 288.06 is below 300.00".into(),
            },
        ] {
            let record = IdempotencyRecord {
                payload_hash: [3; 32],
                outcome,
            };
            assert_eq!(IdempotencyRecord::decode(&record.encode()), Ok(record));
        }
        assert!(IdempotencyRecord::decode(&[0; 33]).is_err());
    }

    #[test]
    fn canonical_json_sorts_keys_whatever_the_insertion_order() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":"\"x\"","x":[true,null]}}"#).expect("json");
        let mut out = Vec::new();
        canonical_json(&a, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"a":{"x":[true,null],"y":"\"x\""},"b":1}"#
        );
    }

    #[test]
    fn canonical_json_escapes_as_a_stock_serde_json_build_does() {
        let text = "tab\t new\n quote\" back\\ bell\u{7} 泸州";
        let value = serde_json::json!({ "z": text, "a": [1.5, -2, "x"] });
        let mut out = Vec::new();
        canonical_json(&value, &mut out);
        let stock = serde_json::to_vec(&value).expect("json");
        // Stock serde_json (no preserve_order) keeps object keys sorted: the same bytes.
        if cfg!(not(feature = "serde-json-preserve-order")) {
            assert_eq!(out, stock);
        }
        assert!(String::from_utf8(out)
            .expect("utf8")
            .starts_with(r#"{"a":[1.5,-2,"x"],"z":"tab\t"#));
    }

    #[test]
    fn messages_are_cut_at_a_character() {
        assert_eq!(bounded_message("泸州市", 4), "泸");
        assert_eq!(bounded_message("abc", 4), "abc");
    }
}
