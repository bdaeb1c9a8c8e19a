//! What a cell's text is, whatever column it came from: cleaned of what
//! copy-paste and spreadsheets add, and the damage spreadsheets do to long
//! numbers. NHS numbers and mobiles both use these.

use std::borrow::Cow;

/// Characters removed anywhere in a cell: zero-width spaces and joiners, the
/// word joiner, the byte-order mark, and soft hyphens that copy-paste brings.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

/// Removes invisible characters, turns non-breaking spaces into spaces, and
/// trims whitespace at both ends. Borrows when there is nothing to change.
pub fn clean_cell(cell: &str) -> Cow<'_, str> {
    // The common case, checked fast: plain ASCII has nothing invisible,
    // and its whitespace is six bytes (`str::trim`'s search by `char` was
    // 3% of a batch in the component).
    if cell.is_ascii() {
        return Cow::Borrowed(trim_ascii_whitespace(cell));
    }
    let needs_rewrite = cell
        .chars()
        .any(|c| is_invisible(c) || c == '\u{00A0}' || c == '\u{202F}');
    if !needs_rewrite {
        return Cow::Borrowed(cell.trim());
    }
    let cleaned: String = cell
        .chars()
        .filter(|&c| !is_invisible(c))
        .map(|c| {
            if c == '\u{00A0}' || c == '\u{202F}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    Cow::Owned(cleaned.trim().to_string())
}

/// `cell.trim()` for an ASCII cell: the ASCII characters that are
/// `char::is_whitespace` are space, tab, LF, vertical tab, form feed and CR
/// (`u8::is_ascii_whitespace` leaves out the vertical tab).
fn trim_ascii_whitespace(cell: &str) -> &str {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let bytes = cell.as_bytes();
    let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    // Both ends are at ASCII bytes, so on character boundaries.
    cell.get(start..end).unwrap_or("")
}

/// Whether a cell is a number a spreadsheet wrote in scientific notation,
/// like `7.7009E+09` or `9.43E+09`.
pub fn looks_like_scientific(cell: &str) -> bool {
    let Some((mantissa, exponent)) = cell.split_once(['e', 'E']) else {
        return false;
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && all_digits(frac) && all_digits(exponent)
}

/// A number of at most 10 digits as exactly 10 digits of text, with leading zeros kept.
pub fn ten_digits(number: u64) -> String {
    let mut out = String::with_capacity(10);
    push_ten_digits(&mut out, number);
    out
}

/// Appends [`ten_digits`] of `number` to `out`, allocating nothing more.
///
/// Two digits at a time, in `u32`: wasm has no 64-bit multiply-high, so
/// each `u64 / 10` of a digit-by-digit loop was a real division inside
/// the component (this and its callers were a quarter of the core's
/// instructions, natively).
pub fn push_ten_digits(out: &mut String, number: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                                2021222324252627282930313233343536373839\
                                4041424344454647484950515253545556575859\
                                6061626364656667686970717273747576777879\
                                8081828384858687888990919293949596979899";
    // At most 10 digits: the first two, then eight that fit a u32.
    let (high, mut low) = (
        (number / 100_000_000 % 100) as u32,
        (number % 100_000_000) as u32,
    );
    let mut digits = [b'0'; 10];
    for at in (1..5).rev() {
        let pair = (low % 100) as usize * 2;
        low /= 100;
        digits[at * 2..at * 2 + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    let pair = high as usize * 2;
    digits[..2].copy_from_slice(&PAIRS[pair..pair + 2]);
    out.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_lose_invisible_characters_and_outer_space() {
        assert_eq!(clean_cell("  07700\u{A0}900123\u{200B} "), "07700 900123");
        assert_eq!(clean_cell("\u{FEFF}NHS Number"), "NHS Number");
        assert!(matches!(clean_cell(" plain "), Cow::Borrowed("plain")));
    }

    #[test]
    fn ascii_cells_are_trimmed_as_str_trim_trims_them() {
        // The oracle is the standard library's `trim`, for every ASCII
        // character on either side of, and inside, a cell.
        for c in (0u8..128).map(char::from) {
            for cell in [
                format!("{c}"),
                format!("{c}{c}x{c}"),
                format!("x{c}y"),
                format!("{c} 07700 900123\t{c}"),
            ] {
                assert_eq!(clean_cell(&cell), cell.trim(), "{cell:?}");
            }
        }
    }

    #[test]
    fn scientific_notation_is_spotted() {
        assert!(looks_like_scientific("9.43E+09"));
        assert!(looks_like_scientific("7.7009e9"));
        assert!(!looks_like_scientific("07700E"));
        assert!(!looks_like_scientific("943 476 5919"));
    }

    #[test]
    fn ten_digits_keep_leading_zeros() {
        assert_eq!(ten_digits(7_700_900_123), "7700900123");
        assert_eq!(ten_digits(12), "0000000012");
        assert_eq!(ten_digits(0), "0000000000");
        assert_eq!(ten_digits(9_999_999_999), "9999999999");
    }

    /// The oracle is `format!`'s own integer formatting, over every digit
    /// in every place (and numbers with runs of zeros and nines).
    #[test]
    fn ten_digits_are_the_numbers_format_writes() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for i in 0..200_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let n = match i % 4 {
                0 => rng % 10_000_000_000,
                1 => rng % 10u64.pow((i / 4 % 11) as u32),
                2 => 10u64.pow((i / 4 % 10) as u32) - 1,
                _ => i,
            };
            assert_eq!(ten_digits(n), format!("{n:010}"), "{n}");
        }
    }
}
