//! The boundary's one translation: the validator's answers, as the WIT
//! bindings give them, turned into the library's own types. Nothing outside
//! the sandbox layer sees a binding type.

use crate::bindings::presend::validator::types as wit;
use crate::error::Error;
use crate::history::{Attempt, Outcome};
use crate::numbers::{MobileNumber, NhsNumber};
use crate::report::{Columns, Identity, PatientVerdict, Reason, Status};

/// The columns a validator found.
pub(crate) fn columns(c: wit::Columns) -> Columns {
    let index = |i: u32| usize::try_from(i).unwrap_or(usize::MAX);
    Columns {
        headers: c.headers,
        nhs_number: index(c.nhs_number),
        mobile_number: index(c.mobile_number),
        date_of_birth: c.date_of_birth.map(index),
    }
}

/// A name and version, of the validator or of rules.
pub(crate) fn identity(id: wit::RulesIdentity) -> Identity {
    Identity {
        name: id.name,
        version: id.version,
    }
}

/// A reason a patient or a number was refused.
pub(crate) fn reason(r: wit::Reason) -> Reason {
    Reason {
        code: r.code.into(),
        message: r.message,
    }
}

/// A file the validator refused as a whole.
pub(crate) fn file_error(e: wit::FileError) -> Error {
    Error::File {
        code: e.code.into(),
        message: e.message,
        row: e.row,
    }
}

/// One patient's verdict (1.0.0 and 1.1.0): `Err` (naming the row, never
/// the value) for a number that is not in its form: the validator broke the
/// contract.
pub(crate) fn verdict(v: wit::Verdict) -> Result<PatientVerdict, String> {
    let row = v.row;
    let nhs_number = read(
        v.nhs_number,
        |n| NhsNumber::parse(&n),
        || format!("row {row} has an NHS number that is not 10 digits"),
    )?;
    let mobile_number = read(
        v.mobile_number,
        |n| MobileNumber::parse(&n),
        || format!("row {row} has a mobile number not in E.164 form"),
    )?;
    Ok(patient(
        row,
        nhs_number,
        mobile_number,
        v.status,
        v.reasons,
        v.success_probability,
        v.cells,
    ))
}

/// A compact verdict (1.2.0 on), its numbers written back as the strings
/// they stand for: `Err` (naming the row, never the value) for an integer
/// that is no NHS number's 10 digits or no UK mobile's national number: the
/// validator broke the contract.
pub(crate) fn compact(v: wit::CompactVerdict) -> Result<PatientVerdict, String> {
    let row = v.row;
    let nhs_number = read(v.nhs_number, NhsNumber::from_digits, || {
        format!("row {row} has an NHS number of more than 10 digits")
    })?;
    let mobile_number = read(v.mobile_number, MobileNumber::uk, || {
        format!("row {row} has a mobile number that is not a UK mobile's national number")
    })?;
    Ok(patient(
        row,
        nhs_number,
        mobile_number,
        v.status,
        v.reasons,
        v.success_probability,
        v.cells,
    ))
}

/// A page of verdicts as columns (1.4.0), verdict by verdict: `Err`
/// (naming a row or a column, never a value) when its columns differ in
/// length, a piece of its text is out of place, or a number is not in its
/// form: the validator broke the contract.
pub(crate) fn page(p: wit::VerdictPage) -> Result<Vec<PatientVerdict>, String> {
    let n = p.rows.len();
    for (column, len) in [
        ("statuses", p.statuses.len()),
        ("NHS numbers", p.nhs_numbers.len()),
        ("mobile numbers", p.mobile_numbers.len()),
        ("success probabilities", p.success_probabilities.len()),
        ("reason counts", p.reason_counts.len()),
        ("cell counts", p.cell_counts.len()),
    ] {
        if len != n {
            return Err(format!(
                "a page whose columns differ in length: rows {n}, {column} {len}"
            ));
        }
    }
    let mut pieces = Pieces {
        text: &p.text,
        ends: &p.text_ends,
        start: 0,
        taken: 0,
    };
    let mut verdicts = Vec::with_capacity(n);
    for i in 0..n {
        let row = p.rows[i];
        let given = |n: u64| (n != NO_NUMBER).then_some(n);
        let nhs_number = read(given(p.nhs_numbers[i]), NhsNumber::from_digits, || {
            format!("row {row} has an NHS number of more than 10 digits")
        })?;
        let mobile_number = read(given(p.mobile_numbers[i]), MobileNumber::uk, || {
            format!("row {row} has a mobile number that is not a UK mobile's national number")
        })?;
        let (reasons, cells) = (p.reason_counts[i], p.cell_counts[i]);
        if 2 * u64::from(reasons) + u64::from(cells) > pieces.left() as u64 {
            return Err(format!(
                "row {row} has more reasons and cells than its page's text has pieces left"
            ));
        }
        // Most verdicts are accepted, with neither.
        let reasons = if reasons == 0 {
            Vec::new()
        } else {
            (0..reasons)
                .map(|_| {
                    let code = pieces.next(row)?;
                    let message = pieces.next(row)?;
                    Ok(Reason {
                        code: code.into(),
                        message: message.to_string(),
                    })
                })
                .collect::<Result<_, String>>()?
        };
        let cells = if cells == 0 {
            Vec::new()
        } else {
            (0..cells)
                .map(|_| pieces.next(row).map(str::to_string))
                .collect::<Result<_, String>>()?
        };
        let probability = p.success_probabilities[i];
        verdicts.push(PatientVerdict {
            row,
            nhs_number,
            mobile_number,
            status: status(p.statuses[i]),
            reasons,
            success_probability: (!probability.is_nan()).then_some(probability),
            cells,
        });
    }
    if pieces.left() > 0 {
        return Err(format!(
            "a page whose text has more pieces than its verdicts' reasons and cells: {} left over",
            pieces.left()
        ));
    }
    Ok(verdicts)
}

/// What a page's number columns hold for a verdict without that number.
const NO_NUMBER: u64 = u64::MAX;

/// A page's text, piece by piece.
struct Pieces<'a> {
    text: &'a str,
    ends: &'a [u32],
    /// Where the next piece starts, and how many were taken.
    start: usize,
    taken: usize,
}

impl<'a> Pieces<'a> {
    fn left(&self) -> usize {
        self.ends.len() - self.taken
    }

    /// The next piece, for `row`'s verdict; the caller has checked there is
    /// one left.
    fn next(&mut self, row: u32) -> Result<&'a str, String> {
        let end = self.ends[self.taken] as usize;
        let piece = self.text.get(self.start..end).ok_or_else(|| {
            format!(
                "row {row} has a reason or cell ending at byte {end} of its page's text, which is before the piece's start, past the text's end or inside a character"
            )
        })?;
        self.start = end;
        self.taken += 1;
        Ok(piece)
    }
}

/// A number the validator gave, read by `read`: `Err(broken())` when it is
/// not in its form. Inlined by force: once a verdict for each number, and
/// left to itself the compiler called it, 0.5% of a batch (callgrind).
#[inline(always)]
fn read<T, N>(
    given: Option<T>,
    read: impl FnOnce(T) -> Option<N>,
    broken: impl FnOnce() -> String,
) -> Result<Option<N>, String> {
    given.map(|n| read(n).ok_or_else(broken)).transpose()
}

/// The verdict both forms stand for, once their numbers are read.
fn patient(
    row: u32,
    nhs_number: Option<NhsNumber>,
    mobile_number: Option<MobileNumber>,
    status_of: wit::Status,
    reasons: Vec<wit::Reason>,
    success_probability: Option<f64>,
    cells: Vec<String>,
) -> PatientVerdict {
    PatientVerdict {
        row,
        nhs_number,
        mobile_number,
        status: status(status_of),
        reasons: reasons.into_iter().map(reason).collect(),
        success_probability,
        cells,
    }
}

/// A status as the library has it.
fn status(s: wit::Status) -> Status {
    match s {
        wit::Status::Accepted => Status::Accepted,
        wit::Status::Rejected => Status::Rejected,
        wit::Status::LikelyToFail => Status::LikelyToFail,
    }
}

/// One attempt of the store's answer as the contract has it, naming its
/// number by position in the numbers asked about.
pub(crate) fn attempt(number: u32, a: Attempt) -> wit::Attempt {
    wit::Attempt {
        number,
        sent_at: a.sent_at,
        outcome: outcome(a.outcome),
    }
}

/// An outcome as the contract has it.
pub(crate) fn outcome(o: Outcome) -> wit::Outcome {
    match o {
        Outcome::Delivered => wit::Outcome::Delivered,
        Outcome::Failed => wit::Outcome::Failed,
        Outcome::PermanentFailure => wit::Outcome::PermanentFailure,
        Outcome::TemporaryFailure => wit::Outcome::TemporaryFailure,
        Outcome::TechnicalFailure => wit::Outcome::TechnicalFailure,
        Outcome::Pending => wit::Outcome::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(nhs_number: &str, mobile_number: &str) -> wit::Verdict {
        wit::Verdict {
            row: 7,
            nhs_number: Some(nhs_number.into()),
            mobile_number: Some(mobile_number.into()),
            status: wit::Status::Rejected,
            reasons: Vec::new(),
            success_probability: None,
            cells: Vec::new(),
        }
    }

    fn compact_one(nhs_number: u64, mobile_number: u64) -> wit::CompactVerdict {
        wit::CompactVerdict {
            row: 7,
            nhs_number: Some(nhs_number),
            mobile_number: Some(mobile_number),
            status: wit::Status::Rejected,
            reasons: Vec::new(),
            success_probability: None,
            cells: Vec::new(),
        }
    }

    #[test]
    fn both_forms_read_to_the_same_numbers() {
        let from_full = verdict(full("0000000019", "+447700900123")).expect("in form");
        let from_compact = compact(compact_one(19, 7_700_900_123)).expect("in form");
        assert_eq!(from_full, from_compact);
        assert_eq!(from_full.nhs_number.as_deref(), Some("0000000019"));
        assert_eq!(from_full.mobile_number.as_deref(), Some("+447700900123"));
    }

    /// Worked by hand: an accepted verdict, then a rejected one with one
    /// reason (code, message) and two cells, "é" two bytes of them.
    fn two_verdicts() -> wit::VerdictPage {
        wit::VerdictPage {
            rows: vec![2, 4],
            statuses: vec![wit::Status::Accepted, wit::Status::Rejected],
            nhs_numbers: vec![19, u64::MAX],
            mobile_numbers: vec![7_700_900_123, u64::MAX],
            success_probabilities: vec![0.5, f64::NAN],
            reason_counts: vec![0, 1],
            cell_counts: vec![0, 2],
            text: "invalid-nhs-numberFix itxé".into(),
            text_ends: vec![18, 24, 25, 27],
        }
    }

    #[test]
    fn a_page_of_columns_reads_verdict_by_verdict() {
        let page = page(two_verdicts()).expect("in form");
        let accepted = compact(wit::CompactVerdict {
            row: 2,
            nhs_number: Some(19),
            mobile_number: Some(7_700_900_123),
            status: wit::Status::Accepted,
            reasons: Vec::new(),
            success_probability: Some(0.5),
            cells: Vec::new(),
        })
        .expect("in form");
        let rejected = PatientVerdict {
            row: 4,
            nhs_number: None,
            mobile_number: None,
            status: Status::Rejected,
            reasons: vec![Reason {
                code: "invalid-nhs-number".into(),
                message: "Fix it".into(),
            }],
            success_probability: None,
            cells: vec!["x".into(), "é".into()],
        };
        assert_eq!(page, [accepted, rejected]);
    }

    /// Each way the parts of a page can fail to fit is refused, naming a
    /// row or a column, and never reads past what the page holds.
    #[test]
    fn a_page_whose_parts_do_not_fit_is_refused() {
        let broken = |f: fn(&mut wit::VerdictPage)| {
            let mut p = two_verdicts();
            f(&mut p);
            page(p).unwrap_err()
        };
        assert_eq!(
            broken(|p| {
                p.cell_counts.pop();
            }),
            "a page whose columns differ in length: rows 2, cell counts 1"
        );
        assert_eq!(
            broken(|p| p.reason_counts[1] = u32::MAX),
            "row 4 has more reasons and cells than its page's text has pieces left"
        );
        let inside = "row 4 has a reason or cell ending at byte 26 of its page's text";
        assert!(broken(|p| p.text_ends[3] = 26).starts_with(inside));
        let backwards = "row 4 has a reason or cell ending at byte 17";
        assert!(broken(|p| p.text_ends[1] = 17).starts_with(backwards));
        let past = "row 4 has a reason or cell ending at byte 28";
        assert!(broken(|p| p.text_ends[3] = 28).starts_with(past));
        assert_eq!(
            broken(|p| p.text_ends.push(27)),
            "a page whose text has more pieces than its verdicts' reasons and cells: 1 left over"
        );
        assert_eq!(
            broken(|p| p.nhs_numbers[0] = 10_000_000_000),
            "row 2 has an NHS number of more than 10 digits"
        );
        assert_eq!(
            broken(|p| p.mobile_numbers[0] = 2_079_460_000),
            "row 2 has a mobile number that is not a UK mobile's national number"
        );
    }

    /// A number out of its form breaks the contract whatever the status:
    /// the error names the row and never the value.
    #[test]
    fn numbers_out_of_form_are_refused_by_row() {
        for (v, expected) in [
            (
                full("999000001", "+447700900123"),
                "row 7 has an NHS number that is not 10 digits",
            ),
            (
                full("9990000018", "07700900123"),
                "row 7 has a mobile number not in E.164 form",
            ),
        ] {
            assert_eq!(verdict(v).unwrap_err(), expected);
        }
        for (v, expected) in [
            (
                compact_one(10_000_000_000, 7_700_900_123),
                "row 7 has an NHS number of more than 10 digits",
            ),
            (
                compact_one(19, 2_079_460_000),
                "row 7 has a mobile number that is not a UK mobile's national number",
            ),
        ] {
            assert_eq!(compact(v).unwrap_err(), expected);
        }
    }
}
