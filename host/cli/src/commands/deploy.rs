//! `presend deploy check`: the preflight alone, for operators' pipelines.

use std::path::PathBuf;

use clap::Subcommand;
use presend_host::Runtime;
use presend_host::deployment::{DeployDir, Version};

use crate::args::{CacheArgs, CanaryArgs, open_history};

/// `presend deploy ...`.
#[derive(Subcommand)]
pub enum DeployCommand {
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
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// Runs a deploy command.
pub fn run(command: DeployCommand) -> anyhow::Result<()> {
    let DeployCommand::Check {
        dir,
        history,
        canary,
        cache,
    } = command;
    let runtime = Runtime::new()?;
    let parts = DeployDir::new(&dir).parts()?;
    let version = Version::from_parts(&runtime, cache.open().as_ref(), &parts)?;
    let history = match history {
        Some(path) => Some(open_history(&path, version.validator())?),
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
