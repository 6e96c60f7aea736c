//! Little byte writers and readers for the store's binary layouts: fixed little-endian
//! integers, LEB128 varints (zigzag for signed), length-prefixed strings and bytes. A reader
//! never reads past its slice and bounds every length before it allocates.

/// Appends values to a byte vector.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer(Vec::with_capacity(capacity))
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }

    /// One byte.
    pub fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    /// A `u64`, 8 bytes little-endian.
    pub fn u64_fixed(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// Bytes as they are, without a length.
    pub fn bytes_fixed(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// An unsigned LEB128 varint (1 to 10 bytes).
    pub fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            // Truncation intended: the low seven bits, with the continuation bit.
            #[allow(clippy::cast_possible_truncation)]
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        #[allow(clippy::cast_possible_truncation)]
        self.0.push(value as u8);
    }

    /// A signed value as a zigzag varint.
    pub fn zigzag(&mut self, value: i64) {
        #[allow(clippy::cast_sign_loss)]
        self.varint(((value << 1) ^ (value >> 63)) as u64);
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    /// An optional string: a presence byte, then the string.
    pub fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(t) => {
                self.u8(1);
                self.str(t);
            }
            None => self.u8(0),
        }
    }
}

/// Reads values from a byte slice, failing (never panicking) at its end.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, offset: 0 }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{n} bytes wanted at offset {}, {} left",
                self.offset,
                self.remaining()
            ));
        }
        let out = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), String> {
        self.take(n).map(|_| ())
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// A fixed array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A `u64`, 8 bytes little-endian.
    pub fn u64_fixed(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }

    /// An unsigned LEB128 varint; refuses more than ten bytes or a value beyond `u64`.
    pub fn varint(&mut self) -> Result<u64, String> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.u8()?;
            let low = u64::from(byte & 0x7f);
            if i == 9 && low > 1 {
                return Err("a varint beyond 64 bits".into());
            }
            value |= low << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than ten bytes".into())
    }

    /// A zigzag varint.
    pub fn zigzag(&mut self) -> Result<i64, String> {
        let raw = self.varint()?;
        #[allow(clippy::cast_possible_wrap)]
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A length prefix, refused above `max`.
    pub fn len_prefix(&mut self, max: usize) -> Result<usize, String> {
        let len = self.varint()?;
        match usize::try_from(len) {
            Ok(len) if len <= max => Ok(len),
            _ => Err(format!("a length of {len} beyond the bound {max}")),
        }
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], String> {
        let len = self.len_prefix(max)?;
        self.take(len)
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str(&mut self, max: usize) -> Result<&'a str, String> {
        let bytes = self.bytes(max)?;
        simdutf8::basic::from_utf8(bytes).map_err(|_| "a string is not UTF-8".to_string())
    }

    /// An optional string (presence byte 0 or 1).
    pub fn opt_str(&mut self, max: usize) -> Result<Option<&'a str>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str(max).map(Some),
            other => Err(format!("presence byte {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Whatever is written reads back the same, and the reader ends exactly at the end.
        #[test]
        fn varints_and_strings_round_trip(a: u64, b: i64, text in ".{0,40}", present: bool) {
            let mut w = Writer::default();
            w.varint(a);
            w.zigzag(b);
            w.str(&text);
            w.opt_str(present.then_some(text.as_str()));
            let bytes = w.into_inner();
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(r.varint().map_err(TestCaseError::fail)?, a);
            prop_assert_eq!(r.zigzag().map_err(TestCaseError::fail)?, b);
            prop_assert_eq!(r.str(1024).map_err(TestCaseError::fail)?, text.as_str());
            prop_assert_eq!(r.opt_str(1024).map_err(TestCaseError::fail)?, present.then_some(text.as_str()));
            prop_assert!(r.is_empty());
        }

        // A string is read exactly when the standard library calls its bytes UTF-8 (the SIMD
        // check refuses and accepts the same bytes), mostly-valid text with a byte changed
        // included.
        #[test]
        fn a_string_is_utf8_exactly_as_std_says(
            text in "\\PC{0,80}",
            at in any::<prop::sample::Index>(),
            byte: u8,
            change: bool,
        ) {
            let mut bytes = text.into_bytes();
            if change && !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let mut w = Writer::default();
            w.bytes(&bytes);
            let framed = w.into_inner();
            let read = Reader::new(&framed).str(1024).ok();
            prop_assert_eq!(read, std::str::from_utf8(&bytes).ok());
        }

        // Any bytes at all are read without a panic: a value or an error.
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.varint();
            let _ = r.zigzag();
            let _ = r.str(16);
            let _ = r.opt_str(16);
            let _ = r.array::<32>();
        }
    }

    #[test]
    fn an_eleventh_varint_byte_and_a_long_length_are_refused() {
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varint().is_err());
        let mut w = Writer::default();
        w.varint(5000);
        let bytes = w.into_inner();
        assert!(Reader::new(&bytes).len_prefix(4096).is_err());
    }
}
