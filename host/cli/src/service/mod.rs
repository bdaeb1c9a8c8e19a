//! The HTTP service of `presend serve`. Batches run off the async threads
//! with a bound on how many run at once; rule versions are preflighted and
//! swapped in live from a deploy directory or by the admin endpoints;
//! SIGTERM or Ctrl-C lets in-flight batches finish.
//!
//! `state` is what the handlers share; `batches`, `admin` and `metrics` are
//! the handlers; this file wires them to routes and runs the server.

mod admin;
mod batches;
mod connections;
mod deliveries;
mod metrics;
mod review;
mod reviews;
mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use presend_host::deployment::{DeployDir, Deployments};
use presend_host::history::HistoryStore;
use presend_host::{ComponentCache, Runtime};
use tokio::sync::Semaphore;

use crate::args::CanaryArgs;
use state::{AppState, Metrics};

/// Everything the service starts with, prepared by `presend serve`.
pub struct Setup {
    /// Address to listen on.
    pub listen: String,
    /// The first version, already preflighted.
    pub deployments: Deployments,
    /// The runtime its batches run on.
    pub runtime: Runtime,
    /// Compiled components, kept between deploys.
    pub cache: Option<ComponentCache>,
    /// History for every batch.
    pub history: Option<Arc<dyn HistoryStore>>,
    /// The directory watched for new versions.
    pub deploy_dir: Option<DeployDir>,
    /// Whether the first version came with a validator.wasm, a rules.toml.
    pub had_parts: [bool; 2],
    /// The canary every new version must pass.
    pub canary: CanaryArgs,
    /// The admin endpoints' token; `None`: they are disabled.
    pub admin_token: Option<Arc<str>>,
    /// The receipts endpoint's token; `None`: it is disabled.
    pub receipts_token: Option<Arc<str>>,
    /// Batches validated at once.
    pub max_batches: usize,
    /// How often the deploy directory is looked at.
    pub poll: Duration,
    /// How far `?now=` may be from the server's clock.
    pub now_window: Duration,
    /// How long a batch's body may take to arrive.
    pub body_timeout: Duration,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a request's headers (or an idle connection) may take.
    pub header_timeout: Duration,
    /// Delete history attempts older than this many days, daily.
    pub prune_older_than: Option<u32>,
    /// How long a review page lives.
    pub review_ttl: Duration,
    /// Reviews kept at once.
    pub max_reviews: usize,
}

/// Serves until SIGTERM or Ctrl-C, then lets in-flight batches finish.
pub async fn serve(setup: Setup) -> anyhow::Result<()> {
    let state = Arc::new(AppState {
        reloading: Mutex::new(setup.deploy_dir.as_ref().map(DeployDir::snapshot)),
        deployments: setup.deployments,
        runtime: setup.runtime,
        cache: setup.cache,
        history: setup.history,
        deploy_dir: setup.deploy_dir.clone(),
        canary: setup.canary,
        admin_token: setup.admin_token,
        permits: Arc::new(Semaphore::new(setup.max_batches)),
        max_batches: setup.max_batches,
        now_window: setup.now_window,
        body_timeout: setup.body_timeout,
        admin_refusals: Default::default(),
        had_parts: Mutex::new(setup.had_parts),
        receipts_token: setup.receipts_token,
        receipts_refusals: Default::default(),
        metrics: Metrics::default(),
        reviews: reviews::Reviews::new(setup.review_ttl, setup.max_reviews),
    });
    if let Some(dir) = setup.deploy_dir {
        tokio::spawn(admin::watch(state.clone(), dir, setup.poll));
    }
    if let (Some(days), Some(history)) = (setup.prune_older_than, state.history.clone()) {
        tokio::spawn(prune_daily(history, days));
    }

    let app = Router::new()
        .route("/", get(review::upload_form))
        .route("/assets/presend.css", get(review::stylesheet))
        .route("/review", post(review::submit))
        .route("/review/{id}", get(review::show))
        .route("/review/{id}/row/{row}", get(review::row))
        .route("/review/{id}/reasons.csv", get(review::reasons_csv))
        .route("/v1/batches", post(batches::batches))
        .route("/v1/deployment", get(batches::deployment))
        .route("/v1/deliveries", post(deliveries::deliveries))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/admin/rollback", post(admin::rollback))
        .route("/healthz", get(batches::healthz))
        .route("/metrics", get(metrics::metrics))
        .fallback(batches::not_found)
        .method_not_allowed_fallback(batches::method_not_allowed)
        .layer(axum::middleware::map_response(review::security_headers))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(&setup.listen)
        .await
        .with_context(|| format!("listening on {}", setup.listen))?;
    let addr = listener.local_addr()?;
    // Harnesses read this line to find the port.
    println!("presend: listening on http://{addr}");
    tracing::info!(%addr, deployment = %state.deployments.active().info().id, "serving");
    // Graceful shutdown, with a deadline: a client that stalls (half its
    // headers, half its body, an answer it never reads) must not keep the
    // process alive until an orchestrator kills it and the batches with it.
    let bounds = connections::Bounds {
        max: setup.max_connections,
        header_timeout: setup.header_timeout,
        grace: setup.shutdown_grace,
    };
    let counts = state.metrics.connections.clone();
    match connections::serve(listener, app, bounds, counts, shutdown_signal()).await {
        connections::Ended::Drained => println!("presend: stopped; in-flight batches finished"),
        connections::Ended::Dropped(left) => {
            tracing::warn!(
                grace_secs = bounds.grace.as_secs(),
                connections = left,
                "shutdown deadline passed: dropped open connections"
            );
            println!(
                "presend: stopped after the {}s shutdown deadline; {left} connections still open were dropped",
                bounds.grace.as_secs()
            );
        }
    }
    Ok(())
}

/// Deletes attempts older than `days` days now and then once a day. A
/// failure (the database down) is logged and tried again the next day.
async fn prune_daily(history: Arc<dyn HistoryStore>, days: u32) {
    let mut every_day = tokio::time::interval(Duration::from_secs(86_400));
    loop {
        every_day.tick().await;
        let cutoff = presend_host::timestamp::now() - i64::from(days) * 86_400;
        let store = history.clone();
        match tokio::task::spawn_blocking(move || store.prune(cutoff)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, days, "daily prune failed; trying again tomorrow")
            }
            Err(_) => tracing::warn!(days, "daily prune failed; trying again tomorrow"),
        }
    }
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
