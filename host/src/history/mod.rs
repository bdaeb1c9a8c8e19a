//! Delivery history: where the validator's `history.lookup` import gets its
//! answers. Two stores: a CSV file read into memory, and SQLite.
//!
//! Both key attempts by the number in E.164, normalised by the validator
//! itself ([`NormaliseNumbers`], which `Validator` implements), so a history
//! written `07700 900123` matches a patient written `+44 7700 900123`.

mod attempt;
mod csv_file;
mod open;
mod receipt;
mod sqlite;
mod store;

pub use attempt::{Attempt, NumberHistory, Outcome, outcome_str, parse_outcome};
pub use csv_file::{CsvHistory, HistoryRecord, HistoryRecords, read_history_csv};
pub use open::{OpenedHistory, open, open_writable};
pub use receipt::{Receipt, Recorded};
pub use sqlite::SqliteHistory;
pub use store::{HistoryStore, NormaliseNumbers};
