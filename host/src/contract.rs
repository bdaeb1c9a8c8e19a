//! What the host checks of a validator's answer before believing any of it:
//! that it fits the file it was given. A validator is deployed code; a broken
//! one must not be able to pass a batch off as accepted.
//!
//! The host does not parse the file itself (that is the validator's job, and
//! a second parser would drift from the first), so the checks are the ones
//! that need no parsing: rows exist in the file, come in file order, once
//! each; an accepted patient has an NHS number and a mobile to send to. A
//! validator that silently skips a row cannot be caught this way.
//!
//! Messages name rows and counts, never cell values: they are logged.

use crate::report::{PatientVerdict, Status};

/// Checks `verdicts` against a file of at most `max_rows` rows.
#[cfg(test)]
pub(crate) fn check(verdicts: &[PatientVerdict], max_rows: usize) -> Result<(), String> {
    Pages::default().check(verdicts, max_rows)
}

/// Checks an answer that comes in pages: each page against the rows the
/// file given so far can have, and against the pages before it.
#[derive(Debug)]
pub(crate) struct Pages {
    /// The row of the last verdict (1, the header, before any).
    previous: u32,
    /// Verdicts so far.
    verdicts: usize,
}

impl Default for Pages {
    fn default() -> Pages {
        Pages {
            previous: 1,
            verdicts: 0,
        }
    }
}

impl Pages {
    /// Checks the next page; `max_rows` bounds the rows of the file given
    /// so far (a row's verdict can only come once its text has).
    pub(crate) fn check(
        &mut self,
        verdicts: &[PatientVerdict],
        max_rows: usize,
    ) -> Result<(), String> {
        // Row 1 is the header at the earliest.
        let data_rows = max_rows.saturating_sub(1);
        self.verdicts += verdicts.len();
        if self.verdicts > data_rows {
            return Err(format!(
                "{} verdicts for a file of at most {data_rows} patient rows",
                self.verdicts
            ));
        }
        for v in verdicts {
            let row = v.row;
            let previous = self.previous;
            if row < 2 {
                return Err(format!(
                    "a verdict for row {row}, but row 1 is the header at the earliest"
                ));
            }
            if row as usize > max_rows {
                return Err(format!(
                    "a verdict for row {row}, past the end of a file of at most {max_rows} rows"
                ));
            }
            if row == previous {
                return Err(format!("row {row} has more than one verdict"));
            }
            if row < previous {
                return Err(format!(
                    "a verdict for row {row} after one for row {previous}: verdicts must be one per row, in file order"
                ));
            }
            self.previous = row;
            // The numbers' forms were checked as they were read
            // (`lift`): here, only that they are there.
            if v.status != Status::Rejected {
                if v.mobile_number.is_none() {
                    return Err(format!(
                        "row {row} is not rejected but has no mobile number in E.164 form"
                    ));
                }
                if v.nhs_number.is_none() {
                    return Err(format!(
                        "row {row} is not rejected but has no 10-digit NHS number"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Line-break bytes in `chunk`. The most spreadsheet rows a file can have
/// is one more than its line-break bytes, summed chunk by chunk: an upper
/// bound in any encoding (UTF-16's line breaks hold the same bytes; `\r\n`
/// counts twice).
///
/// Counted in blocks of 255 bytes into a `u8` each, which the compiler
/// turns into vector compares: the `filter(..).count()` it replaced went
/// byte by byte, 1.7% of a warm batch without history (callgrind).
pub(crate) fn line_breaks(chunk: &[u8]) -> usize {
    chunk
        .chunks(255)
        .map(|block| {
            let breaks: u8 = block
                .iter()
                .map(|&b| u8::from(b == b'\n') + u8::from(b == b'\r'))
                .fold(0, |n, b| n.wrapping_add(b));
            usize::from(breaks)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::{MobileNumber, NhsNumber};

    fn verdict(row: u32, status: Status) -> PatientVerdict {
        PatientVerdict {
            row,
            nhs_number: NhsNumber::parse("9990000018"),
            mobile_number: MobileNumber::uk(7_700_900_123),
            status,
            reasons: Vec::new(),
            success_probability: None,
            cells: Vec::new(),
        }
    }

    /// The oracle is the plain count, byte by byte, on every length
    /// around the block size.
    #[test]
    fn line_breaks_in_blocks_counts_as_byte_by_byte() {
        let text: Vec<u8> = (0..2000u32)
            .map(|i| match i % 7 {
                0 => b'\n',
                3 => b'\r',
                _ => b'a' + (i % 26) as u8,
            })
            .collect();
        let all_breaks = vec![b'\n'; 1000];
        for len in (0..600).chain([1999, 2000]) {
            let plain = |t: &[u8]| t.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
            assert_eq!(line_breaks(&text[..len]), plain(&text[..len]), "{len}");
            let len = len.min(all_breaks.len());
            assert_eq!(line_breaks(&all_breaks[..len]), len);
        }
    }

    #[test]
    fn line_breaks_counts_every_kind_of_line_break() {
        assert_eq!(line_breaks(b""), 0);
        assert_eq!(line_breaks(b"a\nb\rc\r\nd"), 4);
        // UTF-16LE "a\nb": the line break's bytes are 0x0A 0x00.
        assert_eq!(line_breaks(&[0xFF, 0xFE, b'a', 0, b'\n', 0, b'b', 0]), 1);
    }

    #[test]
    fn a_fitting_answer_passes() {
        let verdicts = [
            verdict(2, Status::Accepted),
            verdict(4, Status::LikelyToFail),
        ];
        assert_eq!(check(&verdicts, 4), Ok(()));
        assert_eq!(check(&[], 1), Ok(()));
    }

    #[test]
    fn each_misfit_is_named_by_row() {
        let accepted = |row| verdict(row, Status::Accepted);
        let cases: [(Vec<PatientVerdict>, &str); 5] = [
            (
                vec![accepted(2), accepted(3), accepted(3)],
                "row 3 has more than one verdict",
            ),
            (vec![accepted(2), accepted(9)], "row 9, past the end"),
            (vec![accepted(3), accepted(2)], "row 2 after one for row 3"),
            (vec![accepted(1)], "row 1 is the header"),
            (
                (2..=6).map(accepted).collect(),
                "5 verdicts for a file of at most 4",
            ),
        ];
        for (verdicts, expected) in cases {
            let error = check(&verdicts, 5).unwrap_err();
            assert!(
                error.contains(expected),
                "{error:?} should say {expected:?}"
            );
        }
    }

    #[test]
    fn only_rejected_patients_may_lack_numbers() {
        let mut v = verdict(2, Status::Accepted);
        v.mobile_number = None;
        assert!(check(&[v.clone()], 3).unwrap_err().contains("E.164"));
        v.status = Status::Rejected;
        assert_eq!(check(&[v.clone()], 3), Ok(()));
        let mut v = verdict(2, Status::LikelyToFail);
        v.nhs_number = None;
        assert!(check(&[v], 3).unwrap_err().contains("NHS number"));
    }

    #[test]
    fn pages_are_checked_against_the_pages_before() {
        let accepted = |row| verdict(row, Status::Accepted);
        let mut pages = Pages::default();
        assert_eq!(pages.check(&[accepted(2), accepted(3)], 3), Ok(()));
        // Row 3 again, a page later.
        let error = pages.check(&[accepted(3)], 9).unwrap_err();
        assert!(error.contains("row 3 has more than one verdict"), "{error}");
        let mut pages = Pages::default();
        assert_eq!(pages.check(&[accepted(2)], 3), Ok(()));
        // Row 4 before the file given so far has it.
        let error = pages.check(&[accepted(4)], 3).unwrap_err();
        assert!(error.contains("past the end"), "{error}");
    }
}
