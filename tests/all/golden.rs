//! The example practice file's verdicts, as JSON, against a reviewed copy;
//! and, because a golden file re-blessed from the output can carry a mistake,
//! scores computed by hand from the default rules beside it.
//!
//! After a deliberate change, rewrite `tests/golden/patients.json` with
//! `PRESEND_BLESS=1 cargo test golden` (never under CI) and review the diff.

use std::sync::Arc;

use presend_host::history::{CsvHistory, HistoryStore, Outcome};

use crate::common::{MemoryHistory, example, options, row, run_with, validator};

/// Whether to rewrite the golden file: only when asked with exactly
/// `PRESEND_BLESS=1`, and never in CI, where the file is the oracle.
fn should_bless(bless: Option<&str>, ci: Option<&str>) -> bool {
    bless == Some("1") && ci.is_none()
}

#[test]
fn example_file_verdicts_match_the_golden_json() {
    let history: Arc<dyn HistoryStore> =
        Arc::new(CsvHistory::load(example("history.csv"), validator()).unwrap());
    let patients = std::fs::read(example("patients.csv")).unwrap();
    let report = validator()
        .validate(&patients, &options(Some(history)))
        .unwrap();
    let actual = serde_json::to_string_pretty(&report).unwrap() + "\n";
    let golden = crate::common::root().join("tests/golden/patients.json");
    let bless = std::env::var("PRESEND_BLESS").ok();
    let ci = std::env::var("CI").ok();
    if should_bless(bless.as_deref(), ci.as_deref()) {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/golden/patients.json (PRESEND_BLESS=1 writes it)");
    assert!(
        actual == expected,
        "verdicts differ from {}; if the change is deliberate, run with PRESEND_BLESS=1 \
         (not under CI) and review the diff",
        golden.display()
    );
}

/// `PRESEND_BLESS=0` (any value at all) used to rewrite the golden file and
/// then compare it with itself.
#[test]
fn only_presend_bless_1_outside_ci_rewrites_the_golden_file() {
    assert!(should_bless(Some("1"), None));
    for (bless, ci) in [
        (None, None),
        (Some("0"), None),
        (Some(""), None),
        (Some("yes"), None),
        (Some("1"), Some("true")),
        (Some("1"), Some("")),
    ] {
        assert!(!should_bless(bless, ci), "{bless:?} with CI={ci:?}");
    }
}

/// Scores worked out by hand from `examples/rules/default.toml`: prior 0.95
/// with weight 2 (so 1.9 for delivery, 0.1 against); a failure weighs 1 and a
/// permanent one 3; evidence halves every 365 days; after a failure the
/// chance is 0.10 x the estimate, after a delivery 0.5 + 0.5 x the estimate.
#[test]
fn hand_computed_scores_through_the_component() {
    let history = MemoryHistory::new();
    history
        .add("+447700900001", 0, Outcome::Failed)
        .add("+447700900002", 0, Outcome::Delivered)
        .add("+447700900003", 365, Outcome::PermanentFailure)
        .add("+447700900004", 730, Outcome::Delivered)
        .add("+447700900004", 0, Outcome::TemporaryFailure);
    let csv = "NHS Number,Mobile\n\
               9990000018,07700 900001\n\
               9990000026,07700 900002\n\
               9990000034,07700 900003\n\
               9990000042,07700 900004\n\
               9990000050,07700 900005\n";
    let report = run_with(csv, &history);
    let expected = [
        (2, 0.1 * 1.9 / (2.0 + 1.0)), // one failure today: 0.063333...
        (3, 0.5 + 0.5 * (1.9 + 1.0) / (2.0 + 1.0)), // one delivery today: 0.983333...
        (4, 0.1 * 1.9 / (2.0 + 3.0 * 0.5)), // permanent, a half-life ago
        (5, 0.1 * (1.9 + 0.25) / (2.0 + 0.25 + 1.0)), // delivered 2 half-lives ago, then failed
        (6, 0.95),                    // never messaged: the prior
    ];
    for (r, want) in expected {
        let got = row(&report, r).success_probability.unwrap();
        assert!((got - want).abs() < 1e-12, "row {r}: {got} != {want}");
    }
    assert!((row(&report, 2).success_probability.unwrap() - 0.063_333_333_333).abs() < 1e-11);
}
