//! `presend validate`: one patient file, judged and printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use presend_host::deployment::{Deployments, Parts, Version};
use presend_host::reasons::ReasonsSink;
use presend_host::{
    Columns, JsonForm, JsonSink, Limits, PatientVerdict, Runtime, Status, StreamReport, VerdictSink,
};

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

/// Validates the file and prints the verdicts, as they come: neither the
/// file nor its verdicts are held whole, so memory stays bounded however big
/// the file.
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
    let mut file = std::fs::File::open(&args.patients)
        .with_context(|| format!("reading {}", args.patients.display()))?;
    let deployment = Deployments::new(version).active();
    let validator = deployment.version().validator().identity();
    let rules = deployment.version().rules().identity();
    let info = Some(deployment.info());

    // Stdout is line-buffered: 100k patients would be 100k write calls
    // without a buffer of our own. The first 64 KiB are held back, so a
    // file refused early (a missing column) prints nothing on stdout.
    let stdout = Held::new(std::io::BufWriter::new(std::io::stdout().lock()));
    let mut sinks = Sinks {
        json: match args.format {
            Format::Json => Some(JsonSink::start(
                stdout,
                JsonForm::Document,
                validator,
                rules,
                info,
            )?),
            Format::Text => None,
        },
        text: Vec::new(),
        reasons: match &args.out {
            Some(out) => Some(Reasons::create(out)?),
            None => None,
        },
    };
    // A file error can come after verdicts: the JSON on stdout is then cut
    // short (not valid JSON, and the exit status says so), and the reasons
    // file is not written at all.
    let report = deployment
        .validate_stream(&mut file, now, history, &mut sinks)
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
    if let Some(reasons) = sinks.reasons {
        let (written, path) = reasons.commit()?;
        eprintln!(
            "reasons for {written} patients written to {}",
            path.display()
        );
    }
    let validator = &report.validator;
    if let Some(json) = sinks.json {
        json.finish(
            &report.summary,
            validator,
            &report.rules,
            report.deployment.as_ref(),
        )?
        .release()?;
    } else {
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        print_text(&mut stdout, &report, &sinks.text)?;
        stdout.flush()?;
    }
    Ok(())
}

/// Where `validate` sends each verdict: the JSON on stdout, or the patients
/// not accepted for the text summary; and the reasons file.
struct Sinks<W: Write> {
    json: Option<JsonSink<W>>,
    text: Vec<PatientVerdict>,
    reasons: Option<Reasons>,
}

impl<W: Write> VerdictSink for Sinks<W> {
    fn columns(&mut self, columns: &Columns) -> std::io::Result<()> {
        if let Some(reasons) = &mut self.reasons {
            reasons.sink.columns(columns)?;
        }
        Ok(())
    }

    fn verdict(&mut self, verdict: PatientVerdict) -> std::io::Result<()> {
        if let Some(reasons) = &mut self.reasons {
            reasons.sink.verdict(verdict.clone())?;
        }
        match &mut self.json {
            Some(json) => json.verdict(verdict),
            None => {
                // The text summary lists only the patients not accepted.
                if verdict.status != Status::Accepted {
                    self.text.push(verdict);
                }
                Ok(())
            }
        }
    }
}

/// Output held back until it passes [`HELD_BYTES`] or is released: dropped
/// before then (the batch failed), none of it is written.
struct Held<W: Write> {
    out: W,
    held: Option<Vec<u8>>,
}

/// How much output [`Held`] holds back.
const HELD_BYTES: usize = 64 << 10;

impl<W: Write> Held<W> {
    fn new(out: W) -> Held<W> {
        Held {
            out,
            held: Some(Vec::new()),
        }
    }

    /// Writes what is held, and flushes: the output is whole.
    fn release(mut self) -> std::io::Result<()> {
        if let Some(held) = self.held.take() {
            self.out.write_all(&held)?;
        }
        self.out.flush()
    }
}

impl<W: Write> Write for Held<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match &mut self.held {
            Some(held) => {
                held.extend_from_slice(bytes);
                if held.len() >= HELD_BYTES {
                    let held = self.held.take().unwrap_or_default();
                    self.out.write_all(&held)?;
                }
                Ok(bytes.len())
            }
            None => self.out.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.held {
            Some(_) => Ok(()),
            None => self.out.flush(),
        }
    }
}

/// The reasons CSV, written to a temporary file beside `--out` and renamed
/// onto it only when the batch has succeeded: a batch that fails late
/// leaves no half-written list for the practice to act on.
struct Reasons {
    sink: ReasonsSink<std::io::BufWriter<tempfile::NamedTempFile>>,
    path: PathBuf,
}

impl Reasons {
    fn create(out: &Path) -> anyhow::Result<Reasons> {
        let dir = match out.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".presend-reasons-")
            .tempfile_in(dir)
            .with_context(|| format!("creating {}", out.display()))?;
        Ok(Reasons {
            sink: ReasonsSink::new(std::io::BufWriter::new(file)),
            path: out.to_path_buf(),
        })
    }

    /// Renames the finished file onto `--out`: how many lines, and where.
    fn commit(self) -> anyhow::Result<(usize, PathBuf)> {
        let written = self.sink.written();
        let path = self.path;
        let file = self
            .sink
            .finish()
            .and_then(|buffered| buffered.into_inner().map_err(|e| e.into_error()))
            .with_context(|| format!("writing {}", path.display()))?;
        file.persist(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok((written, path))
    }
}

fn print_text(
    out: &mut impl Write,
    report: &StreamReport,
    not_accepted: &[PatientVerdict],
) -> std::io::Result<()> {
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
    for p in not_accepted {
        let mut reasons = p.reasons.iter();
        let first = reasons.next().map_or("", |r| r.message.as_str());
        writeln!(out, "{:>6}  {:<15} {first}", p.row, p.status.as_str())?;
        for r in reasons {
            writeln!(out, "{:>6}  {:<15} {}", "", "", r.message)?;
        }
    }
    Ok(())
}
