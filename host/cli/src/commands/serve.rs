//! `presend serve`: the validator as a long-running HTTP service, the way a
//! platform would run it. This file reads the flags and prepares the first
//! version; the service itself is `crate::service`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use presend_host::deployment::{DeployDir, Deployments, Parts, Version};
use presend_host::{ComponentCache, Runtime};

use crate::args::{CanaryArgs, open_history};
use crate::service::{self, Setup};

/// The environment variable that may hold the admin token instead of a file.
const TOKEN_ENV: &str = "PRESEND_ADMIN_TOKEN";

/// `presend serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Delivery history for every batch: a CSV or a SQLite database, read at start.
    #[arg(long, value_name = "FILE.csv|FILE.db")]
    history: Option<PathBuf>,
    /// Deploy directory, watched: `validator.wasm` and/or `rules.toml` (either
    /// may be absent: the built-in validator or its default rules serve). Deploy
    /// by writing a file beside it, then renaming it into place.
    #[arg(long, value_name = "DIR")]
    deploy_dir: Option<PathBuf>,
    /// File holding the token the admin endpoints require (`Authorization:
    /// Bearer TOKEN`); or set PRESEND_ADMIN_TOKEN. Without either, the admin
    /// endpoints are disabled.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Batches validated at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 4, value_name = "N")]
    max_batches: usize,
    /// Where compiled components are kept between deploys and restarts
    /// (default: DEPLOY_DIR/.presend-cache when there is a deploy directory).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// How often the deploy directory is looked at, in milliseconds. A change
    /// is acted on once the files have stayed the same for one more look.
    #[arg(long, default_value_t = 250, value_name = "MS")]
    poll_ms: u64,
    #[command(flatten)]
    canary: CanaryArgs,
}

/// Starts the async runtime and serves until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let admin_token = match (&args.admin_token_file, std::env::var(TOKEN_ENV)) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin token {}", path.display()))?
                .trim()
                .to_string(),
        ),
        (None, Ok(token)) => Some(token.trim().to_string()),
        (None, Err(_)) => None,
    };
    if admin_token.as_deref() == Some("") {
        anyhow::bail!("the admin token is empty – put a long random string in it");
    }
    let runtime = Runtime::new()?;
    let deploy_dir = args.deploy_dir.as_ref().map(DeployDir::new);
    let cache_dir = args
        .cache_dir
        .clone()
        .or_else(|| deploy_dir.as_ref().map(DeployDir::default_cache_dir));
    let cache = cache_dir.map(ComponentCache::open).transpose()?;
    let parts = match &deploy_dir {
        Some(dir) => dir.parts()?,
        None => Parts::default(),
    };
    let first = Version::from_parts(&runtime, cache.as_ref(), &parts)
        .context("the first version failed preflight; nothing is served")?;
    let history = match &args.history {
        Some(path) => Some(open_history(path, first.validator())?),
        None => None,
    };
    args.canary
        .preflight(&first, history.clone())
        .context("the first version failed preflight; nothing is served")?;
    service::serve(Setup {
        listen: args.listen,
        deployments: Deployments::new(first),
        runtime,
        cache,
        history,
        deploy_dir,
        canary: args.canary,
        admin_token: admin_token.map(Arc::from),
        max_batches: args.max_batches.max(1),
        poll: Duration::from_millis(args.poll_ms.max(10)),
    })
    .await
}
