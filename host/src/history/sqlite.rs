//! History in SQLite, the embedded database.
//!
//! The schema is `schema.rs`'s, its version in `PRAGMA user_version`. A
//! database opened for writing is upgraded to the current version (in one
//! transaction) and put in WAL mode, so a service reading it and an importer
//! or receipt writer can work at once; one written by a newer presend is
//! refused.
//!
//! A batch's lookup is one query: every number of the batch goes in as one
//! array parameter (`rarray`), each answered from the index, which covers
//! the columns the lookup reads so the table itself is never touched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::attempt::{Attempt, HistoryRecord, NumberHistory, outcome_str, stored_outcome};
use super::receipt::{
    Incoming, Receipt, Recorded, from_imported, from_receipts, plan, split_import,
};
use super::schema::{SCHEMA_VERSION, refuse_newer, steps_from};
use super::store::HistoryStore;
use crate::error::{Error, Result};

/// How long a writer or reader waits for the other before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// History in a SQLite database file.
///
/// `Send + Sync`, and shared by every batch: it holds one connection behind a
/// mutex, so concurrent lookups take turns (each is one query, ~250 ms
/// for 90,000 numbers over a million attempts on the 2-core development
/// machine). A platform that runs many batches at once and finds them
/// waiting here can open one `SqliteHistory` per worker on the same file.
pub struct SqliteHistory {
    path: PathBuf,
    origin: String,
    /// Opened with [`SqliteHistory::create`]; else it only reads.
    writable: bool,
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
        let version = schema_version(&connection).map_err(|e| sql_error(path, e))?;
        refuse_newer(&path.display().to_string(), version)?;
        let history = SqliteHistory::with_connection(path, connection, false)?;
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
        SqliteHistory::with_connection(path, connection, true)
    }

    fn with_connection(
        path: &Path,
        connection: Connection,
        writable: bool,
    ) -> Result<SqliteHistory> {
        rusqlite::vtab::array::load_module(&connection).map_err(|e| sql_error(path, e))?;

        Ok(SqliteHistory {
            path: path.to_path_buf(),
            origin: path.display().to_string(),
            writable,
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable.
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection, to write with; refused when opened read-only.
    fn lock_for_writing(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        if !self.writable {
            return Err(Error::history(
                &self.origin,
                "opened read-only, so it only reads – open it with history::open_writable (or SqliteHistory::create) to write",
            ));
        }
        Ok(self.lock())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| sql_error(&self.path, e)
    }

    /// Writes receipts and plain attempts in one transaction, taken for
    /// writing before the stored states are read, so no other writer can
    /// come between the read and the write.
    fn write(&self, incoming: &[Incoming<'_>], plain: &[&HistoryRecord]) -> Result<Recorded> {
        let mut connection = self.lock_for_writing()?;
        let err = self.err();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let stored = {
            let ids: Rc<Vec<Value>> = Rc::new(
                incoming
                    .iter()
                    .map(|i| Value::from(i.receipt.message_id.clone()))
                    .collect(),
            );
            let mut query = tx
                .prepare_cached(
                    "SELECT a.message_id, a.status, a.status_at FROM rarray(?1) AS wanted \
                     JOIN attempts AS a ON a.message_id = wanted.value WHERE a.message_id IS NOT NULL",
                )
                .map_err(&err)?;
            let mut rows = query.query(params![ids]).map_err(&err)?;
            let mut stored = HashMap::new();
            while let Some(row) = rows.next().map_err(&err)? {
                let id: String = row.get(0).map_err(&err)?;
                let status: String = row.get(1).map_err(&err)?;
                let status_at: Option<i64> = row.get(2).map_err(&err)?;
                let outcome = stored_outcome(&self.origin, &status)?;
                stored.insert(id, (outcome, status_at.unwrap_or(i64::MIN)));
            }
            stored
        };
        let plan = plan(incoming.iter().copied(), &stored);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO attempts (mobile_number, sent_at, status, failure_reason, message_id, status_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(&err)?;
            for i in &plan.inserts {
                let r = i.receipt;
                insert
                    .execute(params![
                        r.number,
                        r.sent_at,
                        outcome_str(r.outcome),
                        i.failure_reason,
                        r.message_id,
                        r.status_at
                    ])
                    .map_err(&err)?;
            }
            for p in plain {
                insert
                    .execute(params![
                        p.number,
                        p.attempt.sent_at,
                        outcome_str(p.attempt.outcome),
                        p.failure_reason,
                        None::<String>,
                        None::<i64>
                    ])
                    .map_err(&err)?;
            }
            let mut update = tx
                .prepare_cached(
                    "UPDATE attempts SET status = ?2, status_at = ?3, failure_reason = ?4 WHERE message_id = ?1",
                )
                .map_err(&err)?;
            for i in &plan.updates {
                let r = i.receipt;
                update
                    .execute(params![
                        r.message_id,
                        outcome_str(r.outcome),
                        r.status_at,
                        i.failure_reason
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(Recorded {
            recorded: plan.counts.recorded + plain.len(),
            ..plan.counts
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HistoryStore for SqliteHistory {
    fn record(&self, receipts: &[Receipt]) -> Result<Recorded> {
        self.write(&from_receipts(receipts), &[])
    }

    fn import(&self, records: &[HistoryRecord]) -> Result<Recorded> {
        let (receipts, plain) = split_import(records);
        self.write(&from_imported(&receipts), &plain)
    }

    fn prune(&self, sent_before: i64) -> Result<usize> {
        let mut connection = self.lock_for_writing()?;
        let err = self.err();
        let tx = connection.transaction().map_err(&err)?;
        let deleted = tx
            .execute(
                "DELETE FROM attempts WHERE sent_at < ?1",
                params![sent_before],
            )
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        tracing::info!(deleted, "history pruned");
        Ok(deleted)
    }

    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>> {
        // In index order, each seek lands on or beside the page the last
        // one read: measured, about 40% less time than the batch's order
        // (memory-mapped reads and a larger page cache made no difference
        // beyond the noise).
        let mut sorted: Vec<Value> = numbers.iter().cloned().map(Value::from).collect();
        sorted.sort_unstable_by(|a, b| match (a, b) {
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            _ => std::cmp::Ordering::Equal,
        });
        let connection = self.lock();
        let err = self.err();
        // The wanted numbers drive the join: one index seek per number.
        let mut query = connection
            .prepare_cached(
                "SELECT a.mobile_number, a.sent_at, a.status \
                 FROM rarray(?1) AS wanted \
                 JOIN attempts AS a INDEXED BY attempts_by_number ON a.mobile_number = wanted.value",
            )
            .map_err(&err)?;
        let wanted: Rc<Vec<Value>> = Rc::new(sorted);
        let mut rows = query.query(params![wanted]).map_err(&err)?;
        let mut out: Vec<NumberHistory> = Vec::new();
        while let Some(row) = rows.next().map_err(&err)? {
            let number = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(&err)?;
            let sent_at: i64 = row.get(1).map_err(&err)?;
            let status = row.get_ref(2).and_then(|v| Ok(v.as_str()?)).map_err(&err)?;
            let attempt = Attempt {
                sent_at,
                outcome: stored_outcome(&self.origin, status)?,
            };
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

/// Brings the schema to [`SCHEMA_VERSION`], in one transaction: a new file
/// gets the whole schema, an older one the steps it lacks.
fn migrate(path: &Path, connection: &mut Connection) -> Result<()> {
    let err = |e| sql_error(path, e);
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let version = schema_version(&tx).map_err(err)?;
    let steps = steps_from(&path.display().to_string(), version)?;
    for step in steps {
        tx.execute_batch(step).map_err(err)?;
    }
    if !steps.is_empty() {
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
