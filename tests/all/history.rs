//! Delivery history through the component: ordering, what counts, matching
//! numbers across patients and history, batched lookups, and the stores.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use presend_host::Status;
use presend_host::history::{CsvHistory, HistoryStore, Outcome, SqliteHistory};

use crate::common::{MemoryHistory, example, options, row, run_with, validator};

const ONE: &str = "NHS Number,Mobile\n9990000018,07700 900123\n";

#[test]
fn the_latest_attempt_decides_whatever_the_input_order() {
    let failed_then_delivered = MemoryHistory::new();
    failed_then_delivered
        .add("+447700900123", 1, Outcome::Delivered)
        .add("+447700900123", 30, Outcome::PermanentFailure);
    let p = run_with(ONE, &failed_then_delivered);
    assert_eq!(
        row(&p, 2).status,
        Status::Accepted,
        "good again after a delivery"
    );
    assert!(row(&p, 2).success_probability.unwrap() >= 0.5);

    let delivered_then_failed = MemoryHistory::new();
    delivered_then_failed
        .add("+447700900123", 1, Outcome::TemporaryFailure)
        .add("+447700900123", 30, Outcome::Delivered);
    let p = run_with(ONE, &delivered_then_failed);
    assert_eq!(row(&p, 2).status, Status::LikelyToFail);
    assert!(row(&p, 2).success_probability.unwrap() <= 0.10);
}

#[test]
fn technical_failures_and_pending_messages_are_no_evidence() {
    let history = MemoryHistory::new();
    history
        .add("+447700900123", 10, Outcome::Delivered)
        .add("+447700900123", 2, Outcome::TechnicalFailure)
        .add("+447700900123", 0, Outcome::Pending);
    let with_noise = run_with(ONE, &history);
    let clean = MemoryHistory::new();
    clean.add("+447700900123", 10, Outcome::Delivered);
    let without = run_with(ONE, &clean);
    assert_eq!(row(&with_noise, 2).status, Status::Accepted);
    assert_eq!(
        row(&with_noise, 2).success_probability,
        row(&without, 2).success_probability
    );
}

#[test]
fn more_failures_mean_a_lower_chance() {
    let once = MemoryHistory::new();
    once.add("+447700900123", 1, Outcome::Failed);
    let thrice = MemoryHistory::new();
    thrice
        .add("+447700900123", 1, Outcome::Failed)
        .add("+447700900123", 5, Outcome::Failed)
        .add("+447700900123", 9, Outcome::Failed);
    let p1 = row(&run_with(ONE, &once), 2).success_probability.unwrap();
    let p3 = row(&run_with(ONE, &thrice), 2).success_probability.unwrap();
    assert!(p3 < p1, "{p3} < {p1}");
}

#[test]
fn history_is_asked_once_per_batch_with_distinct_numbers() {
    let history = MemoryHistory::new();
    let mut csv = String::from("NHS Number,Mobile\n");
    let nhs = ["9990000018", "9990000026", "9990000034", "9990000042"];
    // Two patients share a number; one has no valid number.
    for (n, m) in nhs
        .iter()
        .zip(["07700900001", "+44 7700 900001", "07700900002", "n/a"])
    {
        csv.push_str(&format!("{n},{m}\n"));
    }
    run_with(&csv, &history);
    assert_eq!(history.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(
        *history.last_asked.lock().unwrap(),
        ["+447700900001", "+447700900002"]
    );
}

/// A history CSV of `text` in a new temporary directory (kept while the
/// directory is).
fn history_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn csv_history_matches_numbers_written_differently() {
    let (_dir, path) = history_file(
        "mobile_number,sent_at,status,failure_reason\r\n\
         +44 (0)7700 900123,2026-11-20T10:00:00Z,delivered,\r\n\
         07700900123,2026-11-25 10:00:00,temporary-failure,Phone off\r\n",
    );
    let store: Arc<dyn HistoryStore> = Arc::new(CsvHistory::load(&path, validator()).unwrap());
    let report = validator()
        .validate(ONE.as_bytes(), &options(Some(store)))
        .unwrap();
    assert_eq!(row(&report, 2).status, Status::LikelyToFail);
}

/// Guards `CsvHistory::lookup_each`, which hands attempts straight from
/// the file's map: each number's attempts once, at its first position.
#[test]
fn csv_history_gives_each_attempt_once_at_its_numbers_first_position() {
    let (_dir, path) = history_file(
        "mobile_number,sent_at,status,failure_reason\r\n\
         07700 900123,1970-01-01T00:00:10Z,delivered,\r\n\
         +447700900456,1970-01-01T00:00:20Z,failed,\r\n\
         +44 7700 900123,1970-01-01T00:00:30Z,permanent-failure,\r\n",
    );
    let store = CsvHistory::load(&path, validator()).unwrap();
    let asked = [
        "+447700900456",
        "+447700900123",
        "+447700900456",
        "+447700900999",
    ];
    let asked: Vec<String> = asked.map(String::from).into();
    let mut each = Vec::new();
    store
        .lookup_each(&asked, &mut |at, a| each.push((at, a.sent_at, a.outcome)))
        .unwrap();
    each.sort_by_key(|&(at, t, _)| (at, t));
    assert_eq!(
        each,
        [
            (0, 20, Outcome::Failed),
            (1, 10, Outcome::Delivered),
            (1, 30, Outcome::PermanentFailure),
        ]
    );
    // Sorted and distinct, as the validator asks.
    let asked: Vec<String> = ["+447700900123", "+447700900456", "+447700900999"]
        .map(String::from)
        .into();
    let mut each = Vec::new();
    store
        .lookup_each(&asked, &mut |at, a| each.push((at, a.sent_at)))
        .unwrap();
    each.sort();
    assert_eq!(each, [(0, 10), (0, 30), (1, 20)]);
}

#[test]
fn csv_history_errors_name_the_row_and_column() {
    let (_dir, path) = history_file(
        "mobile_number,sent_at,status\r\n07700900123,2026-11-20T10:00:00Z,delivered\r\n\r\n07700900124,2026-11-20T10:00:00Z,bounced\r\n",
    );
    let err = CsvHistory::load(&path, validator())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 4") && err.contains("status") && err.contains("bounced"),
        "{err}"
    );
    std::fs::write(
        &path,
        "mobile_number,sent_at,status\n07700900123,yesterday,delivered\n",
    )
    .unwrap();
    let err = CsvHistory::load(&path, validator())
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 2") && err.contains("sent_at"), "{err}");
    std::fs::write(&path, "number,sent_at,status\n").unwrap();
    let err = CsvHistory::load(&path, validator())
        .unwrap_err()
        .to_string();
    assert!(err.contains("mobile_number"), "{err}");
}

#[test]
fn sqlite_and_csv_history_give_the_same_verdicts() {
    let csv_path = example("history.csv");
    let records = presend_host::history::read_history_csv(&csv_path, validator()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    SqliteHistory::create(&db)
        .unwrap()
        .import(&records.records)
        .unwrap();
    assert_eq!(records.skipped, 1, "the example's landline row is left out");

    let patients = std::fs::read(example("patients.csv")).unwrap();
    let from_csv: Arc<dyn HistoryStore> =
        Arc::new(CsvHistory::load(&csv_path, validator()).unwrap());
    let from_db: Arc<dyn HistoryStore> = Arc::new(SqliteHistory::open(&db).unwrap());
    let a = validator()
        .validate(&patients, &options(Some(from_csv)))
        .unwrap();
    let b = validator()
        .validate(&patients, &options(Some(from_db)))
        .unwrap();
    assert_eq!(a, b);
    assert!(a.summary.likely_to_fail > 0);
}

#[test]
fn sqlite_open_refuses_what_is_not_a_history_database() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteHistory::open(dir.path().join("missing.db"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("presend history import"), "{err}");
    // An empty file is a valid, empty SQLite database without our table.
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    let err = SqliteHistory::open(&other).unwrap_err().to_string();
    assert!(err.contains("not a presend history database"), "{err}");
}
