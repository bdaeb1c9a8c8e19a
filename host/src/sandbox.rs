//! What one call into a validator sees: a fresh store whose data is this
//! sandbox, with its limits, the batch's history store, and the host's side
//! of the imports (history lookups and logging).

use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

use crate::bindings::presend::validator::types::{self as wit, LogLevel};
use crate::bindings::presend::validator::{history, log, types};
use crate::error::Error;
use crate::history::HistoryStore;
use crate::lift;
use crate::limits::{Limit, Limits};
use crate::pending::{self, Answer, Found, Pending, Worker};
use crate::report::HistorySeen;

/// Core wasm instances one store may hold.
pub(crate) const MAX_CORE_INSTANCES: usize = 16;

/// The longest guest panic message kept for the error report.
const MAX_PANIC_MESSAGE: usize = 2048;

/// The data of one store: one batch (or one rules check), then dropped.
pub struct Sandbox {
    /// `name version` of the validator, for errors and log lines.
    plugin: Arc<str>,
    limiter: Limiter,
    history: Option<Arc<dyn HistoryStore>>,
    /// Set when the history store failed: the guest trapped because of us.
    history_error: Option<Error>,
    /// The last error the guest logged (its panic hook logs the message).
    last_guest_error: Option<String>,
    /// Set when the guest went over a limit the host checks itself.
    limit_hit: Option<Limit>,
    /// The most numbers this call may ask the history store about.
    history_numbers: usize,
    /// The batch's "now", when this call is a batch.
    now: Option<i64>,
    /// What the history lookup found.
    seen: HistorySeen,
    /// The pending lookups (1.3.0), and the thread that answers them.
    table: ResourceTable,
    worker: Worker,
    /// The numbers those not yet taken ask about.
    pending_numbers: usize,
    log_lines: usize,
    log_bytes: usize,
    limits: Limits,
}

impl Sandbox {
    pub(crate) fn new(
        plugin: Arc<str>,
        limits: Limits,
        history: Option<Arc<dyn HistoryStore>>,
    ) -> Sandbox {
        Sandbox {
            plugin,
            limiter: Limiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    // Core instances per store: a component built like ours
                    // has three (its module and wit-component's two shims);
                    // room for more, but no unbounded instantiation.
                    .instances(MAX_CORE_INSTANCES)
                    .build(),
                memory_limit_hit: false,
            },
            history,
            history_error: None,
            last_guest_error: None,
            limit_hit: None,
            history_numbers: limits.history_numbers,
            now: None,
            seen: HistorySeen::default(),
            table: ResourceTable::new(),
            worker: Worker::default(),
            pending_numbers: 0,
            log_lines: 0,
            log_bytes: 0,
            limits,
        }
    }

    /// The limiter the store must use (`store.limiter(Sandbox::limiter)`).
    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Makes this call a batch judged as of `now`, so the history it hands
    /// over is counted against that time.
    pub(crate) fn judge_as_of(&mut self, now: i64) {
        self.now = Some(now);
    }

    /// What the history lookup found so far.
    pub(crate) fn history_seen(&self) -> HistorySeen {
        self.seen
    }

    /// The most numbers the next lookup may ask about: `most`, within the
    /// runtime's limit.
    pub(crate) fn cap_history_numbers(&mut self, most: usize) {
        self.history_numbers = self.limits.history_numbers.min(most);
    }
}

/// `StoreLimits`, remembering whether a limit was hit so the error can say
/// "memory limit" rather than the guest's allocation-failure trap.
struct Limiter {
    limits: StoreLimits,
    memory_limit_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        self.memory_limit_hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl types::Host for Sandbox {}

impl history::Host for Sandbox {
    fn lookup(&mut self, numbers: Vec<String>) -> wasmtime::Result<Vec<wit::Attempt>> {
        let mut attempts = Vec::new();
        if let Some(store) = self.store_for(numbers.len())? {
            let asked = |found: &mut dyn FnMut(u32, crate::history::Attempt)| {
                store.lookup_each(&numbers, found)
            };
            self.answer(numbers.len(), asked, |number, a| {
                attempts.push(lift::attempt(number, a));
            })?;
        }
        Ok(attempts)
    }

    fn lookup_mobiles(&mut self, numbers: Vec<u64>) -> wasmtime::Result<wit::Attempts> {
        let Some(store) = self.store_for(numbers.len())? else {
            return Ok(attempts(Found::default()));
        };
        let found = pending::look_up(&*store, &numbers, self.now());
        self.taken(numbers.len(), found)
    }
}

impl history::HostPendingLookup for Sandbox {
    fn new(&mut self, numbers: Vec<u64>) -> wasmtime::Result<Resource<Pending>> {
        let count = numbers.len();
        // What is asked and not yet taken is bounded as one lookup is.
        let asked = self.pending_numbers.saturating_add(count);
        let pending = match self.store_for(asked)? {
            Some(store) => {
                let now = self.now();
                self.worker.look_up(store, numbers, now).map_err(|e| {
                    self.failed(
                        count,
                        Error::Runtime {
                            doing: "starting the history thread",
                            source: e.into(),
                        },
                    )
                })?
            }
            None => Pending::no_store(count),
        };
        self.pending_numbers = asked;
        Ok(self.table.push(pending)?)
    }

    fn ready(&mut self, lookup: Resource<Pending>) -> wasmtime::Result<bool> {
        Ok(self.table.get_mut(&lookup)?.ready())
    }

    fn take(&mut self, lookup: Resource<Pending>) -> wasmtime::Result<wit::Attempts> {
        let pending = self.table.delete(lookup)?;
        let count = pending.numbers();
        self.pending_numbers -= count;
        match pending.wait() {
            Answer::Found(found) => self.taken(count, found),
            // As `lookup-mobiles` without a store: nothing found or counted.
            Answer::NoStore => Ok(attempts(Found::default())),
            Answer::Lost => Err(self.failed(
                count,
                Error::history(
                    "store",
                    "its lookup panicked – the batch is void; fix the store (the panic is on \
                     stderr) and run the batch again",
                ),
            )),
        }
    }

    fn drop(&mut self, lookup: Resource<Pending>) -> wasmtime::Result<()> {
        let pending = self.table.delete(lookup)?;
        self.pending_numbers -= pending.numbers();
        Ok(())
    }
}

/// A lookup's answer as the contract gives it.
fn attempts(found: Found) -> wit::Attempts {
    wit::Attempts {
        number: found.number,
        sent_at: found.sent_at,
        outcome: found.outcome.into_iter().map(lift::outcome).collect(),
    }
}

impl Sandbox {
    /// "Now" for counting attempts dated after it (none outside a batch).
    fn now(&self) -> i64 {
        self.now.unwrap_or(i64::MAX)
    }

    /// Every lookup starts here: the store to ask about `count` numbers, or
    /// `None` when there is none (every number is new); a trap when a call
    /// may not ask about so many.
    fn store_for(&mut self, count: usize) -> wasmtime::Result<Option<Arc<dyn HistoryStore>>> {
        if count > self.history_numbers {
            tracing::warn!(
                numbers = count,
                limit = self.history_numbers,
                "validator asked about too many numbers"
            );
            return Err(self.over(Limit::HistoryNumbers(self.history_numbers)));
        }
        if self.history.is_none() {
            tracing::debug!(numbers = count, "no history store: every number is new");
        }
        Ok(self.history.clone())
    }

    /// The strings lookup (1.1.0): hands each attempt that `ask` (a
    /// question of `count` numbers to the store) finds to `found`, and
    /// counts what was seen. A store that fails makes the guest trap.
    fn answer(
        &mut self,
        count: usize,
        ask: impl FnOnce(&mut dyn FnMut(u32, crate::history::Attempt)) -> crate::error::Result<()>,
        mut found: impl FnMut(u32, crate::history::Attempt),
    ) -> wasmtime::Result<()> {
        let started = std::time::Instant::now();
        let (mut attempts, mut after_now) = (0, 0);
        let now = self.now();
        let asked = ask(&mut |number, a| {
            attempts += 1;
            after_now += usize::from(a.sent_at > now);
            found(number, a);
        });
        match asked {
            Ok(()) => {
                let micros = started.elapsed().as_micros() as u64;
                self.count(count, attempts, after_now, micros);
                Ok(())
            }
            Err(e) => Err(self.failed(count, e)),
        }
    }

    /// The integer lookups (1.2.0, 1.3.0): `found`, counted, as the
    /// contract gives it; a trap when the store failed.
    fn taken(&mut self, count: usize, mut found: Found) -> wasmtime::Result<wit::Attempts> {
        if let Some(e) = found.error.take() {
            return Err(self.failed(count, e));
        }
        self.count(count, found.number.len(), found.after_now, found.micros);
        Ok(attempts(found))
    }

    /// Counts what a lookup of `count` numbers saw.
    fn count(&mut self, count: usize, attempts: usize, after_now: usize, micros: u64) {
        // A batch asks a few times a chunk: count them all.
        self.seen.numbers += count;
        self.seen.attempts += attempts;
        self.seen.after_now += after_now;
        tracing::debug!(numbers = count, attempts, micros, "history lookup");
    }

    /// The store failed on a lookup of `count` numbers: the guest traps,
    /// and the batch fails with `e`.
    fn failed(&mut self, count: usize, e: Error) -> wasmtime::Error {
        tracing::warn!(numbers = count, "history lookup failed");
        self.history_error = Some(e);
        wasmtime::Error::msg("history lookup failed")
    }
}

/// Replaces every run of 9 or more digits (spaces, `+`, `-`, `(`, `)` and
/// `/` may come between them) with `[number]`. The validator logs counts only;
/// this keeps a broken or careless one from putting an NHS number (10 digits)
/// or a phone number (10 to 13) into the host's logs or errors. Counts stay
/// readable: no batch has a billion patients.
pub(crate) fn redact_numbers(message: String) -> String {
    const MIN_DIGITS: usize = 9;
    let bytes = message.as_bytes();
    let joins = |b: u8| matches!(b, b' ' | b'+' | b'-' | b'(' | b')' | b'/');
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run: digits, with joining characters between digits.
        let start = i;
        let (mut end, mut digits) = (i, 0);
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_digit() || joins(bytes[j])) {
            if bytes[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
            }
            j += 1;
        }
        if digits >= MIN_DIGITS {
            // An international number's `+` goes too.
            let start = if start > copied && bytes[start - 1] == b'+' {
                start - 1
            } else {
                start
            };
            out.push_str(&message[copied..start]);
            out.push_str("[number]");
            copied = end;
        }
        i = end.max(start + 1);
    }
    if copied == 0 {
        return message;
    }
    out.push_str(&message[copied..]);
    out
}

impl Sandbox {
    /// Records that the guest went over `limit`; the error traps the guest.
    fn over(&mut self, limit: Limit) -> wasmtime::Error {
        self.limit_hit = Some(limit);
        wasmtime::Error::msg(format!("over the limit of {limit}"))
    }
}

impl log::Host for Sandbox {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let message = redact_numbers(message);
        self.log_lines += 1;
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_lines > self.limits.log_lines {
            return Err(self.over(Limit::LogLines(self.limits.log_lines)));
        }
        if self.log_bytes > self.limits.log_bytes {
            return Err(self.over(Limit::LogBytes(self.limits.log_bytes)));
        }
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(target: "presend::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "presend::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "presend::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "presend::plugin", plugin, "{message}"),
            LogLevel::Error => {
                tracing::error!(target: "presend::plugin", plugin, "{message}");
                let mut message = message;
                if message.len() > MAX_PANIC_MESSAGE {
                    let mut end = MAX_PANIC_MESSAGE;
                    while !message.is_char_boundary(end) {
                        end -= 1;
                    }
                    message.truncate(end);
                }
                self.last_guest_error = Some(message);
            }
        }
        Ok(())
    }
}

/// Turns what went wrong in a call into an `Error` that names the validator:
/// what the host saw itself (a history failure, a limit it checks) comes
/// first, then what wasmtime says (out of time, out of memory, a trap).
pub(crate) fn into_error(e: wasmtime::Error, store: &mut Store<Sandbox>) -> Error {
    let data = store.data_mut();
    let plugin = data.plugin.to_string();
    if let Some(history_error) = data.history_error.take() {
        return history_error;
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        tracing::warn!(validator = %plugin, "every validator instance is in use");
        return Error::Busy {
            instances: data.limits.instances,
        };
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
            budget: data.limits.time,
        };
    }
    if data.limiter.memory_limit_hit {
        tracing::warn!(validator = %plugin, "validator hit its memory limit");
        return Error::MemoryLimit {
            plugin,
            limit_bytes: data.limits.memory_bytes,
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

#[cfg(test)]
mod tests {
    use super::redact_numbers;

    #[test]
    fn numbers_that_could_be_patient_data_are_redacted() {
        let redact = |s: &str| redact_numbers(s.to_string());
        assert_eq!(
            redact("bad row 9990000018 on 07700 900123 or +44 (0)7700-900123."),
            "bad row [number] on [number] or [number]."
        );
        assert_eq!(
            redact("batch judged: 100000 patients (99000 accepted), row 12"),
            "batch judged: 100000 patients (99000 accepted), row 12"
        );
        assert_eq!(redact("999 000 0018"), "[number]");
        assert_eq!(redact(""), "");
        assert_eq!(redact("é 123456789 é"), "é [number] é");
    }
}
