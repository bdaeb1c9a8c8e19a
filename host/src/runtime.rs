//! One wasmtime `Engine` and `Linker` for the process, and the limits every
//! batch runs under.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::PreSendValidator;
use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::validator::Validator;

/// How often the epoch ticks: the granularity of the time budget.
const TICK: Duration = Duration::from_millis(5);

/// What one call into a validator may use. Every batch gets a fresh sandbox
/// with these limits; going over one stops the batch with an error that
/// names the limit (see the README's failure policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget for one call (a whole batch, or a rules check).
    pub time: Duration,
    /// The most linear memory the validator may have, in bytes.
    pub memory_bytes: usize,
    /// The largest patient file accepted, in bytes. Checked before the
    /// validator sees anything.
    pub input_bytes: usize,
    /// The most data the validator may hand the host in one call (its
    /// verdicts, a history request, a log line), counted as the host memory
    /// it takes. A batch gets the smaller of this and 1 MiB plus 1 KiB per
    /// byte of its file, so a small file cannot be answered with a huge result.
    pub output_bytes: usize,
    /// The most numbers one batch may ask the history store about; a batch
    /// also may not ask about more numbers than its file has lines.
    pub history_numbers: usize,
    /// Log lines one call may write.
    pub log_lines: usize,
    /// Log bytes one call may write.
    pub log_bytes: usize,
}

impl Default for Limits {
    /// 10 seconds, 512 MiB of memory, 128 MiB of file, 256 MiB of output,
    /// 1,000,000 history numbers, 1,000 log lines and 64 KiB of log.
    /// Measured: a 100,000-row file (about 6 MiB) takes 0.2-0.5 s on a warm
    /// host, needs 32 MiB of guest memory (48 MiB when most of its numbers
    /// have history) and hands back about 60 MiB of verdicts; the validator
    /// logs 3-5 lines a batch. The defaults leave room for the largest files
    /// the rules allow, and stop a validator that goes far past them.
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(10),
            memory_bytes: 512 << 20,
            input_bytes: 128 << 20,
            output_bytes: 256 << 20,
            history_numbers: 1_000_000,
            log_lines: 1_000,
            log_bytes: 64 << 10,
        }
    }
}

/// How often each way a batch can end has happened in this runtime, since it
/// started. For dashboards and alerts: a rising `traps` or `timeouts` after a
/// deployment is the sign to roll back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Batches that produced verdicts.
    pub batches: u64,
    /// Batches refused as a whole because of the file (`Error::File`).
    pub files_refused: u64,
    /// Calls stopped by a trap (a panic, or a broken import).
    pub traps: u64,
    /// Calls stopped by the time limit.
    pub timeouts: u64,
    /// Calls stopped by the memory limit.
    pub memory_limits: u64,
    /// Calls stopped by another limit (input, output, history, logs).
    pub limit_hits: u64,
    /// Results refused because they broke the contract.
    pub contract_violations: u64,
    /// Calls failed by the history store.
    pub history_failures: u64,
}

/// The live counters behind [`Counters`].
#[derive(Debug, Default)]
pub(crate) struct AtomicCounters {
    pub(crate) batches: AtomicU64,
    pub(crate) files_refused: AtomicU64,
    pub(crate) traps: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) memory_limits: AtomicU64,
    pub(crate) limit_hits: AtomicU64,
    pub(crate) contract_violations: AtomicU64,
    pub(crate) history_failures: AtomicU64,
}

impl AtomicCounters {
    /// Counts an error against its kind.
    pub(crate) fn count(&self, error: &Error) {
        let counter = match error {
            Error::File { .. } => &self.files_refused,
            Error::Trap { .. } => &self.traps,
            Error::Timeout { .. } => &self.timeouts,
            Error::MemoryLimit { .. } => &self.memory_limits,
            Error::LimitExceeded { .. } | Error::InputTooLarge { .. } => &self.limit_hits,
            Error::ContractViolation { .. } => &self.contract_violations,
            Error::History { .. } => &self.history_failures,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            batches: get(&self.batches),
            files_refused: get(&self.files_refused),
            traps: get(&self.traps),
            timeouts: get(&self.timeouts),
            memory_limits: get(&self.memory_limits),
            limit_hits: get(&self.limit_hits),
            contract_violations: get(&self.contract_violations),
            history_failures: get(&self.history_failures),
        }
    }
}

/// The process's wasmtime engine, linker and epoch ticker. Create one and
/// share it (it is cheap to clone); load validators from it.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Sandbox>,
    pub(crate) limits: Limits,
    pub(crate) counters: AtomicCounters,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Runtime {
    /// A runtime with the default limits.
    pub fn new() -> Result<Runtime> {
        Runtime::with_limits(Limits::default())
    }

    /// A runtime whose batches run under `limits`.
    pub fn with_limits(limits: Limits) -> Result<Runtime> {
        let mut config = Config::new();
        // The time budget: a background thread bumps the epoch every TICK and
        // each store traps once its deadline (in ticks) has passed.
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| Error::Runtime(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        PreSendValidator::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(|e| Error::Runtime(e.to_string()))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("presend-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| Error::Runtime(format!("starting the epoch thread: {e}")))?
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                limits,
                counters: AtomicCounters::default(),
                stop,
                ticker: Some(ticker),
            }),
        })
    }

    /// The limits every batch runs under.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// How batches in this runtime have ended so far.
    pub fn counters(&self) -> Counters {
        self.inner.counters.snapshot()
    }

    /// The wasmtime engine (to precompile components, for instance).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Loads the validator built from `plugin/` and embedded in this crate.
    pub fn load_embedded(&self) -> Result<Validator> {
        Validator::load(self, crate::EMBEDDED_VALIDATOR, "the embedded validator")
    }

    /// Loads a validator component from its bytes; `origin` (a path, a URL)
    /// names it in errors until it has said who it is.
    pub fn load(&self, bytes: &[u8], origin: &str) -> Result<Validator> {
        Validator::load(self, bytes, origin)
    }

    /// Loads a validator component from a `.wasm` file.
    pub fn load_file(&self, path: &std::path::Path) -> Result<Validator> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Validator::load(self, &bytes, &path.display().to_string())
    }
}

impl Inner {
    /// Epoch ticks for the time budget, rounded up.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.time.as_micros().div_ceil(TICK.as_micros());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
