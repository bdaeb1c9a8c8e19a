//! A loaded validator component: compiled once, instantiated per call in a
//! fresh sandbox, so nothing of one practice's batch can reach the next.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use wasmtime::Store;
use wasmtime::component::Component;

use crate::bindings::presend::validator::types::BatchResult as WitBatchResult;
use crate::bindings::{PreSendValidator, PreSendValidatorPre};
use crate::contract;
use crate::error::{Error, Limit, Result};
use crate::history::HistoryStore;
use crate::report::{BatchReport, Identity, Reason};
use crate::runtime::Runtime;
use crate::sandbox::Sandbox;

/// The version of `wit/validator.wit` this host implements.
pub const WIT_VERSION: &str = "1.0.0";

/// Its major version: a component must implement this one.
const WIT_MAJOR: u64 = 1;

/// Files go to the component in chunks of this size, as a streaming
/// platform would send them.
const CHUNK_BYTES: usize = 1 << 20;

/// The output budget of a batch: this, plus
/// [`OUTPUT_BYTES_PER_INPUT_BYTE`] for each byte of its file (capped by
/// [`crate::Limits::output_bytes`]). The validator's real answer takes at
/// most about 300 host bytes per byte of file (a file of one-letter rows,
/// each rejected with its reasons); a 100,000-row file about 10.
const OUTPUT_BASE_BYTES: usize = 1 << 20;
/// See [`OUTPUT_BASE_BYTES`].
const OUTPUT_BYTES_PER_INPUT_BYTE: usize = 1024;

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
        let component =
            Component::new(&runtime.inner.engine, bytes).map_err(|e| Error::InvalidComponent {
                origin: origin.to_string(),
                message: format!("{e:#}"),
            })?;
        Validator::from_component(runtime, component, origin)
    }

    /// Checks that a compiled `component` implements our world, and asks it
    /// who it is and for its default rules.
    pub(crate) fn from_component(
        runtime: &Runtime,
        component: Component,
        origin: &str,
    ) -> Result<Validator> {
        let inner = &runtime.inner;
        let incompatible = |e: wasmtime::Error| Error::IncompatibleComponent {
            origin: origin.to_string(),
            expected: WIT_VERSION,
            major: WIT_MAJOR,
            found: None,
            message: format!("{e:#}"),
        };
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&inner.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(&inner.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        check_world(&imports, &exports, origin)?;
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
        let result = self.run_batch(csv, options);
        let counters = &self.instances.runtime.inner.counters;
        match result {
            Ok(result) => {
                counters.batches.fetch_add(1, Ordering::Relaxed);
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
                match &e {
                    Error::File { code, row, .. } => {
                        tracing::info!(validator = %self.identity, code = %code, row = ?row, "batch refused");
                    }
                    Error::InputTooLarge { bytes, limit } => {
                        tracing::warn!(bytes, limit, "batch refused: file too large");
                    }
                    Error::ContractViolation { message, .. } => {
                        tracing::warn!(validator = %self.identity, %message, "validator broke the contract");
                    }
                    _ => {}
                }
                // Errors from inside the sandbox were counted as they were classified.
                if matches!(
                    e,
                    Error::File { .. }
                        | Error::InputTooLarge { .. }
                        | Error::ContractViolation { .. }
                ) {
                    counters.count(&e);
                }
                Err(e)
            }
        }
    }

    /// One batch through the component: open, push, finish; then the answer
    /// is checked against the file.
    fn run_batch(&self, csv: &[u8], options: &BatchOptions) -> Result<WitBatchResult> {
        let limits = self.instances.runtime.limits();
        if csv.len() > limits.input_bytes {
            return Err(Error::InputTooLarge {
                bytes: csv.len(),
                limit: limits.input_bytes,
            });
        }
        let max_rows = contract::max_rows(csv);
        let setup = |store: &mut Store<Sandbox>| {
            // A small file gets a small answer: the output budget grows with it.
            let budget = limits.output_bytes.min(
                OUTPUT_BASE_BYTES
                    .saturating_add(csv.len().saturating_mul(OUTPUT_BYTES_PER_INPUT_BYTE)),
            );
            store.set_hostcall_fuel(budget);
            let sandbox = store.data_mut();
            sandbox.history_numbers = limits.history_numbers.min(max_rows);
        };
        let result = self
            .instances
            .call_with(options.history.clone(), setup, |store, v| {
                let batch = v.presend_validator_validator().batch();
                let session =
                    match batch.call_open(&mut *store, options.rules.text(), options.now)? {
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
            })??;
        contract::check(&result.verdicts, max_rows).map_err(|message| {
            Error::ContractViolation {
                plugin: self.identity.to_string(),
                message,
            }
        })?;
        Ok(result)
    }
}

/// The world's imports and exports, by name, against what this host
/// provides: only `presend:validator` interfaces, of our major version.
fn check_world(imports: &[String], exports: &[String], origin: &str) -> Result<()> {
    for name in imports.iter().chain(exports) {
        let Some(interface) = name.strip_prefix("presend:validator/") else {
            if imports.contains(name) {
                return Err(Error::ForbiddenImport {
                    origin: origin.to_string(),
                    import: name.clone(),
                });
            }
            continue;
        };
        let version = interface.split_once('@').map(|(_, v)| v);
        let major = version.and_then(|v| v.split('.').next()?.parse::<u64>().ok());
        if major != Some(WIT_MAJOR) {
            return Err(Error::IncompatibleComponent {
                origin: origin.to_string(),
                expected: WIT_VERSION,
                major: WIT_MAJOR,
                found: version.map(String::from),
                message: format!(
                    "it uses {name}, and this host runs only validators of major version {WIT_MAJOR}"
                ),
            });
        }
    }
    Ok(())
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
        self.call_with(history, |_| {}, f)
    }

    /// [`Instances::call`], with `setup` adjusting the store first.
    fn call_with<R>(
        &self,
        history: Option<Arc<dyn HistoryStore>>,
        setup: impl FnOnce(&mut Store<Sandbox>),
        f: impl FnOnce(&mut Store<Sandbox>, &PreSendValidator) -> wasmtime::Result<R>,
    ) -> Result<R> {
        let inner = &self.runtime.inner;
        let sandbox = Sandbox::new(self.label.clone(), inner.limits, history);
        let mut store = Store::new(&inner.engine, sandbox);
        store.limiter(|s| &mut s.limiter);
        // Bounds the data the guest hands the host in one call: without it, a
        // guest could make the host allocate far more than its own memory
        // (a list of strings that all point at the same bytes).
        store.set_hostcall_fuel(inner.limits.output_bytes);
        setup(&mut store);
        // A new store's deadline is 0: set it before anything runs.
        store.set_epoch_deadline(inner.deadline_ticks());
        store.epoch_deadline_trap();
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance));
        outcome.map_err(|e| {
            let error = self.classify(e, &mut store);
            inner.counters.count(&error);
            error
        })
    }

    fn classify(&self, e: wasmtime::Error, store: &mut Store<Sandbox>) -> Error {
        let plugin = self.label.to_string();
        let data = store.data_mut();
        if let Some(history_error) = data.history_error.take() {
            return history_error;
        }
        if let Some(limit) = data.limit_hit.take() {
            tracing::warn!(validator = %plugin, %limit, "validator went over a limit");
            return Error::LimitExceeded { plugin, limit };
        }
        // wasmtime's own error type for this is private: match its message
        // (tests/all/hostile.rs pins it).
        if e.chain()
            .any(|c| c.to_string().contains("fuel allocated for hostcalls"))
        {
            let limit = Limit::OutputBytes(store.hostcall_fuel());
            tracing::warn!(validator = %plugin, %limit, "validator went over a limit");
            return Error::LimitExceeded { plugin, limit };
        }
        let data = store.data_mut();
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
