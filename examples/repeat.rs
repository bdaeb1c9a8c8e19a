//! One batch again and again on a warm host, for a profiler: the embedded
//! validator is compiled once, then the same file is validated `runs`
//! times with the same history and "now", and each run's time and the
//! median are printed. Under `valgrind --tool=callgrind`, one batch's
//! instructions are half the difference between 3 runs and 1 (start-up and
//! compiling cancel out); under `perf`, the runs outweigh the start-up.
//!
//!     cargo run --release --example repeat -- examples/patients.csv examples/history.csv 11
//!     cargo run --release --example repeat -- examples/patients.csv none 11
//!
//! The history is anything `presend validate --history` takes (a CSV, a
//! SQLite file, a `postgres://` URL), or `none`. It runs with the allocator
//! the `presend` command ships with (mimalloc), as `presend serve` would.

use std::time::{Duration, Instant};

use presend_host::{Limits, Runtime, Validator, history};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let patients = args
        .next()
        .unwrap_or_else(|| "examples/patients.csv".into());
    let history = args.next().unwrap_or_else(|| "examples/history.csv".into());
    let runs: usize = args.next().map_or(Ok(11), |n| n.parse())?;

    // A profiler slows the guest down many times: a budget to match.
    let limits = Limits {
        time: Duration::from_secs(600),
        ..Limits::default()
    };
    let runtime = Runtime::with_limits(limits)?;
    let validator = Validator::embedded(&runtime)?;
    // A fixed "now" (2026-11-27T09:00:00Z), so every run judges alike.
    let mut options = validator.options().as_of_unix(1_795_770_000);
    if history != "none" {
        options = options.history(history::open(&history, &validator)?.store);
    }
    let csv = std::fs::read(&patients)?;

    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        let started = Instant::now();
        let report = validator.validate(&csv, &options)?;
        let took = started.elapsed();
        println!(
            "run {run}: {:.1} ms, {} patients ({} accepted)",
            took.as_secs_f64() * 1e3,
            report.summary.total,
            report.summary.accepted
        );
        times.push(took);
    }
    times.sort();
    if let Some(median) = times.get(times.len() / 2) {
        println!("median of {runs}: {:.1} ms", median.as_secs_f64() * 1e3);
    }
    Ok(())
}
