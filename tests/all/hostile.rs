//! Misbehaving guests (`tests/guests`): each breaks the contract in one way,
//! and each gets the exact error it deserves, naming the validator; then the
//! real validator, on the same runtime, still works.

use std::sync::Arc;
use std::time::Duration;

use presend_host::history::{HistoryStore, Outcome};
use presend_host::{BatchOptions, BatchReport, Error, Limit, Limits, Runtime, Validator};
use presend_test_guests::{HOSTILE, WANTS_WASI, WORLD_V0, WORLD_V2};

use crate::common::{MemoryHistory, NOW};

const HOSTILE_NAME: &str = "presend-hostile 0.0.0";

/// Ten patients: a file of at most 12 rows (a header, ten rows, the last
/// line break).
fn ten_rows() -> Vec<u8> {
    let mut csv = String::from("NHS Number,Mobile\n");
    for i in 0..10 {
        csv.push_str(&format!("9990000018,07700 90012{i}\n"));
    }
    csv.into_bytes()
}

fn runtime(limits: Limits) -> Runtime {
    Runtime::with_limits(limits).expect("runtime")
}

/// Runs the hostile guest with `behaviour` as its rules on `runtime`.
fn misbehave(runtime: &Runtime, behaviour: &str) -> Result<BatchReport, Error> {
    misbehave_with(runtime, behaviour, None)
}

/// [`misbehave`], with `history` as the batch's history store.
fn misbehave_with(
    runtime: &Runtime,
    behaviour: &str,
    history: Option<Arc<dyn HistoryStore>>,
) -> Result<BatchReport, Error> {
    let hostile =
        Validator::load(runtime, HOSTILE, "hostile.wasm").expect("the hostile guest loads");
    assert_eq!(hostile.identity().to_string(), HOSTILE_NAME);
    let options = BatchOptions {
        rules: hostile.check_rules(behaviour, "test").unwrap(),
        now: NOW,
        history,
    };
    hostile.validate(&ten_rows(), &options)
}

/// The real validator, loaded on `runtime` after the failure, validates.
fn real_validator_still_works(runtime: &Runtime) {
    let validator: Validator = Validator::embedded(runtime).unwrap();
    let options = BatchOptions {
        rules: validator.default_rules().clone(),
        now: NOW,
        history: None,
    };
    let report = validator.validate(&ten_rows(), &options).unwrap();
    assert_eq!(report.summary.total, 10);
}

fn expect_err(result: Result<BatchReport, Error>) -> Error {
    match result {
        Ok(report) => panic!("expected an error, got {:?}", report.summary),
        Err(e) => {
            assert_eq!(e.plugin(), Some(HOSTILE_NAME), "{e}");
            assert!(e.to_string().contains(HOSTILE_NAME), "{e}");
            e
        }
    }
}

#[test]
fn a_guest_that_loops_forever_times_out() {
    let runtime = runtime(Limits {
        time: Duration::from_millis(100),
        ..Limits::default()
    });
    let e = expect_err(misbehave(&runtime, "loop"));
    assert!(
        matches!(e, Error::Timeout { budget, .. } if budget == Duration::from_millis(100)),
        "{e:?}"
    );
    assert_eq!(runtime.counters().timeouts, 1);
    real_validator_still_works(&runtime);
}

/// Guards the instance pool: a slot's memory is kept between calls, and
/// must be zeroed before the next guest gets it, whether it was kept
/// resident (the first 64 MiB) or handed back (the rest).
#[test]
fn a_guest_never_sees_what_an_earlier_call_left_in_its_memory() {
    // One instance at a time: every call gets the same slot.
    let runtime = runtime(Limits {
        instances: 1,
        ..Limits::default()
    });
    // 1,100 pages is about 69 MiB: past what a slot keeps resident.
    let said = |behaviour: String| {
        let report = misbehave(&runtime, &behaviour).expect(&behaviour);
        report.patients[0].reasons[0].message.clone()
    };
    for pages in [16, 1_100] {
        // Twice the pages, so the next call's new pages are among them.
        let scribbled = said(format!("scribble {}", pages * 2));
        assert_eq!(scribbled, format!("{} nonzero bytes", pages * 2 * 65_536));
        assert_eq!(said(format!("residue {pages}")), "0 nonzero bytes");
    }
}

#[test]
fn a_guest_that_allocates_without_end_hits_the_memory_limit() {
    let runtime = runtime(Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    });
    let e = expect_err(misbehave(&runtime, "alloc"));
    assert!(
        matches!(e, Error::MemoryLimit { limit_bytes, .. } if limit_bytes == 64 << 20),
        "{e:?}"
    );
    assert_eq!(runtime.counters().memory_limits, 1);
    real_validator_still_works(&runtime);
}

#[test]
fn a_panicking_guest_traps_with_its_own_message() {
    let runtime = runtime(Limits::default());
    let e = expect_err(misbehave(&runtime, "panic"));
    match &e {
        Error::Trap { message, .. } => {
            assert!(message.contains("gave up on row 7 on purpose"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(runtime.counters().traps, 1);
    real_validator_still_works(&runtime);
}

#[test]
fn a_guest_has_no_clock() {
    let runtime = runtime(Limits::default());
    let e = expect_err(misbehave(&runtime, "clock"));
    match &e {
        Error::Trap { message, .. } => {
            assert!(
                message.contains("time not implemented on this platform"),
                "{message}"
            )
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    real_validator_still_works(&runtime);
}

#[test]
fn a_guest_finds_no_files_environment_or_network() {
    let runtime = runtime(Limits::default());
    let report = misbehave(&runtime, "escape").expect("the attempts fail inside the guest");
    let reasons: Vec<(&str, &str)> = report.patients[0]
        .reasons
        .iter()
        .map(|r| (r.code.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("file", "Err(Unsupported)"),
            ("env", "Err(\"environment variable not found\")"),
            ("net", "Err(Unsupported)"),
        ]
    );
}

#[test]
fn a_result_far_larger_than_the_file_is_refused() {
    let runtime = runtime(Limits::default());
    // 10^7 verdicts do not even fit in the guest's memory.
    let e = expect_err(misbehave(&runtime, "verdicts 10000000"));
    assert!(matches!(e, Error::MemoryLimit { .. }), "{e:?}");
    // 10^5 do, and are stopped as the host reads them: 10 rows get a
    // budget of 1 MiB and 1 KiB per byte of file.
    let e = expect_err(misbehave(&runtime, "verdicts 100000"));
    let budget = (1 << 20) + 1024 * ten_rows().len();
    assert!(
        matches!(e, Error::LimitExceeded { limit: Limit::OutputBytes(b), .. } if b == budget),
        "{e:?}"
    );
    // 50 fit in the budget, but not in a file of ten rows.
    let e = expect_err(misbehave(&runtime, "verdicts 50"));
    match &e {
        Error::ContractViolation { message, .. } => {
            assert_eq!(message, "50 verdicts for a file of at most 11 patient rows")
        }
        other => panic!("expected a contract violation, got {other:?}"),
    }
    let counters = runtime.counters();
    assert_eq!(
        (
            counters.memory_limits,
            counters.limit_hits,
            counters.contract_violations
        ),
        (1, 1, 1)
    );
    real_validator_still_works(&runtime);
}

#[test]
fn a_guest_asking_about_too_many_numbers_is_stopped() {
    let runtime = runtime(Limits::default());
    // Both lookups: numbers as strings (1.1.0) and as integers (1.2.0).
    for lookup in ["lookup", "lookup-mobiles"] {
        // 10^7 numbers: more data than a batch of ten rows may hand over.
        let e = expect_err(misbehave(&runtime, &format!("{lookup} 10000000")));
        let budget = (1 << 20) + 1024 * ten_rows().len();
        assert!(
            matches!(e, Error::LimitExceeded { limit: Limit::OutputBytes(b), .. } if b == budget),
            "{lookup}: {e:?}"
        );
        // 1,000 numbers fit the budget, but a file of 12 lines has at most 12.
        let e = expect_err(misbehave(&runtime, &format!("{lookup} 1000")));
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: Limit::HistoryNumbers(12),
                    ..
                }
            ),
            "{lookup}: {e:?}"
        );
    }
    real_validator_still_works(&runtime);
}

/// Pending lookups (1.3.0) held at once count as one lookup: a file of 12
/// lines may have 12 numbers asked about and not yet taken. Taking one, or
/// dropping it, frees its numbers; the host answers them on its own thread
/// from the store, or at once when there is none.
#[test]
fn pending_lookups_are_bounded_while_held_and_freed_when_taken_or_dropped() {
    let runtime = runtime(Limits::default());
    let history = MemoryHistory::new();
    history.add("+447700900123", 3, Outcome::Delivered);
    for store in [None, Some(history.clone() as Arc<dyn HistoryStore>)] {
        let with_store = store.is_some();
        let e = expect_err(misbehave_with(&runtime, "pending 13", store.clone()));
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: Limit::HistoryNumbers(12),
                    ..
                }
            ),
            "store: {with_store}: {e:?}"
        );
        // Each lookup of 07700 900123 finds its one attempt, if there is a
        // store: 12 held at once, and 100 made and taken one by one (never
        // more than one held).
        for (rules, asked) in [("pending 12", 12), ("pending-one-by-one 100", 100)] {
            let report = misbehave_with(&runtime, rules, store.clone())
                .unwrap_or_else(|e| panic!("{rules}, store: {with_store}: {e}"));
            let found = if with_store { asked } else { 0 };
            assert_eq!(
                report.patients[0].reasons[0].message,
                format!("{found} attempts"),
                "{rules}, store: {with_store}"
            );
            // Counted as they are taken, as lookups with a store are.
            let counted = if with_store { asked } else { 0 };
            assert_eq!(report.history.numbers, counted, "{rules}");
        }
        // 12 dropped untaken, twice: each time they free their numbers.
        let report = misbehave_with(&runtime, "pending-dropped 12", store.clone())
            .unwrap_or_else(|e| panic!("pending-dropped, store: {with_store}: {e}"));
        assert_eq!(report.summary.accepted, 1);
        assert_eq!(report.history.numbers, 0, "nothing taken, nothing counted");
    }
    real_validator_still_works(&runtime);
}

#[test]
fn a_guest_flooding_the_log_is_stopped() {
    let runtime = runtime(Limits::default());
    let e = expect_err(misbehave(&runtime, "log 5000"));
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: Limit::LogLines(1000),
                ..
            }
        ),
        "{e:?}"
    );
    let e = expect_err(misbehave(&runtime, "log-bytes 100000"));
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: Limit::LogBytes(65536),
                ..
            }
        ),
        "{e:?}"
    );
    // Within the limits, logging is fine.
    assert!(misbehave(&runtime, "log 10").is_ok());
    assert_eq!(runtime.counters().limit_hits, 2);
    real_validator_still_works(&runtime);
}

#[test]
fn verdicts_that_do_not_fit_the_file_are_refused() {
    let runtime = runtime(Limits::default());
    for (behaviour, expected) in [
        ("duplicate-rows", "row 3 has more than one verdict"),
        (
            "rows-out-of-range",
            "a verdict for row 1000, past the end of a file of at most 12 rows",
        ),
        (
            "rows-out-of-order",
            "a verdict for row 2 after one for row 3",
        ),
        (
            "accepted-without-number",
            "row 2 is not rejected but has no mobile number in E.164 form",
        ),
        // Each page alone fits; the second repeats the first's row.
        ("pages-repeat", "row 2 has more than one verdict"),
        // Compact verdicts (1.2.0) whose integers are no number of theirs.
        (
            "nhs-too-long",
            "row 2 has an NHS number of more than 10 digits",
        ),
        (
            "mobile-not-uk",
            "row 2 has a mobile number that is not a UK mobile's national number",
        ),
        // Pages of columns (1.4.0) whose parts do not fit together.
        (
            "page-short-column",
            "a page whose columns differ in length: rows 1, statuses 0",
        ),
        (
            "page-text-past-end",
            "row 2 has a reason or cell ending at byte 9 of its page's text, which is before the piece's start, past the text's end or inside a character",
        ),
        (
            "page-inside-char",
            "row 2 has a reason or cell ending at byte 1 of its page's text",
        ),
        (
            "page-pieces-left",
            "a page whose text has more pieces than its verdicts' reasons and cells: 2 left over",
        ),
        (
            "page-many-reasons",
            "row 2 has more reasons and cells than its page's text has pieces left",
        ),
    ] {
        match expect_err(misbehave(&runtime, behaviour)) {
            Error::ContractViolation { message, .. } => {
                assert!(message.starts_with(expected), "{behaviour}: {message}")
            }
            other => panic!("{behaviour}: expected a contract violation, got {other:?}"),
        }
    }
    assert_eq!(runtime.counters().contract_violations, 12);
    real_validator_still_works(&runtime);
}

#[test]
fn other_major_versions_of_the_world_are_refused_naming_both() {
    let runtime = runtime(Limits::default());
    for (bytes, found) in [(WORLD_V2, "2.0.0"), (WORLD_V0, "0.9.0")] {
        match Validator::load(&runtime, bytes, "old-or-new.wasm") {
            Err(e @ Error::IncompatibleComponent { .. }) => {
                let text = e.to_string();
                assert!(text.contains("old-or-new.wasm"), "{text}");
                let ours = format!("pre-send-validator@{}", crate::common::wit_version());
                assert!(text.contains(&ours), "{text}");
                assert!(
                    text.contains(&format!("it implements version {found}")),
                    "{text}"
                );
            }
            Err(other) => panic!("expected an incompatible component, got {other:?}"),
            Ok(v) => panic!("loaded {}", v.identity()),
        }
    }
    real_validator_still_works(&runtime);
}

#[test]
fn a_guest_importing_wasi_is_refused_before_it_runs() {
    let runtime = runtime(Limits::default());
    match Validator::load(&runtime, WANTS_WASI, "wants-wasi.wasm") {
        Err(Error::ForbiddenImport { origin, import }) => {
            assert_eq!(origin, "wants-wasi.wasm");
            assert!(import.starts_with("wasi:sandbox-escape/"), "{import}");
        }
        Err(other) => panic!("expected a forbidden import, got {other:?}"),
        Ok(v) => panic!("loaded {}", v.identity()),
    }
    real_validator_still_works(&runtime);
}

#[test]
fn a_file_over_the_input_limit_never_reaches_the_validator() {
    let runtime = runtime(Limits {
        input_bytes: 100,
        ..Limits::default()
    });
    let validator = Validator::embedded(&runtime).unwrap();
    let options = BatchOptions {
        rules: validator.default_rules().clone(),
        now: NOW,
        history: None,
    };
    let file = ten_rows();
    match validator.validate(&file, &options) {
        Err(Error::InputTooLarge { bytes, limit }) => assert_eq!((bytes, limit), (file.len(), 100)),
        other => panic!(
            "expected the input limit, got {:?}",
            other.map(|r| r.summary)
        ),
    }
    assert_eq!(runtime.counters().limit_hits, 1);
    assert!(validator.validate(&file[..60], &options).is_ok());
}
