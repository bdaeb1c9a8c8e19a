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
    let mut head = [0u8; 16];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"SQLite format 3\0";
    if is_sqlite {
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
