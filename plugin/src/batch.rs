//! One batch, end to end: bytes in, one verdict per patient out.

use std::borrow::Cow;

use crate::dob::{self, Date};
use crate::history::{self, Attempt, Score};
use crate::mobile::{self, Mobile};
use crate::nhs;
use crate::rules::Rules;
use crate::table::{self, Columns, FileError};
use crate::verdict::{Reason, ReasonCode, Verdict, status_of};

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
    /// History attempts dated after "now" by more than the rules' clock
    /// skew: they had not happened as of "now", so they were not counted.
    pub future_attempts: usize,
    /// The encoding the file was read as.
    pub encoding: crate::decode::Encoding,
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
    /// distinct valid number, and returns the verdicts. `lookup` answers
    /// with every attempt to any of the numbers it is given, as (position of
    /// the number in the slice, attempt), in any order.
    pub fn finish(
        self,
        lookup: impl FnOnce(&[String]) -> Vec<(u32, Attempt)>,
    ) -> Result<BatchResult, FileError> {
        let Batch { rules, now, input } = self;
        let (text, encoding) = crate::decode::decode(&input);
        let today = Date::from_unix(now);

        let delimiter = table::sniff_delimiter(&text);
        let mut checked: Vec<Checked> = Vec::new();
        let columns = table::read(&text, delimiter, &rules, |columns, row| {
            checked.push(check_row(row, columns, today));
        })?;
        mark_duplicates(&mut checked);

        // One history question for the batch: every distinct valid number.
        let mut numbers: Vec<Mobile> = checked.iter().filter_map(|c| c.mobile).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let asked: Vec<String> = numbers.iter().map(|m| m.e164()).collect();
        let answer = if asked.is_empty() {
            Vec::new()
        } else {
            lookup(&asked)
        };
        let scores = score_all(answer, numbers.len(), now, &rules);
        let future_attempts = scores.iter().map(|s| s.future as usize).sum();
        drop(asked);

        let blocks = rules.likely_to_fail.blocks_batch;
        let mut cell_reader = table::CellReader::new(&text, delimiter);
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
                let cells = if status == crate::verdict::Status::Accepted {
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
            numbers_looked_up: numbers.len(),
            future_attempts,
            encoding,
        })
    }
}

/// Every check that needs only the row itself; reasons are listed in a
/// fixed order (duplicates are marked afterwards, first).
fn check_row(row: table::Row<'_>, columns: &Columns, today: Date) -> Checked {
    if row.repeats_header {
        return Checked {
            row: row.row,
            span: row.span,
            nhs: None,
            mobile: None,
            reasons: vec![Reason::new(
                ReasonCode::RepeatedHeader,
                "This row repeats the header row – delete it (were two files pasted together?)",
            )],
        };
    }
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

/// Scores each of `count` numbers from the flat answer of `lookup`.
/// A counting sort groups the attempts by number in two linear passes (no
/// comparison sort of the whole answer); each number's few attempts are then
/// put in scoring order and scored in place. Positions out of range are
/// ignored.
fn score_all(answer: Vec<(u32, Attempt)>, count: usize, now: i64, rules: &Rules) -> Vec<Score> {
    let mut starts = vec![0usize; count + 1];
    for &(owner, _) in &answer {
        if let Some(n) = starts.get_mut(owner as usize + 1) {
            *n += 1;
        }
    }
    for i in 0..count {
        starts[i + 1] += starts[i];
    }
    let mut next = starts.clone();
    let filler = Attempt {
        sent_at: 0,
        outcome: history::Outcome::Pending,
    };
    let mut grouped = vec![filler; starts[count]];
    for (owner, attempt) in answer {
        if let Some(slot) = next
            .get_mut(owner as usize)
            .filter(|_| (owner as usize) < count)
        {
            grouped[*slot] = attempt;
            *slot += 1;
        }
    }
    let mut scorer = history::Scorer::new(&rules.scoring, now);
    (0..count)
        .map(|i| {
            let own = &mut grouped[starts[i]..starts[i + 1]];
            own.sort_unstable_by_key(history::order);
            scorer.score(own)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    const NOW: i64 = 1_795_770_000;
    const CSV: &[u8] = b"NHS Number,Mobile\n9990000018,07700900002\n9990000026,+447700900001\n9990000034,07700 900002\n";

    fn run(lookup: impl FnOnce(&[String]) -> Vec<(u32, Attempt)>) -> BatchResult {
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        batch.push(&CSV[..10]);
        batch.push(&CSV[10..]);
        batch.finish(lookup).unwrap()
    }

    #[test]
    fn history_is_asked_once_for_each_distinct_number() {
        let mut calls = 0;
        let result = run(|numbers| {
            calls += 1;
            assert_eq!(numbers, ["+447700900001", "+447700900002"]);
            Vec::new()
        });
        assert_eq!(calls, 1);
        assert_eq!(result.numbers_looked_up, 2);
        assert_eq!(result.encoding, crate::decode::Encoding::Utf8);
        assert_eq!(result.verdicts.len(), 3);
    }

    #[test]
    fn answers_are_matched_by_position_in_any_order() {
        let failed = Attempt {
            sent_at: NOW - 10,
            outcome: Outcome::Failed,
        };
        let delivered = Attempt {
            sent_at: NOW - 100,
            outcome: Outcome::Delivered,
        };
        let result = run(|_| vec![(1, failed), (0, delivered), (1, delivered), (7, failed)]);
        let status: Vec<crate::verdict::Status> =
            result.verdicts.iter().map(|v| v.status).collect();
        use crate::verdict::Status::*;
        // Rows 2 and 4 share +447700900002 (position 1): its last attempt failed.
        assert_eq!(status, [LikelyToFail, Accepted, LikelyToFail]);
        assert!(result.verdicts[1].success_probability.unwrap() >= 0.5);
    }
}
