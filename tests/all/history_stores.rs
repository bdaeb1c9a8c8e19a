//! One behaviour suite for both history databases, run against SQLite and
//! against a real PostgreSQL server: receipts idempotent and order-proof,
//! seen by the next batch, imported once, pruned; many writers and readers
//! at once; and no batch that sees half a batch of receipts.
//!
//! Each store is opened the way `presend` opens `--history`, from its
//! location, with a handle per writer and reader (for PostgreSQL, a pool
//! per handle, as separate hosts would have).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use presend_host::Status;
use presend_host::history::{
    Attempt, HistoryRecord, HistoryStore, Outcome, Receipt, Recorded, parse_outcome,
};

use crate::common::{NOW, nhs_number, options, row, validator};
use crate::pg_cluster::Cluster;

pub(crate) const NUMBER: &str = "+447700900001";

/// A new, empty history database, and what keeps it alive.
struct Store {
    location: String,
    _dir: tempfile::TempDir,
    _server: Option<Cluster>,
}

impl Store {
    fn sqlite() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("history.db").display().to_string();
        Store {
            location,
            _dir: dir,
            _server: None,
        }
    }

    fn postgres() -> Store {
        let server = Cluster::start();
        Store {
            location: server.create_database("presend"),
            _dir: tempfile::tempdir().unwrap(),
            _server: Some(server),
        }
    }

    /// A handle that writes (receipts, imports, prune).
    fn writer(&self) -> Arc<dyn HistoryStore> {
        presend_host::history::open_writable(&self.location).unwrap()
    }

    /// A handle as batches open `--history`.
    fn reader(&self) -> Arc<dyn HistoryStore> {
        presend_host::history::open(&self.location, validator())
            .unwrap()
            .store
    }

    /// Every row of `attempts`, read by plain SQL, not through the store,
    /// as (number, sent_at, outcome), sorted.
    fn rows(&self) -> Vec<(String, i64, Outcome)> {
        const ROWS: &str = "SELECT mobile_number, sent_at, status FROM attempts";
        let raw: Vec<(String, i64, String)> = match &self._server {
            Some(server) => server
                .client("presend")
                .query(ROWS, &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
            None => rusqlite::Connection::open(&self.location)
                .unwrap()
                .prepare(ROWS)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect(),
        };
        let mut rows: Vec<(String, i64, Outcome)> = raw
            .into_iter()
            .map(|(n, t, s)| (n, t, parse_outcome(&s).unwrap()))
            .collect();
        rows.sort_by_key(|(n, t, o)| (n.clone(), *t, *o as u8));
        rows
    }

    fn presend(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
            .args(args)
            .args(["--db", &self.location])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

pub(crate) fn receipt(id: &str, outcome: Outcome, status_at: i64) -> Receipt {
    Receipt {
        message_id: id.to_string(),
        number: NUMBER.to_string(),
        sent_at: NOW - 3600,
        outcome,
        status_at,
    }
}

/// The attempts stored for NUMBER, as (sent_at, outcome), sorted.
pub(crate) fn attempts(store: &dyn HistoryStore) -> Vec<(i64, Outcome)> {
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

fn receipts_are_idempotent_and_order_proof(db: &Store) {
    let store = db.writer();
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
    assert_eq!(attempts(&*store), [(NOW - 3600, Outcome::Delivered)]);
    // A pending status arriving late never overwrites the final one.
    let late = receipt("m1", Outcome::Pending, NOW - 3000);
    assert_eq!(store.record(&[late]).unwrap(), recorded(0, 1));
    assert_eq!(attempts(&*store), [(NOW - 3600, Outcome::Delivered)]);

    // Final before pending in one batch: the same end state.
    let both = [
        receipt("m2", Outcome::TemporaryFailure, NOW - 100),
        receipt("m2", Outcome::Pending, NOW - 200),
    ];
    assert_eq!(store.record(&both).unwrap(), recorded(1, 1));
    // Pending, then final, then the same final again, in one batch.
    let three = [
        receipt("m3", Outcome::Pending, NOW - 300),
        receipt("m3", Outcome::PermanentFailure, NOW - 250),
        receipt("m3", Outcome::PermanentFailure, NOW - 250),
    ];
    assert_eq!(store.record(&three).unwrap(), recorded(2, 1));
    let found = attempts(&*store);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&(NOW - 3600, Outcome::TemporaryFailure)));
    assert!(found.contains(&(NOW - 3600, Outcome::PermanentFailure)));
    // The same message id from another writer (another host): no new row.
    assert_eq!(
        db.writer()
            .record(&[receipt("m1", Outcome::Delivered, NOW - 3500)])
            .unwrap(),
        recorded(0, 1)
    );
}

fn the_next_batch_sees_a_receipt_through_a_reader_opened_before_it(db: &Store) {
    let writer = db.writer();
    let reader = db.reader();
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
}

fn importing_a_file_with_message_ids_twice_adds_nothing_the_second_time(db: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("history.csv");
    std::fs::write(
        &csv,
        "mobile_number,sent_at,status,message_id,failure_reason\n\
         07700 900001,2026-11-20T09:00:00Z,sending,a,\n\
         07700 900001,2026-11-20T09:00:00Z,delivered,a,\n\
         07700 900002,2026-11-21T09:00:00Z,failed,b,absent subscriber\n\
         07700 900001,2026-11-10T09:00:00Z,failed,,no id: always added\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let first = db.presend(&["history", "import", csv]);
    assert!(first.contains("imported 4 attempts"), "{first}");
    let again = db.presend(&["history", "import", csv]);
    assert!(
        again.contains("imported 1 attempts") && again.contains("(3 were there already"),
        "{again}"
    );
    assert_eq!(
        attempts(&*db.reader()),
        [
            (NOW - 17 * 86_400, Outcome::Failed),
            (NOW - 17 * 86_400, Outcome::Failed),
            (NOW - 7 * 86_400, Outcome::Delivered)
        ]
    );
}

fn prune_deletes_what_is_older_than_asked_and_says_how_many(db: &Store) {
    let store = db.writer();
    let at = |id: &str, days_ago: i64| Receipt {
        sent_at: NOW - days_ago * 86_400,
        ..receipt(id, Outcome::Delivered, NOW - days_ago * 86_400)
    };
    store
        .record(&[
            at("recent", 10),
            at("edge", 364),
            at("old", 400),
            at("older", 800),
        ])
        .unwrap();
    // 365 days before 2026-11-27T09:00:00Z, counted by hand.
    let out = db.presend(&[
        "history",
        "prune",
        "--older-than",
        "365",
        "--now",
        "2026-11-27T09:00:00Z",
    ]);
    assert!(
        out.contains("deleted 2 attempts sent before 2025-11-27T09:00:00Z"),
        "{out}"
    );
    assert_eq!(
        attempts(&*db.reader()),
        [
            (NOW - 364 * 86_400, Outcome::Delivered),
            (NOW - 10 * 86_400, Outcome::Delivered)
        ]
    );
}

fn many_writers_and_readers_at_once_lose_nothing(db: &Store) {
    const WRITERS: usize = 3;
    const BATCHES: usize = 30;
    const PER_BATCH: usize = 20;
    let numbers: Vec<String> = (0..50).map(|i| format!("+4477009002{i:02}")).collect();
    let writing = AtomicBool::new(true);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = db.writer();
                let numbers = &numbers;
                s.spawn(move || {
                    for b in 0..BATCHES {
                        let batch: Vec<Receipt> = (0..PER_BATCH)
                            .map(|i| Receipt {
                                message_id: format!("w{w}-b{b}-{i}"),
                                number: numbers[(b * PER_BATCH + i) % numbers.len()].clone(),
                                sent_at: NOW - 1000,
                                outcome: Outcome::Delivered,
                                status_at: NOW - 1000,
                            })
                            .collect();
                        assert_eq!(store.record(&batch).unwrap(), recorded(PER_BATCH, 0));
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let store = db.reader();
                let (numbers, writing) = (&numbers, &writing);
                s.spawn(move || {
                    let mut last = 0;
                    let mut lookups = 0;
                    while writing.load(Ordering::SeqCst) || lookups < 3 {
                        let seen: usize = store
                            .lookup(numbers)
                            .unwrap()
                            .iter()
                            .map(|h| h.attempts.len())
                            .sum();
                        assert!(seen >= last, "a reader saw {seen} attempts after {last}");
                        assert_eq!(seen % PER_BATCH, 0, "half a batch: {seen}");
                        last = seen;
                        lookups += 1;
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        writing.store(false, Ordering::SeqCst);
        for r in readers {
            r.join().unwrap();
        }
    });
    let total: usize = db
        .reader()
        .lookup(&numbers)
        .unwrap()
        .iter()
        .map(|h| h.attempts.len())
        .sum();
    assert_eq!(total, WRITERS * BATCHES * PER_BATCH);
}

fn no_batch_sees_half_a_batch_of_receipts(db: &Store) {
    const ROUNDS: i64 = 40;
    let patients: Vec<(String, String)> = (999_000_100..)
        .filter_map(nhs_number)
        .take(25)
        .enumerate()
        .map(|(i, nhs)| (nhs, format!("+4477009003{i:02}")))
        .collect();
    let mut csv = String::from("NHS Number,Mobile\n");
    for (nhs, mobile) in &patients {
        csv.push_str(&format!("{nhs},{mobile}\n"));
    }
    let writer = db.writer();
    let reader = db.reader();
    let writing = AtomicBool::new(true);
    let outcome = |round: i64| {
        if round % 2 == 0 {
            Outcome::PermanentFailure
        } else {
            Outcome::Delivered
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            // Every round gives every number a newer message: all failed,
            // then all delivered, and so on.
            for round in 0..ROUNDS {
                let at = NOW - 100_000 + round * 60;
                let batch: Vec<Receipt> = patients
                    .iter()
                    .enumerate()
                    .map(|(i, (_, mobile))| Receipt {
                        message_id: format!("round{round}-{i}"),
                        number: mobile.clone(),
                        sent_at: at,
                        outcome: outcome(round),
                        status_at: at + 5,
                    })
                    .collect();
                writer.record(&batch).unwrap();
            }
            writing.store(false, Ordering::SeqCst);
        });
        let mut batches = 0;
        while writing.load(Ordering::SeqCst) || batches < 3 {
            let report = validator()
                .validate(csv.as_bytes(), &options(Some(reader.clone())))
                .unwrap();
            let held = report
                .patients
                .iter()
                .filter(|p| p.status == Status::LikelyToFail)
                .count();
            let accepted = report
                .patients
                .iter()
                .filter(|p| p.status == Status::Accepted)
                .count();
            assert_eq!(held + accepted, patients.len(), "none rejected");
            assert!(
                held == 0 || held == patients.len(),
                "a batch saw half a batch of receipts: {held} of {} held back",
                patients.len()
            );
            batches += 1;
        }
    });
    // The last round delivered every message: all good.
    assert_eq!(outcome(ROUNDS - 1), Outcome::Delivered);
    let report = validator()
        .validate(csv.as_bytes(), &options(Some(reader)))
        .unwrap();
    assert!(report.patients.iter().all(|p| p.status == Status::Accepted));
}

/// Guards the packed `number_histories` (schema 3), which every lookup
/// reads: after any mix of receipts, imports and prunes, a lookup of every
/// number gives exactly the rows `attempts` holds, read by plain SQL.
fn every_lookup_gives_exactly_the_attempts_rows_after_any_writes(db: &Store) {
    const OUTCOMES: [Outcome; 6] = [
        Outcome::Delivered,
        Outcome::Failed,
        Outcome::PermanentFailure,
        Outcome::TemporaryFailure,
        Outcome::TechnicalFailure,
        Outcome::Pending,
    ];
    let numbers: Vec<String> = (0..6).map(|i| format!("+44770090010{i}")).collect();
    let store = db.writer();
    let mut rng = fastrand::Rng::with_seed(3);
    for step in 0..60 {
        let number = |rng: &mut fastrand::Rng| numbers[rng.usize(..numbers.len())].clone();
        match rng.u8(..10) {
            0..=5 => {
                let receipts: Vec<Receipt> = (0..rng.usize(1..6))
                    .map(|_| Receipt {
                        message_id: format!("m{}", rng.u8(..40)),
                        number: number(&mut rng),
                        sent_at: NOW - rng.i64(0..400) * 86_400,
                        outcome: OUTCOMES[rng.usize(..6)],
                        status_at: NOW - rng.i64(0..1000),
                    })
                    .collect();
                store.record(&receipts).unwrap();
            }
            6..=8 => {
                let records: Vec<HistoryRecord> = (0..rng.usize(1..4))
                    .map(|_| HistoryRecord {
                        number: number(&mut rng),
                        attempt: Attempt {
                            sent_at: NOW - rng.i64(0..400) * 86_400,
                            outcome: OUTCOMES[rng.usize(..6)],
                        },
                        failure_reason: None,
                        message_id: None,
                    })
                    .collect();
                store.import(&records).unwrap();
            }
            _ => {
                store.prune(NOW - rng.i64(200..400) * 86_400).unwrap();
            }
        }
        for looked_up_by in [store.clone(), db.reader()] {
            let mut found: Vec<(String, i64, Outcome)> = looked_up_by
                .lookup(&numbers)
                .unwrap()
                .into_iter()
                .flat_map(|h| {
                    h.attempts
                        .into_iter()
                        .map(move |a| (h.number.clone(), a.sent_at, a.outcome))
                })
                .collect();
            found.sort_by_key(|(n, t, o)| (n.clone(), *t, *o as u8));
            assert_eq!(found, db.rows(), "after step {step}");

            // Attempt by attempt, as a batch asks: the numbers out of order,
            // one twice, one not in E.164, one never written. Each attempt
            // comes once, at the first position of its number.
            let mut question: Vec<String> = numbers.iter().rev().cloned().collect();
            question.insert(2, numbers[1].clone());
            question.push("07700 900100".into());
            question.push("+447700900999".into());
            let mut each = Vec::new();
            looked_up_by
                .lookup_each(&question, &mut |at, a| {
                    each.push((at, a.sent_at, a.outcome))
                })
                .unwrap();
            each.sort_by_key(|(at, t, o)| (*at, *t, *o as u8));
            let first = |n: &str| question.iter().position(|q| q == n).unwrap() as u32;
            let mut expected: Vec<(u32, i64, Outcome)> = db
                .rows()
                .into_iter()
                .map(|(n, t, o)| (first(&n), t, o))
                .collect();
            expected.sort_by_key(|(at, t, o)| (*at, *t, *o as u8));
            assert_eq!(each, expected, "lookup_each after step {step}");
        }
    }
}

/// Each behaviour, as a test on SQLite and one on PostgreSQL.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Store::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&super::Store::postgres()) } )*
        }
    };
}

on_both_stores!(
    receipts_are_idempotent_and_order_proof,
    the_next_batch_sees_a_receipt_through_a_reader_opened_before_it,
    importing_a_file_with_message_ids_twice_adds_nothing_the_second_time,
    prune_deletes_what_is_older_than_asked_and_says_how_many,
    many_writers_and_readers_at_once_lose_nothing,
    no_batch_sees_half_a_batch_of_receipts,
    every_lookup_gives_exactly_the_attempts_rows_after_any_writes,
);
