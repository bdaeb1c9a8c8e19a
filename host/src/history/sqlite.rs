//! History in SQLite, the embedded database.
//!
//! The schema is `schema.rs`'s, its version in `PRAGMA user_version`. A
//! database opened for writing is upgraded to the current version (in one
//! transaction) and put in WAL mode, so a service reading it and an importer
//! or receipt writer can work at once; one written by a newer presend is
//! refused.
//!
//! A batch's lookup is one query: every number of the batch goes in as one
//! array parameter (`rarray`), each answered by one probe of
//! `number_histories`, keyed by the number (`packed.rs`). A database of an
//! older schema opened read-only has no such table: its lookup reads the
//! rows of `attempts` instead, through the index that covers them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::attempt::{Attempt, HistoryRecord, NumberHistory, outcome_str, stored_outcome};
use super::packed::{Repack, Wanted, key_to_write, touched_by, unpack_each};
use super::receipt::{
    Incoming, Receipt, Recorded, from_imported, from_receipts, plan, split_import,
};
use super::schema::{PACKED_SINCE, SCHEMA_VERSION, refuse_newer, steps_from};
use super::store::{HistoryStore, each_of, grouped, lookup_as_e164};
use crate::error::{Error, Result};

/// How long a writer or reader waits for the other before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How much of the file SQLite reads through a memory map rather than
/// `pread` into its page cache. With the lookup one probe a number, the
/// copying was most of what was left: five chunked lookups of a 100k-row
/// batch on a new connection took 40 ms mapped against 46–50 ms read
/// (medians of 7, `number_histories` of 200,000 numbers).
const MMAP_BYTES: i64 = 256 << 20;

/// History in a SQLite database file.
///
/// `Send + Sync`, and shared by every batch: it holds one connection behind a
/// mutex, so concurrent lookups take turns (each is one query, ~40 ms for
/// 82,000 numbers over a million attempts on the 2-core development
/// machine). A platform that runs many batches at once and finds them
/// waiting here can open one `SqliteHistory` per worker on the same file.
pub struct SqliteHistory {
    path: PathBuf,
    origin: String,
    /// Opened with [`SqliteHistory::create`]; else it only reads.
    writable: bool,
    /// The schema has `number_histories` (else, an older one opened
    /// read-only, lookups read `attempts`).
    packed: bool,
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
        // No SQLite mutex: the connection is behind this type's own, and
        // SQLite's serialised mode locked and unlocked a mutex on every
        // column read (measured: 10% of a whole `validate` run).
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_error(path, e))?;
        set_up(path, &connection)?;
        let version = schema_version(&connection).map_err(|e| sql_error(path, e))?;
        refuse_newer(&path.display().to_string(), version)?;
        let packed = version >= PACKED_SINCE;
        let history = SqliteHistory::with_connection(path, connection, false, packed)?;
        // Fail now, not at the first batch, if this is not a history database.
        let probe = if packed {
            "SELECT number, attempts FROM number_histories LIMIT 0"
        } else {
            "SELECT mobile_number, sent_at, status FROM attempts LIMIT 0"
        };
        history.lock().prepare(probe).map_err(|e| {
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
        set_up(path, &connection)?;
        let _: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| sql_error(path, e))?;
        migrate(path, &mut connection)?;
        SqliteHistory::with_connection(path, connection, true, true)
    }

    fn with_connection(
        path: &Path,
        connection: Connection,
        writable: bool,
        packed: bool,
    ) -> Result<SqliteHistory> {
        Ok(SqliteHistory {
            path: path.to_path_buf(),
            origin: path.display().to_string(),
            writable,
            packed,
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
        let mut touched = touched_by(&self.origin, incoming, plain)?;
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
            // The stored message's number, which is the one it was sent to.
            let mut update = tx
                .prepare_cached(
                    "UPDATE attempts SET status = ?2, status_at = ?3, failure_reason = ?4 WHERE message_id = ?1 \
                     RETURNING mobile_number",
                )
                .map_err(&err)?;
            for i in &plan.updates {
                let r = i.receipt;
                let mut rows = update
                    .query(params![
                        r.message_id,
                        outcome_str(r.outcome),
                        r.status_at,
                        i.failure_reason
                    ])
                    .map_err(&err)?;
                while let Some(row) = rows.next().map_err(&err)? {
                    touched.insert(row.get(0).map_err(&err)?);
                }
            }
        }
        repack(&tx, &self.origin, &touched)?;
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
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let mut deleted = 0;
        let mut touched = BTreeSet::new();
        {
            let mut delete = tx
                .prepare("DELETE FROM attempts WHERE sent_at < ?1 RETURNING mobile_number")
                .map_err(&err)?;
            let mut rows = delete.query(params![sent_before]).map_err(&err)?;
            while let Some(row) = rows.next().map_err(&err)? {
                deleted += 1;
                touched.insert(row.get(0).map_err(&err)?);
            }
        }
        repack(&tx, &self.origin, &touched)?;
        tx.commit().map_err(&err)?;
        tracing::info!(deleted, "history pruned");
        Ok(deleted)
    }

    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>> {
        grouped(numbers, |found| self.lookup_each(numbers, found))
    }

    fn lookup_each(&self, numbers: &[String], found: &mut dyn FnMut(u32, Attempt)) -> Result<()> {
        let connection = self.lock();
        if !self.packed {
            let histories = attempts_of(&connection, &self.origin, numbers.iter().cloned())?;
            each_of(numbers, histories, found);
            return Ok(());
        }
        self.lookup_wanted(&connection, &Wanted::new(numbers), found)
    }

    fn lookup_each_uk_mobile(
        &self,
        numbers: &[u64],
        found: &mut dyn FnMut(u32, Attempt),
    ) -> Result<()> {
        if !self.packed {
            // An older schema keys by the string, as the default does.
            return lookup_as_e164(self, numbers, found);
        }
        self.lookup_wanted(&self.lock(), &Wanted::of_uk_mobiles(numbers), found)
    }
}

impl SqliteHistory {
    /// The packed histories of the numbers `wanted`, attempt by attempt.
    fn lookup_wanted(
        &self,
        connection: &Connection,
        wanted: &Wanted,
        found: &mut dyn FnMut(u32, Attempt),
    ) -> Result<()> {
        let err = self.err();
        let keys: Rc<Vec<Value>> = Rc::new(wanted.keys().map(Value::Integer).collect());
        // The wanted numbers drive the join: one probe of the key a number.
        let mut query = connection
            .prepare_cached(
                "SELECT h.number, h.attempts FROM rarray(?1) AS wanted \
                 JOIN number_histories AS h ON h.number = wanted.value",
            )
            .map_err(&err)?;
        let mut rows = query.query(params![keys]).map_err(&err)?;
        while let Some(row) = rows.next().map_err(&err)? {
            let Some(at) = wanted.position(row.get(0).map_err(&err)?) else {
                continue;
            };
            let packed = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(&err)?;
            unpack_each(&self.origin, packed, |a| found(at, a))?;
        }
        Ok(())
    }
}

/// Every attempt `attempts` holds for `numbers` (E.164), grouped by number:
/// what an older schema's lookup answers, and what [`repack`] packs.
fn attempts_of(
    connection: &Connection,
    origin: &str,
    numbers: impl IntoIterator<Item = String>,
) -> Result<Vec<NumberHistory>> {
    let err = sql_failed(origin);
    // In index order, each seek lands on or beside the page the last one
    // read: measured, about 40% less time than the batch's order.
    let mut sorted: Vec<String> = numbers.into_iter().collect();
    sorted.sort_unstable();
    let wanted: Rc<Vec<Value>> = Rc::new(sorted.into_iter().map(Value::from).collect());
    // The wanted numbers drive the join: one index seek per number.
    let mut query = connection
        .prepare_cached(
            "SELECT a.mobile_number, a.sent_at, a.status \
             FROM rarray(?1) AS wanted \
             JOIN attempts AS a INDEXED BY attempts_by_number ON a.mobile_number = wanted.value",
        )
        .map_err(&err)?;
    let mut rows = query.query(params![wanted]).map_err(&err)?;
    let mut out: Vec<NumberHistory> = Vec::new();
    while let Some(row) = rows.next().map_err(&err)? {
        let text = |i| row.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(&err);
        let number = text(0)?;
        let attempt = Attempt {
            sent_at: row.get(1).map_err(&err)?,
            outcome: stored_outcome(origin, text(2)?)?,
        };
        // Rows come grouped by number, as the index holds them.
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

/// Rewrites the rows of `number_histories` for the numbers a write
/// `touched`, from what `attempts` now holds for them (inside the write's
/// transaction).
fn repack(connection: &Connection, origin: &str, touched: &BTreeSet<String>) -> Result<()> {
    if touched.is_empty() {
        return Ok(());
    }
    let err = sql_failed(origin);
    let keys = touched
        .iter()
        .map(|n| key_to_write(origin, n))
        .collect::<Result<Vec<_>>>()?;
    let mut repack = Repack::of(keys);
    for history in attempts_of(connection, origin, touched.iter().cloned())? {
        repack.add(key_to_write(origin, &history.number)?, history.attempts);
    }
    let mut upsert = connection
        .prepare_cached(
            "INSERT INTO number_histories (number, attempts) VALUES (?1, ?2) \
             ON CONFLICT (number) DO UPDATE SET attempts = excluded.attempts",
        )
        .map_err(&err)?;
    for (key, packed) in repack.upserts() {
        upsert.execute(params![key, packed]).map_err(&err)?;
    }
    let mut delete = connection
        .prepare_cached("DELETE FROM number_histories WHERE number = ?1")
        .map_err(&err)?;
    for key in repack.deletes() {
        delete.execute(params![key]).map_err(&err)?;
    }
    Ok(())
}

/// What every connection needs, reading or writing: the wait for the
/// other side, the `rarray` module the queries take their numbers in, and
/// the memory map.
fn set_up(path: &Path, connection: &Connection) -> Result<()> {
    let err = |e| sql_error(path, e);
    connection.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    rusqlite::vtab::array::load_module(connection).map_err(err)?;
    connection
        .pragma_update(None, "mmap_size", MMAP_BYTES)
        .map_err(err)
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
        tx.execute_batch(step.sqlite).map_err(err)?;
    }
    if version < PACKED_SINCE && !steps.is_empty() {
        // Pack every number already recorded.
        let numbers: BTreeSet<String> = tx
            .prepare("SELECT DISTINCT mobile_number FROM attempts")
            .and_then(|mut q| q.query_map([], |row| row.get(0))?.collect())
            .map_err(err)?;
        repack(&tx, &path.display().to_string(), &numbers)?;
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

/// [`sql_error`] for the store named `origin`.
fn sql_failed(origin: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::history_caused_by(origin, "SQLite failed", e)
}
