//! Embedding the validator in a platform: load it once, validate each
//! practice's upload with delivery history from the platform's store, and
//! react to each kind of failure as a platform should.
//!
//!     cargo run --example embed -- examples/patients.csv examples/history.csv

use std::sync::Arc;

use presend_host::history::{CsvHistory, HistoryStore, NumberHistory};
use presend_host::{BatchOptions, Error, ErrorKind, Limits, Runtime, Status, Validator};

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

    // Per batch: the rules in force, "now" from the host, the history.
    let options = validator.options().history(store);

    // 1. A practice's file: verdicts.
    let csv = std::fs::read(&patients)?;
    handle(validator.validate(&csv, &options));

    // 2. A file without a mobile column: the practice fixes it.
    handle(validator.validate(b"NHS Number,Name\n9990000018,Alex\n", &options));

    // 3. The history store is down: retry later, nothing was sent.
    let down = validator.options().history(Arc::new(DownStore));
    handle(validator.validate(&csv, &down));

    // 4. A validator that cannot run within its limits (here: 64 KiB of
    //    memory): the deployment is at fault, roll it back.
    let tight = Runtime::with_limits(Limits {
        memory_bytes: 64 << 10,
        ..Limits::default()
    })?;
    match Validator::embedded(&tight) {
        Ok(v) => handle(v.validate(&csv, &BatchOptions::new(v.default_rules().clone()))),
        Err(e) => handle(Err(e)),
    }
    Ok(())
}

/// What a platform does with a batch's outcome.
fn handle(result: Result<presend_host::BatchReport, Error>) {
    match result {
        Ok(report) => {
            let s = report.summary;
            println!(
                "{} patients: {} accepted, {} rejected, {} likely to fail",
                s.total, s.accepted, s.rejected, s.likely_to_fail
            );
            for p in report.not_accepted().take(3) {
                let codes: Vec<&str> = p.reasons.iter().map(|r| r.code.as_str()).collect();
                // Likely-to-fail is advice, not a ban: a single message can
                // still be sent on purpose.
                println!(
                    "  row {}: {} ({}), chance of delivery {:.2}",
                    p.row,
                    p.status.as_str(),
                    codes.join(", "),
                    p.success_probability.unwrap_or(0.0)
                );
            }
            let flagged = report
                .patients
                .iter()
                .filter(|p| p.status == Status::LikelyToFail);
            println!("  ...{} held back by their history", flagged.count());
        }
        // Fail closed: no verdicts at all, whatever the kind.
        Err(e) => match e.kind() {
            ErrorKind::File => println!("show the practice: {e}"),
            ErrorKind::History => println!("history store failed, retry later: {e}"),
            ErrorKind::Validator => println!(
                "validator {} misbehaved, roll back: {e}",
                e.plugin().unwrap_or("?")
            ),
            _ => println!("our configuration or host: {e}"),
        },
    }
}

/// A history store that is down, as a platform's own store might be.
struct DownStore;

impl HistoryStore for DownStore {
    fn lookup(&self, _: &[String]) -> presend_host::Result<Vec<NumberHistory>> {
        Err(Error::history(
            "the platform's history service",
            "connection refused – is it running?",
        ))
    }
}
