//! presend's host: how a messaging platform embeds the pre-send validator.
//!
//! One [`Runtime`] per process holds the wasmtime engine and linker; a
//! [`Validator`] is a component compiled once and instantiated in a fresh,
//! limited sandbox for every call, so nothing of one practice's batch can
//! reach the next. Batches take their delivery history from a
//! [`history::HistoryStore`] (a CSV file, SQLite, or PostgreSQL shared by
//! many hosts), which delivery receipts keep up to date, and give back a
//! [`BatchReport`] with one verdict per patient. When the validator traps,
//! runs out of time or hits its memory limit, the batch fails closed with an
//! [`Error`] that names the validator; it never yields partial verdicts.
//! [`Limits`] bound what a call may use and hand back; [`Runtime::counters`]
//! counts how batches ended. [`deployment`] prepares, preflights and swaps
//! rule versions while batches run.
//!
//! ```no_run
//! use std::sync::Arc;
//! use presend_host::history::SqliteHistory;
//! use presend_host::{ErrorKind, Runtime, Validator};
//!
//! // Once per process: the engine, and the validator compiled once.
//! let runtime = Runtime::new()?;
//! let validator = Validator::embedded(&runtime)?;
//! let history = Arc::new(SqliteHistory::open("history.db")?);
//!
//! // Per batch: the rules in force, "now", and the platform's history.
//! let options = validator.options().history(history);
//! let csv = b"NHS Number,Mobile\n9990000018,07700 900123\n";
//! match validator.validate(csv, &options) {
//!     Ok(report) => {
//!         for patient in report.not_accepted() {
//!             // row, status, reasons (code + plain English), success_probability
//!         }
//!     }
//!     Err(e) => match e.kind() {
//!         ErrorKind::File => { /* show the practice e.to_string() */ }
//!         ErrorKind::History => { /* retry later; page whoever runs the store */ }
//!         ErrorKind::Validator => { /* roll back the deployed validator */ }
//!         _ => { /* our configuration or host: log the chain, fix it */ }
//!     },
//! }
//! # Ok::<(), presend_host::Error>(())
//! ```
//!
//! `examples/embed.rs` is the whole program, each kind of failure included.
//!
//! A file too big to hold goes through [`Validator::validate_stream`]: read
//! as it comes, each verdict handed to a [`VerdictSink`] (such as
//! [`JsonSink`] or [`reasons::ReasonsSink`]) as soon as it is ready, so
//! memory stays bounded whatever the file's size. Validators of the world's
//! version 1.0.0 still run ([`Validator::world_version`]), given the whole
//! file.
//!
//! # Errors
//!
//! Every fallible function says in its `# Errors` section which [`Error`]s
//! come back. [`Error::kind`] sorts them by whose problem they are
//! ([`ErrorKind`]): the practice's file, the history store, the deployed
//! validator, the platform's configuration, the host. Codes are enums
//! ([`FileErrorCode`], [`ReasonCode`]) whose `as_str` is the stable string
//! of the JSON. A cause is kept as the error's `source()`: a SQLite failure
//! carries its `rusqlite::Error` (so a platform can retry on `SQLITE_BUSY`).
//! A [`history::HistoryStore`] of the platform's own returns
//! [`Error::history`] or [`Error::history_caused_by`].
//!
//! # Sharing
//!
//! [`Runtime`] is cheap to clone; [`Validator`], [`deployment::Deployments`]
//! and the history stores are `Send + Sync`: load once, put them in an
//! `Arc`, and call from any number of threads. Every call gets its own
//! wasmtime store and instance, so batches never wait for each other in the
//! validator ([`history::SqliteHistory`] says how its lookups share one
//! connection).
//!
//! # Depending on it
//!
//! `presend-host` is the library alone: the `presend` command and its HTTP
//! service are the `presend-cli` crate, so an embedder builds none of clap,
//! tokio or axum. The PostgreSQL store (`history::PostgresHistory`, and
//! `postgres://` locations in [`history::open`]) is behind the feature
//! `postgres`, off by default: its driver brings tokio. wasmtime is pinned to an exact version and re-exported as
//! [`wasmtime`], for [`Runtime::engine`] and [`Validator::from_component`].
//!
//! In a debug build, Cranelift compiles the component about ten times slower
//! (3.4-3.9 s instead of 0.34-0.39 s) unless it is optimised. Copy these
//! lines into your workspace's `Cargo.toml`:
//!
//! ```toml
//! [profile.dev.package.cranelift-codegen]
//! opt-level = 2
//! [profile.dev.package.regalloc2]
//! opt-level = 2
//! [profile.dev.package.cranelift-frontend]
//! opt-level = 2
//! [profile.dev.package.wasmtime-internal-cranelift]
//! opt-level = 2
//! [profile.dev.package.wasmparser]
//! opt-level = 2
//! [profile.dev.package.wasmtime-environ]
//! opt-level = 2
//! ```
//!
//! or load through a [`ComponentCache`] ([`Validator::load_cached`]): after
//! the first run the component is not compiled at all.
//!
//! # Architecture
//!
//! Each layer uses only the layers above it in this list; no module imports
//! one below it (`tests/all/layers.rs` checks that no file imports another
//! in a circle).
//!
//! 1. Leaves: `limits` (limits, counters), `timestamp`, `digest` (sha256),
//!    `embedded` (the bundled component and example file), `codes` (reason
//!    and file-error codes), `numbers` (a verdict's NHS number and mobile,
//!    held inline), `report` (what a batch produced), then `sink`
//!    (where streamed verdicts go), `diff`, `reasons` and `json` (reading a
//!    report, or writing one as it comes), `error`.
//! 2. [`history`]: attempts, the [`history::HistoryStore`] trait and its CSV,
//!    SQLite and PostgreSQL stores, their one schema and one receipt rule. It normalises numbers through the small
//!    [`history::NormaliseNumbers`] trait, so it never calls the sandbox.
//! 3. The sandbox: `pending` (lookups answered on a second thread while
//!    the validator reads on), `bindings` (generated from `wit/`), `lift`
//!    (WIT values into the types above), `contract` (checks on an answer), `sandbox`
//!    (one store's data and the host's imports), `runtime` (the engine,
//!    linker, a fresh limited store per call, counters), `cache` (bytes to
//!    a compiled component).
//! 4. `options`; `world` (the world's versions, 1.4.0 down to 1.0.0,
//!    and the calls they share); `batch` (a batch through any of them, page
//!    by page or whole); `validator` (a loaded component, its constructors, and its
//!    calls).
//! 5. [`deployment`]: rule versions, the deploy directory, preflight, live
//!    swaps.
//!
//! The `presend` command and its HTTP service are another crate
//! (`host/cli`), so an embedder builds none of clap, axum or tokio.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod batch;
mod bindings;
mod cache;
mod codes;
mod contract;
pub mod deployment;
mod diff;
mod digest;
mod embedded;
mod error;
pub mod history;
mod json;
mod lift;
mod limits;
mod numbers;
mod options;
mod pending;
pub mod reasons;
mod report;
mod runtime;
mod sandbox;
mod sink;
pub mod timestamp;
mod validator;
mod world;

pub use cache::{CacheOutcome, ComponentCache};
pub use codes::{FileErrorCode, ReasonCode};
pub use diff::{VerdictChange, VerdictDiff, VerdictKey};
pub use embedded::{EMBEDDED_VALIDATOR, EXAMPLE_PATIENTS};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use json::{JsonForm, JsonSink};
pub use limits::{Counters, Limit, Limits};
pub use numbers::{MobileNumber, NhsNumber};
pub use options::{BatchOptions, Rules};
pub use report::{
    BatchReport, Columns, DeploymentInfo, HistorySeen, Identity, PartIdentity, PatientVerdict,
    Reason, Status, StreamReport, Summary,
};
pub use runtime::Runtime;
pub use sink::VerdictSink;
pub use validator::Validator;
pub use world::WIT_VERSION;

/// The wasmtime this crate is built on (an exact version), for embedders
/// that use [`Runtime::engine`] or [`Validator::from_component`].
pub use wasmtime;
