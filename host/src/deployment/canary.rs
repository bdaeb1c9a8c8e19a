//! The canary batch a preflight runs on a new rule version, and the verdicts
//! an operator may expect of it.

use std::sync::Arc;

use serde::Deserialize;

use crate::diff::VerdictKey;
use crate::error::{Error, Result};
use crate::history::HistoryStore;
use crate::report::Status;

/// The canary batch a preflight runs.
#[derive(Clone)]
pub struct Canary<'a> {
    /// The patient file.
    pub csv: &'a [u8],
    /// Where it came from (a path), for messages.
    pub origin: &'a str,
    /// "Now" for the batch.
    pub now: i64,
    /// History for the batch.
    pub history: Option<Arc<dyn HistoryStore>>,
    /// The verdicts the operator expects; `None`: any verdicts pass.
    pub expected: Option<&'a [VerdictKey]>,
    /// Let differing verdicts through (they are still logged).
    pub force: bool,
}

impl std::fmt::Debug for Canary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the file: it holds patients.
        f.debug_struct("Canary")
            .field("origin", &self.origin)
            .field("bytes", &self.csv.len())
            .field("now", &self.now)
            .field("history", &self.history.is_some())
            .field("expected", &self.expected.map(<[VerdictKey]>::len))
            .field("force", &self.force)
            .finish()
    }
}

/// Reads expected verdicts from the JSON `presend validate --format json`
/// writes (only `patients[].row`, `.status` and `.reasons[].code` are read).
///
/// # Errors
///
/// [`Error::Expected`], with the line and column, when `text` is not such a
/// report.
pub fn expected_from_json(text: &str, origin: &str) -> Result<Vec<VerdictKey>> {
    #[derive(Deserialize)]
    struct Report {
        patients: Vec<Patient>,
    }
    #[derive(Deserialize)]
    struct Patient {
        row: u32,
        status: Status,
        #[serde(default)]
        reasons: Vec<Code>,
    }
    #[derive(Deserialize)]
    struct Code {
        code: String,
    }
    let report: Report = serde_json::from_str(text).map_err(|e| Error::Expected {
        origin: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    Ok(report
        .patients
        .into_iter()
        .map(|p| VerdictKey {
            row: p.row,
            status: p.status,
            codes: p.reasons.into_iter().map(|c| c.code).collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_verdicts_are_read_from_the_json_report() {
        let json = r#"{"validator":{"name":"v","version":"1"},"patients":[
            {"row":2,"status":"likely-to-fail","reasons":[{"code":"likely-to-fail","message":"m"}]},
            {"row":3,"status":"accepted","reasons":[]}]}"#;
        let keys = expected_from_json(json, "e.json").unwrap();
        assert_eq!(
            keys,
            [
                VerdictKey {
                    row: 2,
                    status: Status::LikelyToFail,
                    codes: vec!["likely-to-fail".to_string()],
                },
                VerdictKey {
                    row: 3,
                    status: Status::Accepted,
                    codes: vec![],
                },
            ]
        );
        let e = expected_from_json("{\"patients\": [{\"row\": 2}]}", "e.json").unwrap_err();
        assert!(e.to_string().starts_with("e.json:1:"), "{e}");
    }
}
