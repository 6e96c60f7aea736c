//! A cursor over MessagePack bytes that reads the few shapes the encoder writes (maps, strings,
//! booleans, nil) and measures any other value, borrowing everything from the stored bytes.
//!
//! Every method answers `None` for bytes it does not expect: its caller then hands the whole
//! record to serde, which decides (and words the error). Nothing here judges a record corrupt.

/// Deepest nesting [`Cursor::value`] walks (the events' own values nest three levels).
const VALUE_DEPTH_MAX: u32 = 32;

/// The head of a MessagePack value of a shape JSON has (see [`Cursor::token`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// nil.
    Nil,
    /// A boolean.
    Bool(bool),
    /// A non-negative integer (or one written in a signed width).
    Unsigned(u64),
    /// A negative integer, or one written in a signed width.
    Signed(i64),
    /// A string's bytes, not checked as UTF-8.
    Str(&'a [u8]),
    /// An array of this many values, which follow.
    Array(usize),
    /// A map of this many key-value pairs, which follow.
    Map(usize),
}

/// A read position in MessagePack bytes.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes }
    }

    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(taken)
    }

    fn length(&mut self, width: usize) -> Option<usize> {
        let bytes = self.take(width)?;
        let n = bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
        usize::try_from(n).ok()
    }

    /// The number of entries of a map (fixmap, map16, map32).
    pub(super) fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(usize::from(m & 0x0f)),
            0xde => self.length(2),
            0xdf => self.length(4),
            _ => None,
        }
    }

    /// The bytes of a string (fixstr, str8, str16, str32), not checked as UTF-8.
    pub(super) fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let n = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.length(1)?,
            0xda => self.length(2)?,
            0xdb => self.length(4)?,
            _ => return None,
        };
        self.take(n)
    }

    /// A string, checked as UTF-8.
    pub(super) fn str(&mut self) -> Option<&'a str> {
        simdutf8::basic::from_utf8(self.str_bytes()?).ok()
    }

    /// Whether the next value is nil; moves past it if so.
    pub(super) fn nil(&mut self) -> bool {
        let nil = self.bytes.first() == Some(&0xc0);
        if nil {
            self.bytes = &self.bytes[1..];
        }
        nil
    }

    /// A boolean.
    pub(super) fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// The next value's head when it is one of the shapes JSON has (nil, a boolean, an
    /// integer, a string, the length of an array or a map), the cursor moved past it (past a
    /// string's bytes, not past an array's or a map's entries); `None`, the cursor unmoved, for
    /// anything else (a float, bytes, an extension) and for bytes cut short.
    pub(super) fn token(&mut self) -> Option<Token<'a>> {
        let mut ahead = Cursor { bytes: self.bytes };
        let token = ahead.token_ahead()?;
        self.bytes = ahead.bytes;
        Some(token)
    }

    fn token_ahead(&mut self) -> Option<Token<'a>> {
        let ahead_of_marker = self.bytes;
        let marker = self.byte()?;
        let unsigned = |c: &mut Self, width| c.length(width).and_then(|n| u64::try_from(n).ok());
        let token = match marker {
            0x00..=0x7f => Token::Unsigned(u64::from(marker)),
            0xe0..=0xff => Token::Signed(i64::from(i8::from_be_bytes([marker]))),
            0xc0 => Token::Nil,
            0xc2 => Token::Bool(false),
            0xc3 => Token::Bool(true),
            0x80..=0x8f => Token::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Token::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf | 0xd9..=0xdb => {
                // `str_bytes` reads the marker again.
                self.bytes = ahead_of_marker;
                Token::Str(self.str_bytes()?)
            }
            0xcc => Token::Unsigned(unsigned(self, 1)?),
            0xcd => Token::Unsigned(unsigned(self, 2)?),
            0xce => Token::Unsigned(unsigned(self, 4)?),
            0xcf => Token::Unsigned(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            0xd0 => Token::Signed(i64::from(i8::from_be_bytes(self.take(1)?.try_into().ok()?))),
            0xd1 => Token::Signed(i64::from(i16::from_be_bytes(
                self.take(2)?.try_into().ok()?,
            ))),
            0xd2 => Token::Signed(i64::from(i32::from_be_bytes(
                self.take(4)?.try_into().ok()?,
            ))),
            0xd3 => Token::Signed(i64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            0xdc => Token::Array(self.length(2)?),
            0xdd => Token::Array(self.length(4)?),
            0xde => Token::Map(self.length(2)?),
            0xdf => Token::Map(self.length(4)?),
            _ => return None,
        };
        Some(token)
    }

    /// The bytes of the next value, whatever it is, the cursor moved past it.
    pub(super) fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.bytes;
        self.skip(0)?;
        start.get(..start.len() - self.bytes.len())
    }

    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > VALUE_DEPTH_MAX {
            return None;
        }
        let (data, entries) = match self.byte()? {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            m @ 0x80..=0x8f => (0, 2 * usize::from(m & 0x0f)),
            m @ 0x90..=0x9f => (0, usize::from(m & 0x0f)),
            m @ 0xa0..=0xbf => (usize::from(m & 0x1f), 0),
            0xc4 | 0xd9 => (self.length(1)?, 0),
            0xc5 | 0xda => (self.length(2)?, 0),
            0xc6 | 0xdb => (self.length(4)?, 0),
            0xc7 => (self.length(1)? + 1, 0),
            0xc8 => (self.length(2)? + 1, 0),
            0xc9 => (self.length(4)? + 1, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            m @ 0xd4..=0xd8 => ((1 << (m - 0xd4)) + 1, 0),
            0xdc => (0, self.length(2)?),
            0xdd => (0, self.length(4)?),
            0xde => (0, 2 * self.length(2)?),
            0xdf => (0, 2usize.checked_mul(self.length(4)?)?),
            _ => return None,
        };
        self.take(data)?;
        for _ in 0..entries {
            self.skip(depth + 1)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn named<T: Serialize>(value: &T) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut s = rmp_serde::Serializer::new(&mut bytes)
            .with_struct_map()
            .with_human_readable();
        value.serialize(&mut s).expect("encodes");
        bytes
    }

    // Invariant: `value` measures exactly one MessagePack value of any shape, so the cursor
    // stands at the next one.
    #[test]
    fn a_value_of_every_shape_is_measured_exactly() {
        let long = "长".repeat(100);
        let values = vec![
            serde_json::json!(null),
            serde_json::json!(true),
            serde_json::json!(7),
            serde_json::json!(-7),
            serde_json::json!(300),
            serde_json::json!(-70000),
            serde_json::json!(u64::MAX),
            serde_json::json!(1.5),
            serde_json::json!("short"),
            serde_json::json!(long),
            serde_json::json!([1, [2, [3, {"a": [4]}]]]),
            serde_json::json!({"k": {"n": null, "s": "x"}, "v": [true, false]}),
        ];
        for value in values {
            let mut bytes = named(&value);
            let len = bytes.len();
            bytes.push(0xc3);
            let mut c = Cursor::new(&bytes);
            assert_eq!(c.value().map(<[u8]>::len), Some(len), "{value}");
            assert_eq!(c.bool(), Some(true), "the next value follows {value}");
        }
        let bin = named(&serde_bytes_like(vec![1u8; 300]));
        assert_eq!(Cursor::new(&bin).value().map(<[u8]>::len), Some(bin.len()));
    }

    fn serde_bytes_like(v: Vec<u8>) -> rmpv_like::Bin {
        rmpv_like::Bin(v)
    }

    mod rmpv_like {
        /// Bytes serialised as MessagePack bin.
        pub struct Bin(pub Vec<u8>);
        impl serde::Serialize for Bin {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn truncated_or_unknown_bytes_are_not_read() {
        assert_eq!(Cursor::new(&[0xa5, b'a']).str_bytes(), None);
        assert_eq!(Cursor::new(&[0xc1]).value(), None);
        assert_eq!(Cursor::new(&[0xdc, 0, 2, 0xc0]).value(), None);
        assert_eq!(Cursor::new(&[0xa2, 0xff, 0xfe]).str(), None, "not UTF-8");
        let deep = [vec![0x91; 40], vec![0xc0]].concat();
        assert_eq!(Cursor::new(&deep).value(), None, "deeper than the bound");
    }
}
