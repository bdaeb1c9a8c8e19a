//! The boundary's one translation: the validator's answers, as the WIT
//! bindings give them, turned into the library's own types. Nothing outside
//! the sandbox layer sees a binding type.

use crate::bindings::presend::validator::types as wit;
use crate::error::Error;
use crate::history::{Attempt, Outcome};
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

/// One attempt of the store's answer as the contract has it, naming its
/// number by position in the numbers asked about.
pub(crate) fn attempt(number: u32, a: Attempt) -> wit::Attempt {
    wit::Attempt {
        number,
        sent_at: a.sent_at,
        outcome: outcome(a.outcome),
    }
}

fn outcome(o: Outcome) -> wit::Outcome {
    match o {
        Outcome::Delivered => wit::Outcome::Delivered,
        Outcome::Failed => wit::Outcome::Failed,
        Outcome::PermanentFailure => wit::Outcome::PermanentFailure,
        Outcome::TemporaryFailure => wit::Outcome::TemporaryFailure,
        Outcome::TechnicalFailure => wit::Outcome::TechnicalFailure,
        Outcome::Pending => wit::Outcome::Pending,
    }
}
