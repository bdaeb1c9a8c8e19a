//! presend's host: how a messaging platform embeds the pre-send validator.
//!
//! One [`Runtime`] per process holds the wasmtime engine and linker; a
//! [`Validator`] is a component compiled once and instantiated in a fresh,
//! limited sandbox for every call, so nothing of one practice's batch can
//! reach the next. Batches take their delivery history from a
//! [`history::HistoryStore`] (a CSV file or SQLite) and give back a
//! [`BatchReport`] with one verdict per patient. When the validator traps,
//! runs out of time or hits its memory limit, the batch fails closed with an
//! [`Error`] that names the validator; it never yields partial verdicts.
//! [`Limits`] bound what a call may use and hand back; [`Runtime::counters`]
//! counts how batches ended. [`deployment`] prepares, preflights and swaps
//! rule versions while batches run.
//!
//! ```no_run
//! use presend_host::{BatchOptions, Runtime, Validator};
//!
//! let runtime = Runtime::new()?;
//! let validator = Validator::embedded(&runtime)?;
//! let options = BatchOptions {
//!     rules: validator.default_rules().clone(),
//!     now: 1_795_737_600,
//!     history: None,
//! };
//! let report = validator.validate(b"NHS Number,Mobile\n9990000018,07700 900123\n", &options)?;
//! assert_eq!(report.summary.accepted, 1);
//! # Ok::<(), presend_host::Error>(())
//! ```
//!
//! # Architecture
//!
//! Each layer uses only the layers above it in this list; no module imports
//! one below it (`tests/all/layers.rs` checks that no file imports another
//! in a circle).
//!
//! 1. Leaves: `limits` (limits, counters), `timestamp`, `digest` (sha256),
//!    `embedded` (the bundled component and example file), `report` (what a
//!    batch produced), then `diff` and `reasons` (reading a report), `error`.
//! 2. [`history`]: attempts, the [`history::HistoryStore`] trait and its CSV
//!    and SQLite stores. It normalises numbers through the small
//!    [`history::NormaliseNumbers`] trait, so it never calls the sandbox.
//! 3. The sandbox: `bindings` (generated from `wit/`), `lift` (WIT values
//!    into the types above), `contract` (checks on an answer), `sandbox`
//!    (one store's data and the host's imports), `runtime` (the engine,
//!    linker, a fresh limited store per call, counters), `cache` (bytes to
//!    a compiled component).
//! 4. `options`, `world` and `validator`: a loaded component, its
//!    constructors, and a batch through it.
//! 5. [`deployment`]: rule versions, the deploy directory, preflight, live
//!    swaps.
//!
//! The `presend` command and its HTTP service are another crate
//! (`host/cli`), so an embedder builds none of clap, axum or tokio.

#![deny(missing_docs)]

mod bindings;
mod cache;
mod contract;
pub mod deployment;
mod diff;
mod digest;
mod embedded;
mod error;
pub mod history;
mod lift;
mod limits;
mod options;
pub mod reasons;
mod report;
mod runtime;
mod sandbox;
pub mod timestamp;
mod validator;
mod world;

pub use cache::{CacheOutcome, ComponentCache};
pub use diff::{VerdictChange, VerdictDiff, VerdictKey};
pub use embedded::{EMBEDDED_VALIDATOR, EXAMPLE_PATIENTS};
pub use error::{BoxError, Error, Result};
pub use limits::{Counters, Limit, Limits};
pub use options::{BatchOptions, Rules};
pub use report::{
    BatchReport, Columns, DeploymentInfo, HistorySeen, Identity, PartIdentity, PatientVerdict,
    Reason, Status, Summary,
};
pub use runtime::Runtime;
pub use validator::Validator;
pub use world::WIT_VERSION;

/// The wasmtime this crate is built on (an exact version), for embedders
/// that use [`Runtime::engine`] or [`Validator::from_component`].
pub use wasmtime;
