//! One batch, end to end: bytes in, one verdict per patient out, as the
//! file arrives.
//!
//! Rows are read and checked as soon as their text is complete, and judged
//! in groups (the rows a chunk completed, at most [`GROUP_ROWS`]), each with
//! one history question for its numbers. The question is asked as soon as
//! the group is read ([`Batch::push_asking`]) and answered when the caller
//! takes the group's verdicts ([`Batch::next_verdicts`]); a caller that can
//! tell whether the answer has come leaves the group waiting until it has
//! ([`Batch::next_ready_verdicts`]), so the numbers are looked up while the
//! next chunk is read. What
//! the batch keeps is the rows of the last chunk, the text of the row being
//! read, and an 8-byte slot (in a table at most half full) for each valid
//! NHS number seen, to find duplicates ([`Seen`]): not the file, nor its
//! rows.
//!
//! The rows waiting for history keep their cells in one buffer the batch
//! reuses chunk after chunk, not a string each: allocation was a third of
//! the validator's time (measured natively, 100k rows: 10 allocations and
//! 1 KB a row before).

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::decode::{Decoder, Encoding};
use crate::dob::{self, Date};
use crate::history::{self, Attempt, Score};
use crate::mobile::{self, Mobile};
use crate::nhs;
use crate::rules::Rules;
use crate::seen::Seen;
use crate::table::{self, Columns, FileError};
use crate::verdict::{Reason, ReasonCode, Status, Verdict, status_of};

/// The most rows judged with one history question. A group is the rows a
/// chunk completed, asked about as soon as the chunk is read; this bounds
/// it for a chunk of very many short rows. Smaller groups cost more a
/// number: 4,096 numbers took 2-3 ms in SQLite (against 38 ms for 100,000
/// at once) and 23-27 ms in PostgreSQL (against 83-98 ms).
pub const GROUP_ROWS: usize = 65_536;

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
    /// How many numbers history was asked for, summed over its questions:
    /// each question holds a number once, but a number in rows of two
    /// groups (rows pushed in two chunks, say) is in both questions and
    /// counted twice. It depends on how the file was cut; the verdicts do not.
    pub numbers_looked_up: usize,
    /// History attempts dated after "now" by more than the rules' clock
    /// skew: they had not happened as of "now", so they were not counted.
    /// Summed over the questions, as `numbers_looked_up` is.
    pub future_attempts: usize,
    /// The encoding the file was read as.
    pub encoding: Encoding,
}

/// A batch being received: the file arrives in chunks ([`Batch::push`]),
/// its end is marked ([`Batch::end`]), and verdicts are taken as they are
/// ready ([`Batch::next_verdicts`]), or all at once ([`Batch::finish`]).
#[derive(Debug)]
pub struct Batch {
    rules: Rules,
    now: i64,
    today: Date,
    decoder: Decoder,
    reader: table::Reader,
    /// Each valid NHS number seen, with the first row that has it.
    seen: Seen,
    /// Rows checked, waiting for their history.
    waiting: Waiting,
    /// Rows judged, waiting to be taken.
    judged: VecDeque<Verdict>,
    ended: bool,
    /// A problem with the file: once found, every later call gives it.
    error: Option<FileError>,
    /// Counts for the summary: numbers asked about, attempts after "now".
    numbers_looked_up: usize,
    future_attempts: usize,
}

/// A patient checked, before history is known.
#[derive(Debug)]
struct Checked {
    row: u32,
    nhs: Option<u64>,
    mobile: Option<Mobile>,
    reasons: Vec<Reason>,
    /// Where the row's cells are in [`Waiting`]: its text from `text_start`,
    /// and the ends of its cells, `ends[cells]`.
    text_start: usize,
    cells: std::ops::Range<usize>,
}

/// The rows checked and waiting for history, and their cells: kept until
/// the verdict says whether they are needed (only a patient not accepted
/// shows them), one buffer for all, cleared and reused once they are judged.
#[derive(Debug, Default)]
struct Waiting {
    rows: VecDeque<Checked>,
    /// Every waiting row's cells, one after another.
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
    /// The rows from the front, group by group, whose question is asked.
    groups: VecDeque<Group>,
    /// The rows at the back not in a group yet.
    open: usize,
}

/// Rows judged with one history question.
#[derive(Debug)]
struct Group {
    rows: usize,
    /// Each distinct number of the rows once, in order: the question.
    numbers: Vec<Mobile>,
    /// Each row's place in `numbers` (`u32::MAX` for none).
    place: Vec<u32>,
}

impl Waiting {
    /// Keeps `record`'s cells for the row about to be checked.
    fn keep(&mut self, record: table::Record<'_>) -> (usize, std::ops::Range<usize>) {
        let text_start = self.text.len();
        let first = self.ends.len();
        // The record's own text and cell ends, copied whole.
        let (text, ends) = record.parts();
        self.text.push_str(text);
        self.ends.extend(ends.iter().map(|&end| text_start + end));
        (text_start, first..self.ends.len())
    }

    /// A waiting row's cells, from `text` and `ends` (split from the rows,
    /// so the rows can be drained while their cells are read).
    fn cells(text: &str, ends: &[usize], row: &Checked) -> Vec<String> {
        let mut start = row.text_start;
        ends[row.cells.clone()]
            .iter()
            .map(|&end| {
                let cell = text.get(start..end).unwrap_or("").to_string();
                start = end;
                cell
            })
            .collect()
    }

    /// Makes the open rows a group: marks those whose NHS number an earlier
    /// row has, and asks about the group's mobiles (if any).
    fn seal(&mut self, seen: &mut Seen, ask: &mut impl FnMut(&[Mobile])) {
        if self.open == 0 {
            return;
        }
        let first = self.rows.len() - self.open;
        // A valid NHS number seen in an earlier row: the first row keeps
        // it, every later one is rejected. The group's numbers go into the
        // table one after another, not one a row as each is read: each is a
        // cache miss in a table of megabytes, and with little code between
        // them the processor waits for several at once (in the component,
        // 15.8 ms of a 100k-row batch before).
        for checked in self.rows.range_mut(first..) {
            if let Some(n) = checked.nhs {
                let first = seen.first_row(n, checked.row);
                if first != checked.row {
                    checked.reasons.insert(0, duplicate(first));
                }
            }
        }
        // Each distinct number once, in order, and each row's place in
        // that list, found in one sort.
        let mut by_number: Vec<(Mobile, u32)> = self
            .rows
            .range(first..)
            .enumerate()
            .filter_map(|(i, c)| Some((c.mobile?, i as u32)))
            .collect();
        by_number.sort_unstable();
        let mut numbers: Vec<Mobile> = Vec::new();
        let mut place = vec![u32::MAX; self.open];
        for (m, i) in by_number {
            if numbers.last() != Some(&m) {
                numbers.push(m);
            }
            place[i as usize] = (numbers.len() - 1) as u32;
        }
        if !numbers.is_empty() {
            ask(&numbers);
        }
        self.groups.push_back(Group {
            rows: self.open,
            numbers,
            place,
        });
        self.open = 0;
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.text.clear();
        self.ends.clear();
        self.groups.clear();
        self.open = 0;
    }
}

impl Batch {
    /// Starts a batch judged by `rules` at `now` (Unix seconds, UTC).
    pub fn new(rules: Rules, now: i64) -> Batch {
        Batch {
            rules,
            now,
            today: Date::from_unix(now),
            decoder: Decoder::new(),
            reader: table::Reader::new(),
            seen: Seen::new(),
            waiting: Waiting::default(),
            judged: VecDeque::new(),
            ended: false,
            error: None,
            numbers_looked_up: 0,
            future_attempts: 0,
        }
    }

    /// Appends a chunk of the file, and checks every row it completes.
    ///
    /// # Errors
    ///
    /// A problem with the file as a whole, as soon as it shows (a missing
    /// column, too many rows); it comes back from every later call.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), FileError> {
        self.push_asking(chunk, |_| {})
    }

    /// [`Batch::push`], telling `ask` the numbers of each group of rows as
    /// soon as it is read (the rows the chunk completed, [`GROUP_ROWS`] at
    /// most), so their history can be looked up ahead: each time
    /// [`Batch::next_verdicts`] asks its `lookup`, it asks about the numbers
    /// given to `ask` the earliest time not asked about yet. A group without
    /// numbers is not told.
    ///
    /// # Errors
    ///
    /// As [`Batch::push`].
    pub fn push_asking(
        &mut self,
        chunk: &[u8],
        mut ask: impl FnMut(&[Mobile]),
    ) -> Result<(), FileError> {
        if self.ended {
            return Err(ended());
        }
        self.decoder.push(chunk, self.reader.text_mut());
        self.read(false, &mut ask)
    }

    /// The file has ended: checks its last row, and the file as a whole.
    ///
    /// # Errors
    ///
    /// As [`Batch::push`], and the problems only the end shows (an empty
    /// file, a quote never closed).
    pub fn end(&mut self) -> Result<(), FileError> {
        self.end_asking(|_| {})
    }

    /// [`Batch::end`], telling `ask` the last rows' numbers as
    /// [`Batch::push_asking`] does.
    ///
    /// # Errors
    ///
    /// As [`Batch::end`].
    pub fn end_asking(&mut self, mut ask: impl FnMut(&[Mobile])) -> Result<(), FileError> {
        if !self.ended {
            self.decoder.finish(self.reader.text_mut());
            self.ended = true;
            self.read(true, &mut ask)?;
        }
        self.error.clone().map_or(Ok(()), Err)
    }

    /// Whether the file has ended and every verdict has been taken.
    pub fn is_done(&self) -> bool {
        self.ended && self.waiting.rows.is_empty() && self.judged.is_empty() && self.error.is_none()
    }

    /// The columns, once the header row has been read.
    pub fn columns(&self) -> Option<&Columns> {
        self.reader.columns()
    }

    /// The encoding the file is being read as.
    pub fn encoding(&self) -> Encoding {
        self.decoder.encoding()
    }

    /// How many numbers history has been asked about, summed over its
    /// questions, and how many attempts it gave were dated after "now" (see
    /// [`BatchResult::numbers_looked_up`]).
    pub fn history_counts(&self) -> (usize, usize) {
        (self.numbers_looked_up, self.future_attempts)
    }

    /// The verdicts of up to `max` rows read so far, in file order. When no
    /// judged row is waiting to be taken, the next group of rows read (see
    /// [`GROUP_ROWS`]) is judged with one history question: `lookup` gets
    /// every distinct valid number of them (in order) and answers with
    /// every attempt to any of them, as (position of the number in the
    /// slice, attempt), in any order. Empty when no row is waiting; after
    /// [`Batch::end`], empty means every verdict has been given.
    ///
    /// # Errors
    ///
    /// The file's problem, once one has been found: verdicts given before it
    /// are not to be used.
    pub fn next_verdicts(
        &mut self,
        max: usize,
        lookup: impl FnOnce(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> Result<Vec<Verdict>, FileError> {
        self.next_ready_verdicts(max, || true, lookup)
    }

    /// [`Batch::next_verdicts`], but until the file has ended, a group whose
    /// question `ready` says is not answered yet is left waiting (and the
    /// page is empty): `ready` is asked about the group `lookup` would be
    /// asked about next, and only when it has numbers.
    ///
    /// # Errors
    ///
    /// As [`Batch::next_verdicts`].
    pub fn next_ready_verdicts(
        &mut self,
        max: usize,
        ready: impl FnOnce() -> bool,
        lookup: impl FnOnce(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> Result<Vec<Verdict>, FileError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let waits = |group: &Group| !group.numbers.is_empty() && !self.ended && !ready();
        if self.judged.is_empty()
            && !self.waiting.groups.front().is_some_and(waits)
            && let Some(group) = self.waiting.groups.pop_front()
        {
            let mut waiting = std::mem::take(&mut self.waiting);
            self.judged = self.judge(&mut waiting, group, lookup);
            if waiting.rows.is_empty() {
                // Its buffers, emptied, take the next chunk's rows.
                waiting.clear();
            }
            self.waiting = waiting;
        }
        let take = max.min(self.judged.len());
        Ok(self.judged.drain(..take).collect())
    }

    /// Judges the first group of waiting rows with one history question
    /// for their numbers.
    fn judge(
        &mut self,
        waiting: &mut Waiting,
        group: Group,
        lookup: impl FnOnce(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> VecDeque<Verdict> {
        let Group {
            rows: count,
            numbers,
            place,
        } = group;
        let scores = if numbers.is_empty() {
            Vec::new()
        } else {
            let answer = lookup(&numbers);
            score_all(answer, numbers.len(), self.now, &self.rules)
        };
        self.numbers_looked_up += numbers.len();
        self.future_attempts += scores.iter().map(|s| s.future as usize).sum::<usize>();

        let blocks = self.rules.likely_to_fail.blocks_batch;
        let Waiting {
            rows, text, ends, ..
        } = waiting;
        rows.drain(..count)
            .zip(place)
            .map(|(mut c, place)| {
                let number = (place != u32::MAX).then_some(place as usize);
                let score = number.map(|i| scores[i]);
                if let Some(s) = score.filter(|s| s.likely_to_fail) {
                    c.reasons.push(likely_to_fail(s));
                }
                let status = status_of(&c.reasons, blocks);
                let cells = if status == Status::Accepted {
                    Vec::new()
                } else {
                    Waiting::cells(text, ends, &c)
                };
                Verdict {
                    row: c.row,
                    nhs_number: c.nhs,
                    mobile_number: number.map(|i| numbers[i].digits()),
                    status,
                    reasons: c.reasons,
                    success_probability: score.map(|s| s.success_probability),
                    cells,
                }
            })
            .collect()
    }

    /// Ends the file and judges every patient, asking `lookup` about each
    /// group of rows (see [`Batch::next_verdicts`]).
    ///
    /// # Errors
    ///
    /// A problem with the file as a whole.
    pub fn finish(
        mut self,
        mut lookup: impl FnMut(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> Result<BatchResult, FileError> {
        self.end()?;
        let mut verdicts = Vec::new();
        loop {
            let group = self.next_verdicts(usize::MAX, &mut lookup)?;
            if group.is_empty() {
                break;
            }
            verdicts.extend(group);
        }
        let columns = self
            .columns()
            .cloned()
            .expect("an ended file has its header");
        Ok(BatchResult {
            rules_name: self.rules.name.0,
            rules_version: self.rules.version.0,
            columns,
            verdicts,
            numbers_looked_up: self.numbers_looked_up,
            future_attempts: self.future_attempts,
            encoding: self.decoder.encoding(),
        })
    }

    /// Reads and checks the rows the text so far completes, and asks about
    /// each group of them.
    fn read(&mut self, ended: bool, ask: &mut impl FnMut(&[Mobile])) -> Result<(), FileError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let Batch {
            rules,
            today,
            reader,
            seen,
            waiting,
            ..
        } = self;
        let result = reader.read(rules, ended, |columns, row| {
            let kept = waiting.keep(row.record);
            let checked = check_row(row, columns, *today, kept);
            waiting.rows.push_back(checked);
            waiting.open += 1;
            if waiting.open == GROUP_ROWS {
                waiting.seal(seen, ask);
            }
        });
        if result.is_ok() {
            self.waiting.seal(&mut self.seen, ask);
        }
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.waiting.clear();
            self.judged.clear();
        }
        result
    }
}

/// Why a row is rejected whose NHS number row `first` has.
fn duplicate(first: u32) -> Reason {
    Reason {
        code: ReasonCode::DuplicateNhsNumber,
        message: Cow::Owned(format!(
            "This NHS number is already in row {first} – remove the duplicate row"
        )),
    }
}

fn ended() -> FileError {
    FileError {
        code: "batch-ended",
        message: "The file has already ended – open a new batch to send another".into(),
        row: None,
    }
}

/// Every check that needs only the row itself; reasons are listed in a
/// fixed order (duplicates are marked afterwards, first). `kept` is where
/// [`Waiting::keep`] put its cells.
fn check_row(
    row: table::Row<'_>,
    columns: &Columns,
    today: Date,
    (text_start, cells): (usize, std::ops::Range<usize>),
) -> Checked {
    if row.repeats_header {
        return Checked {
            row: row.row,
            text_start,
            cells,
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
        nhs,
        mobile,
        reasons,
        text_start,
        cells,
    }
}

/// Scores each of `count` numbers from the flat answer of `lookup`.
/// Positions out of range are ignored.
fn score_all(answer: Vec<(u32, Attempt)>, count: usize, now: i64, rules: &Rules) -> Vec<Score> {
    if answer.is_sorted_by_key(|&(owner, _)| owner) {
        score_in_turn(&answer, count, now, rules)
    } else {
        score_grouped(answer, count, now, rules)
    }
}

/// [`score_all`] for an answer whose attempts come number by number, in the
/// order asked, as the host's stores give them: each number's attempts are
/// already together, so they are scored in turn from one small buffer. The
/// counting sort of [`score_grouped`] copied the whole answer once more
/// (450,000 attempts, 7 MB, for 100k rows) and put each number's attempts in
/// order again, which the stores have done.
fn score_in_turn(answer: &[(u32, Attempt)], count: usize, now: i64, rules: &Rules) -> Vec<Score> {
    let mut scorer = history::Scorer::new(&rules.scoring, now);
    let mut own = Vec::new();
    let mut rest = answer;
    (0..count)
        .map(|i| {
            let n = rest
                .iter()
                .take_while(|&&(owner, _)| owner as usize == i)
                .count();
            own.clear();
            own.extend(rest[..n].iter().map(|&(_, a)| a));
            rest = &rest[n..];
            // Out of scoring order, `score` sorts a copy.
            scorer.score(&own)
        })
        .collect()
}

/// [`score_all`] for an answer in any order. A counting sort groups the
/// attempts by number in two linear passes (no comparison sort of the
/// whole answer); each number's few attempts are then put in scoring order
/// and scored in place.
fn score_grouped(answer: Vec<(u32, Attempt)>, count: usize, now: i64, rules: &Rules) -> Vec<Score> {
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
    use proptest::prelude::*;

    const NOW: i64 = 1_795_770_000;

    fn e164(numbers: &[Mobile]) -> Vec<String> {
        numbers.iter().map(|m| m.e164()).collect()
    }

    const CSV: &[u8] = b"NHS Number,Mobile\n9990000018,07700900002\n9990000026,+447700900001\n9990000034,07700 900002\n";

    fn run(lookup: impl FnMut(&[Mobile]) -> Vec<(u32, Attempt)>) -> BatchResult {
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        batch.push(&CSV[..10]).unwrap();
        batch.push(&CSV[10..]).unwrap();
        batch.finish(lookup).unwrap()
    }

    #[test]
    fn history_is_asked_once_for_each_distinct_number() {
        let mut calls = 0;
        let result = run(|numbers| {
            calls += 1;
            assert_eq!(e164(numbers), ["+447700900001", "+447700900002"]);
            Vec::new()
        });
        assert_eq!(calls, 1);
        assert_eq!(result.numbers_looked_up, 2);
        assert_eq!(result.encoding, crate::decode::Encoding::Utf8);
        assert_eq!(result.verdicts.len(), 3);
        // Rows 2 and 4 share a number written two ways: each verdict has it.
        let numbers: Vec<Option<String>> = result
            .verdicts
            .iter()
            .map(|v| v.mobile_number.map(mobile::e164))
            .collect();
        assert_eq!(
            numbers,
            [
                Some("+447700900002".to_string()),
                Some("+447700900001".to_string()),
                Some("+447700900002".to_string())
            ]
        );
    }

    /// Regression (proptest, CI stop 26): a number in rows of two chunks is
    /// asked about with each chunk, so the count of numbers looked up is
    /// per question, and only the verdicts are the same however the file
    /// was cut.
    #[test]
    fn a_number_in_rows_of_two_chunks_is_asked_and_counted_with_each() {
        let file = b"NHS Number,Mobile\n9990000018,07700 900123\n9990000026,07700 900123\n";
        let split = b"NHS Number,Mobile\n9990000018,07700 900123\n".len();
        let mut asked = Vec::new();
        let mut lookup = |numbers: &[Mobile]| {
            asked.push(e164(numbers));
            Vec::new()
        };
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        batch.push(&file[..split]).unwrap();
        batch.push(&file[split..]).unwrap();
        let cut = batch.finish(&mut lookup).unwrap();
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        batch.push(file).unwrap();
        let whole = batch.finish(&mut lookup).unwrap();
        assert_eq!(
            asked,
            [
                vec!["+447700900123"],
                vec!["+447700900123"],
                vec!["+447700900123"]
            ]
        );
        assert_eq!((cut.numbers_looked_up, whole.numbers_looked_up), (2, 1));
        assert_eq!(cut.verdicts, whole.verdicts);
        // Two valid NHS numbers sharing a mobile: two patients, both accepted.
        let statuses: Vec<Status> = cut.verdicts.iter().map(|v| v.status).collect();
        assert_eq!(statuses, [Status::Accepted, Status::Accepted]);
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

    /// Verdicts come as soon as their rows are whole, each chunk asking
    /// history only about its own numbers.
    #[test]
    fn pages_come_as_rows_arrive() {
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        let none = |_: &[Mobile]| -> Vec<(u32, Attempt)> { panic!("no page yet") };
        // The header and half a row: nothing to judge.
        batch.push(b"NHS Number,Mobile\n9990000018,0770").unwrap();
        assert!(batch.columns().is_some());
        assert_eq!(batch.next_verdicts(10, none).unwrap(), []);
        batch
            .push(b"0900002\n9990000026,07700900001\n9990000018,07700900003")
            .unwrap();
        let mut asked = Vec::new();
        let page = batch
            .next_verdicts(10, |numbers| {
                asked.push(e164(numbers));
                Vec::new()
            })
            .unwrap();
        assert_eq!(page.iter().map(|v| v.row).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(asked, [["+447700900001", "+447700900002"]]);
        // The last row has no line break: only the end completes it, and it
        // is a duplicate of row 2, two pages back.
        assert!(!batch.is_done());
        batch.end().unwrap();
        let page = batch.next_verdicts(10, |_| Vec::new()).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].row, 4);
        assert_eq!(page[0].reasons[0].code, ReasonCode::DuplicateNhsNumber);
        assert!(page[0].reasons[0].message.contains("row 2"));
        assert!(batch.is_done());
        assert_eq!(batch.history_counts(), (3, 0));
    }

    /// The cells buffer is emptied and reused once a chunk's rows are
    /// judged: a row of the next chunk shows its own cells, not what the
    /// buffer held before.
    #[test]
    fn a_rejected_row_shows_its_own_cells_after_the_buffer_is_reused() {
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        batch
            .push(b"NHS Number,Mobile\n123,07700900002\n9990000018,07700900001\n")
            .unwrap();
        let first = batch.next_verdicts(10, |_| Vec::new()).unwrap();
        assert_eq!(first[0].cells, ["123", "07700900002"]);
        assert!(first[1].cells.is_empty(), "accepted: no cells");
        batch.push(b"9990000026,not a number\n").unwrap();
        let second = batch.next_verdicts(10, |_| Vec::new()).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].cells, ["9990000026", "not a number"]);
    }

    /// A problem found late voids the verdicts given before it: every call
    /// after it gives the error.
    /// Row `i`'s mobile: 07700 000000 to 07700 000999, then 07700 900000 to
    /// 07700 900999, and again.
    fn mobile_of(i: usize) -> String {
        format!("07700{:06}", i % 1000 + 900_000 * (i / 1000 % 2))
    }

    /// The distinct numbers of rows `range`, in E.164, in order: what the
    /// batch should ask about them, worked out apart from it.
    fn distinct(range: std::ops::Range<usize>) -> Vec<String> {
        let mut n: Vec<String> = range
            .map(|i| format!("+44{}", &mobile_of(i)[1..]))
            .collect();
        n.sort();
        n.dedup();
        n
    }

    fn rows(range: std::ops::Range<usize>) -> String {
        range
            .map(|i| format!("9990000018,{}\n", mobile_of(i)))
            .collect()
    }

    #[test]
    fn each_chunk_is_asked_about_as_it_is_read_and_looked_up_in_that_order() {
        // A chunk of a full group and 5 rows more, then a chunk of 7.
        let first = GROUP_ROWS + 5;
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        let mut asked: Vec<Vec<String>> = Vec::new();
        let chunk = format!("NHS Number,Mobile\n{}", rows(0..first));
        batch
            .push_asking(chunk.as_bytes(), |numbers| asked.push(e164(numbers)))
            .unwrap();
        batch
            .push_asking(rows(first..first + 7).as_bytes(), |numbers| {
                asked.push(e164(numbers))
            })
            .unwrap();
        batch
            .end_asking(|_| panic!("every row was asked about"))
            .unwrap();
        assert_eq!(
            asked,
            [
                distinct(0..GROUP_ROWS),
                distinct(GROUP_ROWS..first),
                distinct(first..first + 7)
            ]
        );
        let mut looked_up = Vec::new();
        let mut verdicts = 0;
        loop {
            let page = batch
                .next_verdicts(4096, |numbers| {
                    looked_up.push(e164(numbers));
                    Vec::new()
                })
                .unwrap();
            if page.is_empty() {
                break;
            }
            verdicts += page.len();
        }
        assert_eq!(looked_up, asked);
        assert_eq!(verdicts, first + 7);
        assert!(batch.is_done());
    }

    #[test]
    fn a_group_whose_answer_has_not_come_waits_until_the_file_ends() {
        let mut batch = Batch::new(Rules::default_rules(), NOW);
        let chunk = format!("NHS Number,Mobile\n{}", rows(0..3));
        batch.push(chunk.as_bytes()).unwrap();
        let unanswered = |_: &[Mobile]| -> Vec<(u32, Attempt)> { panic!("not ready") };
        // Not ready: nothing judged, an empty page.
        let page = batch.next_ready_verdicts(10, || false, unanswered).unwrap();
        assert_eq!(page, []);
        batch.push(rows(3..5).as_bytes()).unwrap();
        // Ready: the first chunk's rows, and only those.
        let page = batch
            .next_ready_verdicts(10, || true, |_| Vec::new())
            .unwrap();
        assert_eq!(page.iter().map(|v| v.row).collect::<Vec<_>>(), [2, 3, 4]);
        // After the end nothing waits: readiness is not even asked.
        batch.end().unwrap();
        let page = batch
            .next_ready_verdicts(10, || panic!("asked after the end"), |_| Vec::new())
            .unwrap();
        assert_eq!(page.iter().map(|v| v.row).collect::<Vec<_>>(), [5, 6]);
        assert!(batch.is_done());
    }

    #[test]
    fn a_file_error_is_final() {
        let rules = Rules::parse("name = \"x\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 1").unwrap();
        let mut batch = Batch::new(rules, NOW);
        batch
            .push(b"NHS Number,Mobile\n9990000018,07700900002\n")
            .unwrap();
        assert_eq!(batch.next_verdicts(10, |_| Vec::new()).unwrap().len(), 1);
        let error = batch.push(b"9990000026,07700900001\n").unwrap_err();
        assert_eq!((error.code, error.row), ("too-many-rows", Some(3)));
        assert_eq!(batch.next_verdicts(10, |_| Vec::new()).unwrap_err(), error);
        assert_eq!(batch.end().unwrap_err(), error);
        assert!(!batch.is_done());
    }

    /// An answer as the stores give it (number by number, each in scoring
    /// order or not), with positions past the numbers asked about.
    fn answer_in_number_order() -> impl Strategy<Value = (usize, Vec<(u32, Attempt)>)> {
        let attempt = (0..40i64, 0..6u8).prop_map(|(days, o)| Attempt {
            sent_at: NOW - days * 86_400 + 3_600,
            outcome: [
                Outcome::Delivered,
                Outcome::Pending,
                Outcome::TechnicalFailure,
                Outcome::Failed,
                Outcome::TemporaryFailure,
                Outcome::PermanentFailure,
            ][usize::from(o)],
        });
        (
            1..30usize,
            proptest::collection::vec((0..34u32, attempt), 0..200),
        )
            .prop_map(|(count, mut answer)| {
                answer.sort_by_key(|&(owner, _)| owner);
                (count, answer)
            })
    }

    proptest::proptest! {
        /// The oracles: the counting sort of any order, and each number's
        /// attempts picked out of the answer and scored alone.
        #[test]
        fn an_answer_in_number_order_scores_as_any_order_does(
            (count, answer) in answer_in_number_order(),
            rotate in 0usize..200,
        ) {
            let rules = Rules::default_rules();
            let in_turn = score_all(answer.clone(), count, NOW, &rules);
            let mut shuffled = answer.clone();
            if !shuffled.is_empty() {
                let by = rotate % shuffled.len();
                shuffled.rotate_left(by);
                shuffled.reverse();
            }
            let grouped = score_grouped(shuffled, count, NOW, &rules);
            prop_assert_eq!(&in_turn, &grouped);
            let alone: Vec<Score> = (0..count as u32)
                .map(|i| {
                    let own: Vec<Attempt> =
                        answer.iter().filter(|(o, _)| *o == i).map(|&(_, a)| a).collect();
                    history::score(&own, NOW, &rules.scoring)
                })
                .collect();
            prop_assert_eq!(&in_turn, &alone);
        }
    }
}
