//! Failing closed: when the validator runs out of time or memory, when the
//! history store fails, or when the component is not one, the batch gets an
//! error naming the validator and the cause, never verdicts; and the next
//! batch on the same host works.

use std::sync::Arc;
use std::time::Duration;

use presend_host::history::{HistoryStore, NumberHistory};
use presend_host::{Error, Limits, Runtime, Validator};

use crate::common::{big_file, options, validator};

const SMALL: &[u8] = b"NHS Number,Mobile\n9990000018,07700900123\n";

#[test]
fn a_batch_past_its_time_budget_is_stopped_and_the_next_one_runs() {
    // 300,000 rows take ~0.5 s; a 10-row batch takes well under 1 ms.
    let runtime = Runtime::with_limits(Limits {
        time: Duration::from_millis(50),
        ..Limits::default()
    })
    .unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    let rules = validator
        .check_rules(
            "name = \"big\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 1000000\n",
            "test",
        )
        .unwrap();
    let opts = presend_host::BatchOptions {
        rules,
        ..options(None)
    };
    match validator.validate(&big_file(300_000), &opts) {
        Err(e @ Error::Timeout { .. }) => {
            assert_eq!(e.plugin(), Some("presend-validator 1.1.0"));
            assert!(e.to_string().contains("no verdicts"), "{e}");
        }
        other => panic!("expected a timeout, got {:?}", other.map(|r| r.summary)),
    }
    // The same validator, a fresh store: a small batch fits in the budget.
    let report = validator.validate(SMALL, &opts).unwrap();
    assert_eq!(report.summary.accepted, 1);
}

/// Reads `file`, and the first time it is read, runs `during` (while the
/// batch reading it holds its instance).
struct Interrupting<'a, F: FnMut()> {
    file: &'a [u8],
    during: Option<F>,
}

impl<F: FnMut()> std::io::Read for Interrupting<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(mut during) = self.during.take() {
            during();
        }
        self.file.read(buf)
    }
}

/// Counts verdicts.
struct Counted(usize);

impl presend_host::VerdictSink for Counted {
    fn columns(&mut self, _: &presend_host::Columns) -> std::io::Result<()> {
        Ok(())
    }

    fn verdict(&mut self, _: presend_host::PatientVerdict) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// On a runtime with room for `instances` calls at once: streams a one-row
/// batch and, while it reads its file (holding its instance), checks
/// `rules`. Returns that check's result; the batch itself must give its one
/// verdict. Then, the batch done, a batch runs.
fn rules_checked_during_a_batch(instances: usize, rules: &str) -> Result<String, Error> {
    let runtime = Runtime::with_limits(Limits {
        instances,
        ..Limits::default()
    })
    .unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    let opts = presend_host::BatchOptions {
        rules: validator.default_rules().clone(),
        ..options(None)
    };
    let mut inner = None;
    let mut input = Interrupting {
        file: SMALL,
        during: Some(|| {
            let checked = validator.check_rules(rules, "test");
            inner = Some(checked.map(|r| r.identity().to_string()));
        }),
    };
    let mut sink = Counted(0);
    validator
        .validate_stream(&mut input, &opts, &mut sink)
        .expect("the batch that holds an instance");
    assert_eq!(sink.0, 1);
    // Its instance is free again.
    let report = validator.validate(SMALL, &opts).unwrap();
    assert_eq!(report.summary.accepted, 1);
    inner.expect("the check ran")
}

#[test]
fn a_call_with_every_instance_in_use_is_refused_as_busy_and_the_next_one_runs() {
    match rules_checked_during_a_batch(1, "name = \"x\"\nversion = \"1.0.0\"\n") {
        Err(e @ Error::Busy { instances: 1 }) => {
            assert_eq!(e.kind(), presend_host::ErrorKind::Host);
            assert!(e.to_string().contains("Limits::instances"), "{e}");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[test]
fn without_a_pool_calls_at_once_are_not_capped() {
    let checked = rules_checked_during_a_batch(0, "name = \"x\"\nversion = \"1.0.0\"\n");
    assert_eq!(checked.expect("not busy"), "x 1.0.0");
}

#[test]
fn a_batch_past_its_memory_limit_is_stopped_and_the_next_one_runs() {
    let runtime = Runtime::with_limits(Limits {
        memory_bytes: 4 << 20,
        ..Limits::default()
    })
    .unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    let opts = presend_host::BatchOptions {
        rules: validator.default_rules().clone(),
        ..options(None)
    };
    match validator.validate(&big_file(100_000), &opts) {
        Err(Error::MemoryLimit {
            plugin,
            limit_bytes,
        }) => {
            assert_eq!(plugin, "presend-validator 1.1.0");
            assert_eq!(limit_bytes, 4 << 20);
        }
        other => panic!(
            "expected the memory limit, got {:?}",
            other.map(|r| r.summary)
        ),
    }
    assert_eq!(
        validator.validate(SMALL, &opts).unwrap().summary.accepted,
        1
    );
}

struct BrokenStore;

impl HistoryStore for BrokenStore {
    fn lookup(&self, _: &[String]) -> presend_host::Result<Vec<NumberHistory>> {
        Err(Error::history("broken.db", "disk I/O error"))
    }
}

#[test]
fn a_failing_history_store_fails_the_batch() {
    let store: Arc<dyn HistoryStore> = Arc::new(BrokenStore);
    match validator().validate(SMALL, &options(Some(store))) {
        Err(Error::History {
            origin, message, ..
        }) => {
            assert_eq!(origin, "broken.db");
            assert_eq!(message, "disk I/O error");
        }
        other => panic!("expected the history error, got {other:?}"),
    }
    assert_eq!(
        validator()
            .validate(SMALL, &options(None))
            .unwrap()
            .summary
            .accepted,
        1
    );
}

#[test]
fn bytes_that_are_not_a_component_are_refused_on_load() {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.wasm");
    std::fs::write(&path, b"this is not wasm").unwrap();
    let err = Validator::load_file(&runtime, &path).expect_err("refused");
    assert!(matches!(err, Error::InvalidComponent { .. }), "{err:?}");
    assert!(err.to_string().contains("not.wasm"), "{err}");
    // A core module is not a component either.
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let err = Validator::load_file(&runtime, &path).expect_err("refused");
    assert!(matches!(err, Error::InvalidComponent { .. }), "{err:?}");
    let err = Validator::load_file(&runtime, dir.path().join("missing.wasm")).expect_err("refused");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn verdicts_are_the_same_bit_for_bit_each_time() {
    let patients = std::fs::read(crate::common::example("patients.csv")).unwrap();
    let a = validator().validate(&patients, &options(None)).unwrap();
    let b = validator().validate(&patients, &options(None)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn the_validator_imports_nothing_beyond_its_world() {
    assert_eq!(
        validator().imports(),
        ["types", "history", "log"].map(|interface| format!(
            "presend:validator/{interface}@{}",
            crate::common::wit_version()
        )),
        "no WASI: no files, network, environment, clock or randomness"
    );
}

#[test]
fn the_largest_files_the_default_rules_allow_fit_the_default_limits() {
    // Guards the limits against refusing real work: 100,000 patients, as
    // ordinary rows and as the rows with the most output per byte (one
    // letter each, every one rejected with its reasons).
    let runtime = Runtime::new().unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    let opts = presend_host::BatchOptions {
        rules: validator.default_rules().clone(),
        ..options(None)
    };
    let report = validator.validate(&big_file(100_000), &opts).unwrap();
    assert_eq!(report.summary.total, 100_000);
    let mut tiny = String::from("NHS Number,Mobile\n");
    tiny.push_str(&"x\n".repeat(100_000));
    let report = validator.validate(tiny.as_bytes(), &opts).unwrap();
    assert_eq!(report.summary.rejected, 100_000);
    assert_eq!(runtime.counters().batches, 2);
}
