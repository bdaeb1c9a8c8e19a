//! The `presend` command as a whole process: `cargo bench -p presend-cli
//! --bench cli`.
//!
//! The data of `host/benches/validate.rs` (the same seed: a 100,000-row
//! patient file, a 1,000,000-attempt history over 200,000 numbers in
//! SQLite), and a 1,000,000-row file made the same way. Prints medians of
//! repeated runs of `presend validate ... --format json` (stdout to
//! /dev/null, the compile cache warm), and the peak RSS of each process,
//! each beside its target; and GOV.UK Notify's own phone check on the
//! same numbers, when a checkout of it is at hand (`support/notify.rs`).
//! Figures, not pass/fail: machines here are shared and noisy.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use presend_host::history::{HistoryStore, SqliteHistory};

// The benchmarks' shared data; this one leaves some of it unused.
#[allow(dead_code)]
#[path = "../../benches/support/data.rs"]
mod data;
use data::{NOW, PATIENTS, history, patient_file_of, phone_cells};
// Notify's check; this bench compares times only, not numbers.
#[allow(dead_code)]
#[path = "../../benches/support/notify.rs"]
mod notify;

/// The 1,000,000-row file's rows.
const BIG: usize = 1_000_000;

fn main() {
    let mut rng = fastrand::Rng::with_seed(20_261_127);
    let dir = tempfile::tempdir().expect("temp dir");
    // Drawn in the order validate.rs draws them, so the data is the same.
    let patients = dir.path().join("patients.csv");
    let patient_file = patient_file_of(&mut rng, PATIENTS);
    std::fs::write(&patients, &patient_file).expect("write patients");
    let _small = patient_file_of(&mut rng, 10);
    let db = dir.path().join("history.db");
    let store = SqliteHistory::create(&db).expect("create db");
    store.import(&history(&mut rng)).expect("insert history");
    drop(store);
    let big = dir.path().join("patients-1m.csv");
    std::fs::write(&big, patient_file_of(&mut rng, BIG)).expect("write the big file");
    let rules = dir.path().join("rules.toml");
    let default_rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/default.toml"),
    )
    .expect("the default rules");
    std::fs::write(
        &rules,
        default_rules.replace("max_rows = 100000", &format!("max_rows = {BIG}")),
    )
    .expect("write rules");
    let cache = dir.path().join("cache");
    let now = presend_host::timestamp::format(NOW);
    println!(
        "data: {PATIENTS} and {BIG} patients ({} and {} KiB), 1,000,000 attempts over 200,000 numbers in SQLite",
        size_kib(&patients),
        size_kib(&big)
    );

    let run = |file: &Path, extra: &[&Path]| -> (Duration, u64) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_presend"));
        command
            .arg("validate")
            .arg(file)
            .arg("--history")
            .arg(&db)
            .args(["--now", &now, "--format", "json", "--cache-dir"])
            .arg(&cache)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(rules) = extra.first() {
            command.arg("--rules").arg(rules);
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("presend runs");
        let (status, rss_kib) = watch(&mut child);
        let took = started.elapsed();
        assert!(
            status.success(),
            "presend validate failed on {}",
            file.display()
        );
        (took, rss_kib)
    };
    // The first run compiles the validator into the cache.
    let (first, _) = run(&patients, &[]);
    let small = repeat(9, || run(&patients, &[]));
    let large = repeat(3, || run(&big, &[&rules]));

    println!();
    println!(
        "{:<58} {:>10} {:>10}",
        "presend validate, whole process", "median", "peak RSS"
    );
    println!(
        "{:<58} {:>7.0} ms",
        "100k rows, first run (compiles into the cache)",
        first.as_secs_f64() * 1e3
    );
    line("100k rows, SQLite history, JSON out (cache warm)", small);
    line("1M rows, SQLite history, JSON out", large);
    println!();
    println!(
        "100k rows: {:.0} ms (target: 350); 1M rows: {:.1}x the 100k time (target: 10x), \
         peak RSS {} MiB (target: 150)",
        small.0.as_secs_f64() * 1e3,
        large.0.as_secs_f64() / small.0.as_secs_f64(),
        large.1 / 1024
    );

    println!();
    match notify::phone_check(&phone_cells(&patient_file), 3) {
        Ok(check) => println!(
            "GOV.UK Notify's phone check alone, the same {}k numbers (median of 3): {:.2} s; \
             presend validate as a whole process is {:.0}x faster (target: 25x)",
            check.numbers.len() / 1000,
            check.median.as_secs_f64(),
            check.median.as_secs_f64() / small.0.as_secs_f64()
        ),
        Err(why) => println!("GOV.UK Notify's phone check: {why}"),
    }
}

fn size_kib(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len() / 1024)
}

/// Runs `f` `runs` times: the median time, and the largest peak RSS (KiB).
fn repeat(runs: usize, mut f: impl FnMut() -> (Duration, u64)) -> (Duration, u64) {
    let mut results: Vec<(Duration, u64)> = (0..runs).map(|_| f()).collect();
    let rss = results.iter().map(|r| r.1).max().unwrap_or(0);
    results.sort();
    (results[runs / 2].0, rss)
}

fn line(name: &str, (median, rss_kib): (Duration, u64)) {
    println!(
        "{name:<58} {:>7.0} ms {:>6} MiB",
        median.as_secs_f64() * 1e3,
        rss_kib / 1024
    );
}

/// Waits for `child`, reading its peak RSS (`VmHWM`, KiB) from
/// `/proc/PID/status` every 5 ms until it exits. The kernel's own figure
/// for a child (`wait4`'s `ru_maxrss`) counts the parent's memory at the
/// fork, before the exec: here that would be this bench's, not presend's.
/// `VmHWM` only grows, so the last reading is the peak but for the last
/// 5 ms of the process, which only writes its summary.
fn watch(child: &mut std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| vm_hwm_kib(&status))
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("waiting for presend") {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
