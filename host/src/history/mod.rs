//! Delivery history: where the validator's `history.lookup` import gets its
//! answers. Three stores: a CSV file read into memory, SQLite, and (with
//! the `postgres` feature) PostgreSQL, which many hosts can share. The two
//! databases have one schema (`schema.rs`) and record receipts by one rule
//! (`receipt.rs`).
//!
//! Every store keys attempts by the number in E.164, normalised by the validator
//! itself ([`NormaliseNumbers`], which `Validator` implements), so a history
//! written `07700 900123` matches a patient written `+44 7700 900123`.

mod attempt;
mod csv_file;
mod open;
mod packed;
#[cfg(feature = "postgres")]
mod postgres;
mod receipt;
mod schema;
mod sqlite;
mod store;

pub use attempt::{Attempt, HistoryRecord, NumberHistory, Outcome, outcome_str, parse_outcome};
pub use csv_file::{CsvHistory, HistoryRecords, read_history_csv};
pub use open::{OpenedHistory, is_postgres_url, open, open_writable};
#[cfg(feature = "postgres")]
pub use postgres::{CONNECT_TIMEOUT, POOL_SIZE, PostgresHistory};
pub use receipt::{Receipt, Recorded};
pub use sqlite::SqliteHistory;
pub use store::{HistoryStore, NormaliseNumbers};
