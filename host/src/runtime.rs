//! One wasmtime `Engine` and `Linker` for the process, and the limits every
//! batch runs under.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// with these limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget for one call (a whole batch, or a rules check).
    pub time: Duration,
    /// The most linear memory the validator may have, in bytes.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// 10 seconds and 512 MiB. Measured: a 100,000-row file takes 0.2-0.5 s
    /// on a warm host and needs 32 MiB of guest memory (48 MiB when most of
    /// its numbers have history), so the defaults leave room for the
    /// largest files the default rules allow.
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(10),
            memory_bytes: 512 << 20,
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
                stop,
                ticker: Some(ticker),
            }),
        })
    }

    /// The limits every batch runs under.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The wasmtime engine (to precompile components, for instance).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Loads the validator built from `plugin/` and embedded in this crate.
    pub fn load_embedded(&self) -> Result<Validator> {
        Validator::load(self, crate::EMBEDDED_VALIDATOR, "the embedded validator")
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
