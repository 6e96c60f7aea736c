//! A deserializer of a map with one entry taken out: every other entry goes straight to the
//! target's own deserializer, nothing buffered in between, and the entry taken out is handed to
//! a [`TakenEntry`] that reads (and may check) its value.
//!
//! Two readers use it: a stored event's fields, whose `"type"` entry is checked against the
//! type the record names (`codec`), and a command's JSON read without its `"key"`
//! ([`super::strict_json::from_str_without`]).
//!
//! *Invariant*: the target sees exactly the map's other entries, in order, with the same values;
//! the entry taken out never reaches it, however often it appears (the [`TakenEntry`] decides
//! whether a second one is an error).

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// What is done with the entry taken out of the map.
pub trait TakenEntry<'de> {
    /// Reads the entry's value from `map` (its key was just read), checking it if need be.
    fn take<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error>;
    /// After the map's last entry: whether what was taken is complete (a required entry
    /// missing is an error here).
    fn finish<E: de::Error>(&self) -> Result<(), E>;
}

/// Reads `inner` as a map without its entry `key`, which goes to `taken`.
pub struct MapWithout<'k, D, T> {
    inner: D,
    key: &'k str,
    taken: T,
}

impl<'k, D, T> MapWithout<'k, D, T> {
    /// The map in `inner`, its entry `key` handed to `taken`.
    pub fn new(inner: D, key: &'k str, taken: T) -> Self {
        MapWithout { inner, key, taken }
    }
}

impl<'de, D: Deserializer<'de>, T: TakenEntry<'de>> Deserializer<'de> for MapWithout<'_, D, T> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(Visit {
            visitor,
            key: self.key,
            taken: self.taken,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Hands the target's visitor the map without the entry, then lets `taken` finish.
struct Visit<'k, V, T> {
    visitor: V,
    key: &'k str,
    taken: T,
}

impl<'de, V: Visitor<'de>, T: TakenEntry<'de>> Visitor<'de> for Visit<'_, V, T> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let mut entries = Entries {
            map,
            key: self.key,
            taken: self.taken,
        };
        let value = self.visitor.visit_map(&mut entries)?;
        entries.taken.finish()?;
        Ok(value)
    }
}

/// The entries of a map but `key`.
struct Entries<'k, A, T> {
    map: A,
    key: &'k str,
    taken: T,
}

impl<'de, A: MapAccess<'de>, T: TakenEntry<'de>> MapAccess<'de> for Entries<'_, A, T> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key_seed(TextSeed)? else {
                return Ok(None);
            };
            if key.as_str() != self.key {
                return key.into_deserialize(seed).map(Some);
            }
            self.taken.take(&mut self.map)?;
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A string read from the input, borrowed where the reader lends it.
pub enum Text<'de> {
    /// Borrowed from the input (no escapes to undo).
    Borrowed(&'de str),
    /// Copied (the reader could not lend it).
    Owned(String),
}

impl Text<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl<'de> Text<'de> {
    /// Gives the text, as a key, to a field visitor.
    fn into_deserialize<K: DeserializeSeed<'de>, E: de::Error>(
        self,
        seed: K,
    ) -> Result<K::Value, E> {
        match self {
            Text::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::new(s)),
            Text::Owned(s) => seed.deserialize(StringDeserializer::new(s)),
        }
    }
}

/// Reads a [`Text`] (a string; anything else is the reader's type error).
pub struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Text<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Text<'de>, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Reads a [`Text`].
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text::Owned(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text::Owned(v))
    }
}
