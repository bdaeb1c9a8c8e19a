//! Rule versions: preflight refuses every kind of broken version and leaves
//! the old one serving; activation and rollback swap whole pairs; the
//! precompiled cache loads only what it wrote; `diff` and `deploy check`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use presend_host::deployment::{Canary, Deployments, Source, Version};
use presend_host::history::{CsvHistory, HistoryStore};
use presend_host::{
    BatchReport, CacheOutcome, ComponentCache, Error, Limits, Runtime, Status, Validator,
    VerdictKey,
};

use crate::common::sha256_hex;

use crate::common::{NOW, example};

fn rules_text(name: &str) -> String {
    std::fs::read_to_string(example(&format!("rules/{name}"))).unwrap()
}

fn version(
    runtime: &Runtime,
    component: Option<&[u8]>,
    rules: Option<&str>,
) -> presend_host::Result<Version> {
    Version::prepare(
        runtime,
        None,
        component.map(|bytes| Source {
            bytes,
            origin: "candidate.wasm",
        }),
        rules.map(|bytes| Source {
            bytes,
            origin: "candidate.toml",
        }),
    )
}

fn history() -> Arc<dyn HistoryStore> {
    let runtime = Runtime::new().unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    Arc::new(CsvHistory::load(example("history.csv"), &validator).unwrap())
}

fn canary<'a>(expected: Option<&'a [VerdictKey]>, force: bool) -> Canary<'a> {
    Canary {
        csv: presend_host::EXAMPLE_PATIENTS,
        origin: "the example file",
        now: NOW,
        history: Some(history()),
        expected,
        force,
    }
}

fn keys(report: &BatchReport) -> Vec<VerdictKey> {
    report.patients.iter().map(VerdictKey::from).collect()
}

#[test]
fn each_preflight_failure_says_why_and_leaves_the_old_version_serving() {
    let runtime = Runtime::with_limits(Limits {
        time: Duration::from_millis(300),
        ..Limits::default()
    })
    .unwrap();
    let deployments = Deployments::new(version(&runtime, None, None).unwrap());
    let serving = deployments.active().info().clone();
    let default_verdicts = keys(
        &deployments
            .active()
            .validate(presend_host::EXAMPLE_PATIENTS, NOW, Some(history()))
            .unwrap(),
    );

    let attempt = |candidate: presend_host::Result<Version>, expected: Option<&[VerdictKey]>| {
        let version = candidate?;
        version.preflight(&canary(expected, false))?;
        Ok::<_, Error>(deployments.activate(version))
    };
    let advisory = rules_text("advisory.toml");
    let failures: Vec<(&str, Error)> = vec![
        (
            "not a component",
            attempt(version(&runtime, Some(b"not wasm"), None), None)
                .err()
                .unwrap(),
        ),
        (
            "another major version",
            attempt(
                version(&runtime, Some(presend_test_guests::WORLD_V2), None),
                None,
            )
            .err()
            .unwrap(),
        ),
        (
            "bad rules",
            attempt(
                version(&runtime, None, Some("name = \"x\"\nversion = 1\n")),
                None,
            )
            .err()
            .unwrap(),
        ),
        (
            "canary outside the limits",
            attempt(
                version(&runtime, Some(presend_test_guests::HOSTILE), Some("loop")),
                None,
            )
            .err()
            .unwrap(),
        ),
        (
            "canary verdicts differ",
            attempt(
                version(&runtime, None, Some(&advisory)),
                Some(&default_verdicts),
            )
            .err()
            .unwrap(),
        ),
    ];
    for (case, error) in &failures {
        let text = error.to_string();
        match (case, error) {
            (&"not a component", Error::InvalidComponent { origin, .. }) => {
                assert_eq!(origin, "candidate.wasm")
            }
            (&"another major version", Error::IncompatibleComponent { found, .. }) => {
                assert_eq!(found.as_deref(), Some("2.0.0"))
            }
            (
                &"bad rules",
                Error::Rules {
                    origin,
                    line,
                    column,
                    ..
                },
            ) => {
                assert_eq!((origin.as_str(), *line, *column), ("candidate.toml", 2, 11))
            }
            (&"canary outside the limits", Error::CanaryFailed { source, .. }) => {
                assert!(matches!(**source, Error::Timeout { .. }), "{source:?}")
            }
            (&"canary verdicts differ", Error::CanaryChanged { diff, .. }) => {
                assert_eq!(diff.summary(), "43 patients become accepted");
                assert_eq!(diff.len(), 43);
                assert!(text.contains("--force"), "{text}");
            }
            _ => panic!("{case}: unexpected error {error:?}"),
        }
        assert_eq!(
            deployments.active().info(),
            &serving,
            "{case}: the old version still serves"
        );
    }
    assert_eq!(deployments.swaps(), 0);
    // The old version still validates.
    let report = deployments
        .active()
        .validate(presend_host::EXAMPLE_PATIENTS, NOW, None)
        .unwrap();
    assert_eq!(report.deployment.as_ref(), Some(&serving));
    // Forced, the differing version goes through.
    let forced = version(&runtime, None, Some(&advisory)).unwrap();
    forced
        .preflight(&canary(Some(&default_verdicts), true))
        .unwrap();
    deployments.activate(forced);
    assert_eq!(deployments.active().info().rules.name, "presend-advisory");
}

#[test]
fn rollback_restores_the_previous_pair_under_a_new_id() {
    let runtime = Runtime::new().unwrap();
    let deployments = Deployments::new(version(&runtime, None, None).unwrap());
    assert!(matches!(
        deployments.rollback(),
        Err(Error::NoPreviousDeployment)
    ));
    let first = deployments.active().info().clone();
    let advisory =
        deployments.activate(version(&runtime, None, Some(&rules_text("advisory.toml"))).unwrap());
    assert_eq!(advisory.info().rules.version, "1.1.0");
    assert_ne!(advisory.info().id, first.id);

    let back = deployments.rollback().unwrap();
    assert_eq!(
        (&back.info().validator, &back.info().rules),
        (&first.validator, &first.rules)
    );
    assert!(
        back.info().id != first.id && back.info().id != advisory.info().id,
        "every activation has its own id"
    );
    assert_eq!(
        deployments.previous().unwrap().info().rules.name,
        "presend-advisory"
    );
    let report = back
        .validate(presend_host::EXAMPLE_PATIENTS, NOW, Some(history()))
        .unwrap();
    assert_eq!(
        report.summary.likely_to_fail, 43,
        "the default rules block again"
    );
    assert_eq!(report.deployment.unwrap().id, back.info().id);
    assert_eq!((deployments.swaps(), deployments.rollbacks()), (1, 1));
}

#[test]
fn the_cache_compiles_once_and_loads_only_blobs_it_wrote() {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bytes = presend_host::EMBEDDED_VALIDATOR;
    let cache = ComponentCache::open(dir.path()).unwrap();
    let load = |cache: &ComponentCache| {
        let (component, outcome) = cache.compile(&runtime, bytes, "embedded").unwrap();
        Validator::from_component(&runtime, component, "embedded").unwrap();
        outcome
    };
    assert_eq!(load(&cache), CacheOutcome::Miss);
    assert_eq!(load(&cache), CacheOutcome::Hit);
    // A restart: the same directory, the same key.
    assert_eq!(
        load(&ComponentCache::open(dir.path()).unwrap()),
        CacheOutcome::Hit
    );

    let hash = sha256_hex(bytes);
    let blob = dir.path().join(format!("{hash}.cwasm"));
    // A blob changed behind the host's back is not loaded.
    let mut tampered = std::fs::read(&blob).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xFF;
    std::fs::write(&blob, &tampered).unwrap();
    assert_eq!(load(&cache), CacheOutcome::Miss);
    assert_eq!(load(&cache), CacheOutcome::Hit, "rewritten");
    // Blobs copied from another host's cache (another key) are not loaded.
    let other = tempfile::tempdir().unwrap();
    for ext in ["cwasm", "tag"] {
        let name = format!("{hash}.{ext}");
        std::fs::copy(dir.path().join(&name), other.path().join(&name)).unwrap();
    }
    assert_eq!(
        load(&ComponentCache::open(other.path()).unwrap()),
        CacheOutcome::Miss
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.path().join("key")), 0o600);
    }
}

/// The statuses of the example file under the default rules, by row.
fn statuses_with_default_rules() -> Vec<(u32, Status)> {
    let runtime = Runtime::new().unwrap();
    let v = version(&runtime, None, None).unwrap();
    let report = v
        .validate(presend_host::EXAMPLE_PATIENTS, NOW, Some(history()))
        .unwrap();
    report.patients.iter().map(|p| (p.row, p.status)).collect()
}

#[test]
fn diff_of_the_two_example_rule_versions() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
        .args(["diff", "--from"])
        .arg(example("rules/default.toml"))
        .arg("--to")
        .arg(example("rules/advisory.toml"))
        .arg(example("patients.csv"))
        .arg("--history")
        .arg(example("history.csv"))
        .args(["--now", "2026-11-27T09:00:00Z", "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Advisory rules accept exactly the patients the default rules held back
    // as likely to fail, keeping the reason; nothing else changes.
    let held_back: Vec<u32> = statuses_with_default_rules()
        .into_iter()
        .filter(|(_, s)| *s == Status::LikelyToFail)
        .map(|(row, _)| row)
        .collect();
    assert!(!held_back.is_empty());
    assert_eq!(
        json["becomes"],
        serde_json::json!({"accepted": held_back.len()})
    );
    assert_eq!(
        json["summary"],
        format!("{} patients become accepted", held_back.len())
    );
    let changes: Vec<String> = serde_json::from_value(json["changes"].clone()).unwrap();
    let expected: Vec<String> = held_back
        .iter()
        .map(|row| {
            format!("row {row}: likely-to-fail (likely-to-fail) -> accepted (likely-to-fail)")
        })
        .collect();
    assert_eq!(changes, expected);
}

#[test]
fn deploy_check_passes_a_good_version_and_names_what_is_wrong_with_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
            .args(["deploy", "check"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    std::fs::copy(
        example("rules/advisory.toml"),
        dir.path().join("rules.toml"),
    )
    .unwrap();
    let o = check(&[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("ready to deploy") && out.contains("presend-advisory 1.1.0"),
        "{out}"
    );

    // With expected verdicts from the default rules, the change blocks...
    let expected = dir.path().join("expected.json");
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
        .args([
            "validate",
            "--format",
            "json",
            "--now",
            "2026-11-27T09:00:00Z",
            "--history",
        ])
        .arg(example("history.csv"))
        .arg(example("patients.csv"))
        .output()
        .unwrap();
    std::fs::write(&expected, &report.stdout).unwrap();
    let history = example("history.csv");
    let args = [
        "--history",
        history.to_str().unwrap(),
        "--expect",
        expected.to_str().unwrap(),
        "--canary-now",
        "2026-11-27T09:00:00Z",
    ];
    let o = check(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("43 patients become accepted") && err.contains("--force"),
        "{err}"
    );
    // ...unless forced.
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(check(&forced).status.success());

    // Broken rules: the file, line and column.
    std::fs::write(
        dir.path().join("rules.toml"),
        "name = \"x\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 0\n",
    )
    .unwrap();
    let o = check(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("rules.toml:4:12"), "{err}");
}
