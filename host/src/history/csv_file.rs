//! History from a CSV file: `mobile_number,sent_at,status[,failure_reason][,message_id]`,
//! one row per message sent. Read whole into memory and indexed by number.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::attempt::{Attempt, HistoryRecord, NumberHistory, parse_outcome};
use super::store::{HistoryStore, NormaliseNumbers};
use crate::error::{Error, Result};
use crate::timestamp;

/// A history file's rows, and how many were left out because their number
/// is not a UK mobile (such rows can never match a patient).
#[derive(Debug, Clone, Default)]
pub struct HistoryRecords {
    /// The usable rows.
    pub records: Vec<HistoryRecord>,
    /// Rows whose number is not a UK mobile.
    pub skipped: usize,
}

/// Reads a history CSV file, normalising its numbers with `numbers` (a
/// `Validator`).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read; [`Error::History`], naming
/// the file, the row and the column, when it is not a history CSV; the
/// normaliser's errors.
pub fn read_history_csv(
    path: impl AsRef<Path>,
    numbers: &dyn NormaliseNumbers,
) -> Result<HistoryRecords> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let fail = |row: Option<u64>, message: String| {
        Error::history(
            origin.clone(),
            match row {
                Some(row) => format!("row {row}: {message}"),
                None => message,
            },
        )
    };
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).map_err(
        |e| {
            fail(
                None,
                format!("not UTF-8 text ({e}) – export it as CSV UTF-8"),
            )
        },
    )?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| fail(None, format!("cannot read the header row: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            fail(
                Some(1),
                format!("no `{name}` column – the header must be mobile_number,sent_at,status (and optionally failure_reason)"),
            )
        })
    };
    let (number_col, sent_col, status_col) = (
        required("mobile_number")?,
        required("sent_at")?,
        required("status")?,
    );
    let reason_col = column("failure_reason");
    let id_col = column("message_id");

    let mut raw_numbers = Vec::new();
    let mut attempts = Vec::new();
    let mut reasons = Vec::new();
    let mut ids = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(fail(Some(line), format!("not valid CSV: {e}"))),
        }
        let row = record_line(text.as_bytes(), start, line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |i: usize| record.get(i).unwrap_or("");
        let sent_at = timestamp::parse(cell(sent_col)).map_err(|_| {
            fail(
                Some(row),
                "column sent_at: not a time – use RFC 3339 (2026-11-27T09:30:00Z) or YYYY-MM-DD HH:MM:SS in UTC".into(),
            )
        })?;
        let outcome = parse_outcome(cell(status_col)).ok_or_else(|| {
            fail(
                Some(row),
                format!(
                    "column status: unknown status {:?} – use delivered, failed, permanent-failure, temporary-failure, technical-failure, sent, sending or pending",
                    cell(status_col)
                ),
            )
        })?;
        raw_numbers.push(cell(number_col).to_string());
        attempts.push(Attempt { sent_at, outcome });
        let optional =
            |col: Option<usize>| col.map(|i| cell(i).to_string()).filter(|c| !c.is_empty());
        reasons.push(optional(reason_col));
        ids.push(optional(id_col));
    }

    // One call normalises every number, exactly as patients' numbers are.
    let normalised = numbers.normalise(&raw_numbers)?;
    let mut out = HistoryRecords::default();
    let rows = normalised.into_iter().zip(attempts).zip(reasons).zip(ids);
    for (((number, attempt), failure_reason), message_id) in rows {
        match number {
            Some(number) => out.records.push(HistoryRecord {
                number,
                attempt,
                failure_reason,
                message_id,
            }),
            None => out.skipped += 1,
        }
    }
    if out.skipped > 0 {
        tracing::info!(file = %origin, skipped = out.skipped, "history rows whose number is not a UK mobile were left out");
    }
    Ok(out)
}

/// The line a record starts on. The csv reader's position before a record
/// can sit on the `\n` of the previous `\r\n`, or before blank lines it will
/// skip; count those line breaks.
fn record_line(bytes: &[u8], start: u64, line: u64) -> u64 {
    let mut line = line;
    let mut i = usize::try_from(start).unwrap_or(usize::MAX);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => line += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => line += 1,
            b'\r' => {}
            _ => break,
        }
        i += 1;
    }
    line
}

/// History from a CSV file, held in memory. `Send + Sync`: lookups only
/// read, so any number of batches share one without waiting.
pub struct CsvHistory {
    path: PathBuf,
    by_number: HashMap<String, Vec<Attempt>>,
    skipped: usize,
}

impl std::fmt::Debug for CsvHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts, never the numbers: a `{:?}` may end up in a log.
        f.debug_struct("CsvHistory")
            .field("path", &self.path)
            .field("numbers", &self.by_number.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl CsvHistory {
    /// Reads `path`, normalising numbers with `numbers` (a `Validator`).
    ///
    /// # Errors
    ///
    /// As [`read_history_csv`].
    pub fn load(path: impl AsRef<Path>, numbers: &dyn NormaliseNumbers) -> Result<CsvHistory> {
        let path = path.as_ref();
        let records = read_history_csv(path, numbers)?;
        let mut by_number: HashMap<String, Vec<Attempt>> = HashMap::new();
        for r in records.records {
            by_number.entry(r.number).or_default().push(r.attempt);
        }
        tracing::info!(file = %path.display(), numbers = by_number.len(), "history loaded");
        Ok(CsvHistory {
            path: path.to_path_buf(),
            by_number,
            skipped: records.skipped,
        })
    }

    /// Rows left out because their number is not a UK mobile.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HistoryStore for CsvHistory {
    fn lookup(&self, numbers: &[String]) -> Result<Vec<NumberHistory>> {
        Ok(numbers
            .iter()
            .filter_map(|n| {
                self.by_number.get(n).map(|attempts| NumberHistory {
                    number: n.clone(),
                    attempts: attempts.clone(),
                })
            })
            .collect())
    }

    fn lookup_each(&self, numbers: &[String], found: &mut dyn FnMut(u32, Attempt)) -> Result<()> {
        // Each number once, at its first position, without copying its
        // attempts. The validator asks with sorted, distinct numbers: then
        // no number can come twice, and no set of those answered is kept.
        let distinct = numbers.windows(2).all(|w| w[0] < w[1]);
        let mut answered = HashSet::new();
        for (number, at) in numbers.iter().zip(0u32..) {
            if let Some(attempts) = self.by_number.get(number)
                && (distinct || answered.insert(number.as_str()))
            {
                attempts.iter().for_each(|&a| found(at, a));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::record_line;

    #[test]
    fn record_lines_with_crlf_lf_and_blank_lines() {
        let text = b"h\r\na\r\n\r\nb\nc";
        // Positions as the csv reader reports them before each record.
        assert_eq!(record_line(text, 2, 1), 2); // sits on the \n of the header's \r\n
        assert_eq!(record_line(text, 5, 2), 4); // \n, then a blank \r\n
        assert_eq!(record_line(text, 10, 5), 5); // after an LF: already counted
    }
}
