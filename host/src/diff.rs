//! How two versions' verdicts on the same file differ: what an operator
//! reads before rolling out, and what a preflight compares against the
//! verdicts it expects. Rows, statuses and reason codes only: no patient data.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::{PatientVerdict, Status};

/// A verdict as compared: its row, status and reason codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictKey {
    /// Spreadsheet row.
    pub row: u32,
    /// The status.
    pub status: Status,
    /// The reason codes, in order.
    pub codes: Vec<String>,
}

impl From<&PatientVerdict> for VerdictKey {
    fn from(p: &PatientVerdict) -> VerdictKey {
        VerdictKey {
            row: p.row,
            status: p.status,
            codes: p
                .reasons
                .iter()
                .map(|r| r.code.as_str().to_string())
                .collect(),
        }
    }
}

/// One row whose verdict differs; `None`: the row has no verdict on that side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    /// Spreadsheet row.
    pub row: u32,
    /// Before.
    pub from: Option<(Status, Vec<String>)>,
    /// After.
    pub to: Option<(Status, Vec<String>)>,
}

/// Every row whose verdict differs between two runs, in row order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerdictDiff {
    /// The rows that differ.
    pub changes: Vec<VerdictChange>,
}

impl VerdictDiff {
    /// Compares verdicts `from` (before) with `to` (after), by row.
    pub fn between(from: &[VerdictKey], to: &[VerdictKey]) -> VerdictDiff {
        let mut rows: BTreeMap<u32, VerdictChange> = BTreeMap::new();
        let side = |v: &VerdictKey| Some((v.status, v.codes.clone()));
        for v in from {
            rows.entry(v.row)
                .or_insert(VerdictChange {
                    row: v.row,
                    from: None,
                    to: None,
                })
                .from = side(v);
        }
        for v in to {
            rows.entry(v.row)
                .or_insert(VerdictChange {
                    row: v.row,
                    from: None,
                    to: None,
                })
                .to = side(v);
        }
        VerdictDiff {
            changes: rows.into_values().filter(|c| c.from != c.to).collect(),
        }
    }

    /// No row differs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many rows differ.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Rows whose status changes, by the status they change to.
    pub fn status_changes(&self) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for c in &self.changes {
            if let (Some((from, _)), Some((to, _))) = (&c.from, &c.to)
                && from != to
            {
                *counts.entry(*to).or_insert(0) += 1;
            }
        }
        counts
    }

    /// "14 patients become likely-to-fail, 2 become accepted; 3 keep their
    /// status with other reasons", or "no patient's verdict changes".
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no patient's verdict changes".to_string();
        }
        let mut parts: Vec<String> = Vec::new();
        let changed = self.status_changes();
        // Largest first, then by status.
        let mut order: Vec<(&Status, &usize)> = changed.iter().collect();
        order.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (i, (status, n)) in order.into_iter().enumerate() {
            let who = match (i, *n) {
                (0, 1) => "1 patient becomes".to_string(),
                (0, n) => format!("{n} patients become"),
                (_, 1) => "1 becomes".to_string(),
                (_, n) => format!("{n} become"),
            };
            parts.push(format!("{who} {}", status.as_str()));
        }
        let mut text = parts.join(", ");
        let reasons_only = self
            .changes
            .iter()
            .filter(|c| matches!((&c.from, &c.to), (Some((a, _)), Some((b, _))) if a == b))
            .count();
        let one_side = self.changes.len() - reasons_only - changed.values().sum::<usize>();
        for (n, what) in [
            (reasons_only, "keep their status with other reasons"),
            (one_side, "are in only one of the two results"),
        ] {
            if n > 0 {
                if !text.is_empty() {
                    text.push_str("; ");
                }
                let _ = write!(text, "{n} {what}");
            }
        }
        text
    }

    /// One line per row that differs: `row 12: accepted -> likely-to-fail (likely-to-fail)`.
    pub fn lines(&self) -> Vec<String> {
        let side = |s: &Option<(Status, Vec<String>)>| match s {
            None => "no verdict".to_string(),
            Some((status, codes)) if codes.is_empty() => status.as_str().to_string(),
            Some((status, codes)) => format!("{} ({})", status.as_str(), codes.join(", ")),
        };
        self.changes
            .iter()
            .map(|c| format!("row {}: {} -> {}", c.row, side(&c.from), side(&c.to)))
            .collect()
    }
}

/// The rows shown by `Display` before "... and N more rows".
const SHOWN_LINES: usize = 20;

/// The first [`VerdictDiff::lines`], one per line and indented, then how many
/// more there are: short enough for an error message or a log line.
impl std::fmt::Display for VerdictDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = self.lines();
        for (i, line) in lines.iter().take(SHOWN_LINES).enumerate() {
            if i > 0 {
                f.write_char('\n')?;
            }
            write!(f, "  {line}")?;
        }
        if lines.len() > SHOWN_LINES {
            write!(f, "\n  ... and {} more rows", lines.len() - SHOWN_LINES)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(row: u32, status: Status, codes: &[&str]) -> VerdictKey {
        VerdictKey {
            row,
            status,
            codes: codes.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn changes_are_counted_by_what_they_become() {
        use Status::*;
        let from = [
            key(2, Accepted, &[]),
            key(3, Accepted, &[]),
            key(4, LikelyToFail, &["likely-to-fail"]),
            key(5, Rejected, &["invalid-nhs-number"]),
            key(6, Accepted, &[]),
        ];
        let to = [
            key(2, LikelyToFail, &["likely-to-fail"]),
            key(3, LikelyToFail, &["likely-to-fail"]),
            key(4, Accepted, &[]),
            key(5, Rejected, &["invalid-nhs-number", "not-a-uk-mobile"]),
            key(6, Accepted, &[]),
            key(7, Accepted, &[]),
        ];
        let diff = VerdictDiff::between(&from, &to);
        assert_eq!(diff.len(), 5);
        assert_eq!(
            diff.summary(),
            "2 patients become likely-to-fail, 1 becomes accepted; \
             1 keep their status with other reasons; 1 are in only one of the two results"
        );
        assert_eq!(
            diff.lines()[0],
            "row 2: accepted -> likely-to-fail (likely-to-fail)"
        );
        assert_eq!(diff.lines()[4], "row 7: no verdict -> accepted");
        assert_eq!(
            VerdictDiff::between(&from, &from).summary(),
            "no patient's verdict changes"
        );
    }

    #[test]
    fn display_lists_twenty_rows_then_counts_the_rest() {
        let from: Vec<VerdictKey> = (2..27).map(|r| key(r, Status::Accepted, &[])).collect();
        let to: Vec<VerdictKey> = (2..27).map(|r| key(r, Status::Rejected, &["x"])).collect();
        let text = VerdictDiff::between(&from, &to).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 21, "{text}");
        assert_eq!(lines[0], "  row 2: accepted -> rejected (x)");
        assert_eq!(lines[19], "  row 21: accepted -> rejected (x)");
        assert_eq!(lines[20], "  ... and 5 more rows");
    }
}
