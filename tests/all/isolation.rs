//! Nothing of one practice's batch reaches another's: batches of two
//! practices, each with its own file and history store, run concurrently
//! many times on one validator, and every result is exactly its own.

use std::collections::HashSet;
use std::sync::Arc;

use presend_host::BatchReport;
use presend_host::history::{HistoryStore, Outcome};

use crate::common::{MemoryHistory, nhs_number, options, validator};

struct Practice {
    csv: Vec<u8>,
    history: Arc<MemoryHistory>,
    nhs_numbers: HashSet<String>,
}

/// `patients` patients with NHS numbers from `first_base` and mobiles from
/// 07700 900`first_mobile`; every other number's last message failed.
fn practice(first_base: u64, first_mobile: u32, patients: u32) -> Practice {
    let history = MemoryHistory::new();
    let mut csv = String::from("NHS Number,Mobile\n");
    let mut nhs_numbers = HashSet::new();
    let bases = (first_base..).filter_map(nhs_number);
    for (i, nhs) in bases.take(patients as usize).enumerate() {
        let mobile = first_mobile + i as u32;
        csv.push_str(&format!("{nhs},07700 900{mobile:03}\n"));
        if i % 2 == 0 {
            history.add(&format!("+447700900{mobile:03}"), 3, Outcome::Failed);
        }
        nhs_numbers.insert(nhs);
    }
    Practice {
        csv: csv.into_bytes(),
        history,
        nhs_numbers,
    }
}

impl Practice {
    fn run(&self) -> BatchReport {
        let history: Arc<dyn HistoryStore> = self.history.clone();
        validator()
            .validate(&self.csv, &options(Some(history)))
            .expect("batch runs")
    }
}

#[test]
fn concurrent_batches_of_two_practices_each_hold_only_their_own_rows() {
    let practices = [
        practice(999_000_001, 0, 200),
        practice(999_100_001, 500, 150),
    ];
    let expected: Vec<BatchReport> = practices.iter().map(Practice::run).collect();
    assert_eq!(expected[0].summary.likely_to_fail, 100);
    assert_eq!(expected[1].summary.likely_to_fail, 75);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (practices, expected) = (&practices, &expected);
            scope.spawn(move || {
                for i in 0..25 {
                    let which = (thread + i) % 2;
                    let report = practices[which].run();
                    for p in &report.patients {
                        let nhs = p.nhs_number.as_deref().unwrap_or_default();
                        assert!(
                            practices[which].nhs_numbers.contains(nhs),
                            "practice {which}'s result holds row {} of another file",
                            p.row
                        );
                    }
                    assert!(
                        report == expected[which],
                        "practice {which}'s result changed under load"
                    );
                }
            });
        }
    });
}
