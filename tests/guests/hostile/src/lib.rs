//! A validator that misbehaves on purpose, for the host's tests (built into a
//! component by `tests/guests/build.rs`). Which way it misbehaves is chosen
//! by the rules text given to `batch.open`: a word, then maybe a number.
//!
//! | rules           | what the batch does                                         |
//! |-----------------|-------------------------------------------------------------|
//! | `loop`          | judging never returns                                       |
//! | `alloc`         | `push` allocates without end                                |
//! | `panic`         | judging panics with a message                               |
//! | `clock`         | judging reads the wall clock (there is none: it panics)     |
//! | `escape`        | tries files, environment and network; reports what it got   |
//! | `verdicts N`    | `N` verdicts, whatever the file                             |
//! | `lookup N`      | asks the host for the history of `N` numbers                |
//! | `lookup-mobiles N` | the same, with `lookup-mobiles`                          |
//! | `pending N`     | makes `N` pending lookups of one number each, then takes them |
//! | `pending-one-by-one N` | makes and takes one pending lookup, `N` times        |
//! | `pending-dropped N` | makes `N` pending lookups and drops them untaken, twice |
//! | `log N`         | logs `N` lines                                              |
//! | `log-bytes N`   | logs one line of `N` bytes                                  |
//! | `leak`          | logs patient data, then panics with it                      |
//! | `scribble N`    | grows its memory by `N` pages, fills them with 0xAB, counts |
//! | `residue N`     | grows its memory by `N` pages; reports their nonzero bytes  |
//! | `duplicate-rows`, `rows-out-of-range`, `rows-out-of-order`, `accepted-without-number` |
//! |                 | verdicts that do not fit the file                           |
//! | `pages-repeat`  | pages that give row 2 again and again, without end          |
//! | `nhs-too-long`, `mobile-not-uk` | compact verdicts whose integers are no NHS number or UK mobile |
//! | `page-short-column`, `page-text-past-end`, `page-inside-char`, `page-pieces-left`, `page-many-reasons` |
//! |                 | pages of columns (1.4.0) whose parts do not fit together    |
//!
//! Anything else (its default rules are `well-behaved`): one accepted verdict
//! for row 2. Judging is `finish` for a 1.0.0 host, the first `next-verdicts`
//! after `end` (later pages are empty) for a 1.1.0 one, the first
//! `next-compact` for a 1.2.0 or 1.3.0 one, which gives the same verdicts
//! compact, or the first `next-page` for a 1.4.0 one, which gives them as
//! columns. Its verdicts with history say how many attempts the host gave.
//! Outside wasm32 the crate is empty.

#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};

use exports::presend::validator::validator::{self as wit, Guest, GuestBatch};
use presend::validator::types as t;
use presend::validator::{history, log};

wit_bindgen::generate!({
    world: "pre-send-validator",
    path: "../../../wit",
});

struct Hostile;

export!(Hostile);

impl Guest for Hostile {
    type Batch = Session;

    fn identity() -> t::ValidatorIdentity {
        t::ValidatorIdentity {
            name: "presend-hostile".into(),
            version: "0.0.0".into(),
        }
    }

    fn default_rules() -> String {
        "well-behaved".into()
    }

    fn check_rules(rules: String) -> Result<t::RulesIdentity, t::RulesError> {
        Ok(t::RulesIdentity {
            name: "hostile".into(),
            version: rules,
        })
    }

    fn normalise_numbers(numbers: Vec<String>) -> Vec<Result<String, t::Reason>> {
        numbers.into_iter().map(Ok).collect()
    }
}

/// The rules text, every chunk pushed, and whether the verdicts were given.
pub struct Session {
    rules: String,
    bytes: RefCell<usize>,
    judged: Cell<bool>,
}

impl GuestBatch for Session {
    fn open(rules: String, _now: i64) -> Result<wit::Batch, t::RulesError> {
        std::panic::set_hook(Box::new(|info| {
            log::log(t::LogLevel::Error, &format!("validator panicked: {info}"));
        }));
        Ok(wit::Batch::new(Session {
            rules,
            bytes: RefCell::new(0),
            judged: Cell::new(false),
        }))
    }

    fn push(&self, chunk: Vec<u8>) -> Result<(), t::FileError> {
        *self.bytes.borrow_mut() += chunk.len();
        if self.rules == "alloc" {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Touch the pages so nothing is optimised away.
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<t::BatchResult, t::FileError> {
        Ok(t::BatchResult {
            rules: t::RulesIdentity {
                name: "hostile".into(),
                version: self.rules.clone(),
            },
            columns: columns(),
            verdicts: self.judge(),
        })
    }

    fn end(&self) -> Result<(), t::FileError> {
        Ok(())
    }

    fn next_verdicts(&self, _max: u32) -> Result<Vec<t::Verdict>, t::FileError> {
        Ok(self.page())
    }

    fn next_compact(&self, _max: u32) -> Result<Vec<t::CompactVerdict>, t::FileError> {
        let mut page: Vec<t::CompactVerdict> = self.page().into_iter().map(compact).collect();
        match self.rules.as_str() {
            "nhs-too-long" => page[0].nhs_number = Some(99_999_999_999),
            // A London landline's national number.
            "mobile-not-uk" => page[0].mobile_number = Some(2_079_460_000),
            _ => {}
        }
        Ok(page)
    }

    fn next_page(&self, max: u32) -> Result<t::VerdictPage, t::FileError> {
        let mut page = columns_of(self.next_compact(max)?);
        if page.rows.is_empty() {
            return Ok(page);
        }
        match self.rules.as_str() {
            "page-short-column" => {
                page.statuses.pop();
            }
            "page-text-past-end" => {
                page.reason_counts[0] = 1;
                page.text = "code".into();
                page.text_ends = vec![4, 9];
            }
            "page-inside-char" => {
                page.cell_counts[0] = 1;
                page.text = "é".into();
                page.text_ends = vec![1];
            }
            "page-pieces-left" => {
                page.text = "left over".into();
                page.text_ends = vec![4, 9];
            }
            "page-many-reasons" => page.reason_counts[0] = u32::MAX,
            _ => {}
        }
        Ok(page)
    }

    fn columns(&self) -> Option<t::Columns> {
        Some(columns())
    }
}

impl Session {
    /// A page: every verdict on the first, none after (but for
    /// `pages-repeat`).
    fn page(&self) -> Vec<t::Verdict> {
        if self.rules == "pages-repeat" {
            return vec![accepted(2)];
        }
        if self.judged.replace(true) {
            return Vec::new();
        }
        self.judge()
    }

    /// The batch's verdicts, misbehaving as the rules say.
    fn judge(&self) -> Vec<t::Verdict> {
        let (word, n) = match self.rules.split_once(' ') {
            Some((word, n)) => (word, n.parse::<usize>().unwrap_or(0)),
            None => (self.rules.as_str(), 0),
        };
        match word {
            "loop" => loop {
                std::hint::black_box(());
            },
            "panic" => panic!("hostile guest: gave up on row 7 on purpose"),
            "clock" => {
                let now = std::time::SystemTime::now();
                vec![verdict(2, format!("{now:?}"))]
            }
            "escape" => escape(),
            "verdicts" => (0..n).map(|i| accepted(2 + i as u32)).collect(),
            "lookup-mobiles" => {
                let found = history::lookup_mobiles(&vec![7_700_900_123; n]);
                vec![verdict(2, format!("{} attempts", found.number.len()))]
            }
            "pending" => {
                let held: Vec<_> = (0..n).map(|_| pending_lookup()).collect();
                let attempts: usize = held
                    .into_iter()
                    .map(|p| history::PendingLookup::take(p).number.len())
                    .sum();
                vec![verdict(2, format!("{attempts} attempts"))]
            }
            "pending-one-by-one" => {
                let attempts: usize = (0..n)
                    .map(|_| history::PendingLookup::take(pending_lookup()).number.len())
                    .sum();
                vec![verdict(2, format!("{attempts} attempts"))]
            }
            "pending-dropped" => {
                for _ in 0..2 {
                    let held: Vec<_> = (0..n).map(|_| pending_lookup()).collect();
                    drop(held);
                }
                vec![accepted(2)]
            }
            "lookup" => {
                let numbers = vec!["+447700900123".to_string(); n];
                let found = history::lookup(&numbers);
                vec![verdict(2, format!("{} attempts", found.len()))]
            }
            "log" => {
                for i in 0..n {
                    log::log(t::LogLevel::Info, &format!("line {i} of a flood"));
                }
                vec![accepted(2)]
            }
            "log-bytes" => {
                log::log(t::LogLevel::Info, &"x".repeat(n));
                vec![accepted(2)]
            }
            "leak" => {
                log::log(t::LogLevel::Info, "row 2: 9990000018 on +447700900123");
                panic!("row 2 holds 9990000018 and 07700 900123")
            }
            // A call before this one in the same pooled slot could have left
            // patient data in memory; a fresh instance's grown pages are
            // zero (the wasm spec), whatever ran there before.
            "scribble" => {
                let new = grow(n);
                // SAFETY: the pages were just added to linear memory and
                // nothing else uses them.
                unsafe { std::ptr::write_bytes(new, 0xAB, n << 16) };
                vec![verdict(2, format!("{} nonzero bytes", nonzero(new, n)))]
            }
            "residue" => {
                let new = grow(n);
                vec![verdict(2, format!("{} nonzero bytes", nonzero(new, n)))]
            }
            "duplicate-rows" => vec![accepted(2), accepted(3), accepted(3)],
            "rows-out-of-range" => vec![accepted(2), accepted(1000)],
            "rows-out-of-order" => vec![accepted(3), accepted(2)],
            "accepted-without-number" => {
                let mut v = accepted(2);
                v.mobile_number = None;
                vec![v]
            }
            _ => vec![accepted(2)],
        }
    }
}

fn columns() -> t::Columns {
    t::Columns {
        headers: vec!["NHS Number".into(), "Mobile".into()],
        nhs_number: 0,
        mobile_number: 1,
        date_of_birth: None,
    }
}

/// What the guest gets when it reaches for the outside world: each attempt's
/// outcome as a reason of a rejected verdict for row 2.
fn escape() -> Vec<t::Verdict> {
    let file = std::fs::read("/etc/passwd")
        .map(|_| ())
        .map_err(|e| e.kind());
    let env = std::env::var("HOME").map(|_| ()).map_err(|e| e.to_string());
    let net = std::net::TcpStream::connect("127.0.0.1:80")
        .map(|_| ())
        .map_err(|e| e.kind());
    let mut v = verdict(2, String::new());
    v.reasons = vec![
        reason("file", format!("{file:?}")),
        reason("env", format!("{env:?}")),
        reason("net", format!("{net:?}")),
    ];
    vec![v]
}

fn accepted(row: u32) -> t::Verdict {
    t::Verdict {
        row,
        nhs_number: Some("9990000018".into()),
        mobile_number: Some("+447700900123".into()),
        status: t::Status::Accepted,
        reasons: Vec::new(),
        success_probability: Some(0.95),
        cells: Vec::new(),
    }
}

/// `v` compact: its numbers' strings read as the integers they are.
fn compact(v: t::Verdict) -> t::CompactVerdict {
    t::CompactVerdict {
        row: v.row,
        nhs_number: v.nhs_number.and_then(|n| n.parse().ok()),
        mobile_number: v
            .mobile_number
            .and_then(|n| n.strip_prefix("+44")?.parse().ok()),
        status: v.status,
        reasons: v.reasons,
        success_probability: v.success_probability,
        cells: v.cells,
    }
}

/// Compact verdicts as a page of columns (1.4.0), each number a column's
/// integer (2^64 - 1 for none) and the reasons and cells pieces of one text.
fn columns_of(page: Vec<t::CompactVerdict>) -> t::VerdictPage {
    let mut p = t::VerdictPage {
        rows: Vec::new(),
        statuses: Vec::new(),
        nhs_numbers: Vec::new(),
        mobile_numbers: Vec::new(),
        success_probabilities: Vec::new(),
        reason_counts: Vec::new(),
        cell_counts: Vec::new(),
        text: String::new(),
        text_ends: Vec::new(),
    };
    for v in page {
        p.rows.push(v.row);
        p.statuses.push(v.status);
        p.nhs_numbers.push(v.nhs_number.unwrap_or(u64::MAX));
        p.mobile_numbers.push(v.mobile_number.unwrap_or(u64::MAX));
        p.success_probabilities
            .push(v.success_probability.unwrap_or(f64::NAN));
        p.reason_counts.push(v.reasons.len() as u32);
        p.cell_counts.push(v.cells.len() as u32);
        let pieces = v.reasons.into_iter().flat_map(|r| [r.code, r.message]);
        for piece in pieces.chain(v.cells) {
            p.text.push_str(&piece);
            p.text_ends.push(p.text.len() as u32);
        }
    }
    p
}

/// A pending lookup of one number, 07700 900123.
fn pending_lookup() -> history::PendingLookup {
    history::PendingLookup::new(&[7_700_900_123])
}

/// Grows linear memory by `pages` and returns where the new pages start.
fn grow(pages: usize) -> *mut u8 {
    let old = core::arch::wasm32::memory_grow(0, pages);
    assert_ne!(old, usize::MAX, "memory.grow refused {pages} pages");
    (old << 16) as *mut u8
}

/// The nonzero bytes in `pages` pages from `start`.
fn nonzero(start: *mut u8, pages: usize) -> usize {
    // SAFETY: `start` is where `grow` added at least `pages` pages.
    let bytes = unsafe { std::slice::from_raw_parts(start, pages << 16) };
    bytes.iter().filter(|b| **b != 0).count()
}

fn verdict(row: u32, message: String) -> t::Verdict {
    t::Verdict {
        status: t::Status::Rejected,
        reasons: vec![reason("hostile", message)],
        ..accepted(row)
    }
}

fn reason(code: &str, message: String) -> t::Reason {
    t::Reason {
        code: code.into(),
        message,
    }
}
