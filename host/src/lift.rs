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
    status: wit::Status,
    reasons: Vec<wit::Reason>,
    success_probability: Option<f64>,
    cells: Vec<String>,
) -> PatientVerdict {
    PatientVerdict {
        row,
        nhs_number,
        mobile_number,
        status: match status {
            wit::Status::Accepted => Status::Accepted,
            wit::Status::Rejected => Status::Rejected,
            wit::Status::LikelyToFail => Status::LikelyToFail,
        },
        reasons: reasons.into_iter().map(reason).collect(),
        success_probability,
        cells,
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
