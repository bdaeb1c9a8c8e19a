//! Properties of the validation core over any file: never a panic, the same
//! bytes give the same verdicts however they arrive, and a file that parses
//! gives exactly one verdict per non-blank data row, numbered as a
//! spreadsheet numbers it.

use presend_plugin::cell::clean_cell;
use presend_plugin::{Batch, BatchResult, FileError, Rules};
use proptest::prelude::*;

/// 2026-11-27T09:00:00Z.
const NOW: i64 = 1_795_770_000;

/// Runs a batch over `bytes`, pushed in chunks of `chunk` bytes, with no history.
fn run(bytes: &[u8], chunk: usize) -> Result<BatchResult, FileError> {
    let mut batch = Batch::new(Rules::default_rules(), NOW);
    for part in bytes.chunks(chunk.max(1)) {
        batch.push(part);
    }
    batch.finish(|_| Vec::new())
}

/// Bytes that look like a patient file often enough to get past the header.
fn file_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"NHS Number,Mobile,Date of Birth\n".to_vec()),
        Just(b"9990000018".to_vec()),
        Just(b"07700 900123".to_vec()),
        Just(b"01/02/1980".to_vec()),
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xFF\xFE".to_vec()),
        Just(vec![0u8]),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

/// A cell as a spreadsheet might hold it: anything, including the
/// characters CSV must quote and ones `clean_cell` removes.
fn cell() -> impl Strategy<Value = String> {
    prop::string::string_regex("[ a-zA-Z0-9,;\"\n\r\té\u{200B}\u{A0}+]{0,10}").unwrap()
}

/// Writes a cell for `delimiter`, quoting it when CSV requires.
fn quote(cell: &str, delimiter: char) -> String {
    if cell.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_give_a_file_error_or_verdicts_in_row_order(
        bytes in prop_oneof![file_like_bytes(), prop::collection::vec(any::<u8>(), 0..400)],
        chunk in 1usize..64,
    ) {
        let whole = run(&bytes, bytes.len());
        // However the file is cut into chunks, the answer is the same.
        prop_assert_eq!(&run(&bytes, chunk), &whole);
        if let Ok(result) = whole {
            let lines = 1 + bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
            let mut previous = 1;
            for v in &result.verdicts {
                prop_assert!(v.row > previous, "rows {} then {}", previous, v.row);
                prop_assert!(v.row as usize <= lines);
                previous = v.row;
            }
        }
    }

    #[test]
    fn one_verdict_per_non_blank_row(
        rows in prop::collection::vec(prop::collection::vec(cell(), 0..4), 0..30),
        delimiter in prop::sample::select(vec![',', ';', '\t']),
        line_end in prop::sample::select(vec!["\n", "\r\n", "\r"]),
    ) {
        let d = delimiter.to_string();
        let mut text = ["NHS Number", "Mobile", "Date of Birth"].join(&d);
        text.push_str(line_end);
        for cells in &rows {
            let quoted: Vec<String> = cells.iter().map(|c| quote(c, delimiter)).collect();
            text.push_str(&quoted.join(&d));
            text.push_str(line_end);
        }
        let result = run(text.as_bytes(), 7).expect("a file with a header parses");
        let expected: Vec<u32> = rows
            .iter()
            .enumerate()
            .filter(|(_, cells)| cells.iter().any(|c| !clean_cell(c).is_empty()))
            .map(|(i, _)| 2 + i as u32)
            .collect();
        let got: Vec<u32> = result.verdicts.iter().map(|v| v.row).collect();
        prop_assert_eq!(got, expected, "file: {:?}", text);
    }
}
