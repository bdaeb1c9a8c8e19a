//! A loaded validator component: compiled once, instantiated per call in a
//! fresh sandbox, so nothing of one practice's batch can reach the next.
//!
//! About 400 lines, most of them the `# Errors` documentation of the
//! constructors and of `validate`: which errors come back, and when.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::Component;

use crate::batch::{self, Batch};
use crate::cache::ComponentCache;
use crate::error::{Error, Result};
use crate::history::{HistoryStore, NormaliseNumbers};
use crate::lift;
use crate::limits::Counted;
use crate::options::{BatchOptions, Rules};
use crate::report::{BatchReport, Identity, Reason, StreamReport};
use crate::runtime::Runtime;
use crate::sandbox::{self, Sandbox};
use crate::sink::{Collect, VerdictSink};
use crate::world::{self, World, WorldPre};

/// The most verdicts [`Validator::validate`] makes room for before the
/// batch runs.
const RESERVED_VERDICTS: usize = 250_000;

/// A validator component, ready to run batches. It is `Send + Sync`: load it
/// once and share it (behind an `Arc`) between threads; every call gets its
/// own store and instance, so calls never wait for each other.
pub struct Validator {
    instances: Instances,
    identity: Identity,
    default_rules: Rules,
    imports: Vec<String>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("identity", &self.identity)
            .field("default_rules", self.default_rules.identity())
            .field("imports", &self.imports)
            .finish_non_exhaustive()
    }
}

/// How a validator is run: a fresh instance in a fresh, limited store for
/// every call. `label` (name and version) tags errors and log lines.
struct Instances {
    runtime: Runtime,
    pre: WorldPre,
    label: Arc<str>,
}

impl Validator {
    /// Loads the validator built from `plugin/` and embedded in this crate.
    ///
    /// # Errors
    ///
    /// As [`Validator::load`]; none is expected of the embedded validator.
    pub fn embedded(runtime: &Runtime) -> Result<Validator> {
        Validator::load(
            runtime,
            crate::embedded::EMBEDDED_VALIDATOR,
            "the embedded validator",
        )
    }

    /// Compiles `bytes` (a component) and checks that it implements our
    /// world; `origin` (a path, a URL) names it in errors until it has said
    /// who it is.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidComponent`] when wasmtime cannot compile it;
    /// [`Error::ForbiddenImport`] and [`Error::IncompatibleComponent`] when
    /// it does not implement our world; [`Error::Rules`] when its default
    /// rules are refused; the validator's failures ([`Error::plugin`]) while
    /// it says who it is.
    pub fn load(runtime: &Runtime, bytes: &[u8], origin: &str) -> Result<Validator> {
        let component =
            Component::new(runtime.engine(), bytes).map_err(|e| Error::InvalidComponent {
                origin: origin.to_string(),
                source: e.into(),
            })?;
        Validator::from_component(runtime, component, origin)
    }

    /// Loads a validator component from a `.wasm` file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read; else as [`Validator::load`].
    pub fn load_file(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Validator> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Validator::load(runtime, &bytes, &path.display().to_string())
    }

    /// [`Validator::load`] through `cache`: a component compiled before (by
    /// this host, for this engine) is not compiled again.
    ///
    /// # Errors
    ///
    /// As [`Validator::load`].
    pub fn load_cached(
        runtime: &Runtime,
        cache: &ComponentCache,
        bytes: &[u8],
        origin: &str,
    ) -> Result<Validator> {
        let (component, _) = cache.compile(runtime, bytes, origin)?;
        Validator::from_component(runtime, component, origin)
    }

    /// Checks that a compiled `component` implements our world, and asks it
    /// who it is and for its default rules.
    ///
    /// # Errors
    ///
    /// As [`Validator::load`], but for compiling.
    pub fn from_component(
        runtime: &Runtime,
        component: Component,
        origin: &str,
    ) -> Result<Validator> {
        let engine = runtime.engine();
        let incompatible = |e: wasmtime::Error| Error::IncompatibleComponent {
            origin: origin.to_string(),
            expected: world::WIT_VERSION,
            major: world::WIT_MAJOR,
            found: None,
            message: format!("{e:#}"),
        };
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        world::check(&imports, &exports, origin)?;
        let instance_pre = runtime.instantiate_pre(&component).map_err(incompatible)?;
        let pre = WorldPre::new(instance_pre).map_err(incompatible)?;
        let mut instances = Instances {
            runtime: runtime.clone(),
            pre,
            // Until the component says who it is, errors name where it came from.
            label: Arc::from(format!("loaded from {origin}")),
        };
        let id = instances.call(None, |store, v| v.identity(store))?;
        let identity = Identity {
            name: id.name,
            version: id.version,
        };
        instances.label = Arc::from(identity.to_string());
        let text = instances.call(None, |store, v| v.default_rules(store))?;
        let origin = format!("default rules of {identity}");
        let default_rules = instances.check_rules(&text, &origin)?;
        tracing::info!(validator = %identity, world = instances.pre.version(), "validator loaded");
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

    /// The version of the contract's world the component implements:
    /// [`crate::WIT_VERSION`], whose verdicts come page by page as columns;
    /// 1.3.0 or 1.2.0, page by page with their numbers as integers; 1.1.0,
    /// page by page with them as strings; or 1.0.0, whose verdicts come all
    /// at once at the end of the file.
    pub fn world_version(&self) -> &'static str {
        self.instances.pre.version()
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

    /// Options for a batch: this validator's default rules, judged as of
    /// the current time, with no history. Change what differs with the
    /// [`BatchOptions`] setters.
    pub fn options(&self) -> BatchOptions {
        BatchOptions::new(self.default_rules.clone())
    }

    /// Checks a rules document; `origin` (a path) names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Rules`], with the line and column, when the validator refuses
    /// them; the validator's failures ([`Error::plugin`]).
    pub fn check_rules(&self, text: &str, origin: &str) -> Result<Rules> {
        self.instances.check_rules(text, origin)
    }

    /// Normalises raw phone numbers exactly as the validator does for
    /// patients: E.164, or the reason the number is not a UK mobile. History
    /// stores key their records with this.
    ///
    /// # Errors
    ///
    /// The validator's failures ([`Error::plugin`]).
    pub fn normalise_numbers(&self, raw: &[String]) -> Result<Vec<Result<String, Reason>>> {
        let answers = self
            .instances
            .call(None, |store, v| v.normalise_numbers(store, raw))?;
        Ok(answers
            .into_iter()
            .map(|a| a.map_err(lift::reason))
            .collect())
    }

    /// Validates one batch: the whole CSV file, judged by `options`. Fails
    /// closed: a trap, a timeout or a limit gives an error, never verdicts.
    /// The report holds every verdict; for files too big to hold, see
    /// [`Validator::validate_stream`].
    ///
    /// # Errors
    ///
    /// [`Error::File`] when the file cannot be validated as a whole (show
    /// the practice the message); [`Error::InputTooLarge`] before the
    /// validator runs; [`Error::Rules`] when the validator refuses
    /// `options.rules`; [`Error::History`] when the history store fails;
    /// the validator's failures ([`Error::plugin`]: [`Error::Timeout`],
    /// [`Error::MemoryLimit`], [`Error::Trap`], [`Error::LimitExceeded`],
    /// [`Error::ContractViolation`]).
    pub fn validate(&self, csv: &[u8], options: &BatchOptions) -> Result<BatchReport> {
        let limit = self.instances.runtime.limits().input_bytes;
        if csv.len() > limit {
            let e = Error::InputTooLarge {
                bytes: csv.len(),
                limit,
            };
            return Err(self.refused(e));
        }
        // Sized once for about as many verdicts as the file has lines (up to
        // a bound, so a file of blank lines reserves little): grown page by
        // page, the vector was copied whole at each doubling, 0.6% of a
        // warm 100k-row batch.
        let lines = crate::contract::line_breaks(csv).min(RESERVED_VERDICTS);
        let mut all = Collect {
            patients: Vec::with_capacity(lines),
        };
        let report = self.validate_stream(&mut &csv[..], options, &mut all)?;
        Ok(report.with_patients(all.patients))
    }

    /// Validates one batch as its file is read from `input`, handing each
    /// verdict to `sink` as soon as it is ready, in file order. Neither the
    /// file nor its verdicts are held whole (by a validator of 1.1.0 or
    /// later: a 1.0.0 one is given the whole file and answers at the end),
    /// so memory stays bounded however big the file. The verdicts count only
    /// once this returns `Ok` (see [`VerdictSink`]).
    ///
    /// # Errors
    ///
    /// As [`Validator::validate`]; [`Error::InputTooLarge`] once more than
    /// the limit has been read; [`Error::Stream`] when `input` or `sink`
    /// fails.
    pub fn validate_stream(
        &self,
        input: &mut dyn Read,
        options: &BatchOptions,
        sink: &mut dyn VerdictSink,
    ) -> Result<StreamReport> {
        let started = std::time::Instant::now();
        let runtime = &self.instances.runtime;
        let plugin = self.identity.to_string();
        let batch = Batch {
            input,
            sink,
            options,
            limits: runtime.limits(),
            plugin: &plugin,
        };
        let ran = self
            .instances
            .call(options.history.clone(), |store, world| {
                batch::run(store, world, batch)
            })
            .and_then(|ran| ran);
        let ran = match ran {
            Ok(ran) => ran,
            Err(e) => return Err(self.refused(e)),
        };
        runtime.record(Counted::Batch);
        if ran.history.after_now > 0 {
            tracing::warn!(
                validator = %self.identity,
                attempts = ran.history.after_now,
                "history attempts dated after now: no evidence beyond the rules' clock skew"
            );
        }
        let summary = ran.summary;
        tracing::info!(
            validator = %self.identity,
            patients = summary.total,
            accepted = summary.accepted,
            rejected = summary.rejected,
            likely_to_fail = summary.likely_to_fail,
            micros = started.elapsed().as_micros() as u64,
            "batch validated"
        );
        Ok(StreamReport {
            validator: self.identity.clone(),
            rules: ran.rules,
            deployment: None,
            summary,
            history: ran.history,
            columns: ran.columns,
        })
    }

    /// Logs and counts a batch's error (those from inside the sandbox were
    /// counted as they were classified).
    fn refused(&self, e: Error) -> Error {
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
            Error::Stream { doing, source } => {
                tracing::warn!(validator = %self.identity, doing, error = %source, "batch stopped");
            }
            _ => {}
        }
        if matches!(
            e,
            Error::File { .. } | Error::InputTooLarge { .. } | Error::ContractViolation { .. }
        ) && let Some(kind) = e.counted()
        {
            self.instances.runtime.record(kind);
        }
        e
    }
}

impl Instances {
    /// Checks a rules document; `origin` names it in errors.
    fn check_rules(&self, text: &str, origin: &str) -> Result<Rules> {
        let checked = self.call(None, |store, v| v.check_rules(store, text))?;
        match checked {
            Ok(id) => Ok(Rules::new(text, lift::identity(id))),
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
        f: impl FnOnce(&mut Store<Sandbox>, &World) -> wasmtime::Result<R>,
    ) -> Result<R> {
        let mut store = self.runtime.store(self.label.clone(), history);
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance));
        outcome.map_err(|e| {
            let error = sandbox::into_error(e, &mut store);
            if let Some(kind) = error.counted() {
                self.runtime.record(kind);
            }
            error
        })
    }
}

impl NormaliseNumbers for Validator {
    fn normalise(&self, raw: &[String]) -> Result<Vec<Option<String>>> {
        Ok(self
            .normalise_numbers(raw)?
            .into_iter()
            .map(Result::ok)
            .collect())
    }
}
