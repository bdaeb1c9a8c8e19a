//! `presend diff`: how two rule versions judge the same file differently.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use presend_host::deployment::{DeployDir, Parts, Version};
use presend_host::{Runtime, VerdictDiff, VerdictKey};

use crate::args::{CacheArgs, Format, open_history, parse_now};

/// `presend diff`.
#[derive(Args)]
pub struct DiffArgs {
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
    #[command(flatten)]
    cache: CacheArgs,
}

/// `--from`/`--to` values: components (by their `\0asm` magic), rules
/// files, or one deploy directory.
fn parts(paths: &[PathBuf], flag: &str) -> anyhow::Result<Parts> {
    let mut parts = Parts::default();
    for path in paths {
        if path.is_dir() {
            if paths.len() > 1 {
                bail!(
                    "{flag} {}: a directory is a whole version; give it alone",
                    path.display()
                );
            }
            return Ok(DeployDir::new(path).parts()?);
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

/// Runs both versions on the file and prints what changes.
pub fn run(args: DiffArgs) -> anyhow::Result<()> {
    let runtime = Runtime::new()?;
    let cache = args.cache.open();
    let from = Version::from_parts(&runtime, cache.as_ref(), &parts(&args.from, "--from")?)?;
    let to = Version::from_parts(&runtime, cache.as_ref(), &parts(&args.to, "--to")?)?;
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
