//! `presend info`: which validator, rules and contract this is.

use clap::Args;
use presend_host::{Runtime, WIT_VERSION};

use crate::args::PluginArgs;

/// `presend info`.
#[derive(Args)]
pub struct InfoArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// Also print the default rules (a TOML file to start your own from).
    #[arg(long)]
    default_rules: bool,
}

/// Prints the identities, the contract version and the imports.
pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let validator = args.plugin.load(&Runtime::new()?)?;
    println!("validator: {}", validator.identity());
    println!("default rules: {}", validator.default_rules().identity());
    println!("contract: presend:validator/pre-send-validator@{WIT_VERSION}");
    println!("imports: {}", validator.imports().join(", "));
    if args.default_rules {
        println!();
        print!("{}", validator.default_rules().text());
    }
    Ok(())
}
