//! `presend history`: managing delivery history.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use presend_host::Runtime;
use presend_host::history::{is_postgres_url, open_writable, read_history_csv};

use crate::args::{PluginArgs, note_skipped, parse_now};

/// `presend history ...`.
#[derive(Subcommand)]
pub enum HistoryCommand {
    /// Import a history CSV (columns mobile_number, sent_at, status and,
    /// optionally, failure_reason and message_id) into a SQLite or
    /// PostgreSQL database, creating or upgrading its schema as needed.
    /// Numbers are stored normalised (E.164), the way the validator looks
    /// them up. With a message_id column, importing the same file again
    /// adds nothing.
    Import {
        /// The history CSV.
        csv: PathBuf,
        /// The database to create or add to: a SQLite file, or a
        /// postgres:// URL.
        #[arg(long, value_name = "FILE.db|postgres://URL")]
        db: PathBuf,
        #[command(flatten)]
        plugin: PluginArgs,
    },
    /// Delete attempts sent more than DAYS days ago from a history database,
    /// and say how many went. Phone numbers are personal data, and old
    /// attempts weigh almost nothing (evidence halves every half_life_days
    /// of the rules: 365 by default).
    Prune {
        /// The database: a SQLite file, or a postgres:// URL.
        #[arg(long, value_name = "FILE.db|postgres://URL")]
        db: PathBuf,
        /// Keep attempts sent within this many days (at least 1).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than: u32,
        /// Count the days back from this time (RFC 3339; default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
}

/// Runs a history command.
pub fn run(command: HistoryCommand) -> anyhow::Result<()> {
    match command {
        HistoryCommand::Import { csv, db, plugin } => {
            let validator = plugin.load(&Runtime::new()?)?;
            let records = read_history_csv(&csv, &validator)?;
            let done = open_writable(&db)?.import(&records.records)?;
            print!(
                "{}: imported {} attempts from {}",
                shown(&db),
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
        HistoryCommand::Prune {
            db,
            older_than,
            now,
        } => {
            let now = parse_now(now.as_deref(), "--now")?;
            let cutoff = now - i64::from(older_than) * 86_400;
            if !is_url(&db) && !db.exists() {
                anyhow::bail!("{}: no such database", db.display());
            }
            let deleted = open_writable(&db)?.prune(cutoff)?;
            println!(
                "{}: deleted {deleted} attempts sent before {}",
                shown(&db),
                presend_host::timestamp::format(cutoff)
            );
            Ok(())
        }
    }
}

fn is_url(db: &Path) -> bool {
    db.to_str().is_some_and(is_postgres_url)
}

/// `--db` as it may be printed: a URL is never shown, since it may carry a
/// password (the store's errors name it without one).
fn shown(db: &Path) -> String {
    if is_url(db) {
        "the PostgreSQL history".to_string()
    } else {
        db.display().to_string()
    }
}
