//! Opening the history store a path names, as the `presend` command and
//! services do: a SQLite database (told by its file header) or a CSV file.

use std::path::Path;
use std::sync::Arc;

use super::csv_file::CsvHistory;
use super::sqlite::SqliteHistory;
use super::store::{HistoryStore, NormaliseNumbers};
use crate::error::{Error, Result};

/// A history store opened from a path, and what was left out of it.
#[derive(Clone)]
pub struct OpenedHistory {
    /// The store, ready to share between batches and threads.
    pub store: Arc<dyn HistoryStore>,
    /// Rows left out because their number is not a UK mobile (CSV files
    /// only: a SQLite database holds normalised numbers). Say so to the
    /// person who gave the file, so that nothing is lost silently.
    pub skipped: usize,
}

impl std::fmt::Debug for OpenedHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedHistory")
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// Opens `path`: a SQLite database made by `presend history import` (read
/// only), or a history CSV read into memory, its numbers normalised with
/// `numbers` (a `Validator`).
///
/// # Errors
///
/// [`Error::History`] when there is no such file or it is neither form
/// (naming the row and column for a CSV); [`Error::Io`] when it cannot be
/// read; the normaliser's errors.
pub fn open(path: impl AsRef<Path>, numbers: &dyn NormaliseNumbers) -> Result<OpenedHistory> {
    let path = path.as_ref();
    if has_sqlite_header(path) {
        return Ok(OpenedHistory {
            store: Arc::new(SqliteHistory::open(path)?),
            skipped: 0,
        });
    }
    if !path.exists() {
        return Err(Error::history(
            path.display().to_string(),
            "no such file – give a history CSV or a database made by `presend history import`",
        ));
    }
    let history = CsvHistory::load(path, numbers)?;
    let skipped = history.skipped();
    Ok(OpenedHistory {
        store: Arc::new(history),
        skipped,
    })
}

/// Opens the SQLite history at `path` for writing (delivery receipts,
/// imports): created when there is no file or an empty one, upgraded to the
/// current schema. Anything else, a history CSV above all, is refused rather
/// than overwritten.
///
/// # Errors
///
/// [`Error::History`] when `path` holds something that is not a SQLite
/// database, saying how to import it; else as [`SqliteHistory::create`].
pub fn open_writable(path: impl AsRef<Path>) -> Result<SqliteHistory> {
    let path = path.as_ref();
    let empty = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    if !empty && !has_sqlite_header(path) {
        return Err(Error::history(
            path.display().to_string(),
            format!(
                "receipts are recorded in a SQLite history, and this is not one – import it with `presend history import {} --db history.db` and use history.db",
                path.display()
            ),
        ));
    }
    SqliteHistory::create(path)
}

/// Whether the file at `path` starts as every SQLite database does.
fn has_sqlite_header(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"SQLite format 3\0"
}
