//! `presend history`: managing delivery history.

use std::path::PathBuf;

use clap::Subcommand;
use presend_host::Runtime;
use presend_host::history::{SqliteHistory, read_history_csv};

use crate::args::{PluginArgs, note_skipped};

/// `presend history ...`.
#[derive(Subcommand)]
pub enum HistoryCommand {
    /// Import a history CSV (columns mobile_number, sent_at, status and,
    /// optionally, failure_reason and message_id) into a SQLite database,
    /// creating or upgrading it as needed. Numbers are stored normalised
    /// (E.164), the way the validator looks them up. With a message_id
    /// column, importing the same file again adds nothing.
    Import {
        /// The history CSV.
        csv: PathBuf,
        /// The SQLite database to create or add to.
        #[arg(long, value_name = "FILE.db")]
        db: PathBuf,
        #[command(flatten)]
        plugin: PluginArgs,
    },
}

/// Runs a history command.
pub fn run(command: HistoryCommand) -> anyhow::Result<()> {
    match command {
        HistoryCommand::Import { csv, db, plugin } => {
            let validator = plugin.load(&Runtime::new()?)?;
            let records = read_history_csv(&csv, &validator)?;
            let store = SqliteHistory::create(&db)?;
            let done = store.insert(&records.records)?;
            print!(
                "{}: imported {} attempts from {}",
                db.display(),
                done.recorded,
                csv.display()
            );
            match done.duplicates {
                0 => println!(),
                n => println!(" ({n} were there already: same message id, no newer status)"),
            }
            note_skipped(records.skipped, &csv);
            Ok(())
        }
    }
}
