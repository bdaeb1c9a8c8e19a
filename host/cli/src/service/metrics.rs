//! `GET /metrics`: Prometheus text.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use presend_host::Status;

use super::state::{AppState, LATENCY_BUCKETS};

/// `GET /metrics`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
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
        "presend_connections_refused_total",
        "Connections turned away: as many were open as are served at once.",
        &[("", get(&state.metrics.connections.refused))],
    );
    counter(
        "presend_admin_refusals_total",
        "Admin requests refused for a missing or wrong token.",
        &[("", get(&state.admin_refusals.total))],
    );
    counter(
        "presend_receipts_refusals_total",
        "Receipt requests refused for a missing or wrong token.",
        &[("", get(&state.receipts_refusals.total))],
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
        "# HELP presend_connections_open Connections open now.\n# TYPE presend_connections_open gauge\npresend_connections_open {}",
        get(&state.metrics.connections.open)
    );
    // A slot is taken before a batch runs and given back when it has ended.
    let in_flight = state
        .max_batches
        .saturating_sub(state.permits.available_permits());
    let _ = writeln!(
        out,
        "# HELP presend_batches_in_flight Batches being validated now.\n# TYPE presend_batches_in_flight gauge\npresend_batches_in_flight {in_flight}"
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
