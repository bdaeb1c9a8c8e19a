//! What only SQLite histories do: the schema upgraded from what older
//! presends wrote and refused when a newer one wrote it, a read-only handle
//! that refuses writes, and never writing over a history CSV. The behaviour
//! both databases share is `history_stores.rs`.

use presend_host::history::{HistoryStore, Outcome, SqliteHistory};

use crate::common::NOW;
use crate::history_stores::{NUMBER, attempts, receipt};

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
    assert_eq!(version, 3);
    writer
        .record(&[receipt("m1", Outcome::Delivered, NOW)])
        .unwrap();
    let both = [
        (NOW - 86_400, Outcome::Failed),
        (NOW - 3600, Outcome::Delivered),
    ];
    assert_eq!(attempts(&writer), both);
    // The reader opened on the old schema still reads the rows of
    // attempts; one opened now reads the packed row.
    assert_eq!(attempts(&reader), both);
    assert_eq!(attempts(&SqliteHistory::open(&path).unwrap()), both);
    // The packed row as schema.rs describes it, by hand: the number's
    // digits, then 9 bytes an attempt in time order (big-endian seconds,
    // then the status code: failed 3, delivered 0).
    let (key, packed): (i64, Vec<u8>) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT number, attempts FROM number_histories", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(key, 447_700_900_001);
    let mut expected = (NOW - 86_400).to_be_bytes().to_vec();
    expected.push(3);
    expected.extend((NOW - 3600).to_be_bytes());
    expected.push(0);
    assert_eq!(packed, expected);
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
fn receipts_are_written_only_to_a_sqlite_history_never_over_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("history.csv");
    let text = "mobile_number,sent_at,status\n07700 900001,2026-11-20T09:00:00Z,failed\n";
    std::fs::write(&csv, text).unwrap();
    let Err(err) = presend_host::history::open_writable(&csv) else {
        panic!("a CSV was opened for writing");
    };
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

#[test]
fn a_history_opened_read_only_refuses_to_write_and_prune_needs_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    SqliteHistory::create(&db).unwrap();
    let reader = SqliteHistory::open(&db).unwrap();
    let err = reader
        .record(&[receipt("m1", Outcome::Failed, NOW)])
        .unwrap_err();
    assert!(err.to_string().contains("only reads"), "{err}");
    assert!(reader.prune(NOW).is_err());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
        .args(["history", "prune", "--older-than", "0", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success(), "0 days would delete everything");
}
