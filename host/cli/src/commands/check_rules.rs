//! `presend check-rules`: is this rules file valid for this validator?

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use presend_host::Runtime;

use crate::args::PluginArgs;

/// `presend check-rules`.
#[derive(Args)]
pub struct CheckRulesArgs {
    /// The rules file.
    rules: PathBuf,
    #[command(flatten)]
    plugin: PluginArgs,
}

/// Checks the rules and says whose they are.
pub fn run(args: CheckRulesArgs) -> anyhow::Result<()> {
    let validator = args.plugin.load(&Runtime::new()?)?;
    let text = std::fs::read_to_string(&args.rules)
        .with_context(|| format!("reading rules {}", args.rules.display()))?;
    let checked = validator.check_rules(&text, &args.rules.display().to_string())?;
    println!(
        "{}: {} is valid for {}",
        args.rules.display(),
        checked.identity(),
        validator.identity()
    );
    Ok(())
}
