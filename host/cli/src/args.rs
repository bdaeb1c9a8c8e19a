//! Arguments and steps several commands share: which validator, "now",
//! history, the canary batch of a preflight, the output format.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use presend_host::deployment::{Canary, Version, expected_from_json};
use presend_host::history::{HistoryStore, NormaliseNumbers};
use presend_host::{BatchReport, ComponentCache, Runtime, Validator};

/// `--plugin`: the validator to use, and where compiled ones are kept.
#[derive(Args)]
pub struct PluginArgs {
    /// A validator component (.wasm) to use instead of the built-in one.
    #[arg(long, value_name = "X.wasm")]
    plugin: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
}

impl PluginArgs {
    /// The component file given, if any.
    pub fn path(&self) -> Option<&Path> {
        self.plugin.as_deref()
    }

    /// The cache of compiled components, unless `--no-cache`.
    pub fn cache(&self) -> Option<ComponentCache> {
        self.cache.open()
    }

    /// Loads the validator, the file given or the built-in one, through the
    /// cache: only the first run compiles it.
    pub fn load(&self, runtime: &Runtime) -> anyhow::Result<Validator> {
        let (bytes, origin) = match &self.plugin {
            Some(path) => (
                std::fs::read(path).map_err(|source| presend_host::Error::Io {
                    path: path.clone(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (
                presend_host::EMBEDDED_VALIDATOR.to_vec(),
                "the embedded validator".to_string(),
            ),
        };
        Ok(match self.cache() {
            Some(cache) => Validator::load_cached(runtime, &cache, &bytes, &origin)?,
            None => Validator::load(runtime, &bytes, &origin)?,
        })
    }
}

/// `--cache-dir` and `--no-cache`: compiled validators kept between runs,
/// as wasmtime's own command keeps its compiled modules.
#[derive(Args, Clone)]
pub struct CacheArgs {
    /// Where compiled validators are kept, so only the first run compiles
    /// one (default: $XDG_CACHE_HOME/presend, or ~/.cache/presend). Only
    /// blobs this user's presend wrote are loaded (they carry an HMAC tag).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the validator on every run; read and write no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    /// The cache, or `None` with `--no-cache`, without a home directory, or
    /// when it cannot be opened (said once on stderr: the command still
    /// runs, compiling as it goes).
    pub fn open(&self) -> Option<ComponentCache> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(default_cache_dir)?;
        match ComponentCache::open(&dir) {
            Ok(cache) => Some(cache),
            Err(e) => {
                eprintln!(
                    "note: no cache of compiled validators ({e}); compiling – give --cache-dir or --no-cache"
                );
                None
            }
        }
    }
}

/// `$XDG_CACHE_HOME/presend`, or `$HOME/.cache/presend`.
fn default_cache_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").and_then(absolute) {
        return Some(xdg.join("presend"));
    }
    std::env::var_os("HOME")
        .and_then(absolute)
        .map(|home| home.join(".cache").join("presend"))
}

/// Text for people, or JSON for programs.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// A summary, then one line per patient not accepted.
    Text,
    /// Everything, as JSON.
    Json,
}

/// `--now`-style option: RFC 3339, or the current time when absent.
pub fn parse_now(text: Option<&str>, origin: &str) -> anyhow::Result<i64> {
    Ok(match text {
        Some(text) => {
            presend_host::timestamp::parse(text).map_err(|_| presend_host::Error::Time {
                origin: origin.into(),
                value: text.to_string(),
            })?
        }
        None => presend_host::timestamp::now(),
    })
}

/// Opens `--history` (a CSV file, a SQLite database or a postgres:// URL)
/// and says on stderr
/// how many rows were left out, so nothing is lost silently.
pub fn open_history(
    path: &Path,
    numbers: &dyn NormaliseNumbers,
) -> anyhow::Result<Arc<dyn HistoryStore>> {
    let opened = presend_host::history::open(path, numbers)?;
    note_skipped(opened.skipped, path);
    Ok(opened.store)
}

/// Says how many history rows were left out, so nothing is lost silently.
pub fn note_skipped(skipped: usize, path: &Path) {
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
                Some(expected_from_json(&text, &path.display().to_string())?)
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
