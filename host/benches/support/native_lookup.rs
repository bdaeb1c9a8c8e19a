//! What the host does for the component, done for the validation core run
//! natively: the benchmark and `tests/all/native.rs` both include this file.

use presend_host::history::{Attempt, HistoryStore, Outcome};

/// What the host does for the component, done for the native core: look
/// the numbers up as integers as the sandbox does for `lookup-mobiles`
/// (`lookup_each_uk_mobile`), and answer with (position, attempt) pairs.
pub fn native_lookup(
    history: &dyn HistoryStore,
    numbers: &[presend_plugin::mobile::Mobile],
) -> Vec<(u32, presend_plugin::Attempt)> {
    let numbers: Vec<u64> = numbers.iter().map(|m| m.digits()).collect();
    let mut out = Vec::new();
    history
        .lookup_each_uk_mobile(&numbers, &mut |at, a| out.push((at, native(a))))
        .expect("lookup");
    out
}

fn native(a: Attempt) -> presend_plugin::Attempt {
    presend_plugin::Attempt {
        sent_at: a.sent_at,
        outcome: match a.outcome {
            Outcome::Delivered => presend_plugin::Outcome::Delivered,
            Outcome::Failed => presend_plugin::Outcome::Failed,
            Outcome::PermanentFailure => presend_plugin::Outcome::PermanentFailure,
            Outcome::TemporaryFailure => presend_plugin::Outcome::TemporaryFailure,
            Outcome::TechnicalFailure => presend_plugin::Outcome::TechnicalFailure,
            Outcome::Pending => presend_plugin::Outcome::Pending,
        },
    }
}
