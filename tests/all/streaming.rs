//! Streamed batches: the file read as it comes and verdicts handed over page
//! by page (world 1.4.0 as columns, 1.3.0 and 1.2.0 compact, 1.1.0 as they
//! are), while 1.0.0
//! validators still run, whole.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use presend_host::history::{HistoryStore, Outcome};
use presend_host::{
    BatchOptions, Columns, Error, ErrorKind, Limits, PatientVerdict, Runtime, Validator,
    VerdictSink, WIT_VERSION,
};
use presend_test_guests::{VALIDATOR_1_0_0, VALIDATOR_1_1_0, VALIDATOR_1_2_0, VALIDATOR_1_3_0};

use crate::common::{
    MemoryHistory, NOW, example, numbered_patients, options, validator, wit_version,
};

/// The real validator built against the world as 1.0.0 was released.
fn validator_1_0_0(runtime: &Runtime) -> Validator {
    Validator::load(runtime, VALIDATOR_1_0_0, "validator-1.0.0.wasm")
        .expect("a 1.0.0 validator loads")
}

/// Rules that allow `rows` patients.
fn rules_for(validator: &Validator, rows: u32) -> presend_host::Rules {
    let text = format!("name = \"big\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = {rows}\n");
    validator.check_rules(&text, "test").unwrap()
}

/// A sink that records what came, in order.
#[derive(Default)]
struct Recorder {
    columns: Vec<Columns>,
    verdicts: Vec<PatientVerdict>,
    /// Verdicts that came before any columns.
    early: usize,
}

impl VerdictSink for Recorder {
    fn columns(&mut self, columns: &Columns) -> std::io::Result<()> {
        self.columns.push(columns.clone());
        Ok(())
    }

    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()> {
        if self.columns.is_empty() {
            self.early += 1;
        }
        self.verdicts.push(verdict);
        Ok(())
    }
}

#[test]
fn the_embedded_validator_implements_the_current_world() {
    assert_eq!(WIT_VERSION, wit_version());
    assert_eq!(validator().world_version(), wit_version());
}

#[test]
fn validators_of_1_3_0_down_to_1_0_0_still_run_and_agree_with_the_current_one() {
    let runtime = Runtime::new().unwrap();
    let history: Arc<dyn HistoryStore> = Arc::new(
        presend_host::history::CsvHistory::load(example("history.csv"), validator()).unwrap(),
    );
    let file = std::fs::read(example("patients.csv")).unwrap();
    let options = |v: &Validator| BatchOptions {
        rules: v.default_rules().clone(),
        now: NOW,
        history: Some(history.clone()),
    };
    let new = validator().validate(&file, &options(validator())).unwrap();
    // The example has likely-to-fail patients: history was read.
    assert!(new.summary.likely_to_fail > 0);
    for (bytes, version) in [
        (VALIDATOR_1_3_0, "1.3.0"),
        (VALIDATOR_1_2_0, "1.2.0"),
        (VALIDATOR_1_1_0, "1.1.0"),
        (VALIDATOR_1_0_0, "1.0.0"),
    ] {
        let old = Validator::load(&runtime, bytes, &format!("validator-{version}.wasm"))
            .unwrap_or_else(|e| panic!("a {version} validator loads: {e}"));
        assert_eq!(old.world_version(), version);
        let suffix = format!("@{version}");
        assert!(
            old.imports().iter().all(|i| i.ends_with(&suffix)),
            "{:?}",
            old.imports()
        );
        let old_report = old.validate(&file, &options(&old)).unwrap();
        assert_eq!(old_report.patients, new.patients, "{version}");
        assert_eq!(old_report.summary, new.summary, "{version}");
        assert_eq!(old_report.columns, new.columns, "{version}");
        assert_eq!(old_report.history.numbers, new.history.numbers, "{version}");

        // And a file refused as a whole is refused alike.
        let no_mobile = b"NHS Number,Name\n9990000018,A\n";
        let errors = [validator(), &old]
            .map(|v| v.validate(no_mobile, &options(v)).unwrap_err().to_string());
        assert_eq!(errors[0], errors[1], "{version}");
    }
}

/// 1.2.0 gives an NHS number as an integer: the host writes back the
/// zeros it starts with. 0000000019 is valid: of its first nine digits only
/// the ninth, 1, counts, weighing 1 x 2 = 2, and 11 - 2 = 9 is its check
/// digit (the NHS's modulus 11).
/// The 1.1.0 validator, whose numbers are strings, is the second opinion.
#[test]
fn an_nhs_number_that_starts_with_zeros_keeps_them() {
    let runtime = Runtime::new().unwrap();
    let old = Validator::load(&runtime, VALIDATOR_1_1_0, "validator-1.1.0.wasm").unwrap();
    let file = b"NHS Number,Mobile\n0000000019,07700900123\n";
    for v in [validator(), &old] {
        let options = BatchOptions {
            rules: v.default_rules().clone(),
            now: NOW,
            history: None,
        };
        let report = v.validate(file, &options).unwrap();
        let patient = &report.patients[0];
        assert_eq!(patient.status, presend_host::Status::Accepted);
        assert_eq!(patient.nhs_number.as_deref(), Some("0000000019"));
        assert_eq!(patient.mobile_number.as_deref(), Some("+447700900123"));
    }
}

#[test]
fn verdicts_come_page_by_page_with_history_asked_about_once_a_chunk() {
    let history = MemoryHistory::new();
    history.add("+447912000007", 1, Outcome::PermanentFailure);
    // 40,000 rows, 1.5 MB: two chunks of the file, ten pages of verdicts.
    let file = numbered_patients(40_000);
    let shared: Arc<dyn HistoryStore> = history.clone();
    let options = BatchOptions {
        rules: validator().default_rules().clone(),
        now: NOW,
        history: Some(shared),
    };
    let mut recorder = Recorder::default();
    // A reader that hands over 1,000 bytes at a time, as a socket might.
    let mut input = Trickle(&file[..], 1_000);
    let report = validator()
        .validate_stream(&mut input, &options, &mut recorder)
        .unwrap();

    assert_eq!(recorder.columns.len(), 1, "the columns, once");
    assert_eq!(recorder.early, 0, "no verdict before the columns");
    assert_eq!(
        recorder.columns[0].headers,
        ["NHS Number", "Mobile", "Name"]
    );
    let rows: Vec<u32> = recorder.verdicts.iter().map(|v| v.row).collect();
    assert_eq!(rows, (2..=40_001).collect::<Vec<u32>>());
    assert_eq!(report.summary.total, 40_000);
    assert_eq!(report.summary.likely_to_fail, 1);
    assert_eq!(
        recorder.verdicts[7].status,
        presend_host::Status::LikelyToFail
    );
    // 40,000 distinct numbers, asked about once for the rows each chunk of
    // a megabyte completed: far fewer times than there were pages.
    let lookups = history.lookups.load(Ordering::SeqCst);
    assert_eq!(lookups, file.len().div_ceil(1 << 20), "{lookups} lookups");
    assert_eq!(report.history.numbers, 40_000);

    // The same verdicts as the whole file at once.
    let whole = validator().validate(&file, &options).unwrap();
    assert_eq!(whole.patients, recorder.verdicts);
}

/// A 1.3.0 or later validator asks for each chunk's history as soon as it
/// has read the chunk, and the host looks it up on its own thread while the
/// validator reads on; a 1.2.0 validator asks as it judges, and the host
/// looks up on the thread that runs the batch. The verdicts are the same.
#[test]
fn a_1_3_0_validator_has_history_looked_up_on_another_thread_while_it_reads() {
    let runtime = Runtime::new().unwrap();
    let old = Validator::load(&runtime, VALIDATOR_1_2_0, "validator-1.2.0.wasm").unwrap();
    let ahead = Validator::load(&runtime, VALIDATOR_1_3_0, "validator-1.3.0.wasm").unwrap();
    // About 2.3 MB: three chunks of a megabyte, so one lookup each.
    let file = numbered_patients(60_000);
    let chunks = file.len().div_ceil(1 << 20);
    assert_eq!(chunks, 3);
    let mut reports = Vec::new();
    for v in [validator(), &ahead, &old] {
        let history = MemoryHistory::new();
        history.add("+447912000007", 1, Outcome::PermanentFailure);
        let options = BatchOptions {
            rules: v.default_rules().clone(),
            now: NOW,
            history: Some(history.clone()),
        };
        let report = v.validate(&file, &options).unwrap();
        assert_eq!(report.summary.likely_to_fail, 1);
        let threads = history.threads.lock().unwrap().clone();
        assert_eq!(threads.len(), chunks, "{}", v.world_version());
        let expected = if v.world_version() != "1.2.0" {
            Some("presend-history".to_string())
        } else {
            std::thread::current().name().map(String::from)
        };
        assert!(
            threads.iter().all(|t| *t == expected),
            "{}: {threads:?}",
            v.world_version()
        );
        reports.push(report);
    }
    for other in &reports[1..] {
        assert_eq!(reports[0].patients, other.patients);
        assert_eq!(reports[0].history, other.history);
    }
}

/// A store whose lookups panic (a bug in an embedder's store).
struct Panicking;

impl HistoryStore for Panicking {
    fn lookup(
        &self,
        _: &[String],
    ) -> presend_host::Result<Vec<presend_host::history::NumberHistory>> {
        panic!("a bug in the store");
    }
}

/// The lookup runs on the host's history thread, so a store that panics
/// there fails its batch, with an error that says so, rather than the
/// process; the next batch runs.
#[test]
fn a_store_that_panics_fails_the_batch_not_the_host() {
    let options = BatchOptions {
        rules: validator().default_rules().clone(),
        now: NOW,
        history: Some(Arc::new(Panicking)),
    };
    let file = numbered_patients(10);
    let e = validator().validate(&file, &options).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("history store: its lookup panicked"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::History);
    let report = validator()
        .validate(
            &file,
            &BatchOptions {
                history: None,
                ..options
            },
        )
        .unwrap();
    assert_eq!(report.summary.total, 10);
}

/// Reads `.0` at most `.1` bytes at a time.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Fails after `.0` bytes.
struct Broken(usize);

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("connection reset"));
        }
        let header = b"NHS Number,Mobile\n9990000018,07700900123\n";
        let n = buf.len().min(self.0).min(header.len());
        buf[..n].copy_from_slice(&header[..n]);
        self.0 -= n;
        Ok(n)
    }
}

/// A sink whose writes fail.
struct Full;

impl VerdictSink for Full {
    fn columns(&mut self, _: &Columns) -> std::io::Result<()> {
        Ok(())
    }

    fn verdict(&mut self, _: PatientVerdict) -> std::io::Result<()> {
        Err(std::io::Error::other("no space left on device"))
    }
}

#[test]
fn a_failing_reader_or_sink_voids_the_batch_naming_which() {
    let mut recorder = Recorder::default();
    let e = validator()
        .validate_stream(&mut Broken(41), &options(None), &mut recorder)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Stream {
                doing: "reading the file",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Host);
    assert!(e.to_string().contains("connection reset"), "{e}");

    let file = numbered_patients(3);
    let e = validator()
        .validate_stream(&mut &file[..], &options(None), &mut Full)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Stream {
                doing: "writing the verdicts",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("the batch is void"), "{e}");
}

#[test]
fn a_file_error_after_verdicts_fails_the_batch() {
    // 40,000 rows (1.5 MB) under a limit of 35,000: the first megabyte's
    // pages are given before the row over the limit is read.
    let file = numbered_patients(40_000);
    assert!(file.len() > 1 << 20);
    let rules = rules_for(validator(), 35_000);
    let options = BatchOptions {
        rules,
        now: NOW,
        history: None,
    };
    let mut recorder = Recorder::default();
    let e = validator()
        .validate_stream(&mut Trickle(&file[..], 64 << 10), &options, &mut recorder)
        .unwrap_err();
    match &e {
        Error::File { code, row, .. } => {
            assert_eq!((code.as_str(), *row), ("too-many-rows", Some(35_002)));
        }
        other => panic!("expected too-many-rows, got {other:?}"),
    }
    assert!(
        !recorder.verdicts.is_empty(),
        "verdicts came before the error"
    );
}

/// The memory a batch needs no longer grows with the file: 200,000
/// patients fit in a guest limit of 24 MiB page by page, and a 1.0.0
/// validator, which must hold the whole file and every verdict, does not.
#[test]
fn a_big_file_fits_in_little_guest_memory_only_page_by_page() {
    let runtime = Runtime::with_limits(Limits {
        memory_bytes: 24 << 20,
        ..Limits::default()
    })
    .unwrap();
    let current = Validator::embedded(&runtime).unwrap();
    let old = validator_1_0_0(&runtime);
    let file = numbered_patients(200_000);
    let run = |v: &Validator| {
        let options = BatchOptions {
            rules: rules_for(v, 200_000),
            now: NOW,
            history: None,
        };
        let mut count = Counter(0);
        v.validate_stream(&mut &file[..], &options, &mut count)
            .map(|report| (report.summary.total, count.0))
    };
    assert_eq!(run(&current).unwrap(), (200_000, 200_000));
    match run(&old) {
        Err(Error::MemoryLimit { limit_bytes, .. }) => assert_eq!(limit_bytes, 24 << 20),
        other => panic!("expected the 1.0.0 validator to run out of memory, got {other:?}"),
    }
}

/// Counts verdicts, keeping none.
struct Counter(usize);

impl VerdictSink for Counter {
    fn columns(&mut self, _: &Columns) -> std::io::Result<()> {
        Ok(())
    }

    fn verdict(&mut self, _: PatientVerdict) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}
