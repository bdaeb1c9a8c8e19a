//! The presend pre-send validator.
//!
//! Reads a practice's patient CSV, checks every patient (NHS number, UK
//! mobile, date of birth, duplicates), scores each number's delivery history,
//! and gives one verdict per patient. Everything here is plain Rust, tested
//! natively; `component` is the thin wit-bindgen layer that makes it a
//! WebAssembly component implementing `wit/validator.wit`.

#![warn(missing_docs)]

pub mod batch;
pub mod cell;
pub mod decode;
pub mod dob;
pub mod history;
mod identity;
pub mod mobile;
pub mod nhs;
pub mod page;
mod plain;
pub mod rules;
pub mod seen;
pub mod table;
mod uk_mobiles;
pub mod verdict;

#[cfg(target_arch = "wasm32")]
mod component;

pub use batch::{Batch, BatchResult, GROUP_ROWS};
pub use history::{Attempt, Outcome};
pub use identity::{NAME, VERSION};
pub use rules::{Rules, RulesError};
pub use table::{Columns, FileError};
pub use verdict::{Reason, ReasonCode, Status, Verdict};
