//! The operator's side: admin endpoints (reload, rollback) behind a token,
//! and the watcher that reloads the deploy directory when it changes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use presend_host::deployment::{DeployDir, Parts, Snapshot, Version};

use super::state::{AppState, Guard, deployment_json, error_response};

/// `None` when the request carries the admin token; else the refusal.
fn refuse_without_token(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    Guard {
        token: state.admin_token.as_deref(),
        refusals: &state.admin_refusals,
        disabled_code: "admin-disabled",
        disabled_message: "admin endpoints are disabled – start presend serve with --admin-token-file or PRESEND_ADMIN_TOKEN",
        which: "admin",
    }
    .refuse(headers)
}

/// `POST /v1/admin/reload`: prepare, preflight and activate the deploy
/// directory's version now.
pub async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
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

/// `POST /v1/admin/rollback`: the previous version serves again.
pub async fn rollback(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
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
    /// A file the directory had once and has no more is a refused deploy:
    /// falling back to the built-in validator or default rules would change
    /// every practice's verdicts without anyone deploying them.
    fn refuse_missing_parts(&self, dir: &DeployDir, parts: &Parts) -> anyhow::Result<()> {
        let mut had = self.had_parts.lock().unwrap_or_else(|e| e.into_inner());
        let present = [parts.component.is_some(), parts.rules.is_some()];
        let names = [DeployDir::VALIDATOR_FILE, DeployDir::RULES_FILE];
        for ((had, present), name) in had.iter_mut().zip(present).zip(names) {
            if *had && !present {
                return Err(presend_host::Error::DeployFile {
                    path: dir.path().join(name),
                    problem: "was removed; a missing file is not a deploy – put a version back (the built-in one: `presend info --default-rules` for the rules)".to_string(),
                }
                .into());
            }
            *had |= present;
        }
        Ok(())
    }

    /// Prepares and preflights the deploy directory's version and activates
    /// it, unless it is the one serving. Ok(true): swapped. `seen`: the
    /// watcher's look at the directory, skipped if a reload acted on it.
    fn reload(&self, why: &str, seen: Option<Snapshot>) -> anyhow::Result<bool> {
        let mut acted_on = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let Some(dir) = &self.deploy_dir else {
            return Ok(false);
        };
        if seen.is_some() && seen == *acted_on {
            return Ok(false);
        }
        // A version that fails preflight is not retried until a file changes.
        *acted_on = Some(dir.snapshot());
        let attempt = || -> anyhow::Result<Option<Version>> {
            let parts = dir.parts()?;
            self.refuse_missing_parts(dir, &parts)?;
            let version = Version::from_parts(&self.runtime, self.cache.as_ref(), &parts)?;
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

/// Polls the deploy directory; a change that has stayed put for one more
/// poll (debounce: a file still being written keeps changing) is reloaded.
/// A file written in place and left half-written fails preflight and is
/// not served; write-then-rename is the documented way.
pub async fn watch(state: Arc<AppState>, dir: DeployDir, every: Duration) {
    let mut pending: Option<Snapshot> = None;
    loop {
        tokio::time::sleep(every).await;
        let now = dir.snapshot();
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
