//! One batch, end to end: bytes in, one verdict per patient out.

use std::borrow::Cow;

use crate::dob::{self, Date};
use crate::history::{self, Attempt, Score};
use crate::mobile::{self, Mobile};
use crate::nhs;
use crate::rules::Rules;
use crate::table::{self, Columns, FileError};
use crate::verdict::{Reason, ReasonCode, Verdict, status_of};

/// The delivery history of one number, as the host answers.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberHistory {
    /// E.164.
    pub number: String,
    /// Its attempts, in any order.
    pub attempts: Vec<Attempt>,
}

/// Everything a batch produced.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    /// The rules' name.
    pub rules_name: String,
    /// The rules' version.
    pub rules_version: String,
    /// The columns found.
    pub columns: Columns,
    /// One verdict per non-blank data row, in file order.
    pub verdicts: Vec<Verdict>,
    /// How many distinct numbers history was asked for.
    pub numbers_looked_up: usize,
}

/// A batch being received: the file arrives in chunks, then `finish` judges it.
#[derive(Debug)]
pub struct Batch {
    rules: Rules,
    now: i64,
    input: Vec<u8>,
}

/// A patient checked, before history is known.
struct Checked {
    row: u32,
    span: table::Span,
    nhs: Option<u64>,
    mobile: Option<Mobile>,
    reasons: Vec<Reason>,
}

impl Batch {
    /// Starts a batch judged by `rules` at `now` (Unix seconds, UTC).
    pub fn new(rules: Rules, now: i64) -> Batch {
        Batch {
            rules,
            now,
            input: Vec::new(),
        }
    }

    /// Appends a chunk of the file.
    pub fn push(&mut self, chunk: &[u8]) {
        self.input.extend_from_slice(chunk);
    }

    /// Checks every patient, asks `lookup` once for the history of every
    /// distinct valid number, and returns the verdicts.
    pub fn finish(
        self,
        lookup: impl FnOnce(&[String]) -> Vec<NumberHistory>,
    ) -> Result<BatchResult, FileError> {
        let Batch { rules, now, input } = self;
        let (text, _encoding) = crate::decode::decode(&input);
        let today = Date::from_unix(now);

        let mut checked: Vec<Checked> = Vec::new();
        let columns = table::read(&text, &rules, |columns, row| {
            checked.push(check_row(row, columns, today));
        })?;
        mark_duplicates(&mut checked);

        // One history question for the batch: every distinct valid number.
        let mut numbers: Vec<Mobile> = checked.iter().filter_map(|c| c.mobile).collect();
        numbers.sort_unstable();
        numbers.dedup();
        // Same-length E.164 strings sort as the numbers do: `asked` is sorted.
        let asked: Vec<String> = numbers.iter().map(|m| m.e164()).collect();
        let answer = if asked.is_empty() {
            Vec::new()
        } else {
            lookup(&asked)
        };
        let mut attempts: Vec<Vec<Attempt>> = vec![Vec::new(); numbers.len()];
        for h in answer {
            let index = asked.binary_search(&h.number).ok().or_else(|| {
                let m = mobile::parse(&crate::decode::clean_cell(&h.number)).ok()?;
                numbers.binary_search(&m).ok()
            });
            if let Some(i) = index {
                attempts[i].extend(h.attempts);
            }
        }
        let scores: Vec<Score> = attempts
            .iter_mut()
            .map(|a| {
                history::sort(a);
                history::score(a, now, &rules.scoring)
            })
            .collect();
        drop(attempts);

        let blocks = rules.likely_to_fail.blocks_batch;
        let mut cell_reader = table::CellReader::new(&text);
        let verdicts = checked
            .into_iter()
            .map(|mut c| {
                let score = c
                    .mobile
                    .map(|m| scores[numbers.binary_search(&m).expect("asked")]);
                if let Some(s) = score.filter(|s| s.likely_to_fail) {
                    c.reasons.push(likely_to_fail(s));
                }
                let status = status_of(&c.reasons, blocks);
                let cells = if status == crate::Status::Accepted {
                    Vec::new()
                } else {
                    cell_reader.cells(c.span)
                };
                Verdict {
                    row: c.row,
                    nhs_number: c.nhs.map(nhs::format),
                    mobile_number: c.mobile.map(Mobile::e164),
                    status,
                    reasons: c.reasons,
                    success_probability: score.map(|s| s.success_probability),
                    cells,
                }
            })
            .collect();
        Ok(BatchResult {
            rules_name: rules.name.0,
            rules_version: rules.version.0,
            columns,
            verdicts,
            numbers_looked_up: asked.len(),
        })
    }
}

/// Every check that needs only the row itself; reasons are listed in a
/// fixed order (duplicates are marked afterwards, first).
fn check_row(row: table::Row<'_>, columns: &Columns, today: Date) -> Checked {
    let mut reasons = Vec::new();
    let nhs = match nhs::parse(&row.cell(columns.nhs_number)) {
        Ok(n) => Some(n),
        Err(e) => {
            let code = if e == nhs::NhsError::Missing {
                ReasonCode::MissingNhsNumber
            } else {
                ReasonCode::InvalidNhsNumber
            };
            reasons.push(Reason::new(code, e.message()));
            None
        }
    };
    let mobile = match mobile::parse(&row.cell(columns.mobile_number)) {
        Ok(m) => Some(m),
        Err(e) => {
            reasons.push(Reason::new(e.code(), e.message()));
            None
        }
    };
    if let Some(index) = columns.date_of_birth
        && let Err(e) = dob::parse(&row.cell(index), today)
    {
        let code = if e == dob::DobError::Missing {
            ReasonCode::MissingDateOfBirth
        } else {
            ReasonCode::InvalidDateOfBirth
        };
        reasons.push(Reason::new(code, e.message()));
    }
    Checked {
        row: row.row,
        span: row.span,
        nhs,
        mobile,
        reasons,
    }
}

/// A valid NHS number seen in an earlier row: the first row keeps it, every
/// later one is rejected. Sorting (number, position) finds them without a
/// hash table: in each run of one number the first entry is the earliest row.
fn mark_duplicates(checked: &mut [Checked]) {
    let mut by_number: Vec<(u64, usize)> = checked
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.nhs.map(|n| (n, i)))
        .collect();
    by_number.sort_unstable();
    for run in by_number.chunk_by(|a, b| a.0 == b.0) {
        let first = checked[run[0].1].row;
        for &(_, i) in &run[1..] {
            let reason = Reason {
                code: ReasonCode::DuplicateNhsNumber,
                message: Cow::Owned(format!(
                    "This NHS number is already in row {first} – remove the duplicate row"
                )),
            };
            checked[i].reasons.insert(0, reason);
        }
    }
}

fn likely_to_fail(s: Score) -> Reason {
    let message = format!(
        "The last message to this number failed ({} of {} messages failed) – update the number in the patient's record, or send this patient a single message on purpose",
        s.failed, s.counted
    );
    Reason {
        code: ReasonCode::LikelyToFail,
        message: Cow::Owned(message),
    }
}
