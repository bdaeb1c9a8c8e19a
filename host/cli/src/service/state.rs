//! What every request handler shares: the service's state, its metrics,
//! and the JSON error body every error answers with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use presend_host::deployment::{DeployDir, Deployments, Snapshot};
use presend_host::history::HistoryStore;
use presend_host::{ComponentCache, Runtime};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::args::CanaryArgs;

/// Batch latency histogram bounds, in seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The service's state, shared by every handler.
pub struct AppState {
    pub runtime: Runtime,
    pub cache: Option<ComponentCache>,
    pub deployments: Deployments,
    pub history: Option<Arc<dyn HistoryStore>>,
    pub deploy_dir: Option<DeployDir>,
    pub canary: CanaryArgs,
    pub admin_token: Option<Arc<str>>,
    pub permits: Arc<Semaphore>,
    /// How many batch slots there are (`--max-batches`).
    pub max_batches: usize,
    /// How far `?now=` may be from the server's clock.
    pub now_window: Duration,
    /// How long a batch's body may take to arrive once it has a slot.
    pub body_timeout: Duration,
    /// Admin requests refused, and when a refusal was last logged.
    pub admin_refusals: Refusals,
    /// Whether the deploy directory has had a validator.wasm, a rules.toml.
    pub had_parts: Mutex<[bool; 2]>,
    /// The token `POST /v1/deliveries` requires; `None`: it is disabled.
    pub receipts_token: Option<Arc<str>>,
    /// Receipt requests refused for a missing or wrong token.
    pub receipts_refusals: Refusals,
    /// One reload at a time (the watcher and the admin endpoint share it),
    /// and the look at the deploy directory the last reload acted on: the
    /// watcher does not act on it again, so a rollback stays rolled back
    /// until the directory changes.
    pub reloading: Mutex<Option<Snapshot>>,
    pub metrics: Metrics,
    /// The review pages' uploads, in memory only.
    pub reviews: super::reviews::Reviews,
}

/// Requests refused for a missing or wrong token, at one endpoint: all
/// counted, logged at most once per [`Refusals::LOG_EVERY`] so that guessing
/// tokens cannot flood the log.
#[derive(Debug, Default)]
pub struct Refusals {
    /// Every refusal since start.
    pub total: AtomicU64,
    /// `total` when a refusal was last logged, and when.
    logged: Mutex<Option<(u64, std::time::Instant)>>,
}

impl Refusals {
    /// The most often a refusal is logged.
    pub const LOG_EVERY: Duration = Duration::from_secs(10);

    /// Counts a refusal of a request for the `which` token ("admin",
    /// "receipts"); logs it unless one was logged less than `LOG_EVERY` ago
    /// (the next log line says how many came between).
    pub fn refused(&self, which: &str) {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        let due = logged.is_none_or(|(_, at)| at.elapsed() >= Self::LOG_EVERY);
        if due {
            let since = total - logged.map_or(0, |(n, _)| n);
            tracing::warn!(
                endpoint = which,
                refused = since,
                total,
                "requests refused: missing or wrong token"
            );
            *logged = Some((total, std::time::Instant::now()));
        }
    }
}

/// Counts the runtime does not keep itself.
#[derive(Default)]
pub struct Metrics {
    /// Connections turned away, and connections open.
    pub connections: super::connections::Counts,
    pub batches_ok: AtomicU64,
    pub batches_failed: AtomicU64,
    pub overloaded: AtomicU64,
    pub patients: [AtomicU64; 3],
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    pub latency_count: AtomicU64,
    pub latency_micros: AtomicU64,
    pub preflight_failures: AtomicU64,
}

impl Metrics {
    /// Adds one batch's latency to the histogram.
    pub fn observe(&self, elapsed: Duration) {
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

/// An error answer: `{"error": {"code", "message"}}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `{"active": ..., "previous": ...}`.
pub fn deployment_json(state: &AppState) -> serde_json::Value {
    json!({
        "active": state.deployments.active().info(),
        "previous": state.deployments.previous().map(|d| d.info().clone()),
    })
}

/// Compares secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An endpoint guarded by a bearer token: its token (`None`: disabled) and
/// what to say when it is disabled or the token is wrong.
pub struct Guard<'a> {
    /// The token the requests must carry.
    pub token: Option<&'a str>,
    /// Where refusals are counted and logged.
    pub refusals: &'a Refusals,
    /// The error code when the endpoint is disabled.
    pub disabled_code: &'static str,
    /// The message when it is disabled: how to enable it.
    pub disabled_message: &'static str,
    /// Which token, for the message on a wrong one ("admin", "receipts").
    pub which: &'static str,
}

impl Guard<'_> {
    /// `None` when the request carries the token; else the refusal (403
    /// when disabled, 401 when missing or wrong, counted).
    pub fn refuse(&self, headers: &axum::http::HeaderMap) -> Option<Response> {
        let Some(token) = self.token else {
            return Some(error_response(
                StatusCode::FORBIDDEN,
                self.disabled_code,
                self.disabled_message,
            ));
        };
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return None;
        }
        self.refusals.refused(self.which);
        Some(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!(
                "send the {} token as `Authorization: Bearer TOKEN`",
                self.which
            ),
        ))
    }
}
