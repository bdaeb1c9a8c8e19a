//! Validating batches, and what the service says of itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use presend_host::deployment::Deployment;
use presend_host::{BatchReport, Error, JsonForm, JsonSink, Summary};
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
    let form = if accepts_ndjson(&headers) {
        JsonForm::Lines
    } else {
        JsonForm::Document
    };
    let (permit, body) = match take_upload(&state, &headers, body).await {
        Ok(taken) => taken,
        Err(refusal) => return refusal.json(),
    };
    stream_batch(state, permit, body, now, form).await
}

/// Whether the client asked for NDJSON (`Accept: application/x-ndjson`).
fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().unwrap_or("").trim() == NDJSON)
}

const NDJSON: &str = "application/x-ndjson";

/// What the batch task sends the response: the answer's bytes as they are
/// written, then how the batch ended.
enum Piece {
    Bytes(Bytes),
    Done(Result<(), Error>),
}

/// The answer written as the verdicts come, in pieces of this size.
const PIECE_BYTES: usize = 64 << 10;

/// Validates `csv` on the active version, off the async threads, holding
/// its slot, and answers as the verdicts come: the JSON document (or NDJSON)
/// goes out in 64 KiB pieces, so neither the answer nor the verdicts are
/// held whole. The status is decided by the first piece: a batch that fails
/// before its answer has filled one (a missing column, a file too small to
/// have got far) gets its error status and JSON error body. One that fails
/// later has its answer cut off (the body ends in an error, not a closing
/// bracket or a summary line), so no client takes half a batch for a whole
/// one. A client that stops reading for the body timeout loses its answer,
/// and the batch its slot.
async fn stream_batch(
    state: Arc<AppState>,
    permit: OwnedSemaphorePermit,
    csv: Bytes,
    now: i64,
    form: JsonForm,
) -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(4);
    let handle = tokio::runtime::Handle::current();
    let task_state = state.clone();
    let task = tokio::task::spawn_blocking(move || {
        let state = task_state;
        // The batch takes the active version now and finishes on it,
        // whatever is swapped in meanwhile.
        let deployment = state.deployments.active();
        let mut out = Pieces {
            tx: tx.clone(),
            handle,
            stall: state.body_timeout,
            buffer: Vec::with_capacity(PIECE_BYTES),
        };
        let started = Instant::now();
        let result = write_batch(
            &deployment,
            &csv,
            now,
            state.history.clone(),
            form,
            &mut out,
        );
        state.metrics.observe(started.elapsed());
        record(&state, result.as_ref().ok());
        let result = result.and_then(|_| out.send_rest().map_err(unwritten));
        // The batch is over: its slot is free, whether or not the client
        // ever reads the end. If the answer's queue is full (a client that
        // stopped reading), the end is not queued: the channel closes
        // without it, which cuts the answer off just the same.
        drop(permit);
        let _ = tx.try_send(Piece::Done(result));
    });
    let first = rx.recv().await;
    match first {
        Some(Piece::Done(Err(e))) => batch_error(&e),
        Some(first) => {
            let first = match first {
                Piece::Bytes(bytes) => Some(bytes),
                Piece::Done(_) => None,
            };
            // Ends only on the batch's success; anything else (its error,
            // or the channel closing without an end) cuts the answer off.
            let rest = futures_util::stream::unfold(Some(rx), |rx| async move {
                let mut rx = rx?;
                let cut = |why: String| Some((Err(std::io::Error::other(why)), None));
                match rx.recv().await {
                    Some(Piece::Bytes(bytes)) => Some((Ok(bytes), Some(rx))),
                    Some(Piece::Done(Ok(()))) => None,
                    Some(Piece::Done(Err(e))) => cut(format!("the batch failed: {e}")),
                    None => cut("the batch ended without finishing its answer".into()),
                }
            });
            let first = futures_util::stream::iter(first.map(Ok::<Bytes, std::io::Error>));
            let content_type = match form {
                JsonForm::Lines => NDJSON,
                JsonForm::Document => "application/json",
            };
            let mut response =
                Body::from_stream(futures_util::StreamExt::chain(first, rest)).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        None => {
            let reason = match task.await {
                Err(join) => join.to_string(),
                Ok(()) => "ended without an answer".to_string(),
            };
            tracing::error!(error = %reason, "batch task failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the batch task failed",
            )
        }
    }
}

/// One batch through `deployment`, its JSON written to `out` as it comes.
fn write_batch(
    deployment: &Deployment,
    csv: &[u8],
    now: i64,
    history: Option<Arc<dyn presend_host::history::HistoryStore>>,
    form: JsonForm,
    out: &mut Pieces,
) -> Result<Summary, Error> {
    let version = deployment.version();
    let (validator, rules) = (version.validator().identity(), version.rules().identity());
    let info = Some(deployment.info());
    let mut sink = JsonSink::start(&mut *out, form, validator, rules, info).map_err(unwritten)?;
    let report = deployment.validate_stream(&mut &csv[..], now, history, &mut sink)?;
    sink.finish(
        &report.summary,
        &report.validator,
        &report.rules,
        report.deployment.as_ref(),
    )
    .map_err(unwritten)?;
    Ok(report.summary)
}

/// The answer's bytes, sent to the response in pieces; sending waits for a
/// slow client up to `stall`, then gives up.
struct Pieces {
    tx: tokio::sync::mpsc::Sender<Piece>,
    handle: tokio::runtime::Handle,
    stall: std::time::Duration,
    buffer: Vec<u8>,
}

impl Pieces {
    fn send(&mut self) -> std::io::Result<()> {
        let piece = Piece::Bytes(Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(PIECE_BYTES),
        )));
        // A blocking thread, not the runtime's: it may wait on the channel.
        match self
            .handle
            .block_on(self.tx.send_timeout(piece, self.stall))
        {
            Ok(()) => Ok(()),
            Err(tokio::sync::mpsc::error::SendTimeoutError::Timeout(_)) => {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the client read nothing of the answer for {} seconds",
                        self.stall.as_secs()
                    ),
                ))
            }
            Err(tokio::sync::mpsc::error::SendTimeoutError::Closed(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
        }
    }

    /// Sends what is left, at the end of a batch that succeeded.
    fn send_rest(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

impl std::io::Write for Pieces {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PIECE_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Pieces go when full, and the rest at the end: never half an answer
        // early, which would fix the status before the batch could fail.
        Ok(())
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
        Ok(result) => {
            record(state, result.as_ref().ok().map(|r| &r.summary));
            result.map_err(Failed::Batch)
        }
        Err(join) => {
            state.metrics.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %join, "batch task failed");
            Err(Failed::Task)
        }
    }
}

/// Counts how a batch ended (its summary when it succeeded), and its
/// patients by status.
fn record(state: &AppState, summary: Option<&Summary>) {
    let Some(summary) = summary else {
        state.metrics.batches_failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    state.metrics.batches_ok.fetch_add(1, Ordering::Relaxed);
    let m = &state.metrics.patients;
    m[0].fetch_add(summary.accepted as u64, Ordering::Relaxed);
    m[1].fetch_add(summary.rejected as u64, Ordering::Relaxed);
    m[2].fetch_add(summary.likely_to_fail as u64, Ordering::Relaxed);
}

/// The answer could not be written: the batch is void.
fn unwritten(source: std::io::Error) -> Error {
    Error::Stream {
        doing: "writing the verdicts",
        source,
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
        Error::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "validator-busy"),
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
