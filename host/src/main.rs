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
    BatchReport, Canary, ComponentCache, CsvHistory, Deployments, HistoryStore, Limits, Runtime,
    Source, SqliteHistory, Validator, VerdictDiff, VerdictKey, Version,
};

mod serve;

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
    /// Compare two rule versions on a patient file: which patients change
    /// status or reasons, and how many ("14 patients become likely-to-fail,
    /// 2 become accepted"). Read this before rolling a version out.
    ///
    /// A version is a component (.wasm), a rules file (.toml), or a deploy
    /// directory (validator.wasm and/or rules.toml); give --from or --to
    /// twice for a component and a rules file. A missing part is the
    /// built-in validator or its default rules.
    Diff(DiffArgs),
    /// Rule version deployment.
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// Run the validator as a long-running HTTP service (the example of a
    /// platform's service): POST /v1/batches validates a CSV body; versions
    /// in --deploy-dir are preflighted and swapped in live.
    Serve(serve::ServeArgs),
}

#[derive(Subcommand)]
enum DeployCommand {
    /// Preflight the version in DIR (validator.wasm and/or rules.toml) without
    /// deploying it: it must load, implement a compatible WIT world, accept
    /// its rules, and run a canary batch within the limits (and, with
    /// --expect, give the expected verdicts). Exits non-zero, saying why,
    /// when it must not be deployed: for operators' CI pipelines.
    Check {
        /// The deploy directory.
        dir: PathBuf,
        /// Delivery history for the canary batch (CSV or SQLite), as the
        /// service would use it.
        #[arg(long, value_name = "FILE.csv|FILE.db")]
        history: Option<PathBuf>,
        #[command(flatten)]
        canary: CanaryArgs,
    },
}

/// The canary batch of a preflight.
#[derive(Args, Clone)]
pub struct CanaryArgs {
    /// The canary patient file (default: the bundled example file).
    #[arg(long, value_name = "PATIENTS.csv")]
    canary: Option<PathBuf>,
    /// Expected verdicts for the canary: the JSON of `presend validate
    /// --format json`. A difference blocks the version unless --force.
    #[arg(long, value_name = "REPORT.json")]
    expect: Option<PathBuf>,
    /// Let a version whose canary verdicts differ from --expect through.
    #[arg(long)]
    force: bool,
    /// Judge the canary as of this time (RFC 3339; default: now). Give it
    /// with --expect, since verdicts depend on the date.
    #[arg(long = "canary-now", value_name = "RFC3339")]
    now: Option<String>,
}

#[derive(Args)]
struct DiffArgs {
    /// The version rolled out from (repeat for a component and rules).
    #[arg(long, value_name = "X.wasm|RULES.toml|DIR", required = true)]
    from: Vec<PathBuf>,
    /// The version rolled out to (repeat for a component and rules).
    #[arg(long, value_name = "X.wasm|RULES.toml|DIR", required = true)]
    to: Vec<PathBuf>,
    /// The patient file to compare on.
    patients: PathBuf,
    /// Delivery history (CSV or SQLite), as for `validate`.
    #[arg(long, value_name = "FILE.csv|FILE.db")]
    history: Option<PathBuf>,
    /// Judge as of this time (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Text, or JSON ({"summary", "becomes", "changes"}).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
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
        Command::Diff(args) => diff(args),
        Command::Deploy(DeployCommand::Check {
            dir,
            history,
            canary,
        }) => deploy_check(&dir, history.as_deref(), &canary),
        Command::Serve(args) => serve::run(args),
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
    let parts = Parts {
        component: args.plugin.plugin.clone(),
        rules: args.rules.clone(),
    };
    let version = parts.prepare(&runtime, None)?;
    let now = parse_now(args.now.as_deref(), "--now")?;
    let history = match &args.history {
        Some(path) => Some(open_history(path, version.validator())?),
        None => None,
    };
    let csv = std::fs::read(&args.patients)
        .with_context(|| format!("reading {}", args.patients.display()))?;
    let deployment = Deployments::new(version).active();
    let report = deployment
        .validate(&csv, now, history)
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

/// `--now`-style option: RFC 3339, or the current time when absent.
fn parse_now(text: Option<&str>, origin: &str) -> anyhow::Result<i64> {
    Ok(match text {
        Some(text) => {
            presend_host::timestamp::parse(text).ok_or_else(|| presend_host::Error::Time {
                origin: origin.into(),
                value: text.to_string(),
            })?
        }
        None => presend_host::timestamp::now(),
    })
}

/// The files of a rule version; a missing part is the built-in one.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The component.
    pub component: Option<PathBuf>,
    /// The rules.
    pub rules: Option<PathBuf>,
}

impl Parts {
    /// A deploy directory: `validator.wasm` and `rules.toml`, each optional.
    pub fn from_dir(dir: &Path) -> anyhow::Result<Parts> {
        if !dir.is_dir() {
            bail!(
                "{}: not a directory (a deploy directory holds validator.wasm and/or rules.toml)",
                dir.display()
            );
        }
        let part = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
        Ok(Parts {
            component: part("validator.wasm"),
            rules: part("rules.toml"),
        })
    }

    /// `--from`/`--to` values: components (by their `\0asm` magic), rules
    /// files, or one deploy directory.
    fn from_args(paths: &[PathBuf], flag: &str) -> anyhow::Result<Parts> {
        let mut parts = Parts::default();
        for path in paths {
            if path.is_dir() {
                if paths.len() > 1 {
                    bail!(
                        "{flag} {}: a directory is a whole version; give it alone",
                        path.display()
                    );
                }
                return Parts::from_dir(path);
            }
            let mut magic = [0u8; 4];
            let is_wasm = std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && &magic == b"\0asm";
            let slot = if is_wasm {
                &mut parts.component
            } else {
                &mut parts.rules
            };
            if slot.is_some() {
                bail!(
                    "{flag}: two {} given; give at most one component and one rules file",
                    if is_wasm { "components" } else { "rules files" }
                );
            }
            if !path.exists() {
                bail!("{flag} {}: no such file", path.display());
            }
            *slot = Some(path.clone());
        }
        Ok(parts)
    }

    /// Reads and prepares the version (compiles, checks world and rules).
    pub fn prepare(
        &self,
        runtime: &Runtime,
        cache: Option<&ComponentCache>,
    ) -> anyhow::Result<Version> {
        let component = match &self.component {
            Some(path) => Some((
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                path.display().to_string(),
            )),
            None => None,
        };
        let rules = match &self.rules {
            Some(path) => Some((
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading rules {}", path.display()))?,
                path.display().to_string(),
            )),
            None => None,
        };
        Ok(Version::prepare(
            runtime,
            cache,
            component.as_ref().map(|(bytes, origin)| Source {
                bytes: bytes.as_slice(),
                origin,
            }),
            rules.as_ref().map(|(text, origin)| Source {
                bytes: text.as_str(),
                origin,
            }),
        )?)
    }
}

impl CanaryArgs {
    /// Reads the canary's files and runs the preflight's canary on `version`.
    pub fn preflight(
        &self,
        version: &Version,
        history: Option<Arc<dyn HistoryStore>>,
    ) -> anyhow::Result<BatchReport> {
        let (csv, origin) = match &self.canary {
            Some(path) => (
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                path.display().to_string(),
            ),
            None => (
                presend_host::EXAMPLE_PATIENTS.to_vec(),
                "the bundled example file".to_string(),
            ),
        };
        let expected = match &self.expect {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(presend_host::diff::expected_from_json(
                    &text,
                    &path.display().to_string(),
                )?)
            }
            None => None,
        };
        let now = parse_now(self.now.as_deref(), "--canary-now")?;
        Ok(version.preflight(&Canary {
            csv: &csv,
            origin: &origin,
            now,
            history,
            expected: expected.as_deref(),
            force: self.force,
        })?)
    }
}

fn deploy_check(dir: &Path, history: Option<&Path>, canary: &CanaryArgs) -> anyhow::Result<()> {
    let runtime = Runtime::new()?;
    let version = Parts::from_dir(dir)?.prepare(&runtime, None)?;
    let history = match history {
        Some(path) => Some(open_history(path, version.validator())?),
        None => None,
    };
    let report = canary.preflight(&version, history)?;
    println!(
        "{}: ready to deploy: validator {} (sha256 {}), rules {} (sha256 {}); canary: {} patients, {} accepted, {} rejected, {} likely to fail",
        dir.display(),
        version.validator().identity(),
        &version.validator_part().sha256[..12],
        version.rules().identity(),
        &version.rules_part().sha256[..12],
        report.summary.total,
        report.summary.accepted,
        report.summary.rejected,
        report.summary.likely_to_fail,
    );
    Ok(())
}

fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let runtime = Runtime::new()?;
    let from = Parts::from_args(&args.from, "--from")?.prepare(&runtime, None)?;
    let to = Parts::from_args(&args.to, "--to")?.prepare(&runtime, None)?;
    let now = parse_now(args.now.as_deref(), "--now")?;
    let history = match &args.history {
        Some(path) => Some(open_history(path, from.validator())?),
        None => None,
    };
    let csv = std::fs::read(&args.patients)
        .with_context(|| format!("reading {}", args.patients.display()))?;
    let run = |v: &Version, side: &str| -> anyhow::Result<Vec<VerdictKey>> {
        let report = v.validate(&csv, now, history.clone()).with_context(|| {
            format!(
                "{} with the {side} version ({})",
                args.patients.display(),
                v.origin()
            )
        })?;
        Ok(report.patients.iter().map(VerdictKey::from).collect())
    };
    let diff = VerdictDiff::between(&run(&from, "--from")?, &run(&to, "--to")?);
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            let becomes: std::collections::BTreeMap<&str, usize> = diff
                .status_changes()
                .into_iter()
                .map(|(status, n)| (status.as_str(), n))
                .collect();
            let json = serde_json::json!({
                "summary": diff.summary(),
                "becomes": becomes,
                "changes": diff.lines(),
            });
            serde_json::to_writer_pretty(&mut stdout, &json)?;
            writeln!(stdout)?;
        }
        Format::Text => {
            writeln!(
                stdout,
                "From {} · rules {}",
                from.validator().identity(),
                from.rules().identity()
            )?;
            writeln!(
                stdout,
                "To   {} · rules {}",
                to.validator().identity(),
                to.rules().identity()
            )?;
            writeln!(stdout, "{}", diff.summary())?;
            for line in diff.lines() {
                writeln!(stdout, "  {line}")?;
            }
        }
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
