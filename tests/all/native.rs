//! The same validation core, run natively and as the component, gives the
//! same verdicts bit for bit: with the example file's real history, so the
//! scores that depend on floating-point arithmetic (decay, the estimate) are
//! compared too, not only the prior every number gets without history.

use presend_host::history::{CsvHistory, HistoryStore};

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

    assert_eq!(native.verdicts.len(), component.patients.len());
    let mut scored_by_history = 0;
    for (n, c) in native.verdicts.iter().zip(&component.patients) {
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
    // The comparison covered scores history changed, not just the prior.
    assert!(
        scored_by_history > 40,
        "{scored_by_history} scored by history"
    );
}
