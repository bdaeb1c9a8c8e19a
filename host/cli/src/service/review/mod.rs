//! The review page a practice sees after uploading a patient list: who will
//! be messaged, who will not and why, and the reasons to download.
//!
//! - `GET /`: the upload form (`?now=` judges as of that time, for test
//!   harnesses, within the service's window).
//! - `POST /review` (multipart, field `file`): validated with the active
//!   version and the service's history, taking a batch slot like the API;
//!   `303` to the review. A file that cannot be validated comes back to the
//!   form with the message and `422`.
//! - `GET /review/{id}`, `/review/{id}/row/{row}`, `/review/{id}/reasons.csv`.
//!
//! Reviews live in memory only (`../reviews.rs`). Every response of the service
//! carries the headers of [`security_headers`]; a form posted from another
//! site is refused ([`same_origin`]).

mod page;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use presend_host::Error;
use serde::Deserialize;

use super::batches::{Failed, batch_now, run_batch, take_upload};
use super::state::AppState;

/// The stylesheet, served by the binary itself.
const CSS: &str = include_str!("presend.css");

/// Every response's headers: nothing cached, nothing from another site, no
/// inline script or style, no framing, no referrer.
pub async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /assets/presend.css`.
pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// `GET /[?now=RFC3339]`.
pub async fn upload_form(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    match form_action(&state, &uri) {
        Ok((action, _)) => Html(page::upload(&action, None).into_string()).into_response(),
        Err(message) => back_to_form(StatusCode::BAD_REQUEST, "/review", &message),
    }
}

/// The form's target, carrying `?now=` on when one was given, and the time
/// to judge by.
fn form_action(state: &AppState, uri: &Uri) -> Result<(String, i64), String> {
    let now = batch_now(state, uri.query()).map_err(|(_, message)| message)?;
    let action = match uri.query() {
        Some(q) if !q.is_empty() => format!("/review?{q}"),
        _ => "/review".to_string(),
    };
    Ok((action, now))
}

/// The upload form again, with `message`, answered with `status`.
fn back_to_form(status: StatusCode, action: &str, message: &str) -> Response {
    (
        status,
        Html(page::upload(action, Some(message)).into_string()),
    )
        .into_response()
}

/// Whether a form post came from this site. Browsers say where a request
/// comes from in `Sec-Fetch-Site`; a post from another site is refused, so
/// no other page can upload patient files through a practice's browser.
/// (`Origin` alone cannot tell: under `Referrer-Policy: no-referrer` a
/// browser sends `Origin: null` even for its own form.) A browser too old
/// for `Sec-Fetch-Site` is judged by `Origin`; a client that sends neither
/// (a script, a harness) is not a browser being tricked, and is let in.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    authority.is_some() && authority == host
}

/// `POST /review`.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (action, now) = match form_action(&state, &uri) {
        Ok(found) => found,
        Err(message) => return back_to_form(StatusCode::BAD_REQUEST, "/review", &message),
    };
    if !same_origin(&headers) {
        return back_to_form(
            StatusCode::FORBIDDEN,
            &action,
            "This form was sent from another website, so it was not accepted. Open this page directly and upload the file here.",
        );
    }
    let (permit, body) = match take_upload(&state, &headers, body).await {
        Ok(taken) => taken,
        // A file too large is a file that cannot be checked, like the
        // others: 422 on the form (the API says 413).
        Err(refusal) if refusal.status == StatusCode::PAYLOAD_TOO_LARGE => {
            return back_to_form(StatusCode::UNPROCESSABLE_ENTITY, &action, &refusal.message);
        }
        Err(refusal) => return back_to_form(refusal.status, &action, &refusal.message),
    };
    let csv = match file_field(&headers, body).await {
        Ok(csv) => csv,
        Err(message) => return back_to_form(StatusCode::BAD_REQUEST, &action, &message),
    };
    let report = match run_batch(&state, permit, csv, now).await {
        Ok(report) => report,
        Err(Failed::Batch(e @ (Error::File { .. } | Error::InputTooLarge { .. }))) => {
            return back_to_form(StatusCode::UNPROCESSABLE_ENTITY, &action, &e.to_string());
        }
        Err(Failed::Batch(e @ Error::History { .. })) => {
            return back_to_form(
                StatusCode::SERVICE_UNAVAILABLE,
                &action,
                &format!(
                    "The delivery history could not be read, so the list was not checked; try again in a few minutes. ({e})"
                ),
            );
        }
        Err(_) => {
            return back_to_form(
                StatusCode::INTERNAL_SERVER_ERROR,
                &action,
                "The list could not be checked because of a fault in this service; try again, and tell whoever runs it if it happens again.",
            );
        }
    };
    match state.reviews.insert(report) {
        Ok(id) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/review/{id}"))],
        )
            .into_response(),
        Err(_) => back_to_form(
            StatusCode::INTERNAL_SERVER_ERROR,
            &action,
            "The review could not be kept; try again.",
        ),
    }
}

/// The `file` field of a multipart form, or what is wrong with the form.
async fn file_field(headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    let bad = "The upload was not a form with a file – choose the patient list and press \u{201c}Check the list\u{201d}.";
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| bad.to_string())?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Some(field) = form.next_field().await.map_err(|_| bad.to_string())? {
        if field.name() == Some("file") {
            let bytes = field.bytes().await.map_err(|_| bad.to_string())?;
            if bytes.is_empty() {
                return Err("The file is empty – choose the patient list to upload.".into());
            }
            return Ok(bytes);
        }
    }
    Err(bad.to_string())
}

/// `?view=&page=&find=` of a review.
#[derive(Deserialize)]
pub struct ListQuery {
    view: Option<String>,
    page: Option<usize>,
    find: Option<String>,
}

/// `GET /review/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some(review) = state.reviews.get(&id) else {
        return gone(&state);
    };
    let find = query
        .find
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let listing = page::Listing {
        id: &id,
        view: page::View::from_query(query.view.as_deref()),
        page: query.page.unwrap_or(1),
        find,
    };
    Html(page::review(&review.report, &listing).into_string()).into_response()
}

/// `GET /review/{id}/row/{row}`.
pub async fn row(
    State(state): State<Arc<AppState>>,
    Path((id, row)): Path<(String, u32)>,
) -> Response {
    let Some(review) = state.reviews.get(&id) else {
        return gone(&state);
    };
    match review.report.patients.iter().find(|p| p.row == row) {
        Some(p) => Html(page::patient(&id, &review.report, p).into_string()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html(page::no_row(&id, row).into_string()),
        )
            .into_response(),
    }
}

/// `GET /review/{id}/reasons.csv`: the file of `presend validate --out`.
pub async fn reasons_csv(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Some(review) = state.reviews.get(&id) else {
        return gone(&state);
    };
    let mut out = Vec::new();
    if presend_host::reasons::write_reasons(&review.report, &mut out).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"reasons.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

fn gone(state: &AppState) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page::gone(state.reviews.ttl().as_secs()).into_string()),
    )
        .into_response()
}
