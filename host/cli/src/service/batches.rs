//! Validating batches, and what the service says of itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use presend_host::Error;
use serde::Deserialize;
use serde_json::json;

use super::state::{AppState, deployment_json, error_response};

/// The query of `POST /v1/batches`.
#[derive(Deserialize)]
pub struct BatchQuery {
    /// RFC 3339; default: now.
    pub now: Option<String>,
}

/// `POST /v1/batches`.
pub async fn batches(
    State(state): State<Arc<AppState>>,
    Query(query): Query<BatchQuery>,
    body: Bytes,
) -> Response {
    let now = match query.now.as_deref().map(presend_host::timestamp::parse) {
        None => presend_host::timestamp::now(),
        Some(Ok(now)) => now,
        Some(Err(_)) => {
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

/// `GET /v1/deployment`.
pub async fn deployment(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(deployment_json(&state)).into_response()
}

/// `GET /healthz`.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({"status": "ok", "deployment": state.deployments.active().info().id}))
        .into_response()
}
