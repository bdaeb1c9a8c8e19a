//! `presend serve`: the validator as a long-running HTTP service, the way a
//! platform would run it. Batches run off the async threads with a bound on
//! how many run at once; rule versions are preflighted and swapped in live
//! from a deploy directory or by the admin endpoints; SIGTERM or Ctrl-C lets
//! in-flight batches finish.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Args;
use presend_host::{ComponentCache, Deployments, Error, HistoryStore, Runtime, Status};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::{CanaryArgs, Parts};

/// The environment variable that may hold the admin token instead of a file.
const TOKEN_ENV: &str = "PRESEND_ADMIN_TOKEN";

/// Batch latency histogram bounds, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

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

struct AppState {
    runtime: Runtime,
    cache: Option<ComponentCache>,
    deployments: Deployments,
    history: Option<Arc<dyn HistoryStore>>,
    deploy_dir: Option<PathBuf>,
    canary: CanaryArgs,
    admin_token: Option<String>,
    permits: Arc<Semaphore>,
    /// One reload at a time (the watcher and the admin endpoint share it),
    /// and the look at the deploy directory the last reload acted on: the
    /// watcher does not act on it again, so a rollback stays rolled back
    /// until the directory changes.
    reloading: Mutex<Option<Look>>,
    metrics: Metrics,
}

#[derive(Default)]
struct Metrics {
    batches_ok: AtomicU64,
    batches_failed: AtomicU64,
    overloaded: AtomicU64,
    patients: [AtomicU64; 3],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
    preflight_failures: AtomicU64,
}

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
    let cache_dir = args
        .cache_dir
        .clone()
        .or_else(|| args.deploy_dir.as_ref().map(|d| d.join(".presend-cache")));
    let cache = cache_dir.as_deref().map(ComponentCache::open).transpose()?;
    let parts = match &args.deploy_dir {
        Some(dir) => Parts::from_dir(dir)?,
        None => Parts::default(),
    };
    let first = parts
        .prepare(&runtime, cache.as_ref())
        .context("the first version failed preflight; nothing is served")?;
    let history = match &args.history {
        Some(path) => Some(crate::open_history(path, first.validator())?),
        None => None,
    };
    args.canary
        .preflight(&first, history.clone())
        .context("the first version failed preflight; nothing is served")?;
    let state = Arc::new(AppState {
        deployments: Deployments::new(first),
        runtime,
        cache,
        history,
        deploy_dir: args.deploy_dir.clone(),
        canary: args.canary.clone(),
        admin_token,
        permits: Arc::new(Semaphore::new(args.max_batches.max(1))),
        reloading: Mutex::new(args.deploy_dir.as_deref().map(look)),
        metrics: Metrics::default(),
    });

    if let Some(dir) = args.deploy_dir.clone() {
        tokio::spawn(watch(
            state.clone(),
            dir,
            Duration::from_millis(args.poll_ms.max(10)),
        ));
    }

    let input_limit = state.runtime.limits().input_bytes;
    let app = Router::new()
        .route("/v1/batches", post(batches))
        .route("/v1/deployment", get(deployment))
        .route("/v1/admin/reload", post(reload))
        .route("/v1/admin/rollback", post(rollback))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(input_limit))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Harnesses read this line to find the port.
    println!("presend: listening on http://{addr}");
    tracing::info!(%addr, deployment = %state.deployments.active().info().id, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    println!("presend: stopped; in-flight batches finished");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight batches");
}

#[derive(Deserialize)]
struct BatchQuery {
    /// RFC 3339; default: now.
    now: Option<String>,
}

async fn batches(
    State(state): State<Arc<AppState>>,
    Query(query): Query<BatchQuery>,
    body: Bytes,
) -> Response {
    let now = match query.now.as_deref().map(presend_host::timestamp::parse) {
        None => presend_host::timestamp::now(),
        Some(Some(now)) => now,
        Some(None) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad-now",
                "?now= is not a time – use RFC 3339, e.g. 2026-11-27T09:00:00Z",
            );
        }
    };
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        state.metrics.overloaded.fetch_add(1, Ordering::Relaxed);
        let mut response = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "every batch slot is taken – retry after the number of seconds in Retry-After",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    // The batch takes the active version now and finishes on it, whatever
    // is swapped in meanwhile.
    let deployment = state.deployments.active();
    let history = state.history.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        deployment.validate(&body, now, history)
    })
    .await;
    state.metrics.observe(started.elapsed());
    match result {
        Ok(Ok(report)) => {
            state.metrics.batches_ok.fetch_add(1, Ordering::Relaxed);
            let m = &state.metrics.patients;
            m[0].fetch_add(report.summary.accepted as u64, Ordering::Relaxed);
            m[1].fetch_add(report.summary.rejected as u64, Ordering::Relaxed);
            m[2].fetch_add(report.summary.likely_to_fail as u64, Ordering::Relaxed);
            axum::Json(report).into_response()
        }
        Ok(Err(e)) => {
            state.metrics.batches_failed.fetch_add(1, Ordering::Relaxed);
            batch_error(&e)
        }
        Err(join) => {
            state.metrics.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %join, "batch task failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the batch task failed",
            )
        }
    }
}

/// The HTTP status and code for a batch that failed closed.
fn batch_error(e: &Error) -> Response {
    let (status, code) = match e {
        Error::File { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code.as_str()),
        Error::InputTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "input-too-large"),
        Error::Timeout { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "validator-timeout"),
        Error::MemoryLimit { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "validator-memory-limit"),
        Error::Trap { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "validator-trap"),
        Error::LimitExceeded { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "validator-limit"),
        Error::ContractViolation { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "validator-contract")
        }
        Error::History { .. } => (StatusCode::SERVICE_UNAVAILABLE, "history-unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    let mut body = json!({"error": {"code": code, "message": e.to_string()}});
    if let Error::File { row: Some(row), .. } = e {
        body["error"]["row"] = json!(row);
    }
    (status, axum::Json(body)).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn deployment_json(state: &AppState) -> serde_json::Value {
    json!({
        "active": state.deployments.active().info(),
        "previous": state.deployments.previous().map(|d| d.info().clone()),
    })
}

async fn deployment(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(deployment_json(&state)).into_response()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({"status": "ok", "deployment": state.deployments.active().info().id}))
        .into_response()
}

/// `None` when the request carries the admin token; else the refusal.
fn refuse_without_token(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &state.admin_token else {
        return Some(error_response(
            StatusCode::FORBIDDEN,
            "admin-disabled",
            "admin endpoints are disabled – start presend serve with --admin-token-file or PRESEND_ADMIN_TOKEN",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        None
    } else {
        tracing::warn!("admin request refused: missing or wrong token");
        Some(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer TOKEN`",
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse_without_token(&state, &headers) {
        return refusal;
    }
    if state.deploy_dir.is_none() {
        return error_response(
            StatusCode::CONFLICT,
            "no-deploy-dir",
            "there is no deploy directory to reload from – start with --deploy-dir",
        );
    }
    let worker = state.clone();
    match tokio::task::spawn_blocking(move || worker.reload("admin reload", None)).await {
        Ok(Ok(_)) => axum::Json(deployment_json(&state)).into_response(),
        Ok(Err(e)) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "preflight-failed",
            &format!("{e:#}"),
        ),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

async fn rollback(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse_without_token(&state, &headers) {
        return refusal;
    }
    // The lock may be held by a reload's preflight for a while: wait for it
    // on a blocking thread, not on one of the async workers.
    let worker = state.clone();
    let rolled_back = tokio::task::spawn_blocking(move || {
        let _one = worker.reloading.lock().unwrap_or_else(|e| e.into_inner());
        worker.deployments.rollback()
    })
    .await;
    match rolled_back {
        Ok(Ok(_)) => axum::Json(deployment_json(&state)).into_response(),
        Ok(Err(e)) => error_response(StatusCode::CONFLICT, "no-previous", &e.to_string()),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

impl AppState {
    /// Prepares and preflights the deploy directory's version and activates
    /// it, unless it is the one serving. Ok(true): swapped. `seen`: the
    /// watcher's look at the directory, skipped if a reload acted on it.
    fn reload(&self, why: &str, seen: Option<Look>) -> anyhow::Result<bool> {
        let mut acted_on = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let Some(dir) = &self.deploy_dir else {
            return Ok(false);
        };
        if seen.is_some() && seen == *acted_on {
            return Ok(false);
        }
        // A version that fails preflight is not retried until a file changes.
        *acted_on = Some(look(dir));
        let attempt = || -> anyhow::Result<Option<presend_host::Version>> {
            let version = Parts::from_dir(dir)?.prepare(&self.runtime, self.cache.as_ref())?;
            let active = self.deployments.active();
            let same = active.info().validator.sha256 == version.validator_part().sha256
                && active.info().rules.sha256 == version.rules_part().sha256;
            if same {
                return Ok(None);
            }
            self.canary.preflight(&version, self.history.clone())?;
            Ok(Some(version))
        };
        match attempt() {
            Ok(Some(version)) => {
                let d = self.deployments.activate(version);
                tracing::info!(id = %d.info().id, why, "new version activated");
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                self.metrics
                    .preflight_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(why, error = %format!("{e:#}"), "preflight failed; the old version still serves");
                Err(e)
            }
        }
    }
}

/// A look at the deploy directory's two files: what changes when either is
/// written, replaced or removed.
type Look = [Option<(u64, Option<SystemTime>, u64)>; 2];

fn look(dir: &Path) -> Look {
    ["validator.wasm", "rules.toml"].map(|name| {
        std::fs::metadata(dir.join(name)).ok().map(|m| {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let inode = 0;
            (m.len(), m.modified().ok(), inode)
        })
    })
}

/// Polls the deploy directory; a change that has stayed put for one more
/// poll (debounce: a file still being written keeps changing) is reloaded.
/// A file written in place and left half-written fails preflight and is
/// not served; write-then-rename is the documented way.
async fn watch(state: Arc<AppState>, dir: PathBuf, every: Duration) {
    let mut pending: Option<Look> = None;
    loop {
        tokio::time::sleep(every).await;
        let now = look(&dir);
        // A reload in progress holds the lock through its preflight: look
        // again at the next poll rather than block an async worker.
        let acted_on = match state.reloading.try_lock() {
            Ok(acted_on) => *acted_on,
            Err(std::sync::TryLockError::Poisoned(e)) => *e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => continue,
        };
        if Some(&now) == acted_on.as_ref() {
            pending = None;
            continue;
        }
        if pending.as_ref() != Some(&now) {
            pending = Some(now);
            continue;
        }
        pending = None;
        let worker = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            worker.reload("deploy directory changed", Some(now))
        })
        .await;
    }
}

impl Metrics {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let c = state.runtime.counters();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    counter(
        "presend_batches_total",
        "Batches answered, by outcome.",
        &[
            ("{outcome=\"ok\"}", get(&m.batches_ok)),
            ("{outcome=\"failed\"}", get(&m.batches_failed)),
            ("{outcome=\"overloaded\"}", get(&m.overloaded)),
        ],
    );
    let statuses = [Status::Accepted, Status::Rejected, Status::LikelyToFail];
    let patients: Vec<(String, u64)> = statuses
        .iter()
        .zip(&m.patients)
        .map(|(s, n)| (format!("{{status=\"{}\"}}", s.as_str()), get(n)))
        .collect();
    let patients: Vec<(&str, u64)> = patients.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    counter(
        "presend_patients_total",
        "Patients judged, by status.",
        &patients,
    );
    counter(
        "presend_preflight_failures_total",
        "Versions refused by preflight.",
        &[("", get(&m.preflight_failures))],
    );
    counter(
        "presend_swaps_total",
        "Versions activated after the first.",
        &[("", state.deployments.swaps())],
    );
    counter(
        "presend_rollbacks_total",
        "Rollbacks.",
        &[("", state.deployments.rollbacks())],
    );
    counter(
        "presend_validator_failures_total",
        "Calls into the validator stopped, by kind.",
        &[
            ("{kind=\"trap\"}", c.traps),
            ("{kind=\"timeout\"}", c.timeouts),
            ("{kind=\"memory-limit\"}", c.memory_limits),
            ("{kind=\"limit\"}", c.limit_hits),
            ("{kind=\"contract\"}", c.contract_violations),
        ],
    );
    let _ = writeln!(
        out,
        "# HELP presend_batch_seconds Batch latency.\n# TYPE presend_batch_seconds histogram"
    );
    for (bound, count) in LATENCY_BUCKETS.iter().zip(&m.latency_buckets) {
        let _ = writeln!(
            out,
            "presend_batch_seconds_bucket{{le=\"{bound}\"}} {}",
            get(count)
        );
    }
    let count = get(&m.latency_count);
    let _ = writeln!(out, "presend_batch_seconds_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(
        out,
        "presend_batch_seconds_sum {}",
        get(&m.latency_micros) as f64 / 1e6
    );
    let _ = writeln!(out, "presend_batch_seconds_count {count}");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
