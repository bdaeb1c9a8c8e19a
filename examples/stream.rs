//! Validating a file too big to hold: read as it comes, each verdict
//! handed on as soon as it is ready. Here the verdicts go to stdout as
//! NDJSON (`JsonSink`), and a sink of our own keeps only what a platform
//! would queue for sending: the patients accepted, by row.
//!
//!     cargo run --example stream -- examples/patients.csv examples/history.csv > verdicts.ndjson

use std::io::Write;
use std::sync::Arc;

use presend_host::history::{CsvHistory, HistoryStore};
use presend_host::{
    Columns, JsonForm, JsonSink, PatientVerdict, Runtime, Status, Validator, VerdictSink,
};

/// Writes every verdict as NDJSON, and remembers the accepted rows.
struct Queue<W: Write> {
    json: JsonSink<W>,
    accepted: Vec<u32>,
}

impl<W: Write> VerdictSink for Queue<W> {
    fn columns(&mut self, columns: &Columns) -> std::io::Result<()> {
        self.json.columns(columns)
    }

    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()> {
        if verdict.status == Status::Accepted {
            self.accepted.push(verdict.row);
        }
        self.json.verdict(verdict)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let patients = args
        .next()
        .unwrap_or_else(|| "examples/patients.csv".into());
    let history = args.next().unwrap_or_else(|| "examples/history.csv".into());

    let runtime = Runtime::new()?;
    let validator = Validator::embedded(&runtime)?;
    let store: Arc<dyn HistoryStore> = Arc::new(CsvHistory::load(&history, &validator)?);
    let options = validator.options().history(store);

    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let json = JsonSink::start(
        stdout,
        JsonForm::Lines,
        validator.identity(),
        options.rules.identity(),
        None,
    )?;
    let mut queue = Queue {
        json,
        accepted: Vec::new(),
    };
    let mut file = std::fs::File::open(&patients)?;
    match validator.validate_stream(&mut file, &options, &mut queue) {
        // Only now do the verdicts count: send to the accepted rows.
        Ok(report) => {
            queue.json.finish(
                &report.summary,
                &report.validator,
                &report.rules,
                report.deployment.as_ref(),
            )?;
            eprintln!(
                "{} patients judged; {} queued to send",
                report.summary.total,
                queue.accepted.len()
            );
        }
        // A file error can come after some verdicts: send none of them.
        Err(e) => {
            eprintln!("{patients}: {e} – nothing queued");
            std::process::exit(1);
        }
    }
    Ok(())
}
