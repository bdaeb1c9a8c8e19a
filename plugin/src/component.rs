//! The wit-bindgen glue: `wit/validator.wit` on one side, the plain Rust
//! validator on the other. Nothing here decides anything about patients.
//!
//! With the feature `contract-1-3` it implements the world as version 1.3.0
//! was released (`wit/1.3.0/`: no `next-page`, so pages go as lists of
//! compact verdicts); with `contract-1-2` it implements the world as version 1.2.0
//! was released (`wit/1.2.0/`: no `pending-lookup`, so history is asked as
//! each group is judged), with `contract-1-1` as 1.1.0 was (`wit/1.1.0/`:
//! no `next-compact` or `lookup-mobiles` either), and with `contract-1-0` as
//! 1.0.0 was (`wit/1.0.0/`: no `end`, `next-verdicts` or `columns` either):
//! the tests build it so, to prove hosts still run validators of those
//! versions.

use std::cell::{Cell, RefCell};
#[cfg(not(any(
    feature = "contract-1-0",
    feature = "contract-1-1",
    feature = "contract-1-2"
)))]
use std::collections::VecDeque;
use std::sync::Once;

use exports::presend::validator::validator::{self as wit, Guest, GuestBatch};
use presend::validator::types as t;
use presend::validator::{history, log};

use crate::batch::Batch;
use crate::history::{Attempt, Outcome};
use crate::mobile::Mobile;
use crate::rules::{Rules, RulesError};
use crate::table::FileError;
use crate::verdict::{Reason, Status, Verdict};

#[cfg(not(any(
    feature = "contract-1-0",
    feature = "contract-1-1",
    feature = "contract-1-2",
    feature = "contract-1-3"
)))]
wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../wit",
});
#[cfg(feature = "contract-1-3")]
wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../wit/1.3.0",
});
#[cfg(feature = "contract-1-2")]
wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../wit/1.2.0",
});
#[cfg(feature = "contract-1-1")]
wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../wit/1.1.0",
});
#[cfg(feature = "contract-1-0")]
wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../wit/1.0.0",
});

// Talc in place of wasm32's default dlmalloc: a warm 100k-row batch took
// 3.1% fewer instructions with history (2.2% without; callgrind), most of
// it in freeing each page's verdicts after the host has read them, and
// 200,000 rows fit in 22 MiB of guest memory instead of 24.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

struct Component;

export!(Component);

/// A panic aborts the instance with a bare `unreachable` trap; log the message
/// first so the host can say why. Panic messages are the validator's own
/// (index errors, failed expectations), never cell contents.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::log(t::LogLevel::Error, &format!("validator panicked: {info}"));
        }));
    });
}

impl Guest for Component {
    type Batch = BatchSession;

    fn identity() -> t::ValidatorIdentity {
        t::ValidatorIdentity {
            name: crate::identity::NAME.to_string(),
            version: crate::identity::VERSION.to_string(),
        }
    }

    fn default_rules() -> String {
        crate::rules::DEFAULT_RULES.to_string()
    }

    fn check_rules(rules: String) -> Result<t::RulesIdentity, t::RulesError> {
        install_panic_hook();
        let rules = Rules::parse(&rules).map_err(rules_error)?;
        Ok(t::RulesIdentity {
            name: rules.name.0,
            version: rules.version.0,
        })
    }

    fn normalise_numbers(numbers: Vec<String>) -> Vec<Result<String, t::Reason>> {
        install_panic_hook();
        numbers
            .iter()
            .map(|n| crate::mobile::normalise(n).map_err(reason))
            .collect()
    }
}

/// The `batch` resource: the plain `Batch` until `finish` takes it, and
/// the patients judged so far by status, for the log.
pub struct BatchSession {
    batch: RefCell<Option<Batch>>,
    // Counted page by page: 1.0.0 has no pages.
    #[cfg_attr(feature = "contract-1-0", allow(dead_code))]
    counts: Cell<Counts>,
    logged: Cell<bool>,
    /// The lookups asked ahead and not yet taken (1.3.0), oldest first.
    #[cfg(not(any(
        feature = "contract-1-0",
        feature = "contract-1-1",
        feature = "contract-1-2"
    )))]
    pending: RefCell<VecDeque<history::PendingLookup>>,
}

/// Patients judged so far: accepted, rejected, likely-to-fail.
#[derive(Clone, Copy, Default)]
struct Counts([usize; 3]);

impl Counts {
    fn add(mut self, verdicts: &[Verdict]) -> Counts {
        for v in verdicts {
            self.0[v.status as usize] += 1;
        }
        self
    }
}

impl BatchSession {
    /// Runs `f` on the batch, unless `finish` has taken it; a file error is
    /// logged (by code) once.
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Batch) -> Result<R, FileError>,
    ) -> Result<R, t::FileError> {
        let mut batch = self.batch.borrow_mut();
        let batch = batch.as_mut().ok_or_else(finished)?;
        f(batch).map_err(|e| {
            if !self.logged.replace(true) {
                log::log(t::LogLevel::Info, &format!("batch refused: {}", e.code));
            }
            file_error(e)
        })
    }
}

impl BatchSession {
    /// The next page of up to `max` verdicts, history asked with `lookup`;
    /// after the last, the batch's summary is logged.
    #[cfg(not(feature = "contract-1-0"))]
    fn page(
        &self,
        max: u32,
        ready: impl FnOnce() -> bool,
        lookup: impl FnOnce(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> Result<Vec<Verdict>, t::FileError> {
        install_panic_hook();
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let (page, done) = self.with(|batch| {
            let page = batch.next_ready_verdicts(max, ready, lookup)?;
            Ok((page, batch.is_done()))
        })?;
        let counts = self.counts.get().add(&page);
        self.counts.set(counts);
        if page.is_empty() && done && !self.logged.replace(true) {
            let batch = self.batch.borrow();
            if let Some(batch) = batch.as_ref() {
                let (numbers, future) = batch.history_counts();
                log_summary(counts, numbers, future, batch.encoding());
            }
        }
        Ok(page)
    }
}

impl GuestBatch for BatchSession {
    fn open(rules: String, now: i64) -> Result<wit::Batch, t::RulesError> {
        install_panic_hook();
        let rules = Rules::parse(&rules).map_err(rules_error)?;
        Ok(wit::Batch::new(BatchSession {
            batch: RefCell::new(Some(Batch::new(rules, now))),
            counts: Cell::default(),
            logged: Cell::new(false),
            #[cfg(not(any(
                feature = "contract-1-0",
                feature = "contract-1-1",
                feature = "contract-1-2"
            )))]
            pending: RefCell::default(),
        }))
    }

    fn push(&self, chunk: Vec<u8>) -> Result<(), t::FileError> {
        self.with(|batch| batch.push_asking(&chunk, |numbers| self.ask(numbers)))
    }

    fn finish(&self) -> Result<t::BatchResult, t::FileError> {
        install_panic_hook();
        let batch = self.batch.borrow_mut().take().ok_or_else(finished)?;
        let result = batch.finish(lookup).map_err(|e| {
            log::log(t::LogLevel::Info, &format!("batch refused: {}", e.code));
            file_error(e)
        })?;
        let counts = Counts::default().add(&result.verdicts);
        log_summary(
            counts,
            result.numbers_looked_up,
            result.future_attempts,
            result.encoding,
        );
        Ok(t::BatchResult {
            rules: t::RulesIdentity {
                name: result.rules_name,
                version: result.rules_version,
            },
            columns: columns(result.columns),
            verdicts: result.verdicts.into_iter().map(verdict).collect(),
        })
    }

    #[cfg(not(feature = "contract-1-0"))]
    fn end(&self) -> Result<(), t::FileError> {
        install_panic_hook();
        self.with(|batch| batch.end_asking(|numbers| self.ask(numbers)))
    }

    #[cfg(not(feature = "contract-1-0"))]
    fn next_verdicts(&self, max: u32) -> Result<Vec<t::Verdict>, t::FileError> {
        Ok(self
            .page(
                max,
                || self.ready(),
                |numbers| self.take_or(numbers, lookup),
            )?
            .into_iter()
            .map(verdict)
            .collect())
    }

    #[cfg(not(any(feature = "contract-1-0", feature = "contract-1-1")))]
    fn next_compact(&self, max: u32) -> Result<Vec<t::CompactVerdict>, t::FileError> {
        Ok(self
            .page(
                max,
                || self.ready(),
                |numbers| self.take_or(numbers, lookup_mobiles),
            )?
            .into_iter()
            .map(compact)
            .collect())
    }

    #[cfg(not(any(
        feature = "contract-1-0",
        feature = "contract-1-1",
        feature = "contract-1-2",
        feature = "contract-1-3"
    )))]
    fn next_page(&self, max: u32) -> Result<t::VerdictPage, t::FileError> {
        let verdicts = self.page(
            max,
            || self.ready(),
            |numbers| self.take_or(numbers, lookup_mobiles),
        )?;
        Ok(page(crate::page::Page::of(&verdicts)))
    }

    #[cfg(not(feature = "contract-1-0"))]
    fn columns(&self) -> Option<t::Columns> {
        let batch = self.batch.borrow();
        batch.as_ref()?.columns().cloned().map(columns)
    }
}

/// History asked ahead (1.3.0): each chunk's question goes to the host as
/// soon as the chunk is read, and its answer is taken when it is judged;
/// until the file ends, rows whose answer has not come wait for a later page.
#[cfg(not(any(
    feature = "contract-1-0",
    feature = "contract-1-1",
    feature = "contract-1-2"
)))]
impl BatchSession {
    fn ask(&self, numbers: &[Mobile]) {
        let numbers: Vec<u64> = numbers.iter().map(|m| m.digits()).collect();
        let pending = history::PendingLookup::new(&numbers);
        self.pending.borrow_mut().push_back(pending);
    }

    /// Whether the oldest lookup not taken has its answer.
    fn ready(&self) -> bool {
        self.pending.borrow().front().is_none_or(|p| p.ready())
    }

    /// The answer to the oldest lookup not taken (the batch asks about the
    /// groups in the order it told `ask`), or else `lookup`'s.
    fn take_or(
        &self,
        numbers: &[Mobile],
        lookup: fn(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> Vec<(u32, Attempt)> {
        match self.pending.borrow_mut().pop_front() {
            Some(pending) => attempts(history::PendingLookup::take(pending)),
            None => lookup(numbers),
        }
    }
}

/// History asked as each group is judged (1.2.0 and before).
#[cfg(any(
    feature = "contract-1-0",
    feature = "contract-1-1",
    feature = "contract-1-2"
))]
impl BatchSession {
    fn ask(&self, _: &[Mobile]) {}

    #[cfg(not(feature = "contract-1-0"))]
    fn ready(&self) -> bool {
        true
    }

    #[cfg(not(feature = "contract-1-0"))]
    fn take_or(
        &self,
        numbers: &[Mobile],
        lookup: fn(&[Mobile]) -> Vec<(u32, Attempt)>,
    ) -> Vec<(u32, Attempt)> {
        lookup(numbers)
    }
}

/// History through `history.lookup`, the numbers as E.164 strings.
fn lookup(numbers: &[Mobile]) -> Vec<(u32, Attempt)> {
    let numbers: Vec<String> = numbers.iter().map(|m| m.e164()).collect();
    history::lookup(&numbers)
        .into_iter()
        .map(|a| {
            let attempt = Attempt {
                sent_at: a.sent_at,
                outcome: outcome(a.outcome),
            };
            (a.number, attempt)
        })
        .collect()
}

/// History through `history.lookup-mobiles` (1.2.0), the numbers as
/// integers and the answer one list a field.
#[cfg(not(any(feature = "contract-1-0", feature = "contract-1-1")))]
fn lookup_mobiles(numbers: &[Mobile]) -> Vec<(u32, Attempt)> {
    let numbers: Vec<u64> = numbers.iter().map(|m| m.digits()).collect();
    attempts(history::lookup_mobiles(&numbers))
}

/// An answer of `lookup-mobiles` or `pending-lookup.take`, attempt by
/// attempt.
#[cfg(not(any(feature = "contract-1-0", feature = "contract-1-1")))]
fn attempts(answer: t::Attempts) -> Vec<(u32, Attempt)> {
    let t::Attempts {
        number,
        sent_at,
        outcome: outcomes,
    } = answer;
    number
        .into_iter()
        .zip(sent_at)
        .zip(outcomes)
        .map(|((number, sent_at), o)| {
            let attempt = Attempt {
                sent_at,
                outcome: outcome(o),
            };
            (number, attempt)
        })
        .collect()
}

/// Counts only: never a number, a name or a date.
fn log_summary(counts: Counts, numbers: usize, future: usize, encoding: crate::decode::Encoding) {
    let [accepted, rejected, likely_to_fail] = counts.0;
    log::log(
        t::LogLevel::Debug,
        &format!(
            "batch judged: {} patients ({accepted} accepted, {rejected} rejected, {likely_to_fail} likely-to-fail), history asked for {numbers} numbers, file read as {encoding:?}",
            accepted + rejected + likely_to_fail,
        ),
    );
    if future > 0 {
        log::log(
            t::LogLevel::Warn,
            &format!(
                "history: {future} attempts dated after now (beyond the rules' clock_skew_seconds) were not counted"
            ),
        );
    }
}

fn finished() -> t::FileError {
    t::FileError {
        code: "batch-finished".to_string(),
        message: "This batch has already finished – open a new batch".to_string(),
        row: None,
    }
}

fn outcome(o: t::Outcome) -> Outcome {
    match o {
        t::Outcome::Delivered => Outcome::Delivered,
        t::Outcome::Failed => Outcome::Failed,
        t::Outcome::PermanentFailure => Outcome::PermanentFailure,
        t::Outcome::TemporaryFailure => Outcome::TemporaryFailure,
        t::Outcome::TechnicalFailure => Outcome::TechnicalFailure,
        t::Outcome::Pending => Outcome::Pending,
    }
}

fn rules_error(e: RulesError) -> t::RulesError {
    t::RulesError {
        message: e.message,
        line: e.line,
        column: e.column,
    }
}

fn file_error(e: FileError) -> t::FileError {
    t::FileError {
        code: e.code.to_string(),
        message: e.message,
        row: e.row,
    }
}

fn reason(r: Reason) -> t::Reason {
    t::Reason {
        code: r.code.as_str().to_string(),
        message: r.message.into_owned(),
    }
}

fn status(s: Status) -> t::Status {
    match s {
        Status::Accepted => t::Status::Accepted,
        Status::Rejected => t::Status::Rejected,
        Status::LikelyToFail => t::Status::LikelyToFail,
    }
}

fn verdict(v: Verdict) -> t::Verdict {
    t::Verdict {
        row: v.row,
        nhs_number: v.nhs_number.map(crate::nhs::format),
        mobile_number: v.mobile_number.map(crate::mobile::e164),
        status: status(v.status),
        reasons: v.reasons.into_iter().map(reason).collect(),
        success_probability: v.success_probability,
        cells: v.cells,
    }
}

#[cfg(not(any(feature = "contract-1-0", feature = "contract-1-1")))]
fn compact(v: Verdict) -> t::CompactVerdict {
    t::CompactVerdict {
        row: v.row,
        nhs_number: v.nhs_number,
        mobile_number: v.mobile_number,
        status: status(v.status),
        reasons: v.reasons.into_iter().map(reason).collect(),
        success_probability: v.success_probability,
        cells: v.cells,
    }
}

#[cfg(not(any(
    feature = "contract-1-0",
    feature = "contract-1-1",
    feature = "contract-1-2",
    feature = "contract-1-3"
)))]
fn page(p: crate::page::Page) -> t::VerdictPage {
    t::VerdictPage {
        rows: p.rows,
        statuses: p.statuses.into_iter().map(status).collect(),
        nhs_numbers: p.nhs_numbers,
        mobile_numbers: p.mobile_numbers,
        success_probabilities: p.success_probabilities,
        reason_counts: p.reason_counts,
        cell_counts: p.cell_counts,
        text: p.text,
        text_ends: p.text_ends,
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn columns(c: crate::table::Columns) -> t::Columns {
    t::Columns {
        headers: c.headers,
        nhs_number: index(c.nhs_number),
        mobile_number: index(c.mobile_number),
        date_of_birth: c.date_of_birth.map(index),
    }
}
