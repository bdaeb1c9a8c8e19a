//! One batch through a component, in the version of the world it
//! implements: for 1.4.0 down to 1.1.0 the file in chunks and the verdicts
//! page by page as they are ready (compact ones from 1.2.0, as columns from
//! 1.4.0), so neither side
//! holds the whole file or all its verdicts; for 1.0.0 the whole file, then
//! every verdict from `finish`. Each answer
//! is checked against the file as it comes, and each call gets what is left
//! of the batch's time budget.

use std::io::Read;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::bindings::presend::validator::types as wit;
use crate::contract;
use crate::error::{Error, Result};
use crate::lift;
use crate::limits::Limits;
use crate::options::BatchOptions;
use crate::report::{Columns, HistorySeen, Identity, PatientVerdict, Summary};
use crate::runtime;
use crate::sandbox::Sandbox;
use crate::sink::VerdictSink;
use crate::world::World;

/// The file goes to the component in chunks of this size, as a streaming
/// platform would send it.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Verdicts asked for at once: each page is one call across the boundary;
/// 4,096 keeps them few (25 for 100,000 rows) and a page's strings small
/// (about 1 MB at most). History is asked once a chunk, not once a page.
pub(crate) const PAGE: u32 = 4096;

/// The output budget of a call: this, plus [`OUTPUT_BYTES_PER_INPUT_BYTE`]
/// for each byte of the file given so far (capped by
/// [`crate::Limits::output_bytes`]). The validator's real answer takes at
/// most about 300 host bytes per byte of file (a file of one-letter rows,
/// each rejected with its reasons); a 100,000-row file about 10.
const OUTPUT_BASE_BYTES: usize = 1 << 20;
/// See [`OUTPUT_BASE_BYTES`].
const OUTPUT_BYTES_PER_INPUT_BYTE: usize = 1024;

/// A batch to run: where its file comes from and its verdicts go.
pub(crate) struct Batch<'a> {
    pub(crate) input: &'a mut dyn Read,
    pub(crate) sink: &'a mut dyn VerdictSink,
    pub(crate) options: &'a BatchOptions,
    pub(crate) limits: Limits,
    /// The validator's name and version, for contract violations.
    pub(crate) plugin: &'a str,
}

/// What a batch says at its end.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) rules: Identity,
    pub(crate) columns: Columns,
    pub(crate) summary: Summary,
    pub(crate) history: HistorySeen,
}

/// Runs `batch` through `world` in `store`. The outer error is wasmtime's
/// (a trap, the time budget, a limit: the caller classifies it); the inner
/// one the file's, the contract's or the stream's.
pub(crate) fn run(
    store: &mut Store<Sandbox>,
    world: &World,
    batch: Batch<'_>,
) -> wasmtime::Result<Result<Ran>> {
    store.data_mut().judge_as_of(batch.options.now);
    let (rules, now) = (batch.options.rules.text(), batch.options.now);
    let mut run = Running {
        store,
        world,
        left: batch.limits.time,
        pushed: 0,
        max_rows: 1,
        batch,
    };
    let session = match run.timed(|s, w| w.open(s, rules, now))? {
        Ok(session) => session,
        Err(e) => {
            let rules = run.batch.options.rules.identity().to_string();
            return Ok(Err(Error::Rules {
                origin: rules,
                line: e.line,
                column: e.column,
                message: e.message,
            }));
        }
    };
    match world {
        World::Current(exports) => {
            let calls = PageCalls::Current(exports.presend_validator_validator().batch());
            run.paged(calls, session)
        }
        World::Ahead(exports) => {
            let calls = PageCalls::Ahead(exports.presend_validator_validator().batch());
            run.paged(calls, session)
        }
        World::Compact(exports) => {
            let calls = PageCalls::Compact(exports.presend_validator_validator().batch());
            run.paged(calls, session)
        }
        World::Paged(exports) => {
            let calls = PageCalls::Verdicts(exports.presend_validator_validator().batch());
            run.paged(calls, session)
        }
        World::Whole(exports) => {
            let calls = exports.presend_validator_validator().batch();
            run.whole(calls, session)
        }
    }
}

/// A 1.4.0 component's batch calls.
type CurrentCalls<'a> = crate::bindings::exports::presend::validator::validator::GuestBatch<'a>;
/// A 1.3.0 component's.
type AheadCalls<'a> = crate::bindings::v1_3::exports::presend::validator::validator::GuestBatch<'a>;
/// A 1.2.0 component's.
type CompactCalls<'a> =
    crate::bindings::v1_2::exports::presend::validator::validator::GuestBatch<'a>;
/// A 1.1.0 component's.
type PagedCalls<'a> = crate::bindings::v1_1::exports::presend::validator::validator::GuestBatch<'a>;
/// A 1.0.0 component's.
type WholeCalls<'a> = crate::bindings::v1_0::exports::presend::validator::validator::GuestBatch<'a>;

/// The batch calls of a component that gives its verdicts page by page.
enum PageCalls<'a> {
    /// 1.4.0: pages as columns, history asked ahead with `pending-lookup`.
    Current(CurrentCalls<'a>),
    /// 1.3.0: compact verdicts, history asked ahead with `pending-lookup`.
    Ahead(AheadCalls<'a>),
    /// 1.2.0: compact verdicts, history asked with `lookup-mobiles`.
    Compact(CompactCalls<'a>),
    /// 1.1.0: verdicts, history asked with `lookup`.
    Verdicts(PagedCalls<'a>),
}

/// One page of verdicts, as the component's version gives them.
enum Page {
    Columns(wit::VerdictPage),
    Compact(Vec<wit::CompactVerdict>),
    Verdicts(Vec<wit::Verdict>),
}

impl Page {
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn len(&self) -> usize {
        match self {
            Page::Columns(page) => page.rows.len(),
            Page::Compact(page) => page.len(),
            Page::Verdicts(page) => page.len(),
        }
    }

    /// The verdicts as the library has them: `Err` when one's numbers break
    /// the contract.
    fn verdicts(self) -> std::result::Result<Vec<PatientVerdict>, String> {
        match self {
            Page::Columns(page) => lift::page(page),
            Page::Compact(page) => page.into_iter().map(lift::compact).collect(),
            Page::Verdicts(page) => page.into_iter().map(lift::verdict).collect(),
        }
    }
}

/// The same call on either version's batch calls.
macro_rules! each {
    ($calls:expr, $c:ident => $call:expr) => {
        match $calls {
            PageCalls::Current($c) => $call,
            PageCalls::Ahead($c) => $call,
            PageCalls::Compact($c) => $call,
            PageCalls::Verdicts($c) => $call,
        }
    };
}

impl PageCalls<'_> {
    fn push(
        &self,
        store: &mut Store<Sandbox>,
        session: ResourceAny,
        chunk: &[u8],
    ) -> wasmtime::Result<std::result::Result<(), wit::FileError>> {
        each!(self, c => c.call_push(store, session, chunk))
    }

    fn end(
        &self,
        store: &mut Store<Sandbox>,
        session: ResourceAny,
    ) -> wasmtime::Result<std::result::Result<(), wit::FileError>> {
        each!(self, c => c.call_end(store, session))
    }

    fn next(
        &self,
        store: &mut Store<Sandbox>,
        session: ResourceAny,
        max: u32,
    ) -> wasmtime::Result<std::result::Result<Page, wit::FileError>> {
        Ok(match self {
            PageCalls::Current(c) => c.call_next_page(store, session, max)?.map(Page::Columns),
            PageCalls::Ahead(c) => c.call_next_compact(store, session, max)?.map(Page::Compact),
            PageCalls::Compact(c) => c.call_next_compact(store, session, max)?.map(Page::Compact),
            PageCalls::Verdicts(c) => c
                .call_next_verdicts(store, session, max)?
                .map(Page::Verdicts),
        })
    }

    fn columns(
        &self,
        store: &mut Store<Sandbox>,
        session: ResourceAny,
    ) -> wasmtime::Result<Option<wit::Columns>> {
        each!(self, c => c.call_columns(store, session))
    }
}

/// The sink failed: the batch is void.
fn unwritten(source: std::io::Error) -> Error {
    Error::Stream {
        doing: "writing the verdicts",
        source,
    }
}

struct Running<'a, 's> {
    store: &'s mut Store<Sandbox>,
    world: &'s World,
    batch: Batch<'a>,
    /// What is left of the time budget.
    left: Duration,
    /// Bytes of the file given so far, and the rows they can hold.
    pushed: usize,
    max_rows: usize,
}

impl Running<'_, '_> {
    /// One call into the component, with what is left of the budget as its
    /// deadline; the time it took comes off the budget.
    fn timed<R>(
        &mut self,
        f: impl FnOnce(&mut Store<Sandbox>, &World) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        self.store.set_epoch_deadline(runtime::ticks(self.left));
        let started = Instant::now();
        let result = f(self.store, self.world);
        self.left = self.left.saturating_sub(started.elapsed());
        result
    }

    /// Reads the next chunk of the file into `buffer`; `None` at its end.
    fn read(&mut self, buffer: &mut [u8]) -> Result<Option<usize>> {
        let mut filled = 0;
        while filled < buffer.len() {
            match self.batch.input.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Stream {
                        doing: "reading the file",
                        source,
                    });
                }
            }
        }
        self.pushed += filled;
        if self.pushed > self.batch.limits.input_bytes {
            return Err(Error::InputTooLarge {
                bytes: self.pushed,
                limit: self.batch.limits.input_bytes,
            });
        }
        self.max_rows += contract::line_breaks(&buffer[..filled]);
        Ok((filled > 0).then_some(filled))
    }

    /// Bounds what the next call may hand back: a small file gets a small
    /// answer, and a lookup asks about at most `numbers` numbers.
    fn bound(&mut self, numbers: usize) {
        let budget = self.batch.limits.output_bytes.min(
            OUTPUT_BASE_BYTES
                .saturating_add(self.pushed.saturating_mul(OUTPUT_BYTES_PER_INPUT_BYTE)),
        );
        self.store.set_hostcall_fuel(budget);
        self.store
            .data_mut()
            .cap_history_numbers(numbers.min(self.max_rows));
    }

    fn violation(&self, message: String) -> Error {
        Error::ContractViolation {
            plugin: self.batch.plugin.to_string(),
            message,
        }
    }

    fn ran(&self, rules: Identity, columns: Columns, summary: Summary) -> Ran {
        Ran {
            rules,
            columns,
            summary,
            history: self.store.data().history_seen(),
        }
    }

    /// 1.4.0 down to 1.1.0: push a chunk, take the verdicts it completed,
    /// and again; then `end`, and the last pages. A 1.3.0 or later validator asks
    /// for history while it reads (in `push` and `end`), as many numbers as
    /// the rows given so far can hold.
    fn paged(
        mut self,
        calls: PageCalls<'_>,
        session: ResourceAny,
    ) -> wasmtime::Result<Result<Ran>> {
        let mut buffer = vec![0; CHUNK_BYTES];
        let mut pages = Pages {
            contract: contract::Pages::default(),
            columns: None,
            summary: Summary::default(),
        };
        loop {
            let n = match self.read(&mut buffer) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => return Ok(Err(e)),
            };
            self.bound(self.max_rows);
            if let Err(e) = self.timed(|s, _| calls.push(s, session, &buffer[..n]))? {
                return Ok(Err(lift::file_error(e)));
            }
            if let Err(e) = self.drain(&calls, session, &mut pages)? {
                return Ok(Err(e));
            }
        }
        drop(buffer);
        self.bound(self.max_rows);
        if let Err(e) = self.timed(|s, _| calls.end(s, session))? {
            return Ok(Err(lift::file_error(e)));
        }
        if let Err(e) = self.drain(&calls, session, &mut pages)? {
            return Ok(Err(e));
        }
        // A file without patients: the columns are asked for at its end.
        if pages.columns.is_none()
            && let Err(e) = self.columns(&calls, session, &mut pages)?
        {
            return Ok(Err(e));
        }
        let columns = pages.columns.take().expect("asked for just above");
        let rules = self.batch.options.rules.identity().clone();
        Ok(Ok(self.ran(rules, columns, pages.summary)))
    }

    /// Takes every verdict ready, page by page, into the sink.
    fn drain(
        &mut self,
        calls: &PageCalls<'_>,
        session: ResourceAny,
        pages: &mut Pages,
    ) -> wasmtime::Result<Result<()>> {
        loop {
            // The first page after a chunk judges all its rows at once.
            self.bound(self.max_rows);
            let page = match self.timed(|s, _| calls.next(s, session, PAGE))? {
                Ok(page) => page,
                Err(e) => return Ok(Err(lift::file_error(e))),
            };
            if page.is_empty() {
                return Ok(Ok(()));
            }
            if page.len() > PAGE as usize {
                let message = format!(
                    "a page of {} verdicts, when {PAGE} were asked for",
                    page.len()
                );
                return Ok(Err(self.violation(message)));
            }
            let page = match page.verdicts() {
                Ok(page) => page,
                Err(message) => return Ok(Err(self.violation(message))),
            };
            if let Err(message) = pages.contract.check(&page, self.max_rows) {
                return Ok(Err(self.violation(message)));
            }
            if pages.columns.is_none()
                && let Err(e) = self.columns(calls, session, pages)?
            {
                return Ok(Err(e));
            }
            for verdict in page {
                pages.summary.add(verdict.status);
                if let Err(source) = self.batch.sink.verdict(verdict) {
                    return Ok(Err(unwritten(source)));
                }
            }
        }
    }

    /// Asks for the columns (once there are verdicts, or at the end), gives
    /// them to the sink and keeps them in `pages`.
    fn columns(
        &mut self,
        calls: &PageCalls<'_>,
        session: ResourceAny,
        pages: &mut Pages,
    ) -> wasmtime::Result<Result<()>> {
        self.bound(0);
        let Some(columns) = self.timed(|s, _| calls.columns(s, session))? else {
            return Ok(Err(self.violation(
                "verdicts, or the end of the file, without the columns of a header row".into(),
            )));
        };
        let columns = lift::columns(columns);
        if let Err(source) = self.batch.sink.columns(&columns) {
            return Ok(Err(unwritten(source)));
        }
        pages.columns = Some(columns);
        Ok(Ok(()))
    }

    /// 1.0.0: the whole file, then every verdict from `finish`.
    fn whole(
        mut self,
        calls: WholeCalls<'_>,
        session: ResourceAny,
    ) -> wasmtime::Result<Result<Ran>> {
        let mut file = Vec::new();
        let mut buffer = vec![0; CHUNK_BYTES];
        loop {
            match self.read(&mut buffer) {
                Ok(Some(n)) => file.extend_from_slice(&buffer[..n]),
                Ok(None) => break,
                Err(e) => return Ok(Err(e)),
            }
        }
        drop(buffer);
        self.bound(self.max_rows);
        for chunk in file.chunks(CHUNK_BYTES) {
            if let Err(e) = self.timed(|s, _| calls.call_push(s, session, chunk))? {
                return Ok(Err(lift::file_error(e)));
            }
        }
        drop(file);
        let result = match self.timed(|s, _| calls.call_finish(s, session))? {
            Ok(result) => result,
            Err(e) => return Ok(Err(lift::file_error(e))),
        };
        let verdicts = result.verdicts.into_iter().map(lift::verdict).collect();
        let verdicts: Vec<PatientVerdict> = match verdicts {
            Ok(verdicts) => verdicts,
            Err(message) => return Ok(Err(self.violation(message))),
        };
        if let Err(message) = contract::Pages::default().check(&verdicts, self.max_rows) {
            return Ok(Err(self.violation(message)));
        }
        let columns = lift::columns(result.columns);
        let mut summary = Summary::default();
        let sink = &mut *self.batch.sink;
        let sent = sink.columns(&columns).and_then(|()| {
            verdicts.into_iter().try_for_each(|verdict| {
                summary.add(verdict.status);
                sink.verdict(verdict)
            })
        });
        if let Err(source) = sent {
            return Ok(Err(unwritten(source)));
        }
        Ok(Ok(self.ran(lift::identity(result.rules), columns, summary)))
    }
}

/// What the pages so far have given.
struct Pages {
    contract: contract::Pages,
    columns: Option<Columns>,
    summary: Summary,
}
