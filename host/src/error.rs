//! The errors of the host library.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong when embedding the validator. Each message
/// says what was wrong, where, and what to do.
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
        "{origin} is not a validator component wasmtime can load: {message} – build it with `cargo build --target wasm32-unknown-unknown` and wit-component, or use the embedded validator"
    )]
    InvalidComponent {
        /// Where the component came from (a path, or "the embedded validator").
        origin: String,
        /// wasmtime's reason.
        message: String,
    },

    /// The component does not implement a compatible version of the world.
    #[error(
        "{origin} does not implement presend:validator/pre-send-validator@{expected} (major version {major}): {message}"
    )]
    IncompatibleComponent {
        /// Where the component came from.
        origin: String,
        /// The WIT version this host implements.
        expected: &'static str,
        /// Its major version.
        major: u64,
        /// wasmtime's reason.
        message: String,
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
        code: String,
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

    /// The history store could not answer.
    #[error("history {origin}: {message}")]
    History {
        /// The store (a path).
        origin: String,
        /// What went wrong, and where.
        message: String,
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

    /// A problem inside wasmtime that is not the validator's doing.
    #[error("wasmtime: {0}")]
    Runtime(String),
}

impl Error {
    /// The validator's name and version when the error is the validator's doing.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Error::Timeout { plugin, .. }
            | Error::MemoryLimit { plugin, .. }
            | Error::Trap { plugin, .. } => Some(plugin),
            _ => None,
        }
    }
}

/// Shorthand for the library's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
