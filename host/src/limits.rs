//! What a call into a validator may use ([`Limits`]), which limit it went
//! over ([`Limit`]), and how batches have ended ([`Counters`]). A leaf: it
//! depends on nothing else in the crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What one call into a validator may use. Every batch gets a fresh sandbox
/// with these limits; going over one stops the batch with an error that
/// names the limit (see the README's failure policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of the validator's own time for a whole batch (the
    /// time it spends in its calls, history lookups included; not the time
    /// the host spends reading the file or writing verdicts), or for one
    /// other call such as a rules check.
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
    /// The most numbers one history lookup may ask about; a lookup also may
    /// not ask about more numbers than the page of verdicts it is for has
    /// rows, nor than the file has lines.
    pub history_numbers: usize,
    /// Log lines one call may write.
    pub log_lines: usize,
    /// Log bytes one call may write.
    pub log_bytes: usize,
    /// Validator instances alive at once in the runtime: every call (a
    /// batch, a rules check, an identity) holds one while it runs. They come
    /// from a pool made with the runtime, so each reserves address space
    /// (about 4 GiB, none of it memory) and keeps up to 64 MiB of the
    /// memory it used, zeroed, for the next call. One call more than this at
    /// once fails with [`crate::Error::Busy`]. 0, or a process that cannot
    /// reserve the address space (under `ulimit -v`, or valgrind: a warning
    /// is logged), has no pool: each call maps fresh memory, and any number
    /// run at once.
    pub instances: usize,
}

/// Linear memory a pooled instance keeps between calls, zeroed in place
/// rather than handed back to the system: a warm 100k-row batch uses 19 MiB
/// (36 MiB with history), and fresh pages each call were 6–10% of it.
pub(crate) const KEEP_RESIDENT_BYTES: usize = 64 << 20;

impl Default for Limits {
    /// 10 seconds, 512 MiB of memory, 128 MiB of file, 256 MiB of output,
    /// 1,000,000 history numbers, 1,000 log lines, 64 KiB of log and 64
    /// instances at once.
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
            instances: 64,
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
    /// Batches refused as a whole because of the file (`Error::File`, see the crate's `Error`).
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

/// Each thing [`Counters`] counts, as the runtime records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Batch,
    FileRefused,
    Trap,
    Timeout,
    MemoryLimit,
    LimitHit,
    ContractViolation,
    HistoryFailure,
}

/// The live counters behind [`Counters`].
#[derive(Debug, Default)]
pub(crate) struct AtomicCounters {
    batches: AtomicU64,
    files_refused: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    memory_limits: AtomicU64,
    limit_hits: AtomicU64,
    contract_violations: AtomicU64,
    history_failures: AtomicU64,
}

impl AtomicCounters {
    /// Counts one batch or failure of `kind`.
    pub(crate) fn record(&self, kind: Counted) {
        let counter = match kind {
            Counted::Batch => &self.batches,
            Counted::FileRefused => &self.files_refused,
            Counted::Trap => &self.traps,
            Counted::Timeout => &self.timeouts,
            Counted::MemoryLimit => &self.memory_limits,
            Counted::LimitHit => &self.limit_hits,
            Counted::ContractViolation => &self.contract_violations,
            Counted::HistoryFailure => &self.history_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Counters {
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

/// A limit of [`Limits`] that a validator went over, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Bytes handed to the host in one call.
    OutputBytes(usize),
    /// Numbers asked about in one batch.
    HistoryNumbers(usize),
    /// Log lines in one call.
    LogLines(usize),
    /// Log bytes in one call.
    LogBytes(usize),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::OutputBytes(n) => write!(f, "{n} bytes of output in one call"),
            Limit::HistoryNumbers(n) => write!(f, "{n} numbers asked of the history store"),
            Limit::LogLines(n) => write!(f, "{n} log lines"),
            Limit::LogBytes(n) => write!(f, "{n} bytes of log"),
        }
    }
}
