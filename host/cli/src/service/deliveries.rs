//! `POST /v1/deliveries`: delivery receipts in, so the history keeps up with
//! what really happened. Takes GOV.UK Notify's delivery-status callback
//! objects (`id`, `to`, `status`, `created_at`, `sent_at`, `completed_at`,
//! `notification_type`...), one or a JSON array of them, or a plain form
//! (`[{"message_id", "mobile_number", "sent_at", "status"[, "status_at"]}]`).
//! Non-SMS and non-UK receipts are counted and skipped; an item that cannot
//! be read is refused by its index; the rest are recorded in one
//! transaction. A malformed body changes nothing.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use presend_host::history::{Receipt, parse_outcome};
use serde_json::{Value, json};

use super::state::{AppState, Guard, error_response};

/// The largest body of receipts taken at once.
const MAX_BODY: usize = 8 << 20;

/// One item, read but not yet normalised.
struct Item {
    message_id: String,
    raw_number: String,
    sent_at: i64,
    outcome: presend_host::history::Outcome,
    status_at: i64,
}

/// What became of one item of the body.
enum Read {
    /// A receipt to record, once its number is normalised.
    Receipt(Item),
    /// Not an SMS: counted, not stored.
    Skipped,
    /// Cannot be used, and why.
    Refused(String),
}

/// A string field, or why not.
fn text<'a>(item: &'a Value, key: &str) -> Result<&'a str, String> {
    item.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("no `{key}`"))
}

/// A time field, or why not.
fn time(item: &Value, key: &str) -> Result<i64, String> {
    presend_host::timestamp::parse(text(item, key)?).map_err(|e| format!("`{key}`: {e}"))
}

/// The first of `keys` that holds a time.
fn first_time(item: &Value, keys: &[&str]) -> Result<i64, String> {
    keys.iter()
        .find_map(|k| time(item, k).ok())
        .ok_or_else(|| format!("no time in any of {}", keys.join(", ")))
}

/// Reads one item: Notify's callback object when it has `id` and `to`,
/// else the plain form.
fn read(item: &Value) -> Read {
    let attempt = || -> Result<Option<Item>, String> {
        if !item.is_object() {
            return Err("not an object".into());
        }
        let notify = item.get("id").is_some() && item.get("to").is_some();
        let not_sms = item
            .get("notification_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "sms");
        if notify && not_sms {
            return Ok(None);
        }
        let status = text(item, "status")?;
        let outcome = parse_outcome(status).ok_or_else(|| {
            "`status`: not a delivery status (delivered, permanent-failure, temporary-failure, technical-failure, failed, created, sending, sent, pending)".to_string()
        })?;
        let (message_id, raw_number, sent_at, status_at) = if notify {
            let sent_at = first_time(item, &["sent_at", "created_at"])?;
            let status_at = first_time(item, &["completed_at", "sent_at", "created_at"])?;
            (text(item, "id")?, text(item, "to")?, sent_at, status_at)
        } else {
            let sent_at = time(item, "sent_at")?;
            let status_at = time(item, "status_at").unwrap_or(sent_at);
            (
                text(item, "message_id")?,
                text(item, "mobile_number")?,
                sent_at,
                status_at,
            )
        };
        Ok(Some(Item {
            message_id: message_id.to_string(),
            raw_number: raw_number.to_string(),
            sent_at,
            outcome,
            status_at,
        }))
    };
    match attempt() {
        Ok(Some(item)) => Read::Receipt(item),
        Ok(None) => Read::Skipped,
        Err(why) => Read::Refused(why),
    }
}

/// `POST /v1/deliveries`.
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let guard = Guard {
        token: state.receipts_token.as_deref(),
        refusals: &state.receipts_refusals,
        disabled_code: "receipts-disabled",
        disabled_message: "receipts are disabled – start presend serve with --receipts-token-file or PRESEND_RECEIPTS_TOKEN, and a database --history (FILE.db or postgres://URL)",
        which: "receipts",
    };
    if let Some(refusal) = guard.refuse(&headers) {
        return refusal;
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            &format!("send at most {MAX_BODY} bytes of receipts at once"),
        );
    };
    let parsed: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad-json",
                &format!(
                    "not JSON ({e}) – send a receipt object or an array of them; nothing was recorded"
                ),
            );
        }
    };
    let items: Vec<Value> = match parsed {
        Value::Array(items) => items,
        one => vec![one],
    };
    let (mut receipts, mut refused, mut skipped) = (Vec::new(), Vec::new(), 0usize);
    for (index, item) in items.iter().enumerate() {
        match read(item) {
            Read::Receipt(r) => receipts.push(r),
            Read::Skipped => skipped += 1,
            Read::Refused(reason) => refused.push(json!({"index": index, "reason": reason})),
        }
    }
    let Some(history) = state.history.clone() else {
        return error_response(
            StatusCode::CONFLICT,
            "no-history",
            "there is no history to record receipts in – start presend serve with --history FILE.db or --history postgres://URL",
        );
    };
    // Numbers are keyed as the validator normalises them, like patients'.
    let deployment = state.deployments.active();
    let worker = tokio::task::spawn_blocking(move || {
        let raws: Vec<String> = receipts.iter().map(|r| r.raw_number.clone()).collect();
        let normalised = deployment.version().validator().normalise_numbers(&raws)?;
        let mut to_record = Vec::new();
        let mut not_uk = 0usize;
        for (item, number) in receipts.into_iter().zip(normalised) {
            match number {
                Ok(number) => to_record.push(Receipt {
                    message_id: item.message_id,
                    number,
                    sent_at: item.sent_at,
                    outcome: item.outcome,
                    status_at: item.status_at,
                }),
                Err(_) => not_uk += 1,
            }
        }
        history.record(&to_record).map(|done| (done, not_uk))
    });
    match worker.await {
        Ok(Ok((done, not_uk))) => axum::Json(json!({
            "recorded": done.recorded,
            "duplicates": done.duplicates,
            "skipped": skipped + not_uk,
            "refused": refused,
        }))
        .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "receipts not recorded");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "history-unavailable",
                &format!("{e} – nothing was recorded; send the receipts again"),
            )
        }
        Err(_) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "recording receipts failed",
        ),
    }
}
