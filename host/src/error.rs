//! The errors of the host library.

use std::path::PathBuf;
use std::time::Duration;

use crate::codes::FileErrorCode;
use crate::diff::VerdictDiff;
use crate::limits::{Counted, Limit};

/// The cause an error keeps, whatever its type: a platform can walk the
/// chain with [`std::error::Error::source`] and downcast it (a
/// `rusqlite::Error`, an `std::io::Error`, wasmtime's error...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when embedding the validator. Each message
/// says what was wrong, where, and what to do; [`Error::kind`] says whose
/// problem it is, and so what a platform should do about it.
///
/// A failure's cause, where there is one, is its
/// [`source`](std::error::Error::source): log the whole chain (`{:#}` with
/// `anyhow`, or walk `source()`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error(
        "{origin} is not a validator component wasmtime can load – build it with `cargo build --target wasm32-unknown-unknown` and wit-component, or use the embedded validator"
    )]
    InvalidComponent {
        /// Where the component came from (a path, or "the embedded validator").
        origin: String,
        /// wasmtime's reason.
        #[source]
        source: BoxError,
    },

    /// The component does not implement a compatible version of the world.
    #[error(
        "{origin} does not implement presend:validator/pre-send-validator@{expected} (major version {major}){}: {message} – build it against wit/ of this host's version, or use the embedded validator",
        found.as_ref().map(|v| format!("; it implements version {v}")).unwrap_or_default()
    )]
    IncompatibleComponent {
        /// Where the component came from.
        origin: String,
        /// The WIT version this host implements.
        expected: &'static str,
        /// Its major version.
        major: u64,
        /// The version of the world the component implements, when it names one.
        found: Option<String>,
        /// What does not fit.
        message: String,
    },

    /// The component imports something presend never provides (WASI's files,
    /// network, environment or clock, or anything else outside the world).
    #[error(
        "{origin} imports {import}, which presend never provides: a validator gets no files, network, environment or clock – build it for wasm32-unknown-unknown against wit/ alone"
    )]
    ForbiddenImport {
        /// Where the component came from.
        origin: String,
        /// The import, by name.
        import: String,
    },

    /// A rules document was refused by the validator.
    #[error(
        "{origin}:{line}:{column}: {message} – fix the rules and check them with `presend check-rules`"
    )]
    Rules {
        /// Where the rules came from.
        origin: String,
        /// 1-based line (0: no single place).
        line: u32,
        /// 1-based column (0: no single place).
        column: u32,
        /// The validator's message.
        message: String,
    },

    /// The patient file cannot be validated as a whole.
    #[error("{}{message}", row.map(|r| format!("row {r}: ")).unwrap_or_default())]
    File {
        /// Stable code: `empty-file`, `missing-column`, `too-many-rows`, `malformed-csv`...
        code: FileErrorCode,
        /// The validator's message, which says what to do.
        message: String,
        /// The spreadsheet row, when there is one.
        row: Option<u32>,
    },

    /// The validator ran past its time budget; the batch was stopped.
    #[error(
        "validator {plugin} ran out of time ({budget:?} budget) and was stopped; no verdicts were produced – raise the time limit or split the file"
    )]
    Timeout {
        /// Name and version of the validator.
        plugin: String,
        /// The budget it had.
        budget: Duration,
    },

    /// The validator tried to use more memory than allowed; the batch was stopped.
    #[error(
        "validator {plugin} hit its memory limit ({limit_bytes} bytes) and was stopped; no verdicts were produced – raise the memory limit or split the file"
    )]
    MemoryLimit {
        /// Name and version of the validator.
        plugin: String,
        /// The limit.
        limit_bytes: usize,
    },

    /// The validator trapped (panicked, or broke the contract); the batch was stopped.
    #[error("validator {plugin} failed and was stopped; no verdicts were produced: {message}")]
    Trap {
        /// Name and version of the validator.
        plugin: String,
        /// The guest's panic message when it gave one, else wasmtime's.
        message: String,
    },

    /// The validator went over one of the limits of [`crate::Limits`]; the
    /// batch was stopped.
    #[error(
        "validator {plugin} went over its limit of {limit} and was stopped; no verdicts were produced – a working validator stays far below it: roll back to the previous validator"
    )]
    LimitExceeded {
        /// Name and version of the validator.
        plugin: String,
        /// Which limit, and its value.
        limit: Limit,
    },

    /// The validator's answer does not fit the file it was given (rows out of
    /// range, out of order or repeated, an accepted patient without a
    /// number...); the whole answer was refused.
    #[error(
        "validator {plugin} broke the contract and its answer was refused; no verdicts were produced: {message} – roll back to the previous validator"
    )]
    ContractViolation {
        /// Name and version of the validator.
        plugin: String,
        /// What was wrong with the answer (rows and counts only).
        message: String,
    },

    /// The patient file is larger than [`crate::Limits::input_bytes`].
    #[error(
        "the file is {bytes} bytes, more than the {limit} bytes a batch may have – split it into smaller files"
    )]
    InputTooLarge {
        /// The file's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },

    /// A streamed batch could not read its file or hand over its verdicts:
    /// the reader or the [`crate::VerdictSink`] the platform gave failed.
    /// The batch is void: use none of the verdicts it gave.
    #[error("{doing} failed: {source} – the batch is void; run it again")]
    Stream {
        /// `reading the file` or `writing the verdicts`.
        doing: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A new rule version's canary batch failed; the old version still serves.
    #[error(
        "preflight: the canary batch {canary} failed on the new version, which was not activated: {source}"
    )]
    CanaryFailed {
        /// The canary file.
        canary: String,
        /// Why it failed.
        source: Box<Error>,
    },

    /// A new rule version's canary verdicts differ from those expected; the
    /// old version still serves.
    #[error(
        "preflight: on the canary batch {canary} the new version's verdicts differ from the expected ones ({}), so it was not activated – read them with `presend diff`, then deploy with --force if the change is intended:\n{diff}",
        diff.summary()
    )]
    CanaryChanged {
        /// The canary file.
        canary: String,
        /// The rows that differ (its `Display` lists the first of them).
        diff: VerdictDiff,
    },

    /// A file of a deploy directory cannot be deployed.
    #[error("{}: {problem}", path.display())]
    DeployFile {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        problem: String,
    },

    /// A rollback was asked for, but nothing served before.
    #[error("there is no previous deployment to roll back to")]
    NoPreviousDeployment,

    /// Expected verdicts could not be read.
    #[error(
        "{origin}:{line}:{column}: not a report of expected verdicts ({message}) – write one with `presend validate --format json`"
    )]
    Expected {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },

    /// The history store could not answer.
    #[error("history {origin}: {message}")]
    History {
        /// The store (a path).
        origin: String,
        /// What went wrong, and where, and what to do.
        message: String,
        /// The store's own error (a `rusqlite::Error`, an `std::io::Error`...),
        /// when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// A time could not be read.
    #[error(
        "{origin}: {value:?} is not a time – use RFC 3339 (2026-11-27T09:30:00Z) or YYYY-MM-DD HH:MM:SS in UTC"
    )]
    Time {
        /// Where the value came from.
        origin: String,
        /// The text.
        value: String,
    },

    /// As many validator instances were running as the runtime has room for
    /// ([`crate::Limits::instances`]): nothing was validated. Try again
    /// shortly, or make the runtime with more.
    #[error(
        "all {instances} validator instances are in use – try again shortly, or raise Limits::instances"
    )]
    Busy {
        /// How many instances the runtime has.
        instances: usize,
    },

    /// The runtime could not be set up (the engine, its epoch thread, the
    /// cache's key): not the validator's doing, nor the file's.
    #[error("{doing} failed")]
    Runtime {
        /// What the host was doing.
        doing: &'static str,
        /// Why it failed.
        #[source]
        source: BoxError,
    },
}

/// Whose problem an [`Error`] is, and so what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The practice's file cannot be validated as a whole ([`Error::File`],
    /// [`Error::InputTooLarge`]). Show the practice the message (it names
    /// the row or column and what to fix) and send nothing; the same file
    /// gives the same error again.
    File,
    /// The history store failed ([`Error::History`]). The batch sent
    /// nothing; retry later, and page whoever runs the store if it goes on.
    /// The cause is the store's own error (a `rusqlite::Error`...).
    History,
    /// The deployed validator misbehaved: out of time or memory, trapped,
    /// over a limit, or broke the contract ([`Error::plugin`] names it).
    /// Roll back to the previous version; the practice's file is not at
    /// fault.
    Validator,
    /// What the platform or its operator gave is not usable: a component,
    /// a rules document, a deploy directory, a canary, a time. Fix the
    /// configuration; nothing was activated or validated.
    Configuration,
    /// The host itself: a file it could not read or write, the runtime it
    /// could not set up, a streamed batch's reader or sink that failed
    /// ([`Error::Stream`]), no instance free ([`Error::Busy`]: retry). Look
    /// at the cause.
    Host,
}

impl Error {
    /// Whose problem this is; see [`ErrorKind`] for what to do.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::File { .. } | Error::InputTooLarge { .. } => ErrorKind::File,
            Error::History { .. } => ErrorKind::History,
            Error::Timeout { .. }
            | Error::MemoryLimit { .. }
            | Error::Trap { .. }
            | Error::LimitExceeded { .. }
            | Error::ContractViolation { .. } => ErrorKind::Validator,
            Error::InvalidComponent { .. }
            | Error::IncompatibleComponent { .. }
            | Error::ForbiddenImport { .. }
            | Error::Rules { .. }
            | Error::CanaryFailed { .. }
            | Error::CanaryChanged { .. }
            | Error::DeployFile { .. }
            | Error::NoPreviousDeployment
            | Error::Expected { .. }
            | Error::Time { .. } => ErrorKind::Configuration,
            Error::Io { .. }
            | Error::Runtime { .. }
            | Error::Stream { .. }
            | Error::Busy { .. } => ErrorKind::Host,
        }
    }

    /// A history store's failure, for implementers of
    /// [`crate::history::HistoryStore`]: `origin` names the store (a path, a
    /// URL without its password), `message` says what went wrong.
    pub fn history(origin: impl Into<String>, message: impl Into<String>) -> Error {
        Error::History {
            origin: origin.into(),
            message: message.into(),
            source: None,
        }
    }

    /// [`Error::history`], keeping the store's own error as the cause.
    pub fn history_caused_by(
        origin: impl Into<String>,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Error {
        Error::History {
            origin: origin.into(),
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What [`crate::Counters`] counts this error as, if anything.
    pub(crate) fn counted(&self) -> Option<Counted> {
        Some(match self {
            Error::File { .. } => Counted::FileRefused,
            Error::Trap { .. } => Counted::Trap,
            Error::Timeout { .. } => Counted::Timeout,
            Error::MemoryLimit { .. } => Counted::MemoryLimit,
            Error::LimitExceeded { .. } | Error::InputTooLarge { .. } => Counted::LimitHit,
            Error::ContractViolation { .. } => Counted::ContractViolation,
            Error::History { .. } => Counted::HistoryFailure,
            _ => return None,
        })
    }

    /// The validator's name and version when the error is the validator's doing.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Error::Timeout { plugin, .. }
            | Error::MemoryLimit { plugin, .. }
            | Error::Trap { plugin, .. }
            | Error::LimitExceeded { plugin, .. }
            | Error::ContractViolation { plugin, .. } => Some(plugin),
            _ => None,
        }
    }
}

/// Shorthand for the library's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
