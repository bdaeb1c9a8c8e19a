//! `presend`: validate a practice's patient CSV before a batch SMS is sent.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use presend_host::history::read_history_csv;
use presend_host::{
    BatchOptions, BatchReport, CsvHistory, HistoryStore, Limits, Runtime, SqliteHistory, Validator,
};

/// Checks a practice's patient CSV before a batch SMS: who is accepted, who is
/// rejected (bad NHS number, no UK mobile, bad date of birth, duplicate...)
/// and whose number is likely to fail because of its delivery history.
///
/// The checks run in a sandboxed WebAssembly component (the validator); by
/// default the one built into this program.
#[derive(Parser)]
#[command(name = "presend", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log level on stderr: off, error, warn, info, debug or trace. Logs never
    /// contain patient data: counts, rows and codes only. The default is
    /// quiet because every failure is also reported as the command's error.
    #[arg(long, global = true, default_value = "error", value_name = "LEVEL")]
    log_level: tracing_subscriber::filter::LevelFilter,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a patient CSV and print the verdicts.
    ///
    /// Exits 0 when the batch was processed, whatever the verdicts; non-zero
    /// when the file, the history or the rules cannot be used.
    Validate(ValidateArgs),
    /// Check a rules TOML file without running a batch.
    CheckRules {
        /// The rules file.
        rules: PathBuf,
        #[command(flatten)]
        plugin: PluginArgs,
    },
    /// Show the validator's and its default rules' name and version, and the
    /// WIT contract version.
    Info {
        #[command(flatten)]
        plugin: PluginArgs,
        /// Also print the default rules (a TOML file to start your own from).
        #[arg(long)]
        default_rules: bool,
    },
    /// Manage delivery history.
    #[command(subcommand)]
    History(HistoryCommand),
}

#[derive(Subcommand)]
enum HistoryCommand {
    /// Import a history CSV (columns mobile_number, sent_at, status and,
    /// optionally, failure_reason) into a SQLite database, creating it if
    /// needed. Numbers are stored
    /// normalised (E.164), the way the validator looks them up.
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

#[derive(Args)]
struct PluginArgs {
    /// A validator component (.wasm) to use instead of the built-in one.
    #[arg(long, value_name = "X.wasm")]
    plugin: Option<PathBuf>,
}

#[derive(Args)]
struct ValidateArgs {
    /// The patient CSV (UTF-8, with or without BOM, Windows-1252 or UTF-16),
    /// with a header row naming at least the NHS number and mobile columns.
    patients: PathBuf,
    /// Delivery history: a CSV (columns mobile_number, sent_at, status and,
    /// optionally, failure_reason) or a SQLite database made by
    /// `presend history import`.
    #[arg(long, value_name = "FILE.csv|FILE.db")]
    history: Option<PathBuf>,
    /// Rules TOML to judge by (default: the validator's own).
    #[arg(long, value_name = "RULES.toml")]
    rules: Option<PathBuf>,
    #[command(flatten)]
    plugin: PluginArgs,
    /// Judge dates and history as of this time (RFC 3339, e.g.
    /// 2026-11-27T09:00:00Z); default: the current time. Give it for
    /// repeatable results.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Output on stdout: a text summary, or the full verdicts as JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the downloadable list of reasons (a CSV, one line per patient
    /// not accepted) to this file.
    #[arg(long, value_name = "REASONS.csv")]
    out: Option<PathBuf>,
    /// Wall-clock budget for the batch, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    time_limit_ms: u64,
    /// Memory the validator may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    memory_limit_mib: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(cli.log_level)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("presend: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Validate(args) => validate(args),
        Command::CheckRules { rules, plugin } => {
            let validator = load(&Runtime::new()?, &plugin)?;
            let checked = load_rules(&validator, &rules)?;
            println!(
                "{}: {} is valid for {}",
                rules.display(),
                checked.identity(),
                validator.identity()
            );
            Ok(())
        }
        Command::Info {
            plugin,
            default_rules,
        } => {
            let validator = load(&Runtime::new()?, &plugin)?;
            println!("validator: {}", validator.identity());
            println!("default rules: {}", validator.default_rules().identity());
            println!(
                "contract: presend:validator/pre-send-validator@{}",
                presend_host::WIT_VERSION
            );
            println!("imports: {}", validator.imports().join(", "));
            if default_rules {
                println!();
                print!("{}", validator.default_rules().text());
            }
            Ok(())
        }
        Command::History(HistoryCommand::Import { csv, db, plugin }) => {
            let validator = load(&Runtime::new()?, &plugin)?;
            let records = read_history_csv(&csv, &validator)?;
            let store = SqliteHistory::create(&db)?;
            let added = store.insert(&records.records)?;
            println!(
                "{}: imported {added} attempts from {}",
                db.display(),
                csv.display()
            );
            note_skipped(records.skipped, &csv);
            Ok(())
        }
    }
}

fn load(runtime: &Runtime, plugin: &PluginArgs) -> anyhow::Result<Validator> {
    Ok(match &plugin.plugin {
        Some(path) => runtime.load_file(path)?,
        None => runtime.load_embedded()?,
    })
}

fn load_rules(validator: &Validator, path: &Path) -> anyhow::Result<presend_host::Rules> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading rules {}", path.display()))?;
    Ok(validator.check_rules(&text, &path.display().to_string())?)
}

fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    let runtime = Runtime::with_limits(Limits {
        time: Duration::from_millis(args.time_limit_ms),
        memory_bytes: args.memory_limit_mib.saturating_mul(1 << 20),
        ..Limits::default()
    })?;
    let validator = load(&runtime, &args.plugin)?;
    let rules = match &args.rules {
        Some(path) => load_rules(&validator, path)?,
        None => validator.default_rules().clone(),
    };
    let now = match &args.now {
        Some(text) => {
            presend_host::timestamp::parse(text).ok_or_else(|| presend_host::Error::Time {
                origin: "--now".into(),
                value: text.clone(),
            })?
        }
        None => presend_host::timestamp::now(),
    };
    let history = match &args.history {
        Some(path) => Some(open_history(path, &validator)?),
        None => None,
    };
    let csv = std::fs::read(&args.patients)
        .with_context(|| format!("reading {}", args.patients.display()))?;
    let report = validator
        .validate(
            &csv,
            &BatchOptions {
                rules,
                now,
                history,
            },
        )
        .with_context(|| format!("{}", args.patients.display()))?;

    if let Some(out) = &args.out {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        presend_host::reasons::write_reasons(&report, std::io::BufWriter::new(file))
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "reasons for {} patients written to {}",
            report.not_accepted().count(),
            out.display()
        );
    }
    // Stdout is line-buffered: 100k patients of pretty JSON would be a
    // million write calls without a buffer of our own.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Format::Text => print_text(&mut stdout, &report)?,
    }
    stdout.flush()?;
    Ok(())
}

/// A CSV file or a SQLite database, told apart by SQLite's file header.
fn open_history(path: &Path, validator: &Validator) -> anyhow::Result<Arc<dyn HistoryStore>> {
    let mut head = [0u8; 16];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"SQLite format 3\0";
    if is_sqlite {
        return Ok(Arc::new(SqliteHistory::open(path)?));
    }
    if !path.exists() {
        bail!("history {}: no such file", path.display());
    }
    let history = CsvHistory::load(path, validator)?;
    note_skipped(history.skipped(), path);
    Ok(Arc::new(history))
}

/// Says how many history rows were left out, so nothing is lost silently.
fn note_skipped(skipped: usize, path: &Path) {
    match skipped {
        0 => {}
        1 => eprintln!(
            "note: 1 row of {} was left out: its number is not a UK mobile",
            path.display()
        ),
        n => eprintln!(
            "note: {n} rows of {} were left out: their number is not a UK mobile",
            path.display()
        ),
    }
}

fn print_text(out: &mut impl Write, report: &BatchReport) -> std::io::Result<()> {
    let s = &report.summary;
    writeln!(
        out,
        "Validator {} · rules {}",
        report.validator, report.rules
    )?;
    writeln!(
        out,
        "{} patients: {} accepted, {} rejected, {} likely to fail",
        s.total, s.accepted, s.rejected, s.likely_to_fail
    )?;
    if s.total == s.accepted {
        return Ok(());
    }
    writeln!(out, "\nNot accepted:")?;
    writeln!(out, "{:>6}  {:<15} Reasons", "Row", "Status")?;
    for p in report.not_accepted() {
        let mut reasons = p.reasons.iter();
        let first = reasons.next().map_or("", |r| r.message.as_str());
        writeln!(out, "{:>6}  {:<15} {first}", p.row, p.status.as_str())?;
        for r in reasons {
            writeln!(out, "{:>6}  {:<15} {}", "", "", r.message)?;
        }
    }
    Ok(())
}
