//! A stored event's fields read as a plain struct: the map's `"type"` entry is checked against
//! the type the record names and skipped, and every other entry goes straight to the struct's
//! own deserializer, with nothing buffered in between (serde's internally tagged decoding
//! collects every entry into an intermediate value before it can choose the variant). The map
//! without its tag is [`MapWithout`]; this file holds the tag's check.
//!
//! *Invariant*: a map decodes here exactly when serde's internally tagged decoding of the same
//! variant decodes it, to the same value: the tag must be present once and name the expected
//! type, and an unknown or repeated field is the struct's own error.

use serde::de::{self, MapAccess};

use crate::domain::map_without::{MapWithout, TakenEntry, TextSeed};

/// The tag's key in a stored event's map.
const TAG_KEY: &str = "type";

/// A deserializer of one event's fields from `inner`, whose map must carry `"type": tag`.
pub(super) fn fields<D>(inner: D, tag: &str) -> MapWithout<'static, D, TagCheck<'_>> {
    MapWithout::new(
        inner,
        TAG_KEY,
        TagCheck {
            tag,
            tag_seen: false,
        },
    )
}

/// The tag's check: present once, naming the expected type.
pub(super) struct TagCheck<'t> {
    tag: &'t str,
    tag_seen: bool,
}

impl<'de> TakenEntry<'de> for TagCheck<'_> {
    fn take<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        if self.tag_seen {
            return Err(de::Error::duplicate_field(TAG_KEY));
        }
        let tag = map.next_value_seed(TextSeed)?;
        if tag.as_str() != self.tag {
            return Err(de::Error::invalid_value(
                de::Unexpected::Str(tag.as_str()),
                &self.tag,
            ));
        }
        self.tag_seen = true;
        Ok(())
    }

    fn finish<E: de::Error>(&self) -> Result<(), E> {
        if self.tag_seen {
            Ok(())
        } else {
            Err(de::Error::missing_field(TAG_KEY))
        }
    }
}
