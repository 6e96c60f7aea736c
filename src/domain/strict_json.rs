//! JSON read more strictly than serde_json reads it: an object that names a key twice is refused
//! (serde_json keeps the last value silently, so a forged second `"amount"` or `"member"` could
//! hide behind the first one a reviewer reads). One pass builds the value and checks.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::map_without::{MapWithout, TakenEntry, Text};

/// Parses JSON text into a value, refusing malformed text and objects that repeat a key.
pub fn parse_strict(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Builds a [`Value`], refusing repeated keys at any depth.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key \"{key}\" is given twice"
                )));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Scans a JSON object without building it, refusing what [`parse_strict`] refuses (malformed
/// or trailing text, a key named twice at any depth); `inspect` sees each top-level key with
/// its value when that is a string, and may stop the scan by answering false. True when the
/// text is an object that passed every check.
pub fn scan_object(text: &str, inspect: impl FnMut(&str, Option<&str>) -> bool) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    let top = de.deserialize_map(TopScan { inspect });
    top.is_ok() && de.end().is_ok()
}

/// Reads `T` from JSON text as if the top-level object had no entry named `skip` (its value is
/// read and dropped), building no intermediate value of the object.
pub fn from_str_without<'de, T: serde::Deserialize<'de>>(
    text: &'de str,
    skip: &str,
) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(MapWithout::new(&mut de, skip, Ignored))?;
    de.end()?;
    Ok(value)
}

/// The entry taken out by [`from_str_without`]: its value read and dropped, however often it
/// appears (a repeated key is still refused by the scans that check for repeats).
struct Ignored;

impl<'de> TakenEntry<'de> for Ignored {
    fn take<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        map.next_value::<de::IgnoredAny>().map(|_| ())
    }

    fn finish<E: de::Error>(&self) -> Result<(), E> {
        Ok(())
    }
}

/// The top-level object of [`scan_object`].
struct TopScan<F> {
    inspect: F,
}

impl<'de, F: FnMut(&str, Option<&str>) -> bool> Visitor<'de> for TopScan<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut keys: Vec<Text<'de>> = Vec::with_capacity(16);
        while let Some(key) = map.next_key_seed(Scan)? {
            let key = key.ok_or_else(|| de::Error::custom("a key is not a string"))?;
            if keys.iter().any(|k| k.as_str() == key.as_str()) {
                return Err(de::Error::custom("a key is given twice"));
            }
            let value = map.next_value_seed(Scan)?;
            if !(self.inspect)(key.as_str(), value.as_ref().map(Text::as_str)) {
                return Err(de::Error::custom("stopped"));
            }
            keys.push(key);
        }
        Ok(())
    }
}

/// Checks any value for repeated keys, building nothing; gives back a string's text.
#[derive(Clone, Copy)]
struct Scan;

impl<'de> DeserializeSeed<'de> for Scan {
    type Value = Option<Text<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Text::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Text::Owned(v.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(Scan)?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys: Vec<Text<'de>> = Vec::new();
        while let Some(key) = map.next_key_seed(Scan)? {
            let key = key.ok_or_else(|| de::Error::custom("a key is not a string"))?;
            if keys.iter().any(|k| k.as_str() == key.as_str()) {
                return Err(de::Error::custom("a key is given twice"));
            }
            map.next_value_seed(Scan)?;
            keys.push(key);
        }
        Ok(None)
    }
}

/// Any JSON value, checked for repeated keys (for callers that only check).
pub fn check_no_duplicate_keys(text: &str) -> Result<(), String> {
    parse_strict(text).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_at_any_depth_is_refused_and_the_rest_reads_as_serde_json_reads_it() {
        let text = r#"{"a":1,"b":[{"c":2.5,"d":"x"}],"e":null,"f":true}"#;
        assert_eq!(
            parse_strict(text),
            serde_json::from_str::<Value>(text).map_err(|e| e.to_string())
        );
        assert!(parse_strict(r#"{"amount":"1.00","amount":"1000.00"}"#)
            .is_err_and(|e| e.contains("\"amount\" is given twice")));
        assert!(parse_strict(r#"{"a":[{"m":1,"m":2}]}"#).is_err());
        assert!(parse_strict(r#"{"a":1} trailing"#).is_err());
    }

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
