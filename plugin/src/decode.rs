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

/// Decodes a file as it arrives, chunk by chunk, into UTF-8.
///
/// The encoding is decided from the first bytes (a byte-order mark) and, for
/// a file without one, as it goes: UTF-8 until the first byte sequence that
/// is not, Windows-1252 from there on. (A whole-file decoder would re-read
/// the earlier rows as Windows-1252 too; they were valid UTF-8, so they were
/// ASCII, or text that Windows-1252 would have turned into mojibake.) A
/// character split between chunks is held until the next one. Unpaired
/// UTF-16 surrogates, and a UTF-8 file with a BOM but invalid bytes, give
/// U+FFFD.
#[derive(Debug, Default)]
pub struct Decoder {
    /// `None` until the first bytes have said which.
    encoding: Option<Encoding>,
    /// Bytes not decoded yet: the start of the file before its encoding is
    /// known, or a character split by the end of a chunk.
    held: Vec<u8>,
    /// A UTF-8 file with a byte-order mark: invalid bytes become U+FFFD
    /// instead of switching to Windows-1252.
    bom: bool,
}

impl Decoder {
    /// A decoder at the start of a file.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The encoding so far: UTF-8 until the file has said otherwise.
    pub fn encoding(&self) -> Encoding {
        self.encoding.unwrap_or(Encoding::Utf8)
    }

    /// Decodes the next chunk, appending UTF-8 to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.encoding.is_none() {
            self.held.extend_from_slice(chunk);
            if self.held.len() < 3 {
                return;
            }
            let start = std::mem::take(&mut self.held);
            self.sniff(&start, out);
            return;
        }
        if self.held.is_empty() {
            self.decode(chunk, out);
        } else {
            let mut joined = std::mem::take(&mut self.held);
            joined.extend_from_slice(chunk);
            self.decode(&joined, out);
        }
    }

    /// The file has ended: decodes what is held.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let held = std::mem::take(&mut self.held);
        if self.encoding.is_none() {
            self.sniff(&held, out);
            return self.finish(out);
        }
        match self.encoding() {
            // An incomplete character at the very end.
            Encoding::Utf8 if !held.is_empty() => {
                if self.bom {
                    push_char(out, char::REPLACEMENT_CHARACTER);
                } else {
                    self.encoding = Some(Encoding::Windows1252);
                    windows_1252(&held, out);
                }
            }
            // A high surrogate with nothing after it; an odd last byte is dropped.
            Encoding::Utf16Le | Encoding::Utf16Be if held.len() >= 2 => {
                push_char(out, char::REPLACEMENT_CHARACTER);
            }
            _ => {}
        }
    }

    /// Decides the encoding from the file's first bytes, then decodes them.
    fn sniff(&mut self, start: &[u8], out: &mut Vec<u8>) {
        let (encoding, rest) = if let Some(rest) = start.strip_prefix(b"\xEF\xBB\xBF") {
            self.bom = true;
            (Encoding::Utf8, rest)
        } else if let Some(rest) = start.strip_prefix(b"\xFF\xFE") {
            (Encoding::Utf16Le, rest)
        } else if let Some(rest) = start.strip_prefix(b"\xFE\xFF") {
            (Encoding::Utf16Be, rest)
        } else {
            (Encoding::Utf8, start)
        };
        self.encoding = Some(encoding);
        self.decode(rest, out);
    }

    fn decode(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        match self.encoding() {
            Encoding::Utf8 => loop {
                match std::str::from_utf8(bytes) {
                    Ok(s) => return out.extend_from_slice(s.as_bytes()),
                    Err(e) => {
                        let (valid, rest) = bytes.split_at(e.valid_up_to());
                        out.extend_from_slice(valid);
                        match e.error_len() {
                            // Cut by the end of the chunk: wait for the rest.
                            None => return self.held.extend_from_slice(rest),
                            Some(bad) if self.bom => {
                                push_char(out, char::REPLACEMENT_CHARACTER);
                                bytes = &rest[bad..];
                            }
                            Some(_) => {
                                self.encoding = Some(Encoding::Windows1252);
                                return windows_1252(rest, out);
                            }
                        }
                    }
                }
            },
            Encoding::Windows1252 => windows_1252(bytes, out),
            Encoding::Utf16Le => self.utf16(bytes, u16::from_le_bytes, out),
            Encoding::Utf16Be => self.utf16(bytes, u16::from_be_bytes, out),
        }
    }

    fn utf16(&mut self, bytes: &[u8], unit: fn([u8; 2]) -> u16, out: &mut Vec<u8>) {
        let mut whole = bytes.len() - bytes.len() % 2;
        // A high surrogate at the end waits for its pair in the next chunk.
        if whole >= 2 {
            let last = unit([bytes[whole - 2], bytes[whole - 1]]);
            if (0xD800..0xDC00).contains(&last) {
                whole -= 2;
            }
        }
        let units = bytes[..whole].chunks_exact(2).map(|c| unit([c[0], c[1]]));
        for c in char::decode_utf16(units) {
            push_char(out, c.unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        self.held.extend_from_slice(&bytes[whole..]);
    }
}

/// Decodes a whole file at once.
pub fn decode(bytes: &[u8]) -> (String, Encoding) {
    let mut decoder = Decoder::new();
    let mut out = Vec::with_capacity(bytes.len());
    decoder.push(bytes, &mut out);
    decoder.finish(&mut out);
    let text = String::from_utf8(out).expect("the decoder writes UTF-8");
    (text, decoder.encoding())
}

fn push_char(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// Windows-1252 0x80..=0x9F; the rest of the code page is Latin-1. The five
/// unassigned bytes map to the C1 controls of the same value, as WHATWG does.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn windows_1252(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            0x00..=0x7F => out.push(b),
            0x80..=0x9F => push_char(out, CP1252_HIGH[usize::from(b - 0x80)]),
            _ => push_char(out, char::from(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFa,\xC3\xA9"),
            ("a,é".to_string(), Encoding::Utf8)
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
        assert_eq!(decode(&le), ("a,é".to_string(), Encoding::Utf16Le));
        assert_eq!(decode(&be), ("a,é".to_string(), Encoding::Utf16Be));
    }

    /// Decodes `bytes` cut into pieces at every `step` bytes.
    fn in_pieces(bytes: &[u8], step: usize) -> (String, Encoding) {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(step) {
            decoder.push(piece, &mut out);
        }
        decoder.finish(&mut out);
        (String::from_utf8(out).unwrap(), decoder.encoding())
    }

    #[test]
    fn a_character_cut_between_chunks_is_kept_whole() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("é😀,x".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let files: [&[u8]; 4] = [
            "a,é😀\n".as_bytes(),
            b"\xEF\xBB\xBFa,\xC3\xA9",
            b"Zo\xEB \x96 \xA35 \x80",
            &utf16,
        ];
        for file in files {
            let whole = decode(file);
            for step in 1..=5 {
                assert_eq!(in_pieces(file, step), whole, "{file:?} in pieces of {step}");
            }
        }
        assert_eq!(decode(&utf16).0, "é😀,x");
    }

    #[test]
    fn utf8_turns_windows_1252_at_the_first_byte_that_is_not_utf8() {
        // "é" in UTF-8, then "ë" in Windows-1252: the earlier text stays UTF-8.
        assert_eq!(
            decode(b"\xC3\xA9,Zo\xEB"),
            ("é,Zoë".to_string(), Encoding::Windows1252)
        );
        // A UTF-8 sequence cut off by the end of the file is not UTF-8.
        assert_eq!(decode(b"a\xC3"), ("aÃ".to_string(), Encoding::Windows1252));
        // With a BOM the file said it was UTF-8: bad bytes become U+FFFD.
        assert_eq!(
            decode(b"\xEF\xBB\xBFa\xFFb\xC3"),
            ("a\u{FFFD}b\u{FFFD}".to_string(), Encoding::Utf8)
        );
    }

    #[test]
    fn short_files_are_sniffed_at_the_end() {
        assert_eq!(decode(b""), (String::new(), Encoding::Utf8));
        assert_eq!(decode(b"a"), ("a".to_string(), Encoding::Utf8));
        assert_eq!(decode(b"\xFF\xFE"), (String::new(), Encoding::Utf16Le));
        // A lone high surrogate at the end.
        assert_eq!(decode(&[0xFF, 0xFE, 0x3D, 0xD8]).0, "\u{FFFD}");
    }
}
