//! A JSON check stricter than the parser behind commands: an object that names a key twice is
//! refused (serde_json would keep the last value silently, so a forged second `"amount"` could
//! hide behind the first one a reviewer reads).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Refuses JSON text that is malformed or whose objects repeat a key; says where.
pub fn check_no_duplicate_keys(text: &str) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    Checked::deserialize(&mut de)
        .and_then(|_| de.end())
        .map_err(|e| format!("not a JSON command: {e}"))
}

/// Any JSON value, walked and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Checked, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "the key \"{key}\" is given twice"
                )));
            }
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_distinct_keys_pass() {
        assert!(check_no_duplicate_keys(r#"{"a":1,"b":[{"c":2,"d":3}]}"#).is_ok());
        let top = check_no_duplicate_keys(r#"{"amount":"1.00","amount":"900.00"}"#);
        assert!(top.is_err_and(|e| e.contains("\"amount\" is given twice")));
        let nested = check_no_duplicate_keys(r#"{"heirs":[{"share":"1","share":"0"}]}"#);
        assert!(nested.is_err_and(|e| e.contains("\"share\" is given twice")));
        // An escaped spelling of the same key is the same key.
        assert!(check_no_duplicate_keys(r#"{"a":1,"\u0061":2}"#).is_err());
    }

    #[test]
    fn malformed_text_and_trailing_text_are_refused() {
        assert!(check_no_duplicate_keys("{").is_err());
        assert!(check_no_duplicate_keys("{} {}").is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            check_no_duplicate_keys(&deep).is_err(),
            "depth is bounded, no overflow"
        );
    }
}
