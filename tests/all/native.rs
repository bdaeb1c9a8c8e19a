//! The same validation core, run natively and as the component, gives the
//! same verdicts bit for bit: with the example file's real history, so the
//! scores that depend on floating-point arithmetic (decay, the estimate) are
//! compared too, not only the prior every number gets without history. And
//! on any bytes (the fuzz seeds, and file-like bytes made at random), both
//! give the same verdicts or the same file error: what crosses the WIT
//! boundary loses or changes nothing, and the component never traps.

use presend_host::history::{CsvHistory, HistoryStore};
use presend_host::{Error, PatientVerdict};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use crate::common::{NOW, example, options, validator};

#[path = "../../host/benches/support/native_lookup.rs"]
mod native_lookup;
use native_lookup::native_lookup;

#[test]
fn native_core_and_component_agree_bit_for_bit_with_history() {
    let store = CsvHistory::load(example("history.csv"), validator()).unwrap();
    let patients = std::fs::read(example("patients.csv")).unwrap();

    let mut batch = presend_plugin::Batch::new(presend_plugin::Rules::default_rules(), NOW);
    batch.push(&patients).expect("the example file reads");
    let native = batch
        .finish(|numbers| native_lookup(&store, numbers))
        .unwrap();

    let shared: std::sync::Arc<dyn HistoryStore> = std::sync::Arc::new(store);
    let component = validator()
        .validate(&patients, &options(Some(shared)))
        .unwrap();

    let scored_by_history = assert_same_verdicts(&native.verdicts, &component.patients);
    // The comparison covered scores history changed, not just the prior.
    assert!(
        scored_by_history > 40,
        "{scored_by_history} scored by history"
    );
}

/// Asserts that the native core's verdicts and the component's are the
/// same, field by field (probabilities bit for bit); returns how many were
/// scored by history rather than given the prior.
fn assert_same_verdicts(native: &[presend_plugin::Verdict], component: &[PatientVerdict]) -> usize {
    assert_eq!(native.len(), component.len());
    let mut scored_by_history = 0;
    for (n, c) in native.iter().zip(component) {
        assert_eq!(n.row, c.row);
        assert_eq!(n.status.as_str(), c.status.as_str(), "row {}", c.row);
        // The core's integers, written by the core's own formatting; the
        // component's, by the host's.
        let nhs = n.nhs_number.map(presend_plugin::nhs::format);
        assert_eq!(nhs.as_deref(), c.nhs_number.as_deref(), "row {}", c.row);
        let mobile = n.mobile_number.map(presend_plugin::mobile::e164);
        assert_eq!(
            mobile.as_deref(),
            c.mobile_number.as_deref(),
            "row {}",
            c.row
        );
        let codes = |r: &[presend_plugin::Reason]| -> Vec<String> {
            r.iter().map(|r| r.code.as_str().to_string()).collect()
        };
        let messages: Vec<&str> = n.reasons.iter().map(|r| r.message.as_ref()).collect();
        assert_eq!(
            codes(&n.reasons),
            c.reasons
                .iter()
                .map(|r| r.code.as_str().to_string())
                .collect::<Vec<_>>(),
            "row {}",
            c.row
        );
        assert_eq!(
            messages,
            c.reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>(),
            "row {}",
            c.row
        );
        assert_eq!(
            n.success_probability.map(f64::to_bits),
            c.success_probability.map(f64::to_bits),
            "row {}: {:?} vs {:?}",
            c.row,
            n.success_probability,
            c.success_probability
        );
        assert_eq!(n.cells, c.cells, "row {}", c.row);
        if c.success_probability.is_some_and(|p| p != 0.95) {
            scored_by_history += 1;
        }
    }
    scored_by_history
}

/// Runs `bytes` natively (no history) and through the real component, and
/// asserts the same answer: the same verdicts, or the same file error.
/// Returns whether the file had verdicts to compare.
fn assert_same_answer(bytes: &[u8]) -> bool {
    let mut batch = presend_plugin::Batch::new(presend_plugin::Rules::default_rules(), NOW);
    let pushed = batch.push(bytes);
    let native = pushed.and_then(|()| batch.finish(|_| Vec::new()));
    match (native, validator().validate(bytes, &options(None))) {
        (Ok(native), Ok(component)) => {
            assert_same_verdicts(&native.verdicts, &component.patients);
            assert_eq!(component.summary.total, component.patients.len());
            true
        }
        (Err(native), Err(Error::File { code, message, row })) => {
            assert_eq!(
                (native.code, native.message.as_str(), native.row),
                (code.as_str(), message.as_str(), row)
            );
            false
        }
        (native, component) => panic!(
            "the native core and the component disagree: {:?} against {:?}",
            native.map(|r| r.verdicts.len()),
            component.map(|r| r.patients.len())
        ),
    }
}

/// The fuzz targets' seeds (`fuzz/seeds`): CI fuzzes the CSV reader
/// natively; these are the batch path's cases through the real component.
#[test]
fn every_fuzz_seed_gets_the_native_cores_answer_from_the_component() {
    let seeds = crate::common::root().join("fuzz/seeds");
    let mut count = 0;
    for entry in std::fs::read_dir(&seeds).expect("fuzz/seeds is there") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| assert_same_answer(&bytes));
        assert!(result.is_ok(), "seed {}", path.display());
        count += 1;
    }
    assert!(count >= 9, "{count} seeds in {}", seeds.display());
}

/// Bytes shaped like a patient file, most of them opening with a header so
/// that they get verdicts: numbers valid and not, quotes, odd line ends,
/// encodings' marks.
fn file_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"NHS Number,Mobile Number,Date of Birth\r\n".to_vec()),
        Just(b"NHS Number;Mobile\n".to_vec()),
        Just(b"999 000 0018".to_vec()),
        Just(b"9990000026".to_vec()),
        Just(b"+44 7700 900001".to_vec()),
        Just(b"07700900002".to_vec()),
        Just(b"020 7946 0000".to_vec()),
        Just(b"31/12/1999".to_vec()),
        Just(b"1999-02-30".to_vec()),
        prop::sample::select(vec![",", ";", "\t", "\"", "\n", "\r\n", " "])
            .prop_map(|s| s.as_bytes().to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xFF\xFE".to_vec()),
        Just(b"\xE9".to_vec()),
        prop::collection::vec(any::<u8>(), 0..6),
    ];
    let header = prop::sample::select(vec![
        &b""[..],
        b"NHS Number,Mobile Number,Date of Birth\n",
        b"NHS Number,Mobile\r\n",
        b"nhs number;mobile phone;dob\n",
    ]);
    (header, prop::collection::vec(token, 0..80))
        .prop_map(|(header, tokens)| [header.to_vec(), tokens.concat()].concat())
}

#[test]
fn any_bytes_get_the_native_cores_answer_from_the_component() {
    let cases = 256;
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
    let judged = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&file_like_bytes(), |bytes| {
            if assert_same_answer(&bytes) {
                judged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    // Most cases got past the header, so verdicts were compared, not only
    // file errors.
    let judged = judged.into_inner();
    assert!(
        judged >= cases / 2,
        "{judged} of {cases} files had verdicts"
    );
}
