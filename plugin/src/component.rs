//! The wit-bindgen glue: `wit/validator.wit` on one side, the plain Rust
//! validator on the other. Nothing here decides anything about patients.

use std::cell::RefCell;
use std::sync::Once;

use exports::presend::validator::validator::{self as wit, Guest, GuestBatch};
use presend::validator::types as t;
use presend::validator::{history, log};

use crate::batch::BatchResult;
use crate::history::{Attempt, Outcome};
use crate::rules::{Rules, RulesError};
use crate::table::FileError;
use crate::verdict::{Reason, Status, Verdict};

wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../wit",
});

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

/// The `batch` resource: the plain `Batch` until `finish` takes it.
pub struct BatchSession(RefCell<Option<crate::batch::Batch>>);

impl GuestBatch for BatchSession {
    fn open(rules: String, now: i64) -> Result<wit::Batch, t::RulesError> {
        install_panic_hook();
        let rules = Rules::parse(&rules).map_err(rules_error)?;
        let session = BatchSession(RefCell::new(Some(crate::batch::Batch::new(rules, now))));
        Ok(wit::Batch::new(session))
    }

    fn push(&self, chunk: Vec<u8>) -> Result<(), t::FileError> {
        match self.0.borrow_mut().as_mut() {
            Some(batch) => {
                batch.push(&chunk);
                Ok(())
            }
            None => Err(finished()),
        }
    }

    fn finish(&self) -> Result<t::BatchResult, t::FileError> {
        install_panic_hook();
        let batch = self.0.borrow_mut().take().ok_or_else(finished)?;
        let result = batch.finish(lookup).map_err(|e| {
            log::log(t::LogLevel::Info, &format!("batch refused: {}", e.code));
            file_error(e)
        })?;
        log_summary(&result);
        Ok(batch_result(result))
    }
}

fn lookup(numbers: &[String]) -> Vec<(u32, Attempt)> {
    history::lookup(numbers)
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

/// Counts only: never a number, a name or a date.
fn log_summary(result: &BatchResult) {
    let count = |s: Status| result.verdicts.iter().filter(|v| v.status == s).count();
    log::log(
        t::LogLevel::Debug,
        &format!(
            "batch judged: {} patients ({} accepted, {} rejected, {} likely-to-fail), history asked for {} numbers, file read as {:?}",
            result.verdicts.len(),
            count(Status::Accepted),
            count(Status::Rejected),
            count(Status::LikelyToFail),
            result.numbers_looked_up,
            result.encoding,
        ),
    );
    if result.future_attempts > 0 {
        log::log(
            t::LogLevel::Warn,
            &format!(
                "history: {} attempts dated after now (beyond the rules' clock_skew_seconds) were not counted",
                result.future_attempts
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
        nhs_number: v.nhs_number,
        mobile_number: v.mobile_number,
        status: status(v.status),
        reasons: v.reasons.into_iter().map(reason).collect(),
        success_probability: v.success_probability,
        cells: v.cells,
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn batch_result(r: BatchResult) -> t::BatchResult {
    t::BatchResult {
        rules: t::RulesIdentity {
            name: r.rules_name,
            version: r.rules_version,
        },
        columns: t::Columns {
            headers: r.columns.headers,
            nhs_number: index(r.columns.nhs_number),
            mobile_number: index(r.columns.mobile_number),
            date_of_birth: r.columns.date_of_birth.map(index),
        },
        verdicts: r.verdicts.into_iter().map(verdict).collect(),
    }
}
