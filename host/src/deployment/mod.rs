//! Rule versions, and swapping them live.
//!
//! A rule version ([`Version`]) is a validator component and a rules
//! document, each known by its name, version and sha256. It is prepared
//! (compiled, its world and rules checked) and preflighted (a canary batch
//! run, its verdicts compared) before it may serve. [`Deployments`] holds the
//! active version and the previous one: a batch takes the active one when it
//! starts and finishes on it, however many swaps happen meanwhile, because
//! it holds an `Arc` of it; the swap itself is one atomic pointer store
//! (`arc-swap`), so readers never wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cache::ComponentCache;
use crate::diff::{VerdictDiff, VerdictKey};
use crate::error::{Error, Result};
use crate::history::HistoryStore;
use crate::report::BatchReport;
use crate::runtime::Runtime;
use crate::validator::{BatchOptions, Rules, Validator};

/// One part of a rule version: its name, version, and the sha256 of its
/// file (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartIdentity {
    /// The name it gives itself.
    pub name: String,
    /// Its semver version.
    pub version: String,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// What a report says of the deployment that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentInfo {
    /// Changes with every activation, even of the same files (a rollback
    /// gets a new id): `<activation number>-<12 hex digits of the pair's hash>`.
    pub id: String,
    /// The validator component.
    pub validator: PartIdentity,
    /// The rules document.
    pub rules: PartIdentity,
    /// When it was activated, RFC 3339 UTC.
    pub activated_at: String,
}

/// A rule version, prepared: the component compiled and its world checked,
/// the rules checked by that component. Not serving until activated.
pub struct Version {
    validator: Arc<Validator>,
    validator_part: PartIdentity,
    rules: Rules,
    rules_part: PartIdentity,
    origin: String,
}

/// A file's bytes and where they came from (a path), for errors.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a, T: ?Sized> {
    /// The contents.
    pub bytes: &'a T,
    /// Where they came from.
    pub origin: &'a str,
}

impl Version {
    /// Prepares a version from a component (`None`: the embedded validator)
    /// and rules (`None`: the validator's default rules). With a `cache`,
    /// a component compiled before is not compiled again.
    pub fn prepare(
        runtime: &Runtime,
        cache: Option<&ComponentCache>,
        component: Option<Source<'_, [u8]>>,
        rules: Option<Source<'_, str>>,
    ) -> Result<Version> {
        let component = component.unwrap_or(Source {
            bytes: crate::EMBEDDED_VALIDATOR,
            origin: "the embedded validator",
        });
        let validator = match cache {
            Some(cache) => cache.load(runtime, component.bytes, component.origin)?,
            None => runtime.load(component.bytes, component.origin)?,
        };
        let (rules, rules_text, rules_origin) = match rules {
            Some(r) => (
                validator.check_rules(r.bytes, r.origin)?,
                r.bytes.to_string(),
                r.origin.to_string(),
            ),
            None => {
                let rules = validator.default_rules().clone();
                let text = rules.text().to_string();
                (rules, text, "its default rules".to_string())
            }
        };
        let validator_part = PartIdentity {
            name: validator.identity().name.clone(),
            version: validator.identity().version.clone(),
            sha256: sha256_hex(component.bytes),
        };
        let rules_part = PartIdentity {
            name: rules.identity().name.clone(),
            version: rules.identity().version.clone(),
            sha256: sha256_hex(rules_text.as_bytes()),
        };
        Ok(Version {
            origin: format!("{} with {rules_origin}", component.origin),
            validator: Arc::new(validator),
            validator_part,
            rules,
            rules_part,
        })
    }

    /// The validator.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Where the version came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The validator part's identity.
    pub fn validator_part(&self) -> &PartIdentity {
        &self.validator_part
    }

    /// The rules part's identity.
    pub fn rules_part(&self) -> &PartIdentity {
        &self.rules_part
    }

    /// Validates a batch with this version.
    pub fn validate(
        &self,
        csv: &[u8],
        now: i64,
        history: Option<Arc<dyn HistoryStore>>,
    ) -> Result<BatchReport> {
        let options = BatchOptions {
            rules: self.rules.clone(),
            now,
            history,
        };
        self.validator.validate(csv, &options)
    }

    /// The preflight's last step: runs `canary` within the runtime's limits
    /// and, when it has expected verdicts, compares. Returns the canary's
    /// report, or why the version must not serve.
    pub fn preflight(&self, canary: &Canary<'_>) -> Result<BatchReport> {
        let report = self
            .validate(canary.csv, canary.now, canary.history.clone())
            .map_err(|source| Error::CanaryFailed {
                canary: canary.origin.to_string(),
                source: Box::new(source),
            })?;
        if let Some(expected) = canary.expected {
            let got: Vec<VerdictKey> = report.patients.iter().map(VerdictKey::from).collect();
            let diff = VerdictDiff::between(expected, &got);
            if !diff.is_empty() {
                if canary.force {
                    tracing::warn!(changes = diff.len(), "canary verdicts differ; forced");
                } else {
                    return Err(Error::CanaryChanged {
                        canary: canary.origin.to_string(),
                        summary: diff.summary(),
                        changes: diff.lines(),
                    });
                }
            }
        }
        Ok(report)
    }
}

/// The canary batch a preflight runs.
#[derive(Clone)]
pub struct Canary<'a> {
    /// The patient file.
    pub csv: &'a [u8],
    /// Where it came from (a path), for messages.
    pub origin: &'a str,
    /// "Now" for the batch.
    pub now: i64,
    /// History for the batch.
    pub history: Option<Arc<dyn HistoryStore>>,
    /// The verdicts the operator expects; `None`: any verdicts pass.
    pub expected: Option<&'a [VerdictKey]>,
    /// Let differing verdicts through (they are still logged).
    pub force: bool,
}

/// A version while it serves.
pub struct Deployment {
    version: Arc<Version>,
    info: DeploymentInfo,
}

impl Deployment {
    /// What reports say of it.
    pub fn info(&self) -> &DeploymentInfo {
        &self.info
    }

    /// The version it serves.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Validates a batch; the report names this deployment.
    pub fn validate(
        &self,
        csv: &[u8],
        now: i64,
        history: Option<Arc<dyn HistoryStore>>,
    ) -> Result<BatchReport> {
        let mut report = self.version.validate(csv, now, history)?;
        report.deployment = Some(self.info.clone());
        Ok(report)
    }
}

struct Slots {
    active: Arc<Deployment>,
    previous: Option<Arc<Deployment>>,
}

/// The active version and the previous one, swapped atomically.
pub struct Deployments {
    slots: ArcSwap<Slots>,
    /// Activations and rollbacks one at a time (readers never take it).
    changing: Mutex<()>,
    activations: AtomicU64,
    swaps: AtomicU64,
    rollbacks: AtomicU64,
}

impl Deployments {
    /// Starts serving `first`.
    pub fn new(first: Version) -> Deployments {
        let activations = AtomicU64::new(0);
        let active = Arc::new(deployment(Arc::new(first), &activations));
        Deployments {
            slots: ArcSwap::from_pointee(Slots {
                active,
                previous: None,
            }),
            changing: Mutex::new(()),
            activations,
            swaps: AtomicU64::new(0),
            rollbacks: AtomicU64::new(0),
        }
    }

    /// The version serving now. Hold the `Arc` for the whole batch.
    pub fn active(&self) -> Arc<Deployment> {
        self.slots.load().active.clone()
    }

    /// The version before it, if any.
    pub fn previous(&self) -> Option<Arc<Deployment>> {
        self.slots.load().previous.clone()
    }

    /// Makes `version` the active one (preflight it first); the active one
    /// becomes the previous. Batches already running finish on theirs.
    pub fn activate(&self, version: Version) -> Arc<Deployment> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let next = Arc::new(deployment(Arc::new(version), &self.activations));
        let current = self.slots.load_full();
        self.slots.store(Arc::new(Slots {
            active: next.clone(),
            previous: Some(current.active.clone()),
        }));
        self.swaps.fetch_add(1, Ordering::Relaxed);
        tracing::info!(id = %next.info.id, validator = %next.version.validator.identity(), "deployment activated");
        next
    }

    /// Makes the previous version active again (with a new id); the one
    /// rolled back from becomes the previous, so a rollback can be undone.
    pub fn rollback(&self) -> Result<Arc<Deployment>> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.slots.load_full();
        let previous = current
            .previous
            .clone()
            .ok_or(Error::NoPreviousDeployment)?;
        let next = Arc::new(deployment(previous.version.clone(), &self.activations));
        self.slots.store(Arc::new(Slots {
            active: next.clone(),
            previous: Some(current.active.clone()),
        }));
        self.rollbacks.fetch_add(1, Ordering::Relaxed);
        tracing::info!(id = %next.info.id, "deployment rolled back");
        Ok(next)
    }

    /// Swaps since start (activations after the first).
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// Rollbacks since start.
    pub fn rollbacks(&self) -> u64 {
        self.rollbacks.load(Ordering::Relaxed)
    }
}

fn deployment(version: Arc<Version>, activations: &AtomicU64) -> Deployment {
    let n = activations.fetch_add(1, Ordering::Relaxed) + 1;
    let pair = sha256_hex(
        format!(
            "{}{}",
            version.validator_part.sha256, version.rules_part.sha256
        )
        .as_bytes(),
    );
    let activated_at = crate::timestamp::format(crate::timestamp::now());
    let info = DeploymentInfo {
        id: format!("{n}-{}", &pair[..12]),
        validator: version.validator_part.clone(),
        rules: version.rules_part.clone(),
        activated_at,
    };
    Deployment { version, info }
}

/// sha256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
