//! Embedding the validator in a platform: load it once, then validate each
//! practice's upload with delivery history from the platform's store.
//!
//!     cargo run --example embed -- examples/patients.csv examples/history.csv

use std::sync::Arc;

use presend_host::history::{CsvHistory, HistoryStore};
use presend_host::{BatchOptions, Runtime, Status, Validator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let patients = args
        .next()
        .unwrap_or_else(|| "examples/patients.csv".into());
    let history = args.next().unwrap_or_else(|| "examples/history.csv".into());

    // Once per process: the engine, and the validator compiled once.
    let runtime = Runtime::new()?;
    let validator = Validator::embedded(&runtime)?;
    println!("loaded {}", validator.identity());

    // The platform's history store (SqliteHistory::open for a database).
    let store: Arc<dyn HistoryStore> = Arc::new(CsvHistory::load(&history, &validator)?);

    // Per batch: a fresh sandbox, the rules in force, and "now" from the host.
    let options = BatchOptions {
        rules: validator.default_rules().clone(),
        now: presend_host::timestamp::now(),
        history: Some(store),
    };
    let csv = std::fs::read(&patients)?;
    match validator.validate(&csv, &options) {
        Ok(report) => {
            let s = report.summary;
            println!(
                "{} patients: {} accepted, {} rejected, {} likely to fail",
                s.total, s.accepted, s.rejected, s.likely_to_fail
            );
            for p in report
                .patients
                .iter()
                .filter(|p| p.status == Status::LikelyToFail)
            {
                // Advice, not a ban: a single message can still be sent on purpose.
                println!(
                    "row {}: chance of delivery {:.2}",
                    p.row,
                    p.success_probability.unwrap_or(0.0)
                );
            }
        }
        // Fail closed: no verdicts at all. Show the practice the message.
        Err(e) => eprintln!("batch not validated: {e}"),
    }
    Ok(())
}
