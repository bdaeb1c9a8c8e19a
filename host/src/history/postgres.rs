//! History in PostgreSQL: one store shared by many `presend serve`
//! processes (feature `postgres`).
//!
//! The schema is `schema.rs`'s, the same as SQLite's, its version in a
//! one-row table `presend_schema`. Connecting checks the version; an older
//! schema is upgraded under an advisory lock, so hosts starting together
//! migrate once; a newer one is refused.
//!
//! - A batch's lookup is one statement in one round trip (after the pool's
//!   check of the connection): every number goes in as one `bigint[]`
//!   parameter, each found by the key of `number_histories` (`packed.rs`).
//! - Receipts are written in one transaction of a few statements, whatever
//!   their number: the stored states of their messages are read, folded
//!   with the receipts by the rule every store shares (`receipt::plan`),
//!   and written back as arrays; then the numbers they touched are
//!   repacked. Writers (receipts, imports, prune) take turns through a
//!   transaction-scoped advisory lock, so two hosts recording the same
//!   message cannot both insert it, and no two repack one number from
//!   different snapshots; readers never wait for them.
//! - Connections come from an r2d2 pool. A connection that broke (the
//!   server restarted) fails the batch using it with [`Error::History`];
//!   the pool checks each connection before handing it out, so the next
//!   batch gets a new one. While the server is down, a batch fails after
//!   [`CONNECT_TIMEOUT`] rather than hanging.
//!
//! The URL's password never leaves this file: errors and logs name the
//! store as `postgres://user@host:port/dbname`. There is no TLS: connect
//! over a Unix socket, loopback, or a network the platform trusts.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;
use postgres::types::Type;
use postgres::{Config, NoTls};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use super::attempt::{Attempt, HistoryRecord, NumberHistory, outcome_str, stored_outcome};
use super::packed::{Repack, Wanted, key_to_write, touched_by, unpack_each};
use super::receipt::{
    Incoming, Receipt, Recorded, from_imported, from_receipts, plan, split_import,
};
use super::schema::{PACKED_SINCE, SCHEMA_VERSION, refuse_newer, steps_from};
use super::store::{HistoryStore, grouped};
use crate::error::{Error, Result};

/// How long to wait for a connection (the server's answer, or a free one
/// in the pool) before failing the batch.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections each process keeps at most: batches and receipt requests
/// beyond this many at once wait for one (up to [`CONNECT_TIMEOUT`]).
pub const POOL_SIZE: u32 = 8;

/// Advisory lock keys ("presend" and a digit), one for migrations and one
/// for writers (receipts, imports, prune).
const MIGRATION_LOCK: i64 = 0x7072_6573_656e_6430;
const RECEIPTS_LOCK: i64 = 0x7072_6573_656e_6431;

type Manager = PostgresConnectionManager<NoTls>;

/// History in a PostgreSQL database, shared by every host that connects.
///
/// `Send + Sync`: batches on many threads each take a connection of the
/// pool ([`POOL_SIZE`] at most), so lookups run side by side.
pub struct PostgresHistory {
    origin: String,
    pool: Pool<Manager>,
}

impl std::fmt::Debug for PostgresHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresHistory")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl PostgresHistory {
    /// Connects to the database `url` names (`postgres://user:password@host:port/dbname`,
    /// or `?host=/run/postgresql` for a Unix socket), creating the schema
    /// or upgrading it to the current version.
    ///
    /// # Errors
    ///
    /// [`Error::History`], naming the database without its password: the
    /// URL cannot be read, the server cannot be reached (the driver's error
    /// is the cause), or the schema is newer than this presend's.
    pub fn connect(url: &str) -> Result<PostgresHistory> {
        let mut config = Config::from_str(url).map_err(|e| {
            Error::history_caused_by(
                "a postgres:// URL",
                "not a PostgreSQL URL – write it as postgres://USER:PASSWORD@HOST:PORT/DBNAME",
                e,
            )
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        // Reading `attempts` for many numbers (a repack; before schema 3,
        // the lookup) is fastest as one index probe per wanted number, in
        // number order (measured: ~300 ms of server time for 100k numbers
        // against ~530 ms for the hash join over the whole table the
        // planner prefers for a big array). presend's connections run only
        // presend's statements, so this steers all of them.
        config.options("-c enable_hashjoin=off -c enable_mergejoin=off");
        let origin = display(&config);
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(CONNECT_TIMEOUT)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        let history = PostgresHistory { origin, pool };
        history.migrate()?;
        Ok(history)
    }

    /// The database, as errors and logs name it: without its password.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn client(&self) -> Result<PooledConnection<Manager>> {
        self.pool.get().map_err(|e| {
            Error::history_caused_by(
                &self.origin,
                "cannot reach PostgreSQL – check that the server is running and the URL is right",
                e,
            )
        })
    }

    fn err(&self) -> impl Fn(postgres::Error) -> Error + '_ {
        |e| Error::history_caused_by(&self.origin, "PostgreSQL failed", e)
    }

    /// Brings the schema to [`SCHEMA_VERSION`]: nothing to do when it is
    /// there already; else, under the migration lock, the steps it lacks
    /// in one transaction.
    fn migrate(&self) -> Result<()> {
        let mut client = self.client()?;
        let err = self.err();
        let version = schema_version(&mut *client).map_err(&err)?;
        refuse_newer(&self.origin, version)?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let mut tx = client.transaction().map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(&err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS presend_schema (version BIGINT NOT NULL)")
            .map_err(&err)?;
        // Read again under the lock: another host may have just migrated.
        let version = schema_version(&mut tx).map_err(&err)?;
        let steps = steps_from(&self.origin, version)?;
        for step in steps {
            tx.batch_execute(step.postgres).map_err(&err)?;
        }
        if version < PACKED_SINCE && !steps.is_empty() {
            // Pack every number already recorded.
            let numbers: BTreeSet<String> = tx
                .query("SELECT DISTINCT mobile_number FROM attempts", &[])
                .map_err(&err)?
                .iter()
                .map(|row| row.get(0))
                .collect();
            repack(&mut tx, &self.origin, &numbers)?;
        }
        if !steps.is_empty() {
            tx.execute("DELETE FROM presend_schema", &[])
                .map_err(&err)?;
            tx.execute(
                "INSERT INTO presend_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        if !steps.is_empty() {
            tracing::info!(
                from = version,
                to = SCHEMA_VERSION,
                "history schema upgraded"
            );
        }
        Ok(())
    }

    /// Writes receipts and plain attempts in one transaction (see the
    /// module's notes).
    fn write(&self, incoming: &[Incoming<'_>], plain: &[&HistoryRecord]) -> Result<Recorded> {
        let mut touched = touched_by(&self.origin, incoming, plain)?;
        let mut client = self.client()?;
        let err = self.err();
        let mut tx = client.transaction().map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RECEIPTS_LOCK])
            .map_err(&err)?;
        let ids: Vec<&str> = incoming
            .iter()
            .map(|i| i.receipt.message_id.as_str())
            .collect();
        let mut stored = HashMap::new();
        for row in tx
            .query(
                "SELECT message_id, status, status_at FROM attempts \
                 WHERE message_id = ANY($1) AND message_id IS NOT NULL",
                &[&ids],
            )
            .map_err(&err)?
        {
            let status: &str = row.get(1);
            let status_at: Option<i64> = row.get(2);
            stored.insert(
                row.get::<_, String>(0),
                (
                    stored_outcome(&self.origin, status)?,
                    status_at.unwrap_or(i64::MIN),
                ),
            );
        }
        let plan = plan(incoming.iter().copied(), &stored);

        // New rows: the receipts' new messages, then the plain attempts.
        let mut rows = Columns::default();
        for i in &plan.inserts {
            let r = i.receipt;
            rows.push(&r.number, r.sent_at, r.outcome, i.failure_reason);
            rows.message_id.push(Some(&r.message_id));
            rows.status_at.push(Some(r.status_at));
        }
        for p in plain {
            rows.push(
                &p.number,
                p.attempt.sent_at,
                p.attempt.outcome,
                p.failure_reason.as_deref(),
            );
            rows.message_id.push(None);
            rows.status_at.push(None);
        }
        if !rows.number.is_empty() {
            tx.execute(
                "INSERT INTO attempts (mobile_number, sent_at, status, failure_reason, message_id, status_at) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])",
                &[
                    &rows.number,
                    &rows.sent_at,
                    &rows.status,
                    &rows.failure_reason,
                    &rows.message_id,
                    &rows.status_at,
                ],
            )
            .map_err(&err)?;
        }
        if !plan.updates.is_empty() {
            let ids: Vec<&str> = plan
                .updates
                .iter()
                .map(|i| i.receipt.message_id.as_str())
                .collect();
            let statuses: Vec<&str> = plan
                .updates
                .iter()
                .map(|i| outcome_str(i.receipt.outcome))
                .collect();
            let times: Vec<i64> = plan.updates.iter().map(|i| i.receipt.status_at).collect();
            let reasons: Vec<Option<&str>> =
                plan.updates.iter().map(|i| i.failure_reason).collect();
            // The stored messages' numbers, which are the ones they were sent to.
            for row in tx
                .query(
                    "UPDATE attempts AS a SET status = u.status, status_at = u.status_at, failure_reason = u.failure_reason \
                     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(message_id, status, status_at, failure_reason) \
                     WHERE a.message_id = u.message_id RETURNING a.mobile_number",
                    &[&ids, &statuses, &times, &reasons],
                )
                .map_err(&err)?
            {
                touched.insert(row.get(0));
            }
        }
        repack(&mut tx, &self.origin, &touched)?;
        tx.commit().map_err(&err)?;
        Ok(Recorded {
            recorded: plan.counts.recorded + plain.len(),
            ..plan.counts
        })
    }
}

/// New `attempts` rows, column by column, as the arrays `unnest` takes.
#[derive(Default)]
struct Columns<'a> {
    number: Vec<&'a str>,
    sent_at: Vec<i64>,
    status: Vec<&'static str>,
    failure_reason: Vec<Option<&'a str>>,
    message_id: Vec<Option<&'a str>>,
    status_at: Vec<Option<i64>>,
}

impl<'a> Columns<'a> {
    fn push(
        &mut self,
        number: &'a str,
        sent_at: i64,
        outcome: super::attempt::Outcome,
        failure_reason: Option<&'a str>,
    ) {
        self.number.push(number);
        self.sent_at.push(sent_at);
        self.status.push(outcome_str(outcome));
        self.failure_reason.push(failure_reason);
    }
}

impl HistoryStore for PostgresHistory {
    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>> {
        grouped(numbers, |found| self.lookup_each(numbers, found))
    }

    fn lookup_each(&self, numbers: &[String], found: &mut dyn FnMut(u32, Attempt)) -> Result<()> {
        self.lookup_wanted(&Wanted::new(numbers), found)
    }

    fn lookup_each_uk_mobile(
        &self,
        numbers: &[u64],
        found: &mut dyn FnMut(u32, Attempt),
    ) -> Result<()> {
        self.lookup_wanted(&Wanted::of_uk_mobiles(numbers), found)
    }

    fn record(&self, receipts: &[Receipt]) -> Result<Recorded> {
        self.write(&from_receipts(receipts), &[])
    }

    fn import(&self, records: &[HistoryRecord]) -> Result<Recorded> {
        let (receipts, plain) = split_import(records);
        self.write(&from_imported(&receipts), &plain)
    }

    fn prune(&self, sent_before: i64) -> Result<usize> {
        let mut client = self.client()?;
        let err = self.err();
        let mut tx = client.transaction().map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RECEIPTS_LOCK])
            .map_err(&err)?;
        let gone = tx
            .query(
                "DELETE FROM attempts WHERE sent_at < $1 RETURNING mobile_number",
                &[&sent_before],
            )
            .map_err(&err)?;
        let touched: BTreeSet<String> = gone.iter().map(|row| row.get(0)).collect();
        repack(&mut tx, &self.origin, &touched)?;
        tx.commit().map_err(&err)?;
        let deleted = gone.len();
        tracing::info!(deleted, "history pruned");
        Ok(deleted)
    }
}

impl PostgresHistory {
    /// The packed histories of the numbers `wanted`, attempt by attempt.
    fn lookup_wanted(&self, wanted: &Wanted, found: &mut dyn FnMut(u32, Attempt)) -> Result<()> {
        // Probed in key order, each lands beside the one before.
        let keys: Vec<i64> = wanted.keys().collect();
        let mut client = self.client()?;
        // Typed, so the statement is sent and answered in one round trip
        // (a plain `query` prepares, executes and closes: three).
        let rows = client
            .query_typed(
                "SELECT number, attempts FROM number_histories WHERE number = ANY($1)",
                &[(&keys, Type::INT8_ARRAY)],
            )
            .map_err(self.err())?;
        for row in &rows {
            if let Some(at) = wanted.position(row.get(0)) {
                unpack_each(&self.origin, row.get(1), |a| found(at, a))?;
            }
        }
        Ok(())
    }
}

/// Rewrites the rows of `number_histories` for the numbers a write
/// `touched`, from what `attempts` now holds for them (inside the write's
/// transaction, under the writers' lock): one statement to read, one to
/// write, one to delete, whatever their number.
fn repack(
    tx: &mut postgres::Transaction<'_>,
    origin: &str,
    touched: &BTreeSet<String>,
) -> Result<()> {
    if touched.is_empty() {
        return Ok(());
    }
    let err = |e| Error::history_caused_by(origin, "PostgreSQL failed", e);
    let keys = touched
        .iter()
        .map(|n| key_to_write(origin, n))
        .collect::<Result<Vec<_>>>()?;
    let mut repack = Repack::of(keys);
    let numbers: Vec<&str> = touched.iter().map(String::as_str).collect();
    let rows = tx
        .query(
            "SELECT a.mobile_number, a.sent_at, a.status \
             FROM unnest($1::text[]) AS wanted(number) \
             JOIN attempts AS a ON a.mobile_number = wanted.number",
            &[&numbers],
        )
        .map_err(err)?;
    let mut by_number: HashMap<&str, Vec<Attempt>> = HashMap::new();
    for row in &rows {
        by_number.entry(row.get(0)).or_default().push(Attempt {
            sent_at: row.get(1),
            outcome: stored_outcome(origin, row.get(2))?,
        });
    }
    for (number, attempts) in by_number {
        repack.add(key_to_write(origin, number)?, attempts);
    }
    let (keys, values): (Vec<i64>, Vec<&[u8]>) = repack.upserts().unzip();
    if !keys.is_empty() {
        tx.execute(
            "INSERT INTO number_histories (number, attempts) \
             SELECT * FROM unnest($1::bigint[], $2::bytea[]) \
             ON CONFLICT (number) DO UPDATE SET attempts = excluded.attempts",
            &[&keys, &values],
        )
        .map_err(err)?;
    }
    let gone: Vec<i64> = repack.deletes().collect();
    if !gone.is_empty() {
        tx.execute(
            "DELETE FROM number_histories WHERE number = ANY($1)",
            &[&gone],
        )
        .map_err(err)?;
    }
    Ok(())
}

/// The schema version, 0 when there is no `presend_schema` table yet.
fn schema_version(
    client: &mut impl postgres::GenericClient,
) -> std::result::Result<i64, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('presend_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_opt("SELECT version FROM presend_schema", &[])?
        .map_or(0, |row| row.get(0)))
}

/// `postgres://user@host:port/dbname`: the URL as errors and logs may show
/// it, built from the parsed parts so that no password can slip through.
fn display(config: &Config) -> String {
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("");
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => format!("postgres://{user}{host}:{port}/{db}"),
        Some(Host::Unix(dir)) => {
            format!("postgres://{user}/{db}?host={}&port={port}", dir.display())
        }
        None => format!("postgres://{user}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_displayed_url_never_carries_the_password() {
        for (url, shown) in [
            (
                "postgres://presend:hunter2-secret@db.example:6543/history",
                "postgres://presend@db.example:6543/history",
            ),
            (
                "postgresql://presend@localhost/history?password=hunter2-secret",
                "postgres://presend@localhost:5432/history",
            ),
            (
                "postgres://presend:hunter2-secret@/history?host=/run/postgresql",
                "postgres://presend@/history?host=/run/postgresql&port=5432",
            ),
        ] {
            let config = Config::from_str(url).unwrap();
            assert_eq!(display(&config), shown);
        }
    }
}
