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
    assert!(
        stderr.contains("fuzz target csv_reader failed"),
        "{stderr}"
    );
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
