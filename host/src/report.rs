//! What a batch produced, as the platform (and `presend validate --format
//! json`) sees it.

use serde::{Deserialize, Serialize};

use crate::codes::ReasonCode;
use crate::numbers::{MobileNumber, NhsNumber};

/// A name and a semver version (of a validator, or of rules).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Identity {
    /// The name.
    pub name: String,
    /// The semver version.
    pub version: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// What happens to a patient in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The patient will be messaged.
    Accepted,
    /// The record has a problem the practice must fix.
    Rejected,
    /// Only the number's delivery history holds the patient back.
    LikelyToFail,
}

impl Status {
    /// The stable string: `accepted`, `rejected`, `likely-to-fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::LikelyToFail => "likely-to-fail",
        }
    }
}

/// One reason a patient was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// Stable code, e.g. `invalid-nhs-number`.
    pub code: ReasonCode,
    /// Plain English for the practice.
    pub message: String,
}

/// The verdict on one patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientVerdict {
    /// Spreadsheet row: header = 1, first patient = 2.
    pub row: u32,
    /// The 10 digits, when valid.
    pub nhs_number: Option<NhsNumber>,
    /// E.164 (`+447700900123`), when a valid UK mobile.
    pub mobile_number: Option<MobileNumber>,
    /// Accepted, rejected or likely-to-fail.
    pub status: Status,
    /// Every reason that applies.
    pub reasons: Vec<Reason>,
    /// The chance a message to the number is delivered; `None` without a valid mobile.
    pub success_probability: Option<f64>,
    /// The row's cells as uploaded, for the reasons download; empty when accepted.
    #[serde(skip)]
    pub cells: Vec<String>,
}

/// Counts by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    /// Patients (non-blank data rows).
    pub total: usize,
    /// Accepted.
    pub accepted: usize,
    /// Rejected.
    pub rejected: usize,
    /// Likely to fail.
    pub likely_to_fail: usize,
}

impl Summary {
    /// Counts `patients` by status.
    pub fn of(patients: &[PatientVerdict]) -> Summary {
        let mut summary = Summary::default();
        for p in patients {
            summary.add(p.status);
        }
        summary
    }

    /// Counts one more patient.
    pub fn add(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Accepted => self.accepted += 1,
            Status::Rejected => self.rejected += 1,
            Status::LikelyToFail => self.likely_to_fail += 1,
        }
    }
}

/// What a batch's history lookup found: counts for notes to the person who
/// ran it, never numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistorySeen {
    /// Distinct numbers the validator asked about.
    pub numbers: usize,
    /// Attempts the store returned for them.
    pub attempts: usize,
    /// Of those, attempts dated after the batch's "now". They had not
    /// happened as of "now": the validator counts none of them as evidence
    /// beyond the rules' `clock_skew_seconds` (5 minutes by default). Usually
    /// a wrong clock or wrong dates in the history; or a batch judged as of
    /// an earlier day.
    pub after_now: usize,
}

/// The columns the validator found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The header row, cleaned.
    pub headers: Vec<String>,
    /// Index of the NHS number column.
    pub nhs_number: usize,
    /// Index of the mobile number column.
    pub mobile_number: usize,
    /// Index of the date of birth column, if any.
    pub date_of_birth: Option<usize>,
}

/// Everything one batch produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    /// The validator that judged the batch.
    pub validator: Identity,
    /// The rules it judged by.
    pub rules: Identity,
    /// The deployment (validator and rules files, by hash) that produced
    /// the report, when it ran through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentInfo>,
    /// Counts by status.
    pub summary: Summary,
    /// One verdict per patient, in file order.
    pub patients: Vec<PatientVerdict>,
    /// What the history store handed the validator for this batch.
    #[serde(skip)]
    pub history: HistorySeen,
    /// The columns found (for the reasons download).
    #[serde(skip)]
    pub columns: Columns,
}

impl BatchReport {
    /// The patients that were not accepted.
    pub fn not_accepted(&self) -> impl Iterator<Item = &PatientVerdict> {
        self.patients
            .iter()
            .filter(|p| p.status != Status::Accepted)
    }
}

/// What a streamed batch ([`crate::Validator::validate_stream`]) says at its
/// end, its verdicts having gone to the sink: everything a [`BatchReport`]
/// holds but the patients.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    /// The validator that judged the batch.
    pub validator: Identity,
    /// The rules it judged by.
    pub rules: Identity,
    /// The deployment that produced it, when it ran through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentInfo>,
    /// Counts by status.
    pub summary: Summary,
    /// What the history store handed the validator for this batch.
    #[serde(skip)]
    pub history: HistorySeen,
    /// The columns found.
    #[serde(skip)]
    pub columns: Columns,
}

impl StreamReport {
    /// The whole report, with the `patients` the sink was given.
    pub fn with_patients(self, patients: Vec<PatientVerdict>) -> BatchReport {
        BatchReport {
            validator: self.validator,
            rules: self.rules,
            deployment: self.deployment,
            summary: self.summary,
            patients,
            history: self.history,
            columns: self.columns,
        }
    }
}

/// One part of a rule version: its name, version, and the sha256 of its
/// file (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartIdentity {
    /// The name it gives itself.
    pub name: String,
    /// Its semver version.
    pub version: String,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// What a report says of the deployment that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentInfo {
    /// Changes with every activation, even of the same files (a rollback
    /// gets a new id): `<activation number>-<12 hex digits of the pair's hash>`.
    pub id: String,
    /// The validator component.
    pub validator: PartIdentity,
    /// The rules document.
    pub rules: PartIdentity,
    /// When it was activated, RFC 3339 UTC.
    pub activated_at: String,
}
