//! The validation core, natively, on any bytes: decoding, the CSV reader,
//! every patient check. It must never panic; a file that reads gives
//! verdicts in row order, each for a row the file has.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use presend_plugin::{Batch, Rules};

/// 2026-11-27T09:00:00Z.
const NOW: i64 = 1_795_770_000;

fuzz_target!(|data: &[u8]| {
    static RULES: OnceLock<Rules> = OnceLock::new();
    let rules = RULES.get_or_init(Rules::default_rules);
    let mut batch = Batch::new(rules.clone(), NOW);
    // A problem found while pushing comes back from `finish` too.
    let _ = batch.push(data);
    if let Ok(result) = batch.finish(|numbers| {
        // Every number asked about has one failed attempt: scoring runs too.
        (0..numbers.len() as u32)
            .map(|n| {
                let attempt = presend_plugin::Attempt {
                    sent_at: NOW - 86_400,
                    outcome: presend_plugin::Outcome::Failed,
                };
                (n, attempt)
            })
            .collect()
    }) {
        let lines = 1 + data.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
        let mut previous = 1;
        for v in &result.verdicts {
            assert!(
                v.row > previous && v.row as usize <= lines,
                "row {} after {previous}",
                v.row
            );
            previous = v.row;
        }
    }
});
