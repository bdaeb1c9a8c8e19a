//! Validating batches, and what the service says of itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use presend_host::{BatchReport, Error};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use super::state::{AppState, deployment_json, error_response};

/// `?now=` of `POST /v1/batches`, read by hand so that every mistake in
/// the query gets the JSON error body: RFC 3339, at most once, within the
/// service's window around its own clock; absent: the current time.
///
/// A refusal is its error code and message, answered as 400.
pub fn batch_now(state: &AppState, query: Option<&str>) -> Result<i64, (&'static str, String)> {
    let bad = |code: &'static str, message: String| (code, message);
    let mut given = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key != "now" {
            return Err(bad(
                "bad-query",
                format!(
                    "unknown query parameter {:?} – the only one is ?now=",
                    truncate(&key)
                ),
            ));
        }
        if given.replace(value).is_some() {
            return Err(bad("bad-query", "give ?now= once".to_string()));
        }
    }
    let clock = presend_host::timestamp::now();
    let Some(text) = given else {
        return Ok(clock);
    };
    let now =
        presend_host::timestamp::parse(&text).map_err(|e| bad("bad-now", format!("?now= {e}")))?;
    if now.abs_diff(clock) > state.now_window.as_secs() {
        return Err(bad(
            "now-out-of-range",
            format!(
                "?now= is more than {} days from this server's clock ({}) – judging a file as of such a date would make every date of birth valid or every patient wrong; check the date",
                state.now_window.as_secs() / 86_400,
                presend_host::timestamp::format(clock)
            ),
        ));
    }
    Ok(now)
}

/// At most 40 characters of something a client sent, for an error message.
fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// `POST /v1/batches`. Refuses what it can before reading the body: a bad
/// query, a `Content-Length` over the limit (413, and no `100 Continue`),
/// no free batch slot (503). Only a request that holds a slot has its body
/// read, with the input limit and a deadline, so the memory uploads take is
/// bounded by the slots.
pub async fn batches(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = match batch_now(&state, uri.query()) {
        Ok(now) => now,
        Err((code, message)) => return error_response(StatusCode::BAD_REQUEST, code, &message),
    };
    let (permit, body) = match take_upload(&state, &headers, body).await {
        Ok(taken) => taken,
        Err(refusal) => return refusal.json(),
    };
    match run_batch(&state, permit, body, now).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(Failed::Batch(e)) => batch_error(&e),
        Err(Failed::Task) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the batch task failed",
        ),
    }
}

/// Why an upload was turned away before it was validated.
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Whether to answer `Retry-After: 1`: trying again soon may work.
    pub retry_after: bool,
}

impl Refusal {
    /// The JSON error body every API error answers with.
    pub fn json(self) -> Response {
        let mut response = error_response(self.status, self.code, &self.message);
        if self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// An upload's way in, shared by the API and the review page: a batch slot
/// taken before the body is read (503 when none is free), the input limit
/// (413, from `Content-Length` before reading when it is given) and the
/// body's deadline (408).
pub async fn take_upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(OwnedSemaphorePermit, Bytes), Refusal> {
    let limit = state.runtime.limits().input_bytes;
    let refusal = |status, code, message: String| Refusal {
        status,
        code,
        message,
        retry_after: false,
    };
    let too_large = || {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input-too-large",
            format!(
                "the file is larger than the {limit} bytes a batch may have – split it into smaller files"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        tokio::spawn(linger(body));
        return Err(too_large());
    }
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        tokio::spawn(linger(body));
        state.metrics.overloaded.fetch_add(1, Ordering::Relaxed);
        return Err(Refusal {
            retry_after: true,
            ..refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "every batch slot is taken – retry after the number of seconds in Retry-After"
                    .into(),
            )
        });
    };
    match tokio::time::timeout(state.body_timeout, to_bytes(body, limit)).await {
        Ok(Ok(body)) => Ok((permit, body)),
        Ok(Err(e)) if is_too_large(&e) => Err(too_large()),
        Ok(Err(_)) => Err(refusal(
            StatusCode::BAD_REQUEST,
            "bad-body",
            "the request body could not be read – send the file again".into(),
        )),
        Err(_) => Err(refusal(
            StatusCode::REQUEST_TIMEOUT,
            "slow-body",
            format!(
                "the file did not arrive within {} seconds – send it again",
                state.body_timeout.as_secs()
            ),
        )),
    }
}

/// Why a batch that was taken in gave no verdicts.
pub enum Failed {
    /// The batch failed closed with this error.
    Batch(Error),
    /// The blocking task itself died.
    Task,
}

/// Validates `csv` on the active version, off the async threads, holding
/// its slot; counts and times it.
pub async fn run_batch(
    state: &AppState,
    permit: OwnedSemaphorePermit,
    csv: Bytes,
    now: i64,
) -> Result<BatchReport, Failed> {
    // The batch takes the active version now and finishes on it, whatever
    // is swapped in meanwhile.
    let deployment = state.deployments.active();
    let history = state.history.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        deployment.validate(&csv, now, history)
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
            Ok(report)
        }
        Ok(Err(e)) => {
            state.metrics.batches_failed.fetch_add(1, Ordering::Relaxed);
            Err(Failed::Batch(e))
        }
        Err(join) => {
            state.metrics.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %join, "batch task failed");
            Err(Failed::Task)
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

/// Whether reading a body failed because it went over the limit.
fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Any route or method the service does not have: the JSON error body.
pub async fn not_found(uri: Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not-found",
        &format!(
            "no such endpoint {:?} – see the README's presend serve table",
            truncate(uri.path())
        ),
    )
}

/// A route that exists, asked with the wrong method.
pub async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method – see the README's presend serve table",
    )
}

/// After refusing a request whose body was not read: a client already
/// sending it would see its connection reset, and perhaps lose the answer.
/// Read and discard what it sends for a short while, holding no slot and
/// keeping none of it, then let the connection close ("lingering close").
async fn linger(body: Body) {
    use http_body_util::BodyExt;
    let mut body = body;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}
