//! Records with no quote in them, read eight bytes at a time: nearly every
//! record of a patient file. csv-core reads a byte at a time, and in the
//! component each byte is a loop iteration with its epoch check; its reader
//! was 10–12% of a warm batch's samples.
//!
//! [`read_record`] gives exactly what csv-core gives for such a record (its
//! cells one after another without the delimiters, and where each ends), or
//! nothing, and then csv-core reads it: a record with a `"` in it, or whose
//! line break is not in the text yet. `table::tests` checks the two against
//! each other on random files.

/// A byte in each of a word's eight lanes.
const LOW: u64 = u64::from_le_bytes([1; 8]);
/// The top bit of each lane.
const HIGH: u64 = LOW << 7;

/// Where `word` has `byte`: the top bit of each such lane. The lowest one
/// set is exact; lanes above it may be set falsely, so only the lowest is
/// ever used.
fn lanes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (LOW * u64::from(byte));
    x.wrapping_sub(LOW) & !x & HIGH
}

/// The eight bytes of `text` at `at`, the first in the lowest lane.
fn word(text: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&text[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// The first byte from `from` that `lanes` finds or `is` says is one, before
/// `end`.
fn find(
    text: &[u8],
    from: usize,
    end: usize,
    lanes: impl Fn(u64) -> u64,
    is: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut at = from;
    while at + 8 <= end {
        let found = lanes(word(text, at));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    (at..end).find(|&i| is(text[i]))
}

/// Reads the record at the start of `text` (a record starts there, not a
/// line break) into `fields` and `ends` from their start, as csv-core's
/// `read_record` would with `delimiter`: returns how many bytes it read
/// (through the `\n` or `\r` that ends the record), how many bytes of cells
/// and how many cells it wrote. `None`, having read nothing, when a `"`
/// comes before the line break or there is no line break. Grows `fields`
/// and `ends` as needed.
pub fn read_record(
    text: &[u8],
    delimiter: u8,
    fields: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Option<(usize, usize, usize)> {
    let special = |w: u64| lanes_equal(w, b'\n') | lanes_equal(w, b'\r') | lanes_equal(w, b'"');
    let stop = find(text, 0, text.len(), special, |b| {
        matches!(b, b'\n' | b'\r' | b'"')
    })?;
    if text[stop] == b'"' {
        return None;
    }
    // Room for the cells, and for the last eight-byte store to overrun.
    if fields.len() < stop + 8 {
        fields.resize((stop + 8).max(fields.len() * 2), 0);
    }
    let (mut from, mut out, mut cells) = (0, 0, 0);
    loop {
        let to = find(
            text,
            from,
            stop,
            |w| lanes_equal(w, delimiter),
            |b| b == delimiter,
        )
        .unwrap_or(stop);
        // Eight bytes at a time: a `copy_from_slice` of a few bytes is a
        // call out of the component (`memory.copy`) for each cell.
        let mut at = from;
        while at < to {
            if at + 8 <= text.len() {
                fields[out..out + 8].copy_from_slice(&text[at..at + 8]);
            } else {
                fields[out..out + (to - at)].copy_from_slice(&text[at..to]);
            }
            let n = (to - at).min(8);
            at += n;
            out += n;
        }
        if cells == ends.len() {
            ends.resize((cells * 2).max(8), 0);
        }
        ends[cells] = out;
        cells += 1;
        if to == stop {
            return Some((stop + 1, out, cells));
        }
        from = to + 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rules::Rules;
    use crate::table::{Columns, FileError, Reader};

    /// What a reader made of `text` given `chunk` bytes at a time: each
    /// data row (its number, cells and whether it repeats the header), and
    /// the columns or the file's error.
    type Read = (
        Vec<(u32, Vec<String>, bool)>,
        Result<Option<Columns>, FileError>,
    );

    fn read_all(mut reader: Reader, text: &[u8], chunk: usize) -> Read {
        let rules = Rules::default_rules();
        let mut rows = Vec::new();
        let mut each = |_: &Columns, r: crate::table::Row<'_>| {
            let cells = r.record.iter().map(String::from).collect();
            rows.push((r.row, cells, r.repeats_header));
        };
        let mut result = Ok(());
        for piece in text.chunks(chunk) {
            reader.text_mut().extend_from_slice(piece);
            result = result.and_then(|()| reader.read(&rules, false, &mut each));
        }
        let result = result.and_then(|()| reader.read(&rules, true, &mut each));
        let columns = reader.columns().cloned();
        (rows, result.map(|()| columns))
    }

    /// A header the reader accepts, then anything made of the bytes that
    /// matter to CSV (both delimiters, quotes, every line break) and some
    /// that do not, multi-byte ones among them.
    fn file() -> impl Strategy<Value = String> {
        let header = prop_oneof![
            Just("NHS Number,Mobile,Name\n"),
            Just("NHS Number;Mobile\r\n"),
            Just("\u{feff}NHS Number,Mobile\r"),
        ];
        let body = proptest::collection::vec(
            prop_oneof![
                Just(","),
                Just(";"),
                Just("\""),
                Just("\n"),
                Just("\r"),
                Just("\r\n"),
                Just(" "),
                Just("9990000018"),
                Just("07700 900123"),
                Just("NHS Number"),
                Just("é"),
                Just("x"),
            ],
            0..120,
        );
        (header, body).prop_map(|(h, b)| format!("{h}{}", b.concat()))
    }

    proptest! {
        #[test]
        fn word_at_a_time_reads_every_file_as_csv_core_does(
            text in file(),
            chunk in 1usize..64,
        ) {
            let bytes = text.as_bytes();
            let plain = read_all(Reader::new(), bytes, chunk);
            let core = read_all(Reader::new().csv_core_only(), bytes, chunk);
            prop_assert_eq!(&plain, &core, "{:?} in chunks of {}", text, chunk);
            let whole = read_all(Reader::new(), bytes, bytes.len().max(1));
            prop_assert_eq!(&whole, &core, "{:?} whole", text);
        }
    }

    fn read(text: &str) -> Option<(usize, Vec<String>)> {
        let (mut fields, mut ends) = (Vec::new(), Vec::new());
        let (read, out, cells) = read_record(text.as_bytes(), b',', &mut fields, &mut ends)?;
        let mut start = 0;
        let cells = ends[..cells]
            .iter()
            .map(|&end| {
                let cell = String::from_utf8(fields[start..end].to_vec()).unwrap();
                start = end;
                cell
            })
            .collect();
        assert_eq!(start, out);
        Some((read, cells))
    }

    #[test]
    fn cells_end_at_delimiters_and_the_record_at_its_line_break() {
        assert_eq!(
            read("9990000018,Mrs,Ann Smith,07700 900123\r\nnext"),
            Some((
                38,
                vec![
                    "9990000018".into(),
                    "Mrs".into(),
                    "Ann Smith".into(),
                    "07700 900123".into()
                ]
            ))
        );
        assert_eq!(
            read(",,\n"),
            Some((3, vec![String::new(), String::new(), String::new()]))
        );
        assert_eq!(read("a\rb"), Some((2, vec!["a".into()])));
        assert_eq!(read("zoë,ŵ\n"), Some((8, vec!["zoë".into(), "ŵ".into()])));
    }

    #[test]
    fn a_quote_or_no_line_break_is_left_to_csv_core() {
        assert_eq!(read("a,\"b\",c\n"), None);
        assert_eq!(read("a,b,c and no line break yet"), None);
        // A quote after the line break is the next record's.
        assert_eq!(
            read("a,b\n\"c\"\n"),
            Some((4, vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn lanes_find_the_first_match_exactly() {
        for at in 0..8 {
            let mut bytes = [b'x'; 8];
            bytes[at] = b',';
            // The byte above a match may be flagged falsely (the borrow
            // from the match's lane): the lowest must still be the match.
            if at < 7 {
                bytes[at + 1] = b',' + 1;
            }
            let found = lanes_equal(u64::from_le_bytes(bytes), b',');
            assert_eq!(found.trailing_zeros() as usize / 8, at, "{bytes:?}");
        }
        assert_eq!(lanes_equal(u64::from_le_bytes([0xAC; 8]), b','), 0);
    }
}
