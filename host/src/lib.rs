//! presend's host: how a messaging platform embeds the pre-send validator.
//!
//! One [`Runtime`] per process holds the wasmtime engine and linker; a
//! [`Validator`] is a component compiled once and instantiated in a fresh,
//! limited sandbox for every call, so nothing of one practice's batch can
//! reach the next. Batches take their delivery history from a
//! [`HistoryStore`] (a CSV file or SQLite) and give back a [`BatchReport`]
//! with one verdict per patient. When the validator traps, runs out of time
//! or hits its memory limit, the batch fails closed with an [`Error`] that
//! names the validator; it never yields partial verdicts. [`Limits`] bound
//! what a call may use and hand back; [`Runtime::counters`] counts how
//! batches ended.
//!
//! ```no_run
//! use presend_host::{BatchOptions, Runtime};
//!
//! let runtime = Runtime::new()?;
//! let validator = runtime.load_embedded()?;
//! let options = BatchOptions {
//!     rules: validator.default_rules().clone(),
//!     now: 1_795_737_600,
//!     history: None,
//! };
//! let report = validator.validate(b"NHS Number,Mobile\n9990000018,07700 900123\n", &options)?;
//! assert_eq!(report.summary.accepted, 1);
//! # Ok::<(), presend_host::Error>(())
//! ```

#![warn(missing_docs)]

mod bindings;
pub mod cache;
mod contract;
pub mod deployment;
pub mod diff;
mod error;
pub mod history;
pub mod reasons;
mod report;
mod runtime;
mod sandbox;
pub mod timestamp;
mod validator;

pub use cache::ComponentCache;
pub use deployment::{Canary, Deployment, DeploymentInfo, Deployments, Source, Version};
pub use diff::{VerdictDiff, VerdictKey};
pub use error::{Error, Limit, Result};
pub use history::{CsvHistory, HistoryStore, SqliteHistory};
pub use report::{BatchReport, Columns, Identity, PatientVerdict, Reason, Status, Summary};
pub use runtime::{Counters, Limits, Runtime};
pub use validator::{BatchOptions, Rules, Validator, WIT_VERSION};

/// The bundled example patient file (`examples/patients.csv`): the default
/// canary batch of a preflight.
pub const EXAMPLE_PATIENTS: &[u8] = include_bytes!("../../examples/patients.csv");

/// The validator component built from `plugin/` by `build.rs`.
pub const EMBEDDED_VALIDATOR: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/presend_validator.wasm"));
