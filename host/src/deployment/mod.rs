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

mod canary;
mod dir;

pub use canary::{Canary, expected_from_json};
pub use dir::{DeployDir, Parts, Snapshot, read_part};

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::cache::ComponentCache;
use crate::diff::{VerdictDiff, VerdictKey};
use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::history::HistoryStore;
use crate::options::{BatchOptions, Rules};
use crate::report::{BatchReport, DeploymentInfo, PartIdentity, StreamReport};
use crate::runtime::Runtime;
use crate::sink::VerdictSink;
use crate::validator::Validator;

/// A rule version, prepared: the component compiled and its world checked,
/// the rules checked by that component. Not serving until activated.
#[derive(Debug)]
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
    ///
    /// # Errors
    ///
    /// As `Validator::load` for the component ([`Error::InvalidComponent`],
    /// [`Error::ForbiddenImport`], [`Error::IncompatibleComponent`]...), and
    /// [`Error::Rules`] when it refuses the rules.
    pub fn prepare(
        runtime: &Runtime,
        cache: Option<&ComponentCache>,
        component: Option<Source<'_, [u8]>>,
        rules: Option<Source<'_, str>>,
    ) -> Result<Version> {
        let component = component.unwrap_or(Source {
            bytes: crate::embedded::EMBEDDED_VALIDATOR,
            origin: "the embedded validator",
        });
        let validator = match cache {
            Some(cache) => {
                Validator::load_cached(runtime, cache, component.bytes, component.origin)?
            }
            None => Validator::load(runtime, component.bytes, component.origin)?,
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

    /// Reads the files of `parts` ([`read_part`]: regular files only, at
    /// most [`DeployDir::MAX_VALIDATOR_BYTES`] and
    /// [`DeployDir::MAX_RULES_BYTES`]) and prepares the version they make,
    /// as [`Version::prepare`] does.
    ///
    /// # Errors
    ///
    /// [`Error::DeployFile`] when a file is not a regular file, is too
    /// large, or the rules are not UTF-8; [`Error::Io`] when one cannot be
    /// read; else as [`Version::prepare`].
    pub fn from_parts(
        runtime: &Runtime,
        cache: Option<&ComponentCache>,
        parts: &Parts,
    ) -> Result<Version> {
        let component = match &parts.component {
            Some(path) => Some((
                read_part(path, DeployDir::MAX_VALIDATOR_BYTES)?,
                path.display().to_string(),
            )),
            None => None,
        };
        let rules = match &parts.rules {
            Some(path) => {
                let bytes = read_part(path, DeployDir::MAX_RULES_BYTES)?;
                let text = String::from_utf8(bytes).map_err(|_| Error::DeployFile {
                    path: path.clone(),
                    problem: "is not UTF-8 text – save it as UTF-8".to_string(),
                })?;
                Some((text, path.display().to_string()))
            }
            None => None,
        };
        Version::prepare(
            runtime,
            cache,
            component.as_ref().map(|(bytes, origin)| Source {
                bytes: bytes.as_slice(),
                origin,
            }),
            rules.as_ref().map(|(text, origin)| Source {
                bytes: text.as_str(),
                origin,
            }),
        )
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
    ///
    /// # Errors
    ///
    /// As `Validator::validate`.
    pub fn validate(
        &self,
        csv: &[u8],
        now: i64,
        history: Option<Arc<dyn HistoryStore>>,
    ) -> Result<BatchReport> {
        self.validator.validate(csv, &self.options(now, history))
    }

    /// A batch's options with this version's rules.
    fn options(&self, now: i64, history: Option<Arc<dyn HistoryStore>>) -> BatchOptions {
        BatchOptions {
            rules: self.rules.clone(),
            now,
            history,
        }
    }

    /// Validates a batch with this version as its file is read, each
    /// verdict going to `sink` as it is ready.
    ///
    /// # Errors
    ///
    /// As `Validator::validate_stream`.
    pub fn validate_stream(
        &self,
        input: &mut dyn Read,
        now: i64,
        history: Option<Arc<dyn HistoryStore>>,
        sink: &mut dyn VerdictSink,
    ) -> Result<StreamReport> {
        let options = self.options(now, history);
        self.validator.validate_stream(input, &options, sink)
    }

    /// The preflight's last step: runs `canary` within the runtime's limits
    /// and, when it has expected verdicts, compares. Returns the canary's
    /// report, or why the version must not serve.
    ///
    /// # Errors
    ///
    /// [`Error::CanaryFailed`], its source the batch's error, when the canary
    /// cannot be validated; [`Error::CanaryChanged`] when its verdicts differ
    /// from those expected (unless forced).
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
                        diff,
                    });
                }
            }
        }
        Ok(report)
    }
}

/// A version while it serves.
#[derive(Debug)]
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
    ///
    /// # Errors
    ///
    /// As `Validator::validate`.
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

    /// Validates a batch as its file is read, each verdict going to `sink`
    /// as it is ready; the report names this deployment.
    ///
    /// # Errors
    ///
    /// As `Validator::validate_stream`.
    pub fn validate_stream(
        &self,
        input: &mut dyn Read,
        now: i64,
        history: Option<Arc<dyn HistoryStore>>,
        sink: &mut dyn VerdictSink,
    ) -> Result<StreamReport> {
        let mut report = self.version.validate_stream(input, now, history, sink)?;
        report.deployment = Some(self.info.clone());
        Ok(report)
    }
}

#[derive(Debug)]
struct Slots {
    active: Arc<Deployment>,
    previous: Option<Arc<Deployment>>,
}

/// The active version and the previous one, swapped atomically. `Send +
/// Sync`: share one between the threads that run batches and the one that
/// deploys.
#[derive(Debug)]
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
    ///
    /// # Errors
    ///
    /// [`Error::NoPreviousDeployment`] when nothing served before.
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
