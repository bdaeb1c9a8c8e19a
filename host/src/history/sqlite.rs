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
//! -- schema version 2 (PRAGMA user_version): delivery receipts
//! ALTER TABLE attempts ADD COLUMN message_id TEXT;   -- unique per message
//! ALTER TABLE attempts ADD COLUMN status_at INTEGER; -- when the status was reached
//! CREATE UNIQUE INDEX attempts_by_message ON attempts (message_id) WHERE message_id IS NOT NULL;
//! ```
//!
//! A database opened for writing is upgraded to the current version (in one
//! transaction) and put in WAL mode, so a service reading it and an importer
//! or receipt writer can work at once; one written by a newer presend is
//! refused.
//!
//! A batch's lookup is one query: every number of the batch goes in as one
//! array parameter (`rarray`), each answered from the index, which covers
//! the columns the lookup reads so the table itself is never touched.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::attempt::{Attempt, NumberHistory, outcome_str, parse_outcome};
use super::csv_file::HistoryRecord;
use super::receipt::{Change, Receipt, Recorded, change};
use super::store::HistoryStore;
use crate::error::{Error, Result};

/// The schema version this presend writes and reads, kept in
/// `PRAGMA user_version`. 1: attempts (a database written before versions
/// were kept says 0, and is version 1). 2: each attempt may carry the
/// message id and status time of a delivery receipt.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// Version 1, as presend first wrote it.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS attempts (
    mobile_number  TEXT    NOT NULL,
    sent_at        INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    failure_reason TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_number ON attempts (mobile_number, sent_at, status);
";

/// From version 1 to 2: receipts name their message, once.
const TO_V2: &str = "
ALTER TABLE attempts ADD COLUMN message_id TEXT;
ALTER TABLE attempts ADD COLUMN status_at INTEGER;
CREATE UNIQUE INDEX attempts_by_message ON attempts (message_id) WHERE message_id IS NOT NULL;
";

/// How long a writer or reader waits for the other before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(path, e))?;
        refuse_newer(
            path,
            schema_version(&connection).map_err(|e| sql_error(path, e))?,
        )?;
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

    /// Opens (or creates) a database for writing: the schema upgraded to
    /// the current version, WAL mode on.
    ///
    /// # Errors
    ///
    /// [`Error::History`], its cause the `rusqlite::Error`; or naming the
    /// version when a newer presend wrote the database.
    pub fn create(path: impl AsRef<Path>) -> Result<SqliteHistory> {
        let path = path.as_ref();
        let mut connection = Connection::open(path).map_err(|e| sql_error(path, e))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(path, e))?;
        let _: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| sql_error(path, e))?;
        migrate(path, &mut connection)?;
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

    /// Adds imported records in one transaction. A record with a message id
    /// is recorded as a receipt (its status time its send time), so
    /// importing the same file twice adds nothing the second time; one
    /// without is always added.
    ///
    /// # Errors
    ///
    /// [`Error::History`], its cause the `rusqlite::Error`; then nothing was
    /// added.
    pub fn insert(&self, records: &[HistoryRecord]) -> Result<Recorded> {
        let mut connection = self.lock();
        let err = |e| sql_error(&self.path, e);
        let tx = connection.transaction().map_err(err)?;
        let mut out = Recorded::default();
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO attempts (mobile_number, sent_at, status, failure_reason) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for r in records {
                match &r.message_id {
                    Some(id) => {
                        let receipt = Receipt {
                            message_id: id.clone(),
                            number: r.number.clone(),
                            sent_at: r.attempt.sent_at,
                            outcome: r.attempt.outcome,
                            status_at: r.attempt.sent_at,
                        };
                        self.upsert(&tx, &receipt, r.failure_reason.as_deref(), &mut out)?;
                    }
                    None => {
                        insert
                            .execute(params![
                                r.number,
                                r.attempt.sent_at,
                                outcome_str(r.attempt.outcome),
                                r.failure_reason
                            ])
                            .map_err(err)?;
                        out.recorded += 1;
                    }
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Records one receipt inside `tx`: a new message is added; a known one
    /// takes the new status only when the order-proof rule says so.
    fn upsert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        r: &Receipt,
        failure_reason: Option<&str>,
        out: &mut Recorded,
    ) -> Result<()> {
        let err = |e| sql_error(&self.path, e);
        let stored: Option<(String, Option<i64>)> = tx
            .prepare_cached("SELECT status, status_at FROM attempts WHERE message_id = ?1")
            .map_err(err)?
            .query_row(params![r.message_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(err)?;
        let Some((status, status_at)) = stored else {
            tx.prepare_cached(
                "INSERT INTO attempts (mobile_number, sent_at, status, failure_reason, message_id, status_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(err)?
            .execute(params![
                r.number,
                r.sent_at,
                outcome_str(r.outcome),
                failure_reason,
                r.message_id,
                r.status_at
            ])
            .map_err(err)?;
            out.recorded += 1;
            return Ok(());
        };
        let stored_outcome = parse_outcome(&status).ok_or_else(|| {
            Error::history(
                self.path.display().to_string(),
                format!("unknown status {status:?} in table attempts – fix the row or re-import"),
            )
        })?;
        let stored = (stored_outcome, status_at.unwrap_or(i64::MIN));
        match change(stored, (r.outcome, r.status_at)) {
            Change::Keep => out.duplicates += 1,
            Change::Update => {
                tx.prepare_cached(
                    "UPDATE attempts SET status = ?2, status_at = ?3, failure_reason = ?4 WHERE message_id = ?1",
                )
                .map_err(err)?
                .execute(params![
                    r.message_id,
                    outcome_str(r.outcome),
                    r.status_at,
                    failure_reason
                ])
                .map_err(err)?;
                out.recorded += 1;
            }
        }
        Ok(())
    }

    /// Deletes the attempts sent before `sent_before` (seconds since the
    /// Unix epoch), in one transaction; returns how many went. Phone numbers
    /// are personal data, and attempts that old weigh almost nothing.
    ///
    /// # Errors
    ///
    /// [`Error::History`], its cause the `rusqlite::Error`; then nothing was
    /// deleted.
    pub fn prune(&self, sent_before: i64) -> Result<usize> {
        let mut connection = self.lock();
        let err = |e| sql_error(&self.path, e);
        let tx = connection.transaction().map_err(err)?;
        let deleted = tx
            .execute(
                "DELETE FROM attempts WHERE sent_at < ?1",
                params![sent_before],
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::info!(deleted, "history pruned");
        Ok(deleted)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HistoryStore for SqliteHistory {
    fn record(&self, receipts: &[Receipt]) -> Result<Recorded> {
        let mut connection = self.lock();
        let err = |e| sql_error(&self.path, e);
        let tx = connection.transaction().map_err(err)?;
        let mut out = Recorded::default();
        for r in receipts {
            self.upsert(&tx, r, None, &mut out)?;
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

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

/// The database's schema version (`PRAGMA user_version`).
fn schema_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// A database written by a newer presend is not read or written.
fn refuse_newer(path: &Path, version: i64) -> Result<()> {
    if version > SCHEMA_VERSION {
        return Err(Error::history(
            path.display().to_string(),
            format!(
                "the database has schema version {version}, newer than the {SCHEMA_VERSION} this presend knows – upgrade presend, or use the database with the presend that wrote it"
            ),
        ));
    }
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`], in one transaction: a new file
/// gets the whole schema, an older one the steps it lacks.
fn migrate(path: &Path, connection: &mut Connection) -> Result<()> {
    let err = |e| sql_error(path, e);
    let tx = connection.transaction().map_err(err)?;
    let version = schema_version(&tx).map_err(err)?;
    refuse_newer(path, version)?;
    if version < 1 {
        tx.execute_batch(SCHEMA_V1).map_err(err)?;
    }
    if version < 2 {
        tx.execute_batch(TO_V2).map_err(err)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(err)?;
        tracing::info!(
            from = version,
            to = SCHEMA_VERSION,
            "history schema upgraded"
        );
    }
    tx.commit().map_err(err)
}

/// A failure of SQLite itself, its `rusqlite::Error` kept as the cause (a
/// platform can downcast it and retry on `SQLITE_BUSY`).
fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::history_caused_by(path.display().to_string(), "SQLite failed", e)
}
