//! The presend pre-send validator.
//!
//! Reads a practice's patient CSV, checks every patient (NHS number, UK
//! mobile, date of birth, duplicates), scores each number's delivery history,
//! and gives one verdict per patient. Everything here is plain Rust, tested
//! natively; `component` is the thin wit-bindgen layer that makes it a
//! WebAssembly component implementing `wit/validator.wit`.

#![warn(missing_docs)]

pub mod batch;
pub mod decode;
pub mod dob;
pub mod history;
pub mod mobile;
pub mod nhs;
pub mod rules;
pub mod table;
mod uk_mobiles;
pub mod verdict;

#[cfg(target_arch = "wasm32")]
mod component;

pub use batch::{Batch, BatchResult};
pub use history::{Attempt, Outcome};
pub use rules::{Rules, RulesError};
pub use table::{Columns, FileError};
pub use verdict::{Reason, ReasonCode, Status, Verdict};

/// The validator's name, as the `identity` export gives it.
pub const NAME: &str = "presend-validator";
/// The validator's version (the crate's), as the `identity` export gives it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Normalises a raw phone number as patients' numbers are: E.164 for a UK
/// mobile, else the reason it is not one.
pub fn normalise_number(raw: &str) -> Result<String, Reason> {
    mobile::parse(&decode::clean_cell(raw))
        .map(mobile::Mobile::e164)
        .map_err(|e| Reason::new(e.code(), e.message()))
}
