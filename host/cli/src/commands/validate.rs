//! `presend validate`: one patient file, judged and printed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use presend_host::deployment::{Deployments, Parts, Version};
use presend_host::{BatchReport, Limits, Runtime};

use crate::args::{Format, PluginArgs, open_history, parse_now};

/// Milliseconds of the default time budget, for `--help`.
fn default_time_limit_ms() -> u64 {
    u64::try_from(Limits::default().time.as_millis()).unwrap_or(u64::MAX)
}

/// MiB of the default memory limit, for `--help`.
fn default_memory_limit_mib() -> usize {
    Limits::default().memory_bytes >> 20
}

/// `presend validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// The patient CSV (UTF-8, with or without BOM, Windows-1252 or UTF-16),
    /// with a header row naming at least the NHS number and mobile columns.
    patients: PathBuf,
    /// Delivery history: a CSV (columns mobile_number, sent_at, status and,
    /// optionally, failure_reason), a SQLite database made by `presend
    /// history import`, or a postgres:// URL.
    #[arg(long, value_name = "FILE.csv|FILE.db|postgres://URL")]
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
    #[arg(long, value_name = "MS", default_value_t = default_time_limit_ms())]
    time_limit_ms: u64,
    /// Memory the validator may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = default_memory_limit_mib())]
    memory_limit_mib: usize,
}

/// Validates the file and prints the verdicts.
pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let runtime = Runtime::with_limits(Limits {
        time: Duration::from_millis(args.time_limit_ms),
        memory_bytes: args.memory_limit_mib.saturating_mul(1 << 20),
        ..Limits::default()
    })?;
    let parts = Parts {
        component: args.plugin.path().map(PathBuf::from),
        rules: args.rules.clone(),
    };
    let version = Version::from_parts(&runtime, args.plugin.cache().as_ref(), &parts)?;
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

    let after_now = report.history.after_now;
    if after_now > 0 {
        let (n, are) = match after_now {
            1 => ("1 history attempt".to_string(), "is"),
            n => (format!("{n} history attempts"), "are"),
        };
        eprintln!(
            "note: {n} {are} dated after the time the file was judged as of ({}); beyond the \
             rules' clock_skew_seconds such attempts are no evidence – check the history's dates",
            presend_host::timestamp::format(now)
        );
    }
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
