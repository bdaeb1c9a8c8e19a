//! `presend serve`: the validator as a long-running HTTP service, the way a
//! platform would run it. This file reads the flags and prepares the first
//! version; the service itself is `crate::service`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use presend_host::deployment::{DeployDir, Deployments, Parts, Version};
use presend_host::{ComponentCache, Limits, Runtime};

use crate::args::{CanaryArgs, open_history};
use crate::service::{self, Setup};

/// The environment variable that may hold the admin token instead of a file.
const TOKEN_ENV: &str = "PRESEND_ADMIN_TOKEN";
/// The environment variable that may hold the receipts token instead of a file.
const RECEIPTS_TOKEN_ENV: &str = "PRESEND_RECEIPTS_TOKEN";

/// `presend serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Delivery history for every batch: a CSV file (read at start), a
    /// SQLite database, or a postgres:// URL (one database shared by many
    /// `presend serve` processes). Every batch reads a database as it is
    /// at that moment. Also read from PRESEND_HISTORY, which keeps a
    /// URL's password off the command line (`ps` shows it to every user).
    #[arg(
        long,
        env = "PRESEND_HISTORY",
        hide_env_values = true,
        value_name = "FILE.csv|FILE.db|postgres://URL"
    )]
    history: Option<PathBuf>,
    /// Delete history attempts sent more than DAYS days ago, at start and
    /// then once a day (a database --history only; see `presend history
    /// prune`). Several processes on one database may all do it.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    prune_older_than: Option<u32>,
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
    /// File holding the token `POST /v1/deliveries` requires (`Authorization:
    /// Bearer TOKEN`, as GOV.UK Notify's callbacks send it); or set
    /// PRESEND_RECEIPTS_TOKEN. Receipts need a database --history (a SQLite
    /// file, created if missing, or a postgres:// URL), opened for writing.
    /// Without a token the endpoint is disabled.
    #[arg(long, value_name = "FILE")]
    receipts_token_file: Option<PathBuf>,
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
    /// How far `?now=` may be from this server's clock, in days; further is
    /// refused (400), so a typo cannot make every date of birth valid.
    #[arg(long, default_value_t = 3650, value_name = "DAYS")]
    now_window_days: u64,
    /// How long a batch's file may take to arrive once it has a slot, in
    /// seconds; a slower upload gets 408 and gives the slot back.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    body_timeout_secs: u64,
    /// On SIGTERM or Ctrl-C, how long to let open connections and in-flight
    /// batches finish, in seconds; then the rest are dropped and the process
    /// exits 0.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    shutdown_grace_secs: u64,
    /// Connections served at once; one more gets 503 and is closed. Keep it
    /// below the process's descriptor limit (`ulimit -n`).
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_connections: usize,
    /// How long a request's headers may take to arrive, in seconds; also
    /// how long a keep-alive connection may sit idle. Then it is closed.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    header_timeout_secs: u64,
    /// How long a review (the page an upload at `GET /` leads to) is kept,
    /// in seconds; then it is gone, and its patient data with it.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    review_ttl_secs: u64,
    /// Reviews kept at once; one more drops the oldest. Each holds one
    /// file's verdicts in memory (a 100k-row file: about 40 MB).
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_reviews: usize,
    #[command(flatten)]
    canary: CanaryArgs,
}

/// Prepares the first version and the history, then starts the async
/// runtime and serves until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Before the async runtime: opening a database and the first preflight
    // block (PostgreSQL's driver must not run on an async worker).
    let setup = prepare(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(service::serve(setup));
    // Connections still open after the deadline are dropped here; a batch
    // still running is bounded by the validator's own time limit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

fn prepare(args: ServeArgs) -> anyhow::Result<Setup> {
    let admin_token = match (&args.admin_token_file, std::env::var(TOKEN_ENV)) {
        (Some(path), _) => Some(read_token_file(path)?),
        (None, Ok(token)) => Some(check_token(&token, TOKEN_ENV)?),
        (None, Err(_)) => None,
    };
    // Room for every batch the service runs at once, and for the calls
    // around them (reviews, rules checks, a deploy's canary).
    let defaults = Limits::default();
    let runtime = Runtime::with_limits(Limits {
        instances: defaults.instances.max(args.max_batches.saturating_add(32)),
        ..defaults
    })?;
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
    let receipts_token = match (&args.receipts_token_file, std::env::var(RECEIPTS_TOKEN_ENV)) {
        (Some(path), _) => Some(read_token_file(path)?),
        (None, Ok(token)) => Some(check_token(&token, RECEIPTS_TOKEN_ENV)?),
        (None, Err(_)) => None,
    };
    let writes = receipts_token.is_some() || args.prune_older_than.is_some();
    let history = match (&args.history, writes) {
        (Some(location), true) => Some(presend_host::history::open_writable(location)?),
        (Some(location), false) => Some(open_history(location, first.validator())?),
        (None, true) => anyhow::bail!(
            "receipts and --prune-older-than need a history database – give --history FILE.db (a SQLite database, created if missing) or --history postgres://URL"
        ),
        (None, false) => None,
    };
    args.canary
        .preflight(&first, history.clone())
        .context("the first version failed preflight; nothing is served")?;
    let had_parts = [parts.component.is_some(), parts.rules.is_some()];
    Ok(Setup {
        had_parts,
        listen: args.listen,
        deployments: Deployments::new(first),
        runtime,
        cache,
        history,
        deploy_dir,
        canary: args.canary,
        admin_token: admin_token.map(Arc::from),
        receipts_token: receipts_token.map(Arc::from),
        max_batches: args.max_batches.max(1),
        poll: Duration::from_millis(args.poll_ms.max(10)),
        now_window: Duration::from_secs(args.now_window_days.saturating_mul(86_400)),
        body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        max_connections: args.max_connections.max(1),
        header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
        prune_older_than: args.prune_older_than,
        review_ttl: Duration::from_secs(args.review_ttl_secs.max(1)),
        max_reviews: args.max_reviews.max(1),
    })
}

/// The shortest admin token accepted.
const MIN_TOKEN_CHARS: usize = 32;

/// Reads the admin token file, refusing one that others may read or write.
fn read_token_file(path: &std::path::Path) -> anyhow::Result<String> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("reading the admin token {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the admin token {} can be read or written by other users (mode {:o}) – run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the admin token {}", path.display()))?;
    check_token(&text, &path.display().to_string())
}

/// A token is one line of at least 32 visible ASCII characters (a trailing
/// newline is allowed): anything else would lock admin out or be guessable.
fn check_token(text: &str, origin: &str) -> anyhow::Result<String> {
    let token = text.strip_suffix('\n').unwrap_or(text);
    let token = token.strip_suffix('\r').unwrap_or(token);
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        anyhow::bail!(
            "the admin token in {origin} must be one line of visible ASCII characters (no spaces, no second line) – generate one with `openssl rand -hex 32`"
        );
    }
    if token.len() < MIN_TOKEN_CHARS {
        anyhow::bail!(
            "the admin token in {origin} is {} characters; it must be at least {MIN_TOKEN_CHARS} – generate one with `openssl rand -hex 32`",
            token.len()
        );
    }
    Ok(token.to_string())
}
