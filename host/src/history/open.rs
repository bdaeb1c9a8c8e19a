//! Opening the history store a location names, as the `presend` command and
//! services do: a `postgres://` URL, a SQLite database (told by its file
//! header) or a CSV file.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;

use super::csv_file::CsvHistory;
use super::sqlite::SqliteHistory;
use super::store::{HistoryStore, NormaliseNumbers};
use crate::error::{Error, Result};

/// A history store opened from a location, and what was left out of it.
#[derive(Clone)]
pub struct OpenedHistory {
    /// The store, ready to share between batches and threads.
    pub store: Arc<dyn HistoryStore>,
    /// Rows left out because their number is not a UK mobile (CSV files
    /// only: a database holds normalised numbers). Say so to the person who
    /// gave the file, so that nothing is lost silently.
    pub skipped: usize,
}

impl std::fmt::Debug for OpenedHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedHistory")
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// Whether `location` names a PostgreSQL database (`postgres://` or
/// `postgresql://`) rather than a file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Opens `location`: a `postgres://` URL (the schema created or upgraded);
/// a SQLite database made by `presend history import` (read only); or a
/// history CSV read into memory, its numbers normalised with `numbers` (a
/// `Validator`).
///
/// # Errors
///
/// [`Error::History`] when there is no such file or it is neither form
/// (naming the row and column for a CSV), or the database cannot be
/// reached; [`Error::Io`] when a file cannot be read; the normaliser's
/// errors.
pub fn open(location: impl AsRef<OsStr>, numbers: &dyn NormaliseNumbers) -> Result<OpenedHistory> {
    let location = location.as_ref();
    if let Some(url) = postgres_url(location) {
        return Ok(OpenedHistory {
            store: connect(url)?,
            skipped: 0,
        });
    }
    let path = Path::new(location);
    if has_sqlite_header(path) {
        return Ok(OpenedHistory {
            store: Arc::new(SqliteHistory::open(path)?),
            skipped: 0,
        });
    }
    if !path.exists() {
        return Err(Error::history(
            path.display().to_string(),
            "no such file – give a history CSV, a database made by `presend history import`, or a postgres:// URL",
        ));
    }
    let history = CsvHistory::load(path, numbers)?;
    let skipped = history.skipped();
    Ok(OpenedHistory {
        store: Arc::new(history),
        skipped,
    })
}

/// Opens the history `location` names for writing (delivery receipts,
/// imports, prune): a `postgres://` URL, or a SQLite file, created when
/// there is no file or an empty one. Either is upgraded to the current
/// schema. Anything else, a history CSV above all, is refused rather than
/// overwritten.
///
/// # Errors
///
/// [`Error::History`] when the file holds something that is not a SQLite
/// database, saying how to import it; else as [`SqliteHistory::create`] or
/// `PostgresHistory::connect`.
pub fn open_writable(location: impl AsRef<OsStr>) -> Result<Arc<dyn HistoryStore>> {
    let location = location.as_ref();
    if let Some(url) = postgres_url(location) {
        return connect(url);
    }
    let path = Path::new(location);
    let empty = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    if !empty && !has_sqlite_header(path) {
        return Err(Error::history(
            path.display().to_string(),
            format!(
                "receipts are recorded in a SQLite or PostgreSQL history, and this is not one – import it with `presend history import {} --db history.db` and use history.db",
                path.display()
            ),
        ));
    }
    Ok(Arc::new(SqliteHistory::create(path)?))
}

/// `location` as a PostgreSQL URL, when it is one.
fn postgres_url(location: &OsStr) -> Option<&str> {
    location.to_str().filter(|l| is_postgres_url(l))
}

#[cfg(feature = "postgres")]
fn connect(url: &str) -> Result<Arc<dyn HistoryStore>> {
    Ok(Arc::new(super::postgres::PostgresHistory::connect(url)?))
}

#[cfg(not(feature = "postgres"))]
fn connect(_url: &str) -> Result<Arc<dyn HistoryStore>> {
    Err(Error::history(
        "a postgres:// URL",
        "this presend was built without PostgreSQL – build presend-host with its `postgres` feature",
    ))
}

/// Whether the file at `path` starts as every SQLite database does.
fn has_sqlite_header(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"SQLite format 3\0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_are_postgres() {
        assert!(is_postgres_url("postgres://x/y"));
        assert!(is_postgres_url("postgresql://x/y"));
        assert!(!is_postgres_url("history.db"));
        assert!(!is_postgres_url("./postgres://x"));
    }
}
