//! The boundary's one translation: the validator's answers, as the WIT
//! bindings give them, turned into the library's own types. Nothing outside
//! the sandbox layer sees a binding type.

use crate::bindings::presend::validator::types as wit;
use crate::error::Error;
use crate::history::{Attempt, Outcome, is_uk_mobile, push_ten_digits, uk_mobile_e164};
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

/// One patient's verdict.
pub(crate) fn verdict(v: wit::Verdict) -> PatientVerdict {
    PatientVerdict {
        row: v.row,
        nhs_number: v.nhs_number,
        mobile_number: v.mobile_number,
        status: match v.status {
            wit::Status::Accepted => Status::Accepted,
            wit::Status::Rejected => Status::Rejected,
            wit::Status::LikelyToFail => Status::LikelyToFail,
        },
        reasons: v.reasons.into_iter().map(reason).collect(),
        success_probability: v.success_probability,
        cells: v.cells,
    }
}

/// The NHS number whose 10 digits `n` is, zeros first: `None` past 10
/// digits.
fn nhs_number(n: u64) -> Option<String> {
    (n < 10_000_000_000).then(|| {
        let mut out = String::with_capacity(10);
        push_ten_digits(&mut out, n);
        out
    })
}

/// A 1.2.0 compact verdict as the verdict it stands for, its numbers
/// written back as strings; `Err` (naming the row, never the value) for an
/// integer that is no NHS number's 10 digits or no UK mobile's national
/// number: the validator broke the contract.
pub(crate) fn expand(v: wit::CompactVerdict) -> Result<wit::Verdict, String> {
    let row = v.row;
    let nhs_number = v
        .nhs_number
        .map(|n| {
            nhs_number(n)
                .ok_or_else(|| format!("row {row} has an NHS number of more than 10 digits"))
        })
        .transpose()?;
    let mobile_number = match v.mobile_number {
        Some(n) if !is_uk_mobile(n) => {
            return Err(format!(
                "row {row} has a mobile number that is not a UK mobile's national number"
            ));
        }
        n => n.map(uk_mobile_e164),
    };
    Ok(wit::Verdict {
        row,
        nhs_number,
        mobile_number,
        status: v.status,
        reasons: v.reasons,
        success_probability: v.success_probability,
        cells: v.cells,
    })
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

    /// The oracle is the standard library's own formatting.
    #[test]
    fn numbers_are_written_as_std_writes_them() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut samples = vec![0, 1, 9, 10, 18, 999_999_999, 7_000_000_000, 9_999_999_999];
        for _ in 0..10_000 {
            // xorshift: any spread of values below 10^10.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            samples.push(state % 10_000_000_000);
        }
        for n in samples {
            assert_eq!(nhs_number(n), Some(format!("{n:010}")));
            let e164 = uk_mobile_e164(n);
            if (7_000_000_000..8_000_000_000).contains(&n) {
                assert_eq!(e164, format!("+44{n}"));
            } else {
                assert_eq!(e164, "");
            }
        }
        assert_eq!(nhs_number(10_000_000_000), None);
        assert_eq!(uk_mobile_e164(70_000_000_000), "");
    }
}
