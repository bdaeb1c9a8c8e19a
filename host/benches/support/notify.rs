//! GOV.UK Notify's own phone check on the benchmarks' numbers, for the
//! targets that compare presend with it (presend end to end against
//! Notify's phone check alone). Included by `benches/validate.rs` and
//! `cli/benches/cli.rs`.
//!
//! Notify's code is not ours to ship: `notify_phone_check.py` imports it
//! from a checkout of <https://github.com/alphagov/notifications-utils>
//! named by `NOTIFY_UTILS`, with its requirements installed. Without them
//! the benches print what to install in place of the comparison.

use std::process::Command;
use std::time::Duration;

/// Notify's check over every cell, `runs` times.
pub struct NotifyCheck {
    /// The median pass over all the cells.
    pub median: Duration,
    /// Each cell's number as Notify normalises it (`+44...`), or `None`
    /// when Notify refuses it: an independent second opinion on presend's.
    pub numbers: Vec<Option<String>>,
}

/// The driver, written beside its input for each run.
const SCRIPT: &str = include_str!("notify_phone_check.py");

const SETUP: &str = "set NOTIFY_UTILS to a checkout of https://github.com/alphagov/notifications-utils \
     and install it with its requirements, phonenumbers among them (`pip install -e CHECKOUT`; \
     python3 3.11 or later)";

/// Runs Notify's phone check on `cells` (phone cells as uploaded), or says
/// why it could not.
pub fn phone_check(cells: &[&str], runs: usize) -> Result<NotifyCheck, String> {
    let Some(utils) = std::env::var_os("NOTIFY_UTILS") else {
        return Err(format!("not measured: {SETUP}"));
    };
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let input = dir.path().join("cells.txt");
    let output = dir.path().join("notify.txt");
    std::fs::write(&input, cells.join("\n") + "\n").map_err(|e| format!("writing cells: {e}"))?;
    let script = dir.path().join("notify_phone_check.py");
    std::fs::write(&script, SCRIPT).map_err(|e| format!("writing the script: {e}"))?;
    let mut python_path = std::ffi::OsString::from(&utils);
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        python_path.push(":");
        python_path.push(existing);
    }
    let run = Command::new("python3")
        .arg(&script)
        .arg(&input)
        .arg(&output)
        .arg(runs.to_string())
        .env("PYTHONPATH", python_path)
        .output()
        .map_err(|e| format!("not measured: python3 did not start ({e}); {SETUP}"))?;
    if !run.status.success() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        return Err(format!(
            "not measured: notify_phone_check.py failed ({last}); {SETUP}"
        ));
    }
    let printed: serde_json::Value = serde_json::from_slice(&run.stdout)
        .map_err(|e| format!("reading what notify_phone_check.py printed: {e}"))?;
    let mut seconds: Vec<f64> = printed["seconds"]
        .as_array()
        .map(|runs| runs.iter().filter_map(|s| s.as_f64()).collect())
        .unwrap_or_default();
    if seconds.is_empty() {
        return Err("notify_phone_check.py printed no timings".to_string());
    }
    seconds.sort_by(f64::total_cmp);
    let numbers: Vec<Option<String>> = std::fs::read_to_string(&output)
        .map_err(|e| format!("reading Notify's numbers: {e}"))?
        .lines()
        .map(|n| (!n.is_empty()).then(|| n.to_string()))
        .collect();
    if numbers.len() != cells.len() {
        return Err(format!(
            "Notify's check gave {} numbers for {} cells",
            numbers.len(),
            cells.len()
        ));
    }
    Ok(NotifyCheck {
        median: Duration::from_secs_f64(seconds[seconds.len() / 2]),
        numbers,
    })
}

/// How many of `presend`'s numbers (each patient's E.164 mobile, in file
/// order) are the same as Notify's.
pub fn agreeing(presend: &[Option<String>], notify: &[Option<String>]) -> usize {
    presend.iter().zip(notify).filter(|(a, b)| a == b).count()
}
