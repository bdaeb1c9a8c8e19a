//! Turning the uploaded bytes into text.
//!
//! Excel writes "CSV UTF-8" with a byte-order mark, plain "CSV" on Windows as
//! Windows-1252, and "Unicode text" as UTF-16 with a byte-order mark. A file
//! without a BOM that is valid UTF-8 is UTF-8; otherwise it is Windows-1252
//! (every byte sequence is valid Windows-1252, so decoding never fails).
//!
//! Written by hand rather than with `encoding_rs`: only Windows-1252 needs a
//! table (32 entries), and `encoding_rs` would bring every legacy encoding's
//! tables into the component for that.

use std::borrow::Cow;

/// The encoding a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// UTF-16 little-endian (with a byte-order mark).
    Utf16Le,
    /// UTF-16 big-endian (with a byte-order mark).
    Utf16Be,
    /// Windows-1252, Excel's plain "CSV" on Windows.
    Windows1252,
}

/// Decodes a whole file. Unpaired UTF-16 surrogates become U+FFFD.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, Encoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return match std::str::from_utf8(rest) {
            Ok(s) => (Cow::Borrowed(s), Encoding::Utf8),
            // A BOM followed by invalid UTF-8: the BOM lied; keep what we can.
            Err(_) => (String::from_utf8_lossy(rest), Encoding::Utf8),
        };
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (
            Cow::Owned(utf16(rest, u16::from_le_bytes)),
            Encoding::Utf16Le,
        );
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (
            Cow::Owned(utf16(rest, u16::from_be_bytes)),
            Encoding::Utf16Be,
        );
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), Encoding::Utf8),
        Err(_) => (Cow::Owned(windows_1252(bytes)), Encoding::Windows1252),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Windows-1252 0x80..=0x9F; the rest of the code page is Latin-1. The five
/// unassigned bytes map to the C1 controls of the same value, as WHATWG does.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn windows_1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFa,\xC3\xA9"),
            (Cow::Borrowed("a,é"), Encoding::Utf8)
        );
        assert_eq!(decode(b"a,b").1, Encoding::Utf8);
    }

    #[test]
    fn windows_1252_when_not_utf8() {
        // "Zoë – £5 €" as Excel's plain CSV writes it on Windows.
        let (text, enc) = decode(b"Zo\xEB \x96 \xA35 \x80");
        assert_eq!(enc, Encoding::Windows1252);
        assert_eq!(text, "Zoë – £5 €");
    }

    #[test]
    fn utf16_both_byte_orders() {
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("a,é".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("a,é".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(
            decode(&le),
            (Cow::Owned("a,é".to_string()), Encoding::Utf16Le)
        );
        assert_eq!(
            decode(&be),
            (Cow::Owned("a,é".to_string()), Encoding::Utf16Be)
        );
    }
}
