//! A stored event's fields read as a plain struct: the map's `"type"` entry is checked against
//! the type the record names and skipped, and every other entry goes straight to the struct's
//! own deserializer, with nothing buffered in between (serde's internally tagged decoding
//! collects every entry into an intermediate value before it can choose the variant).
//!
//! *Invariant*: a map decodes here exactly when serde's internally tagged decoding of the same
//! variant decodes it, to the same value: the tag must be present once and name the expected
//! type, and an unknown or repeated field is the struct's own error.

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// The tag's key in a stored event's map.
const TAG_KEY: &str = "type";

/// A deserializer of one event's fields whose map carries `"type": tag`.
pub(super) struct Fields<'t, D> {
    inner: D,
    tag: &'t str,
}

impl<'t, D> Fields<'t, D> {
    /// The fields read from `inner`, whose `"type"` must be `tag`.
    pub(super) fn new(inner: D, tag: &'t str) -> Self {
        Fields { inner, tag }
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Fields<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(SkipTag {
            visitor,
            tag: self.tag,
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

/// Hands the struct's visitor a map without the tag, then checks the tag was there.
struct SkipTag<'t, V> {
    visitor: V,
    tag: &'t str,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipTag<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the fields of a {} event", self.tag)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let mut fields = WithoutTag {
            map,
            tag: self.tag,
            tag_seen: false,
        };
        let value = self.visitor.visit_map(&mut fields)?;
        if fields.tag_seen {
            Ok(value)
        } else {
            Err(de::Error::missing_field(TAG_KEY))
        }
    }
}

/// The entries of a map, the tag's checked and left out.
struct WithoutTag<'t, A> {
    map: A,
    tag: &'t str,
    tag_seen: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutTag<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key_seed(TextSeed)? else {
                return Ok(None);
            };
            if key.as_str() != TAG_KEY {
                return key.into_deserialize(seed).map(Some);
            }
            if self.tag_seen {
                return Err(de::Error::duplicate_field(TAG_KEY));
            }
            let tag = self.map.next_value_seed(TextSeed)?;
            if tag.as_str() != self.tag {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Str(tag.as_str()),
                    &self.tag,
                ));
            }
            self.tag_seen = true;
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A string read from the stored bytes, borrowed where the reader lends it.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl<'de> Text<'de> {
    /// Gives the key to the struct's field visitor.
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

/// Reads a [`Text`] from the map.
struct TextSeed;

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
