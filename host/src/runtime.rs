//! One wasmtime `Engine` and `Linker` for the process, the limits every
//! call runs under, and the two things everything that runs a validator
//! asks of it: a fresh limited store, and a place to record how a call ended.
//! It knows nothing of what it runs (validators load themselves onto it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::bindings::PreSendValidator;
use crate::error::{Error, Result};
use crate::history::HistoryStore;
use crate::limits::{AtomicCounters, Counted, Counters, KEEP_RESIDENT_BYTES, Limits};
use crate::sandbox::{MAX_CORE_INSTANCES, Sandbox};

/// How often the epoch ticks: the granularity of the time budget.
const TICK: Duration = Duration::from_millis(5);

/// The process's wasmtime engine, linker and epoch ticker. Create one and
/// share it (it is cheap to clone); load validators from it.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.inner.limits)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: Limits,
    counters: AtomicCounters,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Runtime {
    /// A runtime with the default limits.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] when the engine, its linker or its epoch thread
    /// cannot be set up (not expected on a supported platform).
    pub fn new() -> Result<Runtime> {
        Runtime::with_limits(Limits::default())
    }

    /// A runtime whose batches run under `limits`.
    ///
    /// # Errors
    ///
    /// As [`Runtime::new`].
    pub fn with_limits(limits: Limits) -> Result<Runtime> {
        let mut config = Config::new();
        // The time budget: a background thread bumps the epoch every TICK and
        // each store traps once its deadline (in ticks) has passed.
        config.epoch_interruption(true);
        let engine = engine(config, &limits)?;
        let mut linker = Linker::new(&engine);
        PreSendValidator::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s).map_err(
            |e| Error::Runtime {
                doing: "linking the host's imports",
                source: e.into(),
            },
        )?;

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
                .map_err(|e| Error::Runtime {
                    doing: "starting the epoch thread",
                    source: e.into(),
                })?
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

    /// Links `component` against the host's imports, once per component.
    pub(crate) fn instantiate_pre(
        &self,
        component: &Component,
    ) -> wasmtime::Result<InstancePre<Sandbox>> {
        self.inner.linker.instantiate_pre(component)
    }

    /// A fresh store for one call, with every limit in place: memory and
    /// instances (the limiter), the data the guest may hand back (hostcall
    /// fuel), and the time budget (the epoch deadline). `label` names the
    /// validator in errors and logs.
    pub(crate) fn store(
        &self,
        label: Arc<str>,
        history: Option<Arc<dyn HistoryStore>>,
    ) -> Store<Sandbox> {
        let inner = &self.inner;
        let mut store = Store::new(&inner.engine, Sandbox::new(label, inner.limits, history));
        store.limiter(|s| s.limiter());
        // Bounds the data the guest hands the host in one call: without it, a
        // guest could make the host allocate far more than its own memory
        // (a list of strings that all point at the same bytes).
        store.set_hostcall_fuel(inner.limits.output_bytes);
        // A new store's deadline is 0: set it before anything runs.
        store.set_epoch_deadline(ticks(inner.limits.time));
        store.epoch_deadline_trap();
        store
    }

    /// Records how a call or a batch ended, for [`Runtime::counters`].
    pub(crate) fn record(&self, kind: Counted) {
        self.inner.counters.record(kind);
    }
}

/// The engine, with the instance pool when `limits.instances` is not 0 and
/// the pool's address space can be reserved. Where it cannot (a process
/// under `ulimit -v`, or valgrind), each call maps fresh memory as with no
/// pool, and there is no cap on calls at once: slower, never refused.
fn engine(mut config: Config, limits: &Limits) -> Result<Engine> {
    let failed = |e: wasmtime::Error| Error::Runtime {
        doing: "creating the wasmtime engine",
        source: e.into(),
    };
    if limits.instances == 0 {
        return Engine::new(&config).map_err(failed);
    }
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(limits)));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!(
                instances = limits.instances,
                error = %format!("{e:#}"),
                "no address space for the instance pool: every call maps fresh memory, with no cap on calls at once"
            );
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config).map_err(failed)
        }
    }
}

/// The instance pool: room for `limits.instances` validators at once, each
/// with as many core instances and tables as a store may hold, and one
/// memory of any size wasm32 allows (`limits.memory_bytes` is the store's
/// limiter's to enforce: a pool's smaller maximum would refuse the
/// component at load, not stop the batch with [`Error::MemoryLimit`]).
/// Each instance's memory stays mapped between calls and is zeroed in place
/// (up to [`KEEP_RESIDENT_BYTES`]): with a fresh mapping a call, the
/// kernel's page faults and zeroing were 6–10% of a warm batch.
fn pool(limits: &Limits) -> PoolingAllocationConfig {
    let instances = u32::try_from(limits.instances).unwrap_or(u32::MAX);
    let per_store = u32::try_from(MAX_CORE_INSTANCES).unwrap_or(u32::MAX);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(per_store))
        .total_tables(instances.saturating_mul(per_store))
        .total_memories(instances)
        .max_memories_per_component(1)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(1 << 20);
    pool
}

/// Epoch ticks for a time budget, rounded up; at least one.
pub(crate) fn ticks(budget: Duration) -> u64 {
    let ticks = budget.as_micros().div_ceil(TICK.as_micros());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
