//! A loaded validator component: compiled once, instantiated per call in a
//! fresh sandbox, so nothing of one practice's batch can reach the next.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::Component;

use crate::bindings::{PreSendValidator, PreSendValidatorPre};
use crate::error::{Error, Result};
use crate::history::HistoryStore;
use crate::report::{BatchReport, Identity, Reason};
use crate::runtime::Runtime;
use crate::sandbox::Sandbox;

/// The version of `wit/validator.wit` this host implements.
pub const WIT_VERSION: &str = "1.0.0";

/// Files go to the component in chunks of this size, as a streaming
/// platform would send them.
const CHUNK_BYTES: usize = 1 << 20;

/// A rules document the validator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    text: Arc<str>,
    identity: Identity,
}

impl Rules {
    /// The rules' name and version.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The TOML text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What a batch runs with, besides the file.
#[derive(Clone)]
pub struct BatchOptions {
    /// The rules to judge by.
    pub rules: Rules,
    /// "Now", in seconds since the Unix epoch (UTC): dates of birth and
    /// history are judged as of this time. The same input and the same `now`
    /// always give the same verdicts.
    pub now: i64,
    /// Where delivery history comes from; `None`: every number is new.
    pub history: Option<Arc<dyn HistoryStore>>,
}

/// A validator component, ready to run batches. Cheap to share behind an
/// `Arc`; every call gets its own store.
pub struct Validator {
    instances: Instances,
    identity: Identity,
    default_rules: Rules,
    imports: Vec<String>,
}

/// How a validator is run: a fresh instance in a fresh, limited store for
/// every call. `label` (name and version) tags errors and log lines.
struct Instances {
    runtime: Runtime,
    pre: PreSendValidatorPre<Sandbox>,
    label: Arc<str>,
}

impl Validator {
    /// Compiles `bytes` (a component) and checks that it implements our world.
    pub(crate) fn load(runtime: &Runtime, bytes: &[u8], origin: &str) -> Result<Validator> {
        let inner = &runtime.inner;
        let component =
            Component::new(&inner.engine, bytes).map_err(|e| Error::InvalidComponent {
                origin: origin.to_string(),
                message: format!("{e:#}"),
            })?;
        let incompatible = |e: wasmtime::Error| Error::IncompatibleComponent {
            origin: origin.to_string(),
            expected: WIT_VERSION,
            major: 1,
            message: format!("{e:#}"),
        };
        let imports = component
            .component_type()
            .imports(&inner.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let instance_pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(incompatible)?;
        let pre = PreSendValidatorPre::new(instance_pre).map_err(incompatible)?;
        let mut instances = Instances {
            runtime: runtime.clone(),
            pre,
            // Until the component says who it is, errors name where it came from.
            label: Arc::from(format!("loaded from {origin}")),
        };
        let id = instances.call(None, |store, v| {
            v.presend_validator_validator().call_identity(store)
        })?;
        let identity = Identity {
            name: id.name,
            version: id.version,
        };
        instances.label = Arc::from(identity.to_string());
        let text = instances.call(None, |store, v| {
            v.presend_validator_validator().call_default_rules(store)
        })?;
        let origin = format!("default rules of {identity}");
        let default_rules = instances.check_rules(&text, &origin)?;
        tracing::info!(validator = %identity, "validator loaded");
        Ok(Validator {
            instances,
            identity,
            default_rules,
            imports,
        })
    }

    /// The validator's name and version.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// What the component imports, by name: for ours, only the interfaces of
    /// its own world (no WASI: no files, network, environment or clock).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The rules the validator ships with.
    pub fn default_rules(&self) -> &Rules {
        &self.default_rules
    }

    /// Checks a rules document; `origin` (a path) names it in errors.
    pub fn check_rules(&self, text: &str, origin: &str) -> Result<Rules> {
        self.instances.check_rules(text, origin)
    }

    /// Normalises raw phone numbers exactly as the validator does for
    /// patients: E.164, or the reason the number is not a UK mobile. History
    /// stores key their records with this.
    pub fn normalise_numbers(&self, raw: &[String]) -> Result<Vec<Result<String, Reason>>> {
        let answers = self.instances.call(None, |store, v| {
            v.presend_validator_validator()
                .call_normalise_numbers(store, raw)
        })?;
        Ok(answers
            .into_iter()
            .map(|a| {
                a.map_err(|r| Reason {
                    code: r.code,
                    message: r.message,
                })
            })
            .collect())
    }

    /// Validates one batch: the whole CSV file, judged by `options`. Fails
    /// closed: a trap, a timeout or a limit gives an error, never verdicts.
    pub fn validate(&self, csv: &[u8], options: &BatchOptions) -> Result<BatchReport> {
        let started = std::time::Instant::now();
        let result = self.instances.call(options.history.clone(), |store, v| {
            let batch = v.presend_validator_validator().batch();
            let session = match batch.call_open(&mut *store, options.rules.text(), options.now)? {
                Ok(session) => session,
                Err(e) => {
                    return Ok(Err(Error::Rules {
                        origin: options.rules.identity().to_string(),
                        line: e.line,
                        column: e.column,
                        message: e.message,
                    }));
                }
            };
            for chunk in csv.chunks(CHUNK_BYTES) {
                if let Err(e) = batch.call_push(&mut *store, session, chunk)? {
                    return Ok(Err(file_error(e)));
                }
            }
            Ok(batch.call_finish(&mut *store, session)?.map_err(file_error))
        })?;
        match result {
            Ok(result) => {
                let report = BatchReport::from_wit(self.identity.clone(), result);
                tracing::info!(
                    validator = %self.identity,
                    patients = report.summary.total,
                    accepted = report.summary.accepted,
                    rejected = report.summary.rejected,
                    likely_to_fail = report.summary.likely_to_fail,
                    micros = started.elapsed().as_micros() as u64,
                    "batch validated"
                );
                Ok(report)
            }
            Err(e) => {
                if let Error::File { code, row, .. } = &e {
                    tracing::info!(validator = %self.identity, code = %code, row = ?row, "batch refused");
                }
                Err(e)
            }
        }
    }
}

impl Instances {
    /// Checks a rules document; `origin` names it in errors.
    fn check_rules(&self, text: &str, origin: &str) -> Result<Rules> {
        let checked = self.call(None, |store, v| {
            v.presend_validator_validator()
                .call_check_rules(store, text)
        })?;
        match checked {
            Ok(id) => Ok(Rules {
                text: Arc::from(text),
                identity: Identity {
                    name: id.name,
                    version: id.version,
                },
            }),
            Err(e) => Err(Error::Rules {
                origin: origin.to_string(),
                line: e.line,
                column: e.column,
                message: e.message,
            }),
        }
    }

    /// Runs `f` against a fresh instance in a fresh store with the runtime's
    /// limits, and turns whatever went wrong into an `Error` that names the
    /// validator.
    fn call<R>(
        &self,
        history: Option<Arc<dyn HistoryStore>>,
        f: impl FnOnce(&mut Store<Sandbox>, &PreSendValidator) -> wasmtime::Result<R>,
    ) -> Result<R> {
        let inner = &self.runtime.inner;
        let sandbox = Sandbox::new(self.label.clone(), inner.limits.memory_bytes, history);
        let mut store = Store::new(&inner.engine, sandbox);
        store.limiter(|s| &mut s.limiter);
        // A new store's deadline is 0: set it before anything runs.
        store.set_epoch_deadline(inner.deadline_ticks());
        store.epoch_deadline_trap();
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance));
        outcome.map_err(|e| self.classify(e, &mut store))
    }

    fn classify(&self, e: wasmtime::Error, store: &mut Store<Sandbox>) -> Error {
        let plugin = self.label.to_string();
        let data = store.data_mut();
        if let Some(history_error) = data.history_error.take() {
            return history_error;
        }
        let trap = e.downcast_ref::<wasmtime::Trap>().copied();
        if trap == Some(wasmtime::Trap::Interrupt) {
            tracing::warn!(validator = %plugin, "validator timed out");
            return Error::Timeout {
                plugin,
                budget: self.runtime.limits().time,
            };
        }
        if data.limiter.memory_limit_hit {
            tracing::warn!(validator = %plugin, "validator hit its memory limit");
            return Error::MemoryLimit {
                plugin,
                limit_bytes: self.runtime.limits().memory_bytes,
            };
        }
        let message = match (data.last_guest_error.take(), trap) {
            (Some(guest), _) => guest,
            (None, Some(trap)) => trap.to_string(),
            (None, None) => format!("{e:#}"),
        };
        tracing::warn!(validator = %plugin, trap = ?trap, "validator trapped");
        Error::Trap { plugin, message }
    }
}

fn file_error(e: crate::bindings::presend::validator::types::FileError) -> Error {
    Error::File {
        code: e.code,
        message: e.message,
        row: e.row,
    }
}
