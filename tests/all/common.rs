//! Shared fixtures: one runtime and one compiled validator for the whole test
//! binary, and an in-memory history store that counts its lookups.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use presend_host::history::{Attempt, HistoryStore, NumberHistory, Outcome};
use presend_host::{BatchOptions, BatchReport, PatientVerdict, Runtime, Validator};

/// 2026-11-27T09:00:00Z: "now" for every test.
pub const NOW: i64 = 1_795_770_000;
pub const DAY: i64 = 86_400;

pub fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let runtime = Runtime::new().expect("runtime");
        Validator::embedded(&runtime).expect("the embedded validator loads")
    })
}

pub fn options(history: Option<Arc<dyn HistoryStore>>) -> BatchOptions {
    BatchOptions {
        rules: validator().default_rules().clone(),
        now: NOW,
        history,
    }
}

/// Validates `csv` with no history and the default rules.
pub fn run(csv: &str) -> BatchReport {
    validator()
        .validate(csv.as_bytes(), &options(None))
        .expect("batch runs")
}

/// Validates `csv` with `history`.
pub fn run_with(csv: &str, history: &Arc<MemoryHistory>) -> BatchReport {
    let history: Arc<dyn HistoryStore> = history.clone();
    validator()
        .validate(csv.as_bytes(), &options(Some(history)))
        .expect("batch runs")
}

/// A valid NHS number from nine digits: the check digit of the NHS Data
/// Dictionary (weights 10..2, 11 - sum mod 11; 11 is 0, 10 is never issued).
pub fn nhs_number(nine: u64) -> Option<String> {
    let digits: Vec<u64> = format!("{nine:09}")
        .bytes()
        .map(|b| u64::from(b - b'0'))
        .collect();
    let sum: u64 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        10 => None,
        11 => Some(format!("{nine:09}0")),
        check => Some(format!("{nine:09}{check}")),
    }
}

/// `rows` patients, each with a number of its own, and a header. The
/// numbers are 07912 000000 upwards (a GB mobile range, as the benchmark
/// uses: the drama range has only 1,000); they exist only in memory.
pub fn numbered_patients(rows: u64) -> Vec<u8> {
    let mut csv = String::from("NHS Number,Mobile,Name\n");
    for (i, nhs) in (999_000_000..)
        .filter_map(nhs_number)
        .take(rows as usize)
        .enumerate()
    {
        csv.push_str(&format!("{nhs},07912 {i:06},Patient {i}\n"));
    }
    csv.into_bytes()
}

/// The verdict for spreadsheet row `row`.
pub fn row(report: &BatchReport, row: u32) -> &PatientVerdict {
    report
        .patients
        .iter()
        .find(|p| p.row == row)
        .unwrap_or_else(|| panic!("no verdict for row {row}"))
}

pub fn codes(p: &PatientVerdict) -> Vec<&str> {
    p.reasons.iter().map(|r| r.code.as_str()).collect()
}

/// History in memory, keyed by E.164; records every lookup it answers.
#[derive(Default)]
pub struct MemoryHistory {
    by_number: Mutex<HashMap<String, Vec<Attempt>>>,
    pub lookups: AtomicUsize,
    pub last_asked: Mutex<Vec<String>>,
    /// The name of the thread each lookup ran on.
    pub threads: Mutex<Vec<Option<String>>>,
}

impl MemoryHistory {
    pub fn new() -> Arc<MemoryHistory> {
        Arc::new(MemoryHistory::default())
    }

    /// Adds an attempt `days_ago` days before NOW.
    pub fn add(&self, e164: &str, days_ago: i64, outcome: Outcome) -> &Self {
        let attempt = Attempt {
            sent_at: NOW - days_ago * DAY,
            outcome,
        };
        self.by_number
            .lock()
            .unwrap()
            .entry(e164.to_string())
            .or_default()
            .push(attempt);
        self
    }
}

impl HistoryStore for MemoryHistory {
    fn lookup(&self, numbers: &[String]) -> presend_host::Result<Vec<NumberHistory>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        *self.last_asked.lock().unwrap() = numbers.to_vec();
        let thread = std::thread::current().name().map(String::from);
        self.threads.lock().unwrap().push(thread);
        let map = self.by_number.lock().unwrap();
        Ok(numbers
            .iter()
            .filter_map(|n| {
                map.get(n).map(|a| NumberHistory {
                    number: n.clone(),
                    attempts: a.clone(),
                })
            })
            .collect())
    }
}

pub fn example(name: &str) -> std::path::PathBuf {
    root().join("examples").join(name)
}

/// The contract's version, as `wit/validator.wit` declares it (`package
/// presend:validator@X;`): read from the contract itself, not from the
/// host's constant.
pub fn wit_version() -> String {
    let wit = std::fs::read_to_string(root().join("wit/validator.wit")).unwrap();
    let line = wit
        .lines()
        .find_map(|l| l.strip_prefix("package presend:validator@"))
        .expect("wit/validator.wit declares its package");
    line.trim_end_matches(';').to_string()
}

/// The workspace's root folder (these tests belong to `host/cli`).
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of `rows` patients with distinct NHS numbers (not all valid) and
/// drama-range mobiles: big enough to take measurable time.
pub fn big_file(rows: u32) -> Vec<u8> {
    let mut csv = String::from("NHS Number,Mobile\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{},07700 900{:03}\n",
            9_000_000_000u64 + u64::from(i),
            i % 1000
        ));
    }
    csv.into_bytes()
}

/// sha256 of `bytes` in lowercase hex, computed here with the `sha2` crate:
/// the oracle for the hashes the host reports.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
