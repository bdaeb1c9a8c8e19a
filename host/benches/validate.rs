//! The benchmark: `cargo bench -p presend-host --bench validate`.
//!
//! Makes its own data with a fixed seed (a 100,000-row patient file, 90,000
//! of them with distinct numbers from the history's range, and a
//! 1,000,000-attempt history over 200,000 numbers in SQLite, in a temporary
//! directory) and prints the real counts and medians of repeated runs:
//! - end-to-end batch on a warm host (component + SQLite history, and
//!   component + in-memory history loaded from CSV);
//! - the same without history (validation alone);
//! - the same history in PostgreSQL, on a throwaway server the bench starts
//!   (`tests/all/pg_cluster.rs`): the batch's lookup, and receipts;
//! - per-batch fixed cost (a 10-row file);
//! - cold start: compiling the component, loading it precompiled, and
//!   loading it through the precompiled cache (a re-deploy or a restart);
//! - the same validation core run natively, and the wasm/native ratios;
//! - peak RSS of the process;
//! - GOV.UK Notify's own phone check on the same numbers, when a checkout
//!   of it is at hand (`support/notify.rs`), against the warm batch.
//!
//! Figures, not pass/fail: machines here are shared and noisy, so targets
//! are compared by a person reading medians, never asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use presend_host::history::{
    CsvHistory, HistoryStore, Outcome, PostgresHistory, Receipt, SqliteHistory,
};
use presend_host::{BatchOptions, Runtime, Validator};

// The allocator the `presend` command ships with: the warm figures are the
// library as `presend serve` runs it. (An embedder's allocator is its own.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/native_lookup.rs"]
mod native_lookup;
// The tests' throwaway server; the bench leaves some of it unused.
#[allow(dead_code)]
#[path = "../../tests/all/pg_cluster.rs"]
mod pg_cluster;
use native_lookup::native_lookup;
#[path = "support/data.rs"]
mod data;
use data::{
    ATTEMPTS, HISTORY_NUMBERS, NOW, PATIENTS, history, mobile, patient_file_of, phone_cells,
    write_history_csv,
};
#[path = "support/notify.rs"]
mod notify;

fn main() {
    let mut rng = fastrand::Rng::with_seed(20_261_127);
    let dir = tempfile::tempdir().expect("temp dir");

    let patients = patient_file_of(&mut rng, PATIENTS);
    let small = patient_file_of(&mut rng, 10);
    let db = dir.path().join("history.db");
    let history_csv = dir.path().join("history.csv");
    let started = Instant::now();
    let records = history(&mut rng);
    write_history_csv(&history_csv, &records);
    let store = SqliteHistory::create(&db).expect("create db");
    store.import(&records).expect("insert history");
    drop(store);
    let started_pg = Instant::now();
    let pg_server = pg_cluster::Cluster::start();
    let pg_url = pg_server.create_database("bench");
    let pg_store = PostgresHistory::connect(&pg_url).expect("connect to PostgreSQL");
    pg_store
        .import(&records)
        .expect("insert history into PostgreSQL");
    // As autovacuum would leave it: statistics, and a visibility map so
    // the lookup can read the index alone.
    pg_server
        .client("bench")
        .batch_execute("VACUUM ANALYZE attempts")
        .expect("vacuum");
    let pg_load = started_pg.elapsed();
    drop(records);
    println!(
        "data: {} patients ({} KiB), {} attempts over {} numbers in SQLite and PostgreSQL (made in {:.1} s, {:.1} s of it PostgreSQL's start and import)",
        PATIENTS,
        patients.len() / 1024,
        ATTEMPTS,
        HISTORY_NUMBERS,
        started.elapsed().as_secs_f64(),
        pg_load.as_secs_f64()
    );

    let runtime = Runtime::new().expect("runtime");
    let validator = Validator::embedded(&runtime).expect("validator");
    let history: Arc<dyn HistoryStore> = Arc::new(SqliteHistory::open(&db).expect("open db"));
    let with_history = BatchOptions {
        rules: validator.default_rules().clone(),
        now: NOW,
        history: Some(history.clone()),
    };
    let without_history = BatchOptions {
        history: None,
        ..with_history.clone()
    };

    let started = Instant::now();
    let in_memory: Arc<dyn HistoryStore> =
        Arc::new(CsvHistory::load(&history_csv, &validator).expect("load history CSV"));
    let csv_load = started.elapsed();
    let with_memory_history = BatchOptions {
        history: Some(in_memory),
        ..with_history.clone()
    };

    let report = validator.validate(&patients, &with_history).expect("batch");
    println!(
        "verdicts: {} accepted, {} rejected, {} likely to fail",
        report.summary.accepted, report.summary.rejected, report.summary.likely_to_fail
    );

    let lookup_numbers: Vec<String> = report
        .patients
        .iter()
        .filter_map(|p| p.mobile_number.map(|m| m.to_string()))
        .collect();
    let mut lookup_numbers = lookup_numbers;
    lookup_numbers.sort();
    lookup_numbers.dedup();

    let e2e = median(11, || {
        validator.validate(&patients, &with_history).expect("batch");
    });
    let e2e_memory = median(11, || {
        validator
            .validate(&patients, &with_memory_history)
            .expect("batch");
    });
    // As a batch asks: attempt by attempt, each with its number's position.
    let lookup_each = |store: &dyn HistoryStore| {
        let mut attempts = Vec::new();
        store
            .lookup_each(&lookup_numbers, &mut |at, a| attempts.push((at, a)))
            .expect("lookup");
        attempts
    };
    let lookup = median(11, || {
        lookup_each(&*history);
    });
    let found = history.lookup(&lookup_numbers).expect("lookup");
    let lookup_label = format!(
        "  of which the SQLite lookup ({}k numbers, {}k with history, {}k attempts)",
        lookup_numbers.len() / 1000,
        found.len() / 1000,
        found.iter().map(|h| h.attempts.len()).sum::<usize>() / 1000
    );
    let pg_history: Arc<dyn HistoryStore> = Arc::new(pg_store);
    let pg_lookup = median(11, || {
        lookup_each(&*pg_history);
    });
    let pg_found = pg_history.lookup(&lookup_numbers).expect("lookup");
    assert_eq!(
        pg_found.iter().map(|h| h.attempts.len()).sum::<usize>(),
        found.iter().map(|h| h.attempts.len()).sum::<usize>(),
        "PostgreSQL and SQLite hold the same history"
    );
    let with_pg_history = BatchOptions {
        history: Some(pg_history.clone()),
        ..with_history.clone()
    };
    let e2e_pg = median(11, || {
        validator
            .validate(&patients, &with_pg_history)
            .expect("batch");
    });
    let fixed = median(201, || {
        validator.validate(&small, &without_history).expect("batch");
    });

    let wasm_report = median(11, || {
        validator
            .validate(&patients, &without_history)
            .expect("batch");
    });

    // The same validation core, compiled natively, driven as the host
    // drives the component; each run of it right after a run of the
    // component, so both see the same machine (a shared one). Both do the
    // same work: every verdict made and handed over, then dropped (the
    // component's through `validate_stream` into a sink that counts them,
    // not into a report).
    let rules = presend_plugin::Rules::default_rules();
    let streamed = |options: &BatchOptions| {
        let mut count = Count(0);
        validator
            .validate_stream(&mut &patients[..], options, &mut count)
            .expect("batch");
        assert_eq!(count.0, PATIENTS);
    };
    let (wasm_core, native_core) = interleaved(
        11,
        || streamed(&without_history),
        || {
            let verdicts = native_stream(&rules, &patients, |_| {}, || true, |_| Vec::new());
            assert_eq!(verdicts, PATIENTS);
        },
    );
    let (wasm_e2e, native_e2e) = interleaved(
        11,
        || streamed(&with_history),
        || {
            assert_eq!(native_ahead(&rules, &patients, history.clone()), PATIENTS);
        },
    );

    // Receipts into the same databases, after the lookups above: batches
    // of 1,000 new messages, each message's sending then final status.
    let writer = SqliteHistory::create(&db).expect("open db for writing");
    let mut next_id = 0usize;
    let receipts_batch = median(21, || {
        writer.record(&receipts(&mut next_id)).expect("record");
    });
    drop(writer);
    let pg_receipts_batch = median(21, || {
        pg_history.record(&receipts(&mut next_id)).expect("record");
    });
    drop((with_pg_history, pg_history, pg_server));

    // Cold start: compile the component, or load it precompiled.
    let engine = runtime.engine();
    let compile = median(5, || {
        presend_host::wasmtime::component::Component::new(engine, presend_host::EMBEDDED_VALIDATOR)
            .expect("compile");
    });
    let blob = engine
        .precompile_component(presend_host::EMBEDDED_VALIDATOR)
        .expect("precompile");
    let precompiled = median(21, || {
        // SAFETY: the blob was produced just above by this same engine.
        unsafe { presend_host::wasmtime::component::Component::deserialize(engine, &blob) }
            .expect("deserialize");
    });
    let load = median(5, || {
        Validator::embedded(&runtime).expect("load");
    });
    // A re-deploy or restart with the precompiled cache: verify the blob's
    // tag, deserialize, identity, default rules.
    let cache_dir =
        std::env::temp_dir().join(format!("presend-bench-cache-{}", std::process::id()));
    let cache = presend_host::ComponentCache::open(&cache_dir).expect("cache");
    let load_cached = || {
        Validator::load_cached(&runtime, &cache, presend_host::EMBEDDED_VALIDATOR, "bench")
            .expect("load through the cache")
    };
    load_cached();
    let cached = median(21, || {
        load_cached();
    });
    let _ = std::fs::remove_dir_all(&cache_dir);

    println!();
    println!("{:<52} {:>12}", "median of repeated runs", "time");
    row("100k rows end to end, warm host, SQLite history", e2e);
    row(&lookup_label, lookup);
    row(
        "100k rows end to end, warm host, in-memory history",
        e2e_memory,
    );
    row("100k rows, warm host, no history", wasm_report);
    row(
        "100k rows end to end, warm host, PostgreSQL history",
        e2e_pg,
    );
    row(&pg_lookup_label(&lookup_label), pg_lookup);
    row("10-row batch: per-batch fixed cost", fixed);
    row("cold: compile the component (Component::new)", compile);
    row(
        "cold: load precompiled (Component::deserialize)",
        precompiled,
    );
    row(
        "cold: Validator::embedded (compile + identity + rules)",
        load,
    );
    row("cold: load from the precompiled cache (hit)", cached);
    row(
        "load the 1M-attempt history CSV (CsvHistory::load)",
        csv_load,
    );
    row(
        "component, 100k rows, no history, verdicts counted",
        wasm_core,
    );
    row("native core, 100k rows, no history", native_core);
    row(
        "component, 100k rows, SQLite history, verdicts counted",
        wasm_e2e,
    );
    row(
        "native core, 100k rows, SQLite history asked ahead on a second thread",
        native_e2e,
    );
    row(
        "1,000 receipts recorded in SQLite (one transaction)",
        receipts_batch,
    );
    row(
        "1,000 receipts recorded in PostgreSQL (one transaction)",
        pg_receipts_batch,
    );
    println!();
    println!(
        "wasm/native: {:.2}x without history, {:.2}x with history",
        wasm_core.as_secs_f64() / native_core.as_secs_f64(),
        wasm_e2e.as_secs_f64() / native_e2e.as_secs_f64()
    );
    println!(
        "lookup: SQLite {:.0} ms (target: 60), PostgreSQL {:.0} ms (target: 150)",
        lookup.as_secs_f64() * 1e3,
        pg_lookup.as_secs_f64() * 1e3
    );
    println!(
        "receipts a second in batches of 1,000 (target: 20,000): SQLite {:.0}, PostgreSQL {:.0}",
        1_000.0 / receipts_batch.as_secs_f64(),
        1_000.0 / pg_receipts_batch.as_secs_f64()
    );
    println!(
        "component: {} KiB; precompiled: {} KiB",
        presend_host::EMBEDDED_VALIDATOR.len() / 1024,
        blob.len() / 1024
    );
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS of this process: {} MiB", kib / 1024);
    }

    // Last, so that its minute of Python does not sit between the runs above.
    let presend_numbers: Vec<Option<String>> = report
        .patients
        .iter()
        .map(|p| p.mobile_number.map(|m| m.to_string()))
        .collect();
    println!();
    match notify::phone_check(&phone_cells(&patients), 3) {
        Ok(check) => {
            println!(
                "GOV.UK Notify's phone check alone, the same {}k numbers (median of 3): {:.2} s",
                check.numbers.len() / 1000,
                check.median.as_secs_f64()
            );
            println!(
                "  presend end to end, warm host, SQLite history, is {:.0}x faster (target: 50x)",
                check.median.as_secs_f64() / e2e.as_secs_f64()
            );
            println!(
                "  Notify and presend normalise {} of the {} numbers the same",
                notify::agreeing(&presend_numbers, &check.numbers),
                check.numbers.len()
            );
        }
        Err(why) => println!("GOV.UK Notify's phone check: {why}"),
    }
}

/// Counts the verdicts of a streamed batch, and drops them.
struct Count(usize);

impl presend_host::VerdictSink for Count {
    fn columns(&mut self, _: &presend_host::Columns) -> std::io::Result<()> {
        Ok(())
    }

    fn verdict(&mut self, _: presend_host::PatientVerdict) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// Runs the native core as the host runs the component: the file pushed a
/// megabyte at a time (each chunk's numbers told to `ask` as it is read),
/// the verdicts taken a page of 4,096 at a time after each push, and once
/// more after the end; until the end, a group whose answer is not `ready`
/// waits for a later page, as in a 1.3.0 component. Returns how many
/// verdicts.
fn native_stream(
    rules: &presend_plugin::Rules,
    file: &[u8],
    mut ask: impl FnMut(&[presend_plugin::mobile::Mobile]),
    ready: impl Fn() -> bool,
    lookup: impl Fn(&[presend_plugin::mobile::Mobile]) -> Vec<(u32, presend_plugin::Attempt)>,
) -> usize {
    let mut batch = presend_plugin::Batch::new(rules.clone(), NOW);
    let mut verdicts = 0;
    let mut drain = |batch: &mut presend_plugin::Batch| loop {
        let page = batch
            .next_ready_verdicts(4096, &ready, &lookup)
            .expect("native batch");
        if page.is_empty() {
            break;
        }
        verdicts += page.len();
    };
    for chunk in file.chunks(1 << 20) {
        batch.push_asking(chunk, &mut ask).expect("native batch");
        drain(&mut batch);
    }
    batch.end_asking(&mut ask).expect("native batch");
    drain(&mut batch);
    verdicts
}

/// Runs the native core as the host runs a 1.3.0 component with history:
/// [`native_stream`], with each chunk's numbers sent to a second thread as
/// soon as the chunk is read, and its answer taken when the chunk is
/// judged (once it has come, or at the end), so the store is read while
/// the core reads on.
fn native_ahead(
    rules: &presend_plugin::Rules,
    file: &[u8],
    history: std::sync::Arc<dyn HistoryStore>,
) -> usize {
    let (ask, asked) = std::sync::mpsc::channel::<Vec<presend_plugin::mobile::Mobile>>();
    let (answer, answers) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        for numbers in asked {
            let _ = answer.send(native_lookup(&*history, &numbers));
        }
    });
    // Answers that have come, oldest first, as the host's pending lookups
    // hold them until they are taken.
    let came = std::cell::RefCell::new(std::collections::VecDeque::new());
    let verdicts = native_stream(
        rules,
        file,
        |numbers| ask.send(numbers.to_vec()).expect("the worker"),
        || {
            let mut came = came.borrow_mut();
            came.extend(answers.try_iter());
            !came.is_empty()
        },
        |_| {
            let early = came.borrow_mut().pop_front();
            early.unwrap_or_else(|| answers.recv().expect("an answer"))
        },
    );
    drop(ask);
    worker.join().expect("the worker");
    verdicts
}

/// Batches of 1,000 receipts for new messages, half still sending and half
/// delivered, numbered on from `next_id`.
fn receipts(next_id: &mut usize) -> Vec<Receipt> {
    (0..1_000)
        .map(|i| {
            *next_id += 1;
            Receipt {
                message_id: format!("bench-{next_id}"),
                number: mobile(*next_id % HISTORY_NUMBERS),
                sent_at: NOW - 60,
                outcome: if i % 2 == 0 {
                    Outcome::Pending
                } else {
                    Outcome::Delivered
                },
                status_at: NOW - 30,
            }
        })
        .collect()
}

fn pg_lookup_label(sqlite_label: &str) -> String {
    sqlite_label.replace("the SQLite lookup", "the PostgreSQL lookup")
}

fn row(name: &str, d: Duration) {
    println!("{name:<52} {:>9.3} ms", d.as_secs_f64() * 1e3);
}

/// The medians of `a` and `b`, run by turns.
fn interleaved(runs: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed()
    };
    let (mut ta, mut tb): (Vec<Duration>, Vec<Duration>) =
        (0..runs).map(|_| (time(&mut a), time(&mut b))).unzip();
    ta.sort();
    tb.sort();
    (ta[runs / 2], tb[runs / 2])
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
