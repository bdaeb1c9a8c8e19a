//! Tests that pin a bug once found, each named for what it guards and saying
//! what went wrong, as ripgrep's regression tests do. A new bug gets its test
//! here before its fix.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::root;

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `fuzz/run` with a stand-in `cargo` that prints a libFuzzer crash line and
/// exits with `status`, and a stand-in `cargo-fuzz` so nothing is installed.
fn fuzz_run_with_cargo_exiting(status: i32) -> Output {
    let bin = tempfile::tempdir().unwrap();
    script(&bin.path().join("cargo-fuzz"), "exit 0");
    script(
        &bin.path().join("cargo"),
        &format!("echo '==42== ERROR: libFuzzer: deadly signal'\nexit {status}"),
    );
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .arg(root().join("fuzz/run"))
        .arg("1")
        .env("PATH", path)
        .output()
        .expect("bash runs fuzz/run")
}

/// `fuzz/run` took the fuzzer's status from `${PIPESTATUS[0]}` after
/// `... | grep ... || true`, which is the status of `true`: a crashing or
/// non-compiling target passed CI.
#[test]
fn fuzz_run_fails_when_a_fuzz_target_crashes() {
    let crashed = fuzz_run_with_cargo_exiting(77);
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert_eq!(crashed.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("fuzz target csv_reader failed"), "{stderr}");
    assert!(String::from_utf8_lossy(&crashed.stdout).contains("deadly signal"));
    // The same stand-in exiting 0 passes both targets: the failure above
    // came from the status, not from the environment.
    let clean = fuzz_run_with_cargo_exiting(0);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains("== fuzzing batch_path"));
}

/// An attempt dated after "now" counted: a delivery wrongly dated years
/// ahead made a failed number good and hid the real failure, and judging a
/// file as of an earlier day used attempts that had not happened yet.
#[test]
fn attempts_after_now_are_no_evidence() {
    use presend_host::history::Outcome;

    use crate::common::{DAY, MemoryHistory, NOW, options, row, validator};

    let history = MemoryHistory::new();
    history
        // Failed yesterday; a delivery wrongly dated three years ahead.
        .add("+447700900001", 1, Outcome::Failed)
        .add("+447700900001", -3 * 365, Outcome::Delivered)
        // Failed ten days ago, delivered two days ago.
        .add("+447700900002", 10, Outcome::Failed)
        .add("+447700900002", 2, Outcome::Delivered);
    let csv = b"NHS Number,Mobile\n9990000018,07700 900001\n9990000026,07700 900002\n";
    let as_of = |now: i64| {
        let store: std::sync::Arc<dyn presend_host::history::HistoryStore> = history.clone();
        let options = presend_host::BatchOptions {
            now,
            ..options(Some(store))
        };
        validator().validate(csv, &options).unwrap()
    };

    let today = as_of(NOW);
    assert_eq!(row(&today, 2).status, presend_host::Status::LikelyToFail);
    assert_eq!(row(&today, 3).status, presend_host::Status::Accepted);
    assert_eq!(today.history.attempts, 4);
    assert_eq!(today.history.after_now, 1, "the delivery dated ahead");

    // As of five days ago, the second number's delivery had not happened.
    let five_days_ago = as_of(NOW - 5 * DAY);
    assert_eq!(
        row(&five_days_ago, 3).status,
        presend_host::Status::LikelyToFail
    );
    // Dated after that day: the delivery ahead, yesterday's failure and the
    // delivery two days ago.
    assert_eq!(five_days_ago.history.after_now, 3);

    // As of four years ahead, the first number's delivery has happened.
    let later = as_of(NOW + 4 * 365 * DAY);
    assert_eq!(row(&later, 2).status, presend_host::Status::Accepted);
    assert_eq!(later.history.after_now, 0);
}

/// The command says how many history attempts were dated after `--now`, as it
/// says how many rows were not UK mobiles: nothing is left out silently.
#[test]
fn validate_notes_history_dated_after_now() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.csv");
    std::fs::write(
        &history,
        "mobile_number,sent_at,status\n\
         07700 900001,2026-11-26T09:00:00Z,failed\n\
         07700 900001,2029-01-01T00:00:00Z,delivered\n",
    )
    .unwrap();
    let patients = dir.path().join("patients.csv");
    std::fs::write(&patients, "NHS Number,Mobile\n9990000018,07700 900001\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_presend"))
        .arg("validate")
        .arg(&patients)
        .arg("--history")
        .arg(&history)
        .args(["--now", "2026-11-27T09:00:00Z"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: 1 history attempt is dated after the time the file was judged as of (2026-11-27T09:00:00Z)"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 likely to fail"));
}
