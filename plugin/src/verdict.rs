//! What the validator says about each patient.

use std::borrow::Cow;

/// A stable reason code. These strings are a contract: platforms match on
/// them, practices see them in downloads. Never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// The NHS number cell is empty.
    MissingNhsNumber,
    /// Wrong length, characters, or check digit.
    InvalidNhsNumber,
    /// An earlier row has the same NHS number (the first stays).
    DuplicateNhsNumber,
    /// The mobile number cell is empty.
    MissingMobileNumber,
    /// Letters, too short, too long, or not a phone number at all.
    InvalidMobileNumber,
    /// A landline, 070 personal, pager, premium, freephone or international number.
    NotAUkMobile,
    /// The date of birth cell is empty (only when the file has the column).
    MissingDateOfBirth,
    /// Not a real date, in the future, or before 1900.
    InvalidDateOfBirth,
    /// The number's last message failed.
    LikelyToFail,
    /// The row is the header row again, not a patient.
    RepeatedHeader,
}

impl ReasonCode {
    /// Every code, in the order reasons are listed.
    pub const ALL: [ReasonCode; 10] = [
        ReasonCode::MissingNhsNumber,
        ReasonCode::InvalidNhsNumber,
        ReasonCode::DuplicateNhsNumber,
        ReasonCode::MissingMobileNumber,
        ReasonCode::InvalidMobileNumber,
        ReasonCode::NotAUkMobile,
        ReasonCode::MissingDateOfBirth,
        ReasonCode::InvalidDateOfBirth,
        ReasonCode::LikelyToFail,
        ReasonCode::RepeatedHeader,
    ];

    /// The code's stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::MissingNhsNumber => "missing-nhs-number",
            ReasonCode::InvalidNhsNumber => "invalid-nhs-number",
            ReasonCode::DuplicateNhsNumber => "duplicate-nhs-number",
            ReasonCode::MissingMobileNumber => "missing-mobile-number",
            ReasonCode::InvalidMobileNumber => "invalid-mobile-number",
            ReasonCode::NotAUkMobile => "not-a-uk-mobile",
            ReasonCode::MissingDateOfBirth => "missing-date-of-birth",
            ReasonCode::InvalidDateOfBirth => "invalid-date-of-birth",
            ReasonCode::LikelyToFail => "likely-to-fail",
            ReasonCode::RepeatedHeader => "repeated-header",
        }
    }
}

/// One reason a patient was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The stable code.
    pub code: ReasonCode,
    /// Plain English for the practice: what is wrong and what to do.
    pub message: Cow<'static, str>,
}

impl Reason {
    /// A reason with a fixed message.
    pub fn new(code: ReasonCode, message: &'static str) -> Reason {
        Reason {
            code,
            message: Cow::Borrowed(message),
        }
    }
}

/// What happens to a patient in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The patient will be messaged.
    Accepted,
    /// The record has a problem the practice must fix.
    Rejected,
    /// Only the number's delivery history holds the patient back.
    LikelyToFail,
}

impl Status {
    /// The status's stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::LikelyToFail => "likely-to-fail",
        }
    }
}

/// The verdict on one patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Spreadsheet row: header = 1, first patient = 2.
    pub row: u32,
    /// The 10 digits as one integer, when valid ([`crate::nhs::format`]
    /// writes them).
    pub nhs_number: Option<u64>,
    /// The UK mobile's national number without its 0 (`7700900123`, as
    /// [`crate::mobile::Mobile::digits`] gives it), when valid;
    /// [`crate::mobile::e164`] writes it.
    pub mobile_number: Option<u64>,
    /// Accepted, rejected or likely-to-fail.
    pub status: Status,
    /// Every reason that applies.
    pub reasons: Vec<Reason>,
    /// The chance a message is delivered; `None` without a valid mobile.
    pub success_probability: Option<f64>,
    /// The row's cells as uploaded; empty when accepted.
    pub cells: Vec<String>,
}

/// The status that a set of reasons gives: rejected for any reason other
/// than likely-to-fail; likely-to-fail when that is the only one and it blocks.
pub fn status_of(reasons: &[Reason], likely_to_fail_blocks: bool) -> Status {
    if reasons.iter().any(|r| r.code != ReasonCode::LikelyToFail) {
        Status::Rejected
    } else if likely_to_fail_blocks && !reasons.is_empty() {
        Status::LikelyToFail
    } else {
        Status::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_contract_strings() {
        let codes: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            codes,
            [
                "missing-nhs-number",
                "invalid-nhs-number",
                "duplicate-nhs-number",
                "missing-mobile-number",
                "invalid-mobile-number",
                "not-a-uk-mobile",
                "missing-date-of-birth",
                "invalid-date-of-birth",
                "likely-to-fail",
                "repeated-header",
            ]
        );
    }

    #[test]
    fn status_rules() {
        let ltf = Reason::new(ReasonCode::LikelyToFail, "x");
        let bad = Reason::new(ReasonCode::InvalidNhsNumber, "x");
        assert_eq!(status_of(&[], true), Status::Accepted);
        assert_eq!(
            status_of(std::slice::from_ref(&ltf), true),
            Status::LikelyToFail
        );
        assert_eq!(
            status_of(std::slice::from_ref(&ltf), false),
            Status::Accepted
        );
        assert_eq!(
            status_of(&[bad.clone(), ltf.clone()], true),
            Status::Rejected
        );
        assert_eq!(status_of(&[bad], false), Status::Rejected);
    }
}
