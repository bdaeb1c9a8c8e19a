//! Which 10-digit UK national numbers (`7xxxxxxxxx`) are mobiles.
//!
//! Written by hand instead of using the `phonenumber` crate: inside the
//! component that crate measured ~28 us a number plus ~100 ms of start-up in
//! every fresh instance (its whole-world metadata and regexes), while this
//! table answers in well under a microsecond and needs no start-up.
//!
//! The table transcribes libphonenumber's 9.0.33 mobile patterns for GB, and
//! for the Crown dependencies that share +44: IM, JE and GG. Each entry is a
//! prefix and the digits that may follow it; the rest of the number is any
//! digits. `plugin/tests/mobile_metadata.rs` checks every `07` prefix against
//! libphonenumber's own metadata as the `phonenumber` crate carries it (a
//! second implementation, not a copy of this table). The Ofcom drama range
//! 07700 900000-900999 is added on purpose, so examples and tests can use
//! numbers that reach no one.

use std::sync::OnceLock;

/// `(prefix, digits that may follow)`; an empty class means the prefix alone.
const MOBILE_PREFIXES: &[(&str, &str)] = &[
    // GB: 7(?:457[0-57-9]|700[01]|911[028])\d{5}
    ("7457", "0-57-9"),
    ("7700", "01"),
    ("7911", "028"),
    // GB: 7(?:[1-3]\d\d|4(?:[0-46-9]\d|5[0-689])|5(?:0[0-8]|[13-9]\d|2[0-35-9])|
    //      7(?:0[1-9]|[1-7]\d|8[02-9]|9[0-689])|8(?:[014-9]\d|[23][0-8])|
    //      9(?:[024-9]\d|1[02-9]|3[0-689]))\d{6}
    ("7", "1-3"),
    ("74", "0-46-9"),
    ("745", "0-689"),
    ("750", "0-8"),
    ("75", "13-9"),
    ("752", "0-35-9"),
    ("770", "1-9"),
    ("77", "1-7"),
    ("778", "02-9"),
    ("779", "0-689"),
    ("78", "014-9"),
    ("782", "0-8"),
    ("783", "0-8"),
    ("79", "024-9"),
    ("791", "02-9"),
    ("793", "0-689"),
    // IM: 76245[06]\d{4}|7(?:4576|[59]24\d|624[0-4689])\d{5}
    ("76245", "06"),
    ("74576", ""),
    ("7524", ""),
    ("7924", ""),
    ("7624", "0-4689"),
    // JE: 7(?:(?:(?:50|82)9|937)\d|7(?:00[378]|97\d))\d{5}
    ("7509", ""),
    ("7829", ""),
    ("7937", ""),
    ("7700", "378"),
    ("7797", ""),
    // GG: 7(?:(?:781|839)\d|911[17])\d{5}
    ("7781", ""),
    ("7839", ""),
    ("7911", "17"),
    // Ofcom's drama range: 07700 900000 to 07700 900999.
    ("7700900", ""),
];

/// Sorted, non-overlapping `[start, end)` ranges of 10-digit national numbers.
fn ranges() -> &'static [(u64, u64)] {
    static RANGES: OnceLock<Vec<(u64, u64)>> = OnceLock::new();
    RANGES.get_or_init(|| {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &(prefix, class) in MOBILE_PREFIXES {
            let digits = expand_class(class);
            let prefixes: Vec<String> = if digits.is_empty() {
                vec![prefix.to_string()]
            } else {
                digits.iter().map(|d| format!("{prefix}{d}")).collect()
            };
            for p in prefixes {
                let scale = 10u64.pow(10 - p.len() as u32);
                let start: u64 = p.parse::<u64>().expect("digits") * scale;
                ranges.push((start, start + scale));
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    })
}

/// `"0-35-9"` -> `['0','1','2','3','5','6','7','8','9']`.
fn expand_class(class: &str) -> Vec<char> {
    let chars: Vec<char> = class.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            out.extend(chars[i]..=chars[i + 2]);
            i += 3;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Whether a 10-digit national number is a UK mobile (or in the drama range).
pub fn is_mobile(national: u64) -> bool {
    let ranges = ranges();
    let i = ranges.partition_point(|&(start, _)| start <= national);
    i > 0 && national < ranges[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        assert!(is_mobile(7700900123)); // drama range
        assert!(!is_mobile(7700901000)); // just past it
        assert!(is_mobile(7723456789)); // Notify's test number
        assert!(is_mobile(7797712345)); // Jersey
        assert!(is_mobile(7797012345)); // Jersey, 797\d: once refused
        assert!(is_mobile(7781123456)); // Guernsey
        assert!(is_mobile(7624123456)); // Isle of Man
        assert!(!is_mobile(7012345678)); // personal number
        assert!(!is_mobile(7640123456)); // pager
        assert!(!is_mobile(1174960860)); // Bristol landline
        assert!(!is_mobile(8000000000));
    }

    #[test]
    fn class_expansion() {
        assert_eq!(
            expand_class("0-35-9"),
            ['0', '1', '2', '3', '5', '6', '7', '8', '9']
        );
        assert_eq!(expand_class("028"), ['0', '2', '8']);
        assert!(expand_class("").is_empty());
    }
}
