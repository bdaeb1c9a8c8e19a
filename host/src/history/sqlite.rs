//! History in SQLite, the embedded database.
//!
//! Schema (created by `SqliteHistory::create` or `presend history import`):
//!
//! ```sql
//! CREATE TABLE attempts (
//!     mobile_number  TEXT    NOT NULL, -- E.164, as the validator normalises it
//!     sent_at        INTEGER NOT NULL, -- seconds since the Unix epoch, UTC
//!     status         TEXT    NOT NULL, -- delivered, failed, permanent-failure,
//!                                      -- temporary-failure, technical-failure, pending
//!     failure_reason TEXT              -- the provider's words, if any
//! );
//! CREATE INDEX attempts_by_number ON attempts (mobile_number, sent_at, status);
//! ```
//!
//! A batch's lookup is one query: every number of the batch goes in as one
//! array parameter (`rarray`), each answered from the index, which covers
//! the columns the lookup reads so the table itself is never touched.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, params};

use super::attempt::{Attempt, NumberHistory, outcome_str, parse_outcome};
use super::csv_file::HistoryRecord;
use super::store::HistoryStore;
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS attempts (
    mobile_number  TEXT    NOT NULL,
    sent_at        INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    failure_reason TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_number ON attempts (mobile_number, sent_at, status);
";

/// History in a SQLite database file.
///
/// `Send + Sync`, and shared by every batch: it holds one connection behind a
/// mutex, so concurrent lookups take turns (each is one query, 125-200 ms
/// for 90,000 numbers over a million attempts on the 2-core development
/// machine). A platform that runs many batches at once and finds them
/// waiting here can open one `SqliteHistory` per worker on the same file.
pub struct SqliteHistory {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteHistory")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteHistory {
    /// Opens an existing database read-only.
    ///
    /// # Errors
    ///
    /// [`Error::History`] when there is no such file, or it is not a presend
    /// history database (the cause is the `rusqlite::Error`).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteHistory> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::history(
                path.display().to_string(),
                "no such database – create it with `presend history import HISTORY.csv --db FILE`",
            ));
        }
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| sql_error(path, e))?;
        let history = SqliteHistory::with_connection(path, connection)?;
        // Fail now, not at the first batch, if this is not a history database.
        history
            .lock()
            .prepare("SELECT mobile_number, sent_at, status FROM attempts LIMIT 0")
            .map_err(|e| {
                Error::history_caused_by(
                    path.display().to_string(),
                    "not a presend history database – create it with `presend history import`",
                    e,
                )
            })?;
        Ok(history)
    }

    /// Opens (or creates) a database for writing, with the schema in place.
    ///
    /// # Errors
    ///
    /// [`Error::History`], its cause the `rusqlite::Error`.
    pub fn create(path: impl AsRef<Path>) -> Result<SqliteHistory> {
        let path = path.as_ref();
        let connection = Connection::open(path).map_err(|e| sql_error(path, e))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(|e| sql_error(path, e))?;
        SqliteHistory::with_connection(path, connection)
    }

    fn with_connection(path: &Path, connection: Connection) -> Result<SqliteHistory> {
        rusqlite::vtab::array::load_module(&connection).map_err(|e| sql_error(path, e))?;
        Ok(SqliteHistory {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable.
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds records in one transaction; returns how many.
    ///
    /// # Errors
    ///
    /// [`Error::History`], its cause the `rusqlite::Error`; then nothing was
    /// added.
    pub fn insert(&self, records: &[HistoryRecord]) -> Result<usize> {
        let mut connection = self.lock();
        let tx = connection
            .transaction()
            .map_err(|e| sql_error(&self.path, e))?;
        {
            let mut insert = tx
                .prepare("INSERT INTO attempts (mobile_number, sent_at, status, failure_reason) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| sql_error(&self.path, e))?;
            for r in records {
                insert
                    .execute(params![
                        r.number,
                        r.attempt.sent_at,
                        outcome_str(r.attempt.outcome),
                        r.failure_reason
                    ])
                    .map_err(|e| sql_error(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| sql_error(&self.path, e))?;
        Ok(records.len())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HistoryStore for SqliteHistory {
    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>> {
        let connection = self.lock();
        // The wanted numbers drive the join: one index seek per number.
        let mut query = connection
            .prepare_cached(
                "SELECT a.mobile_number, a.sent_at, a.status \
                 FROM rarray(?1) AS wanted \
                 JOIN attempts AS a INDEXED BY attempts_by_number ON a.mobile_number = wanted.value",
            )
            .map_err(|e| sql_error(&self.path, e))?;
        let wanted: Rc<Vec<rusqlite::types::Value>> = Rc::new(
            numbers
                .iter()
                .cloned()
                .map(rusqlite::types::Value::from)
                .collect(),
        );
        let mut rows = query
            .query(params![wanted])
            .map_err(|e| sql_error(&self.path, e))?;
        let mut out: Vec<NumberHistory> = Vec::new();
        let err = |e| sql_error(&self.path, e);
        while let Some(row) = rows.next().map_err(err)? {
            let number = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
            let sent_at: i64 = row.get(1).map_err(err)?;
            let status = row.get_ref(2).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
            let outcome = parse_outcome(status).ok_or_else(|| {
                Error::history(
                    self.path.display().to_string(),
                    format!(
                        "unknown status {status:?} in table attempts – fix the row or re-import"
                    ),
                )
            })?;
            let attempt = Attempt { sent_at, outcome };
            // Rows come grouped by number; were they not, the validator
            // merges entries for the same number anyway.
            match out.last_mut() {
                Some(last) if last.number == number => last.attempts.push(attempt),
                _ => out.push(NumberHistory {
                    number: number.to_owned(),
                    attempts: vec![attempt],
                }),
            }
        }
        Ok(out)
    }
}

/// A failure of SQLite itself, its `rusqlite::Error` kept as the cause (a
/// platform can downcast it and retry on `SQLITE_BUSY`).
fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::history_caused_by(path.display().to_string(), "SQLite failed", e)
}
