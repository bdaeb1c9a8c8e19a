//! The example practice file's verdicts, as JSON, against a reviewed copy.
//! Set PRESEND_BLESS=1 to rewrite `tests/golden/patients.json` after a
//! deliberate change, and review the diff.

use std::sync::Arc;

use presend_host::history::{CsvHistory, HistoryStore};

use crate::common::{example, options, validator};

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
    if std::env::var_os("PRESEND_BLESS").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/golden/patients.json (PRESEND_BLESS=1 writes it)");
    assert!(
        actual == expected,
        "verdicts differ from {}; run with PRESEND_BLESS=1 and review the diff",
        golden.display()
    );
}
