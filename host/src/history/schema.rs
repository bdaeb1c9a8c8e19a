//! The history schema, one for both databases: the same tables, columns and
//! indexes in SQLite and PostgreSQL, reached by the same numbered steps.
//!
//! ```sql
//! -- version 1: attempts
//! CREATE TABLE attempts (
//!     mobile_number  TEXT   NOT NULL, -- E.164, as the validator normalises it
//!     sent_at        BIGINT NOT NULL, -- seconds since the Unix epoch, UTC
//!     status         TEXT   NOT NULL, -- delivered, failed, permanent-failure,
//!                                     -- temporary-failure, technical-failure, pending
//!     failure_reason TEXT             -- the provider's words, if any
//! );
//! CREATE INDEX attempts_by_number ON attempts (mobile_number, sent_at, status);
//! -- version 2: delivery receipts
//! ALTER TABLE attempts ADD COLUMN message_id TEXT;  -- unique per message
//! ALTER TABLE attempts ADD COLUMN status_at BIGINT; -- when the status was reached
//! CREATE UNIQUE INDEX attempts_by_message ON attempts (message_id) WHERE message_id IS NOT NULL;
//! -- version 3: each number's attempts in one row, what a lookup reads
//! CREATE TABLE number_histories (
//!     number   BIGINT PRIMARY KEY, -- E.164 digits: +447700900123 is 447700900123
//!                                  -- (SQLite: INTEGER PRIMARY KEY, the rowid)
//!     attempts BYTEA  NOT NULL     -- packed, 9 bytes an attempt (packed.rs)
//!                                  -- (SQLite: BLOB)
//! );
//! ```
//!
//! `attempts` is what was recorded; `number_histories` is derived from it,
//! rewritten for the numbers each write touches in that write's
//! transaction, so the two never disagree. Upgrading to version 3 packs
//! every number already there.
//!
//! Each step is written in the SQL both databases speak (`BIGINT` is a
//! 64-bit integer in PostgreSQL and has integer affinity in SQLite), but
//! for version 3's types: SQLite stores a table keyed by `INTEGER PRIMARY
//! KEY` in the key's own B-tree (one probe a number, measured ~35% faster
//! than a separate index), and PostgreSQL's `INTEGER` is 32 bits. Where
//! the version is kept differs: SQLite's `PRAGMA user_version`, and in
//! PostgreSQL a one-row table `presend_schema (version)`. A writer upgrades
//! an older schema in one transaction; a schema newer than
//! [`SCHEMA_VERSION`] is refused by every reader and writer.

use crate::error::{Error, Result};

/// The schema version this presend writes and reads. 1: attempts (a SQLite
/// database written before versions were kept says 0, and is version 1).
/// 2: each attempt may carry the message id and status time of a delivery
/// receipt. 3: each number's attempts packed in `number_histories`.
pub(crate) const SCHEMA_VERSION: i64 = 3;

/// The first version with `number_histories`: upgrading from below it
/// packs every number (`Repack`).
pub(crate) const PACKED_SINCE: i64 = 3;

/// One step, as each database is told it.
#[derive(Debug)]
pub(crate) struct Step {
    /// For SQLite.
    pub(crate) sqlite: &'static str,
    /// For PostgreSQL (read only by the `postgres` feature's store).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) postgres: &'static str,
}

/// A step both databases are told in the same words.
const fn both(sql: &'static str) -> Step {
    Step {
        sqlite: sql,
        postgres: sql,
    }
}

/// `STEPS[i]` takes the schema from version `i` to `i + 1`.
pub(crate) const STEPS: [Step; SCHEMA_VERSION as usize] = [
    both(
        "CREATE TABLE IF NOT EXISTS attempts (
        mobile_number  TEXT   NOT NULL,
        sent_at        BIGINT NOT NULL,
        status         TEXT   NOT NULL,
        failure_reason TEXT
    );
    CREATE INDEX IF NOT EXISTS attempts_by_number ON attempts (mobile_number, sent_at, status);",
    ),
    both(
        "ALTER TABLE attempts ADD COLUMN message_id TEXT;
    ALTER TABLE attempts ADD COLUMN status_at BIGINT;
    CREATE UNIQUE INDEX attempts_by_message ON attempts (message_id) WHERE message_id IS NOT NULL;",
    ),
    Step {
        sqlite: "CREATE TABLE number_histories (number INTEGER PRIMARY KEY, attempts BLOB NOT NULL);",
        postgres: "CREATE TABLE number_histories (number BIGINT PRIMARY KEY, attempts BYTEA NOT NULL);",
    },
];

/// The steps that take a schema at `version` to [`SCHEMA_VERSION`]; a
/// newer version is refused, naming it and the store `origin`.
pub(crate) fn steps_from(origin: &str, version: i64) -> Result<&'static [Step]> {
    refuse_newer(origin, version)?;
    let done = usize::try_from(version.max(0)).unwrap_or(0);
    Ok(&STEPS[done.min(STEPS.len())..])
}

/// A schema written by a newer presend is not read or written.
pub(crate) fn refuse_newer(origin: &str, version: i64) -> Result<()> {
    if version > SCHEMA_VERSION {
        return Err(Error::history(
            origin,
            format!(
                "the database has schema version {version}, newer than the {SCHEMA_VERSION} this presend knows – upgrade presend, or use the database with the presend that wrote it"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_gets_the_steps_it_lacks_and_a_newer_one_none() {
        assert_eq!(steps_from("db", 0).unwrap().len(), 3);
        assert_eq!(steps_from("db", 1).unwrap().len(), 2);
        assert_eq!(steps_from("db", 2).unwrap()[0].sqlite, STEPS[2].sqlite);
        assert!(steps_from("db", 3).unwrap().is_empty());
        let err = steps_from("db", 4).unwrap_err().to_string();
        assert!(err.contains("schema version 4"), "{err}");
    }
}
