//! A page of verdicts as columns (`verdict-page`, contract 1.4.0): one list
//! a field, and every reason and cell of the page in one string. A list of
//! plain numbers crosses the component boundary as one copy, where a list of
//! records crosses field by field and each string by itself: lifting
//! compact verdicts one by one was about a tenth of a batch's instructions.

use crate::verdict::{Status, Verdict};

/// What a page's number columns hold for a verdict without that number.
pub const NO_NUMBER: u64 = u64::MAX;

/// Verdict `i` is `rows[i]`, `statuses[i]` and so on; its reasons (each a
/// code, then its message) and then its cells are the next
/// `2 * reason_counts[i] + cell_counts[i]` pieces of `text`, piece `j`
/// ending at byte `text_ends[j]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Spreadsheet rows.
    pub rows: Vec<u32>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// NHS numbers as integers, [`NO_NUMBER`] for none.
    pub nhs_numbers: Vec<u64>,
    /// Mobiles' national numbers as integers, [`NO_NUMBER`] for none.
    pub mobile_numbers: Vec<u64>,
    /// Chances of delivery, NaN for none.
    pub success_probabilities: Vec<f64>,
    /// Reasons a verdict.
    pub reason_counts: Vec<u32>,
    /// Cells a verdict.
    pub cell_counts: Vec<u32>,
    /// The reasons' codes and messages and the cells, one after another.
    pub text: String,
    /// Where each piece of `text` ends.
    pub text_ends: Vec<u32>,
}

impl Page {
    /// The page of `verdicts`, in their order. Column by column: each is
    /// one loop of known length with no capacity checks, where pushing the
    /// seven of a verdict at a time took about 160 instructions a verdict
    /// in the component (callgrind).
    pub fn of(verdicts: &[Verdict]) -> Page {
        let column = |f: fn(&Verdict) -> u32| verdicts.iter().map(f).collect();
        let mut page = Page {
            rows: column(|v| v.row),
            statuses: verdicts.iter().map(|v| v.status).collect(),
            nhs_numbers: verdicts
                .iter()
                .map(|v| v.nhs_number.unwrap_or(NO_NUMBER))
                .collect(),
            mobile_numbers: verdicts
                .iter()
                .map(|v| v.mobile_number.unwrap_or(NO_NUMBER))
                .collect(),
            success_probabilities: verdicts
                .iter()
                .map(|v| v.success_probability.unwrap_or(f64::NAN))
                .collect(),
            reason_counts: column(|v| count(v.reasons.len())),
            cell_counts: column(|v| count(v.cells.len())),
            text: String::new(),
            text_ends: Vec::new(),
        };
        // Accepted verdicts, most of a page, have no pieces.
        for v in verdicts
            .iter()
            .filter(|v| !v.reasons.is_empty() || !v.cells.is_empty())
        {
            for r in &v.reasons {
                page.piece(r.code.as_str());
                page.piece(&r.message);
            }
            for cell in &v.cells {
                page.piece(cell);
            }
        }
        page
    }

    fn piece(&mut self, s: &str) {
        self.text.push_str(s);
        // A page's text is far below 4 GiB (wasm32's whole memory); were it
        // not, the host would refuse the page, never misread it.
        self.text_ends.push(count(self.text.len()));
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Reason, ReasonCode};

    fn verdict(row: u32) -> Verdict {
        Verdict {
            row,
            nhs_number: Some(9_990_000_018),
            mobile_number: Some(7_700_900_123),
            status: Status::Accepted,
            reasons: Vec::new(),
            success_probability: Some(0.95),
            cells: Vec::new(),
        }
    }

    /// Worked by hand: an accepted verdict adds no piece; a rejected one its
    /// reason's code and message, then its cells, each ending where the
    /// bytes so far end ("é" is two bytes).
    #[test]
    fn pieces_follow_verdict_by_verdict() {
        let accepted = verdict(2);
        let rejected = Verdict {
            row: 4,
            nhs_number: None,
            mobile_number: None,
            status: Status::Rejected,
            reasons: vec![Reason::new(ReasonCode::InvalidNhsNumber, "Fix it")],
            success_probability: None,
            cells: vec!["12".into(), "é".into(), String::new()],
        };
        let page = Page::of(&[accepted, rejected]);
        assert_eq!(page.rows, [2, 4]);
        assert_eq!(page.statuses, [Status::Accepted, Status::Rejected]);
        assert_eq!(page.nhs_numbers, [9_990_000_018, u64::MAX]);
        assert_eq!(page.mobile_numbers, [7_700_900_123, u64::MAX]);
        assert_eq!(page.success_probabilities[0], 0.95);
        assert!(page.success_probabilities[1].is_nan());
        assert_eq!(page.reason_counts, [0, 1]);
        assert_eq!(page.cell_counts, [0, 3]);
        assert_eq!(page.text, "invalid-nhs-numberFix it12é");
        // "invalid-nhs-number" is 18 bytes, "Fix it" 6, "12" 2, "é" 2.
        assert_eq!(page.text_ends, [18, 24, 26, 28, 28]);
    }

    #[test]
    fn an_empty_page_has_empty_columns() {
        assert_eq!(Page::of(&[]), Page::default());
    }
}
