//! Properties of the validation core over any file: never a panic, the same
//! bytes give the same verdicts however they arrive, and a file that parses
//! gives exactly one verdict per non-blank data row, numbered as a
//! spreadsheet numbers it.

use presend_plugin::cell::clean_cell;
use presend_plugin::mobile::Mobile;
use presend_plugin::{Attempt, Batch, BatchResult, FileError, Outcome, Rules};
use proptest::prelude::*;

/// 2026-11-27T09:00:00Z.
const NOW: i64 = 1_795_770_000;

/// Runs a batch over `bytes`, pushed in chunks of `chunk` bytes, with no history.
fn run(bytes: &[u8], chunk: usize) -> Result<BatchResult, FileError> {
    let mut batch = Batch::new(Rules::default_rules(), NOW);
    let pushed = bytes
        .chunks(chunk.max(1))
        .try_for_each(|part| batch.push(part));
    let finished = batch.finish(|_| Vec::new());
    // A problem found while pushing is the batch's answer.
    if let Err(e) = pushed {
        assert_eq!(finished.as_ref().err(), Some(&e));
    }
    finished
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
        // However the file is cut into chunks, the answer is the same, but
        // for how many numbers were looked up: each chunk's rows are asked
        // about as they arrive, so a number in two chunks is asked twice.
        let cut = run(&bytes, chunk).map(|r| BatchResult { numbers_looked_up: 0, ..r });
        prop_assert_eq!(cut, whole.clone().map(|r| BatchResult { numbers_looked_up: 0, ..r }));
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
        // A patient not accepted carries the row's cells as written.
        for v in result.verdicts.iter().filter(|v| !v.cells.is_empty()) {
            prop_assert_eq!(&v.cells, &rows[v.row as usize - 2], "file: {:?}", text);
        }
    }

    #[test]
    fn verdicts_taken_page_by_page_are_those_of_finish(
        bytes in file_like_bytes(),
        chunk in 1usize..64,
        page in 1usize..8,
    ) {
        let mut whole = Batch::new(Rules::default_rules(), NOW);
        let _ = whole.push(&bytes);
        let expected = whole.finish(|numbers| failing(numbers, &mut Vec::new()));

        let mut batch = Batch::new(Rules::default_rules(), NOW);
        let mut verdicts = Vec::new();
        let mut asked = Vec::new();
        let mut result = Ok(());
        for part in bytes.chunks(chunk) {
            result = batch.push(part).and_then(|()| {
                verdicts.extend(batch.next_verdicts(page, |n| failing(n, &mut asked))?);
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|()| batch.end()).and_then(|()| loop {
            let next = batch.next_verdicts(page, |n| failing(n, &mut asked))?;
            if next.is_empty() {
                break Ok(());
            }
            verdicts.extend(next);
        });
        match expected {
            Ok(expected) => {
                prop_assert_eq!(result, Ok(()));
                prop_assert_eq!(verdicts, expected.verdicts);
                prop_assert!(batch.is_done());
            }
            Err(e) => prop_assert_eq!(result, Err(e)),
        }
        // No more questions than pages, each about distinct numbers, sorted.
        prop_assert!(asked.len() <= verdicts_pages(&bytes, chunk));
        for numbers in &asked {
            prop_assert!(!numbers.is_empty());
            prop_assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{:?}", numbers);
        }
    }
}

/// An upper bound on the pages a paged run can take: one a row, and one
/// empty page after each chunk and at the end.
fn verdicts_pages(bytes: &[u8], chunk: usize) -> usize {
    let rows = 1 + bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    rows + bytes.len() / chunk + 2
}

/// History in which every number ending in an odd digit had one failed
/// message a day ago; records what was asked.
fn failing(numbers: &[Mobile], asked: &mut Vec<Vec<Mobile>>) -> Vec<(u32, Attempt)> {
    asked.push(numbers.to_vec());
    numbers
        .iter()
        .enumerate()
        .filter(|(_, n)| n.digits() % 2 == 1)
        .map(|(i, _)| {
            let attempt = Attempt {
                sent_at: NOW - 86_400,
                outcome: Outcome::Failed,
            };
            (i as u32, attempt)
        })
        .collect()
}
