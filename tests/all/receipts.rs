//! Delivery receipts into the SQLite history: idempotent, order-proof, one
//! transaction, seen by the next batch; the schema upgraded from what older
//! presends wrote and refused when a newer one wrote it.

use std::sync::Arc;

use presend_host::Status;
use presend_host::history::{HistoryStore, Outcome, Receipt, Recorded, SqliteHistory};

use crate::common::{NOW, options, row, validator};

const NUMBER: &str = "+447700900001";

fn receipt(id: &str, outcome: Outcome, status_at: i64) -> Receipt {
    Receipt {
        message_id: id.to_string(),
        number: NUMBER.to_string(),
        sent_at: NOW - 3600,
        outcome,
        status_at,
    }
}

/// The attempts stored for NUMBER, as (sent_at, outcome), sorted.
fn attempts(store: &dyn HistoryStore) -> Vec<(i64, Outcome)> {
    let mut found: Vec<(i64, Outcome)> = store
        .lookup(&[NUMBER.to_string()])
        .unwrap()
        .into_iter()
        .flat_map(|h| h.attempts)
        .map(|a| (a.sent_at, a.outcome))
        .collect();
    found.sort_by_key(|(t, o)| (*t, *o as u8));
    found
}

fn recorded(recorded: usize, duplicates: usize) -> Recorded {
    Recorded {
        recorded,
        duplicates,
    }
}

#[test]
fn receipts_are_idempotent_and_order_proof() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteHistory::create(dir.path().join("history.db")).unwrap();
    let sending = receipt("m1", Outcome::Pending, NOW - 3600);
    let delivered = receipt("m1", Outcome::Delivered, NOW - 3500);

    assert_eq!(
        store.record(std::slice::from_ref(&sending)).unwrap(),
        recorded(1, 0)
    );
    assert_eq!(
        store.record(std::slice::from_ref(&sending)).unwrap(),
        recorded(0, 1),
        "the same twice"
    );
    // Sending then delivered is one delivered message, not two attempts.
    assert_eq!(
        store.record(std::slice::from_ref(&delivered)).unwrap(),
        recorded(1, 0)
    );
    assert_eq!(attempts(&store), [(NOW - 3600, Outcome::Delivered)]);
    // A pending status arriving late never overwrites the final one.
    let late = receipt("m1", Outcome::Pending, NOW - 3000);
    assert_eq!(store.record(&[late]).unwrap(), recorded(0, 1));
    assert_eq!(attempts(&store), [(NOW - 3600, Outcome::Delivered)]);

    // Final before pending in one batch: the same end state.
    let both = [
        receipt("m2", Outcome::TemporaryFailure, NOW - 100),
        receipt("m2", Outcome::Pending, NOW - 200),
    ];
    assert_eq!(store.record(&both).unwrap(), recorded(1, 1));
    assert_eq!(attempts(&store).len(), 2);
    assert!(attempts(&store).contains(&(NOW - 3600, Outcome::TemporaryFailure)));
}

#[test]
fn the_next_batch_sees_a_receipt_even_through_a_reader_opened_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let writer = SqliteHistory::create(&path).unwrap();
    // A service's reader, opened read-only before any receipt.
    let reader: Arc<dyn HistoryStore> = Arc::new(SqliteHistory::open(&path).unwrap());
    let csv = b"NHS Number,Mobile\n9990000018,07700 900001\n";
    let batch = || {
        validator()
            .validate(csv, &options(Some(reader.clone())))
            .unwrap()
    };
    assert_eq!(row(&batch(), 2).status, Status::Accepted);

    writer
        .record(&[receipt("m1", Outcome::Failed, NOW - 3500)])
        .unwrap();
    assert_eq!(
        row(&batch(), 2).status,
        Status::LikelyToFail,
        "held back at once"
    );

    // A later message delivered makes the number good again.
    let mut next = receipt("m2", Outcome::Delivered, NOW - 60);
    next.sent_at = NOW - 120;
    writer.record(&[next]).unwrap();
    assert_eq!(row(&batch(), 2).status, Status::Accepted);

    // The reader itself writes nothing.
    assert!(
        reader
            .record(&[receipt("m3", Outcome::Failed, NOW)])
            .is_err()
    );
}

#[test]
fn an_old_schema_is_upgraded_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    // What presend wrote before schema versions: no message ids, version 0.
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE attempts (mobile_number TEXT NOT NULL, sent_at INTEGER NOT NULL, \
                                status TEXT NOT NULL, failure_reason TEXT);
         CREATE INDEX attempts_by_number ON attempts (mobile_number, sent_at, status);",
    )
    .unwrap();
    old.execute(
        "INSERT INTO attempts VALUES (?1, ?2, 'failed', NULL)",
        rusqlite::params![NUMBER, NOW - 86_400],
    )
    .unwrap();
    drop(old);

    // A reader reads it as it is; a writer upgrades it, keeping its rows.
    let reader = SqliteHistory::open(&path).unwrap();
    assert_eq!(attempts(&reader), [(NOW - 86_400, Outcome::Failed)]);
    let writer = SqliteHistory::create(&path).unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    writer
        .record(&[receipt("m1", Outcome::Delivered, NOW)])
        .unwrap();
    assert_eq!(attempts(&writer).len(), 2);
    drop((reader, writer));

    // Written by a newer presend: refused, saying so.
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    for err in [
        SqliteHistory::open(&path).unwrap_err(),
        SqliteHistory::create(&path).unwrap_err(),
    ] {
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }
}

#[test]
fn importing_a_file_with_message_ids_twice_adds_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("history.csv");
    std::fs::write(
        &csv,
        "mobile_number,sent_at,status,message_id\n\
         07700 900001,2026-11-20T09:00:00Z,sending,a\n\
         07700 900001,2026-11-20T09:00:00Z,delivered,a\n\
         07700 900002,2026-11-21T09:00:00Z,failed,b\n",
    )
    .unwrap();
    let db = dir.path().join("history.db");
    let import = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
            .args(["history", "import"])
            .arg(&csv)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(import().contains("imported 3 attempts"));
    let again = import();
    assert!(
        again.contains("imported 0 attempts") && again.contains("(3 were there already"),
        "{again}"
    );
    let store = SqliteHistory::open(&db).unwrap();
    assert_eq!(attempts(&store), [(NOW - 7 * 86_400, Outcome::Delivered)]);
}

#[test]
fn prune_deletes_what_is_older_than_asked_and_says_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let store = SqliteHistory::create(&db).unwrap();
    let at = |id: &str, days_ago: i64| Receipt {
        sent_at: NOW - days_ago * 86_400,
        ..receipt(id, Outcome::Delivered, NOW - days_ago * 86_400)
    };
    store
        .record(&[at("recent", 10), at("old", 400), at("older", 800)])
        .unwrap();
    drop(store);
    let prune = |days: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
            .args([
                "history",
                "prune",
                "--older-than",
                days,
                "--now",
                "2026-11-27T09:00:00Z",
            ])
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap()
    };
    let out = prune("365");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("deleted 2 attempts sent before 2025-11-27T09:00:00Z"),
        "{stdout}"
    );
    let store = SqliteHistory::open(&db).unwrap();
    assert_eq!(attempts(&store), [(NOW - 10 * 86_400, Outcome::Delivered)]);
    assert!(
        !prune("0").status.success(),
        "0 days would delete everything"
    );
}

#[test]
fn receipts_are_written_only_to_a_sqlite_history_never_over_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("history.csv");
    let text = "mobile_number,sent_at,status\n07700 900001,2026-11-20T09:00:00Z,failed\n";
    std::fs::write(&csv, text).unwrap();
    let err = presend_host::history::open_writable(&csv).unwrap_err();
    assert!(err.to_string().contains("presend history import"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        text,
        "left as it was"
    );
    // No file yet: a new database.
    let db = dir.path().join("new.db");
    let store = presend_host::history::open_writable(&db).unwrap();
    assert_eq!(
        store
            .record(&[receipt("m1", Outcome::Failed, NOW)])
            .unwrap()
            .recorded,
        1
    );
}
