//! The `presend` command, as test harnesses drive it.
//!
//! Over 400 lines: one file for the program under test, a test per command
//! and per promise its `--help` makes.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{example, sha256_hex};

fn presend(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_presend"))
        .args(args)
        .output()
        .expect("presend runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The JSON report on stdout without its deployment's `id` and
/// `activated_at`, which differ from run to run.
fn verdicts_json(o: &Output) -> serde_json::Value {
    let mut json: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
    let deployment = json["deployment"].as_object_mut().expect("a deployment");
    deployment.remove("id");
    deployment.remove("activated_at");
    json
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

const NOW: &str = "2026-11-27T09:00:00Z";

/// `presend validate examples/patients.csv [--history H] --now NOW EXTRA...`,
/// which must succeed.
fn validate_example(history: Option<&Path>, extra: &[&str]) -> Output {
    let patients = example("patients.csv");
    let mut args = vec!["validate", path(&patients), "--now", NOW];
    if let Some(h) = history {
        args.extend(["--history", path(h)]);
    }
    args.extend(extra);
    let o = presend(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

#[test]
fn validate_json_has_exactly_the_contract_keys() {
    let o = validate_example(Some(&example("history.csv")), &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&json),
        ["deployment", "patients", "rules", "summary", "validator"]
    );
    assert_eq!(keys(&json["validator"]), ["name", "version"]);
    assert_eq!(
        keys(&json["deployment"]),
        ["activated_at", "id", "rules", "validator"]
    );
    for part in ["validator", "rules"] {
        assert_eq!(
            keys(&json["deployment"][part]),
            ["name", "sha256", "version"]
        );
        assert_eq!(json["deployment"][part]["name"], json[part]["name"]);
        assert_eq!(
            json["deployment"][part]["sha256"].as_str().unwrap().len(),
            64
        );
    }
    let rules = std::fs::read(example("rules/default.toml")).unwrap();
    assert_eq!(json["deployment"]["rules"]["sha256"], sha256_hex(&rules));
    assert_eq!(keys(&json["rules"]), ["name", "version"]);
    assert_eq!(
        keys(&json["summary"]),
        ["accepted", "likely_to_fail", "rejected", "total"]
    );
    for p in json["patients"].as_array().unwrap() {
        assert_eq!(
            keys(p),
            [
                "mobile_number",
                "nhs_number",
                "reasons",
                "row",
                "status",
                "success_probability"
            ]
        );
        for r in p["reasons"].as_array().unwrap() {
            assert_eq!(keys(r), ["code", "message"]);
        }
        let status = p["status"].as_str().unwrap();
        assert!(
            ["accepted", "rejected", "likely-to-fail"].contains(&status),
            "{status}"
        );
    }
    let s = &json["summary"];
    assert_eq!(
        s["total"].as_u64().unwrap(),
        s["accepted"].as_u64().unwrap()
            + s["rejected"].as_u64().unwrap()
            + s["likely_to_fail"].as_u64().unwrap()
    );
}

/// The JSON `validate` writes as the verdicts come is the document the
/// library's report serialises to (serde's derive: a second writer).
#[test]
fn streamed_json_is_the_reports_document() {
    let o = validate_example(Some(&example("history.csv")), &["--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut streamed = verdicts_json(&o);
    let history: std::sync::Arc<dyn presend_host::history::HistoryStore> = std::sync::Arc::new(
        presend_host::history::CsvHistory::load(example("history.csv"), crate::common::validator())
            .unwrap(),
    );
    let file = std::fs::read(example("patients.csv")).unwrap();
    let report = crate::common::validator()
        .validate(&file, &crate::common::options(Some(history)))
        .unwrap();
    // Through text and back, as the streamed side was: serde_json parses
    // floats to within an ulp, so both go through the same parse.
    let mut expected: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    streamed.as_object_mut().unwrap().remove("deployment");
    expected.as_object_mut().unwrap().remove("deployment");
    assert_eq!(streamed, expected);
}

/// A file refused after verdicts were written: stdout is cut short (not a
/// JSON document), the exit status says so, and no reasons file appears,
/// not even half of one.
#[test]
fn a_late_file_error_leaves_no_reasons_file_and_no_whole_json() {
    let dir = tempfile::tempdir().unwrap();
    let patients = dir.path().join("patients.csv");
    // 1.5 MB: the first megabyte's verdicts are out before row 35,002.
    std::fs::write(&patients, crate::common::numbered_patients(40_000)).unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "name = \"big\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 35000\n",
    )
    .unwrap();
    let out = dir.path().join("reasons.csv");
    let o = presend(&[
        "validate",
        path(&patients),
        "--rules",
        path(&rules),
        "--now",
        "2026-11-27T09:00:00Z",
        "--format",
        "json",
        "--out",
        path(&out),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("more than 35000 patients"), "{err}");
    assert!(err.contains("35002"), "{err}");
    assert!(o.stdout.starts_with(b"{"), "verdicts were on their way");
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_err());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(
        left,
        ["patients.csv", "rules.toml"],
        "no reasons file, whole or partial"
    );
}

#[test]
fn validate_text_summarises_and_lists_who_is_not_accepted() {
    let o = validate_example(Some(&example("history.csv")), &[]);
    let text = stdout(&o);
    assert!(text.contains("300 patients:"), "{text}");
    assert!(text.contains("Not accepted:"), "{text}");
    assert!(text.contains("likely-to-fail"), "{text}");
}

#[test]
fn out_writes_a_reasons_csv_that_is_safe_in_a_spreadsheet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reasons.csv");
    validate_example(Some(&example("history.csv")), &["--out", path(&out)]);
    let bytes = std::fs::read(&out).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFRow,"),
        "UTF-8 with a BOM, for Excel"
    );
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "Row",
            "NHS Number",
            "Title",
            "First Name",
            "Surname",
            "Date of Birth",
            "Telecom Number",
            "Status",
            "Reasons",
            "Reason codes"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let json = validate_example(Some(&example("history.csv")), &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let not_accepted = json["patients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] != "accepted")
        .count();
    assert_eq!(
        rows.len(),
        not_accepted,
        "one line per patient not accepted"
    );
    for r in &rows {
        for cell in r.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']),
                "unsafe cell {cell:?}"
            );
        }
        let mobile = &r[6];
        assert!(
            !mobile.starts_with("+44"),
            "mobiles as staff write them: {mobile}"
        );
    }
    // The example has a surname that is a formula: it is neutralised, not lost.
    assert!(
        rows.iter().any(|r| r[4].starts_with("'=HYPERLINK")),
        "the formula cell is kept, escaped"
    );
    // A valid mobile is written as 07700 900123.
    assert!(
        rows.iter()
            .any(|r| r[6].starts_with("07700 9") && r[6].len() == 12)
    );
}

#[test]
fn unusable_inputs_exit_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-mobile.csv");
    std::fs::write(&file, "NHS Number,Name\n9990000018,Ann\n").unwrap();
    let o = presend(&["validate", path(&file), "--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no-mobile.csv") && err.contains("mobile number column"),
        "{err}"
    );
    // A file refused before any verdict leaves stdout empty, JSON or not.
    let o = presend(&["validate", path(&file), "--now", NOW, "--format", "json"]);
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");

    let o = presend(&["validate", path(&dir.path().join("missing.csv"))]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.csv"), "{}", stderr(&o));

    let o = presend(&[
        "validate",
        path(&example("patients.csv")),
        "--now",
        "yesterday",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--now") && stderr(&o).contains("RFC 3339"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_rules_reports_line_and_column() {
    let o = presend(&["check-rules", path(&example("rules/default.toml"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("presend-default 1.0.0 is valid"),
        "{}",
        stdout(&o)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nversion = \"1.0.0\"\n[likely_to_fail]\nblocks = true\n",
    )
    .unwrap();
    let o = presend(&["check-rules", path(&bad)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml:4:1:") && err.contains("blocks"),
        "{err}"
    );
}

#[test]
fn info_names_validator_rules_and_contract() {
    let o = presend(&["info"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("validator: presend-validator 1.1.0"),
        "{text}"
    );
    assert!(
        text.contains("default rules: presend-default 1.0.0"),
        "{text}"
    );
    let contract = format!(
        "presend:validator/pre-send-validator@{}",
        crate::common::wit_version()
    );
    assert!(text.contains(&contract), "{text}");
}

#[test]
fn history_import_then_validate_from_sqlite_matches_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let o = presend(&[
        "history",
        "import",
        path(&example("history.csv")),
        "--db",
        path(&db),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 552 attempts"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("note: 1 row of") && stderr(&o).contains("was left out"),
        "the landline row is reported, not silently dropped: {}",
        stderr(&o)
    );
    let run =
        |history: &Path| verdicts_json(&validate_example(Some(history), &["--format", "json"]));
    assert_eq!(run(&db), run(&example("history.csv")));
}

#[test]
fn logs_never_carry_patient_data() {
    let o = validate_example(
        Some(&example("history.csv")),
        &["--log-level", "trace", "--format", "json"],
    );
    let logs = stderr(&o);
    assert!(
        logs.contains("batch validated"),
        "trace logging is on: {logs}"
    );
    let patients = std::fs::read_to_string(example("patients.csv")).unwrap();
    for line in patients.lines().skip(1) {
        for cell in line.split(',').filter(|c| c.len() >= 6) {
            assert!(!logs.contains(cell), "a log line carries {cell:?}");
        }
    }
    for needle in ["+4477009", "07700 9", "0770090", "99900"] {
        assert!(!logs.contains(needle), "a log line carries {needle:?}");
    }
}

#[test]
fn a_validator_that_logs_patient_data_is_redacted_in_logs_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("hostile.wasm");
    std::fs::write(&plugin, presend_test_guests::HOSTILE).unwrap();
    let rules = dir.path().join("leak.toml");
    std::fs::write(&rules, "leak").unwrap();
    let o = presend(&[
        "validate",
        path(&example("patients.csv")),
        "--plugin",
        path(&plugin),
        "--rules",
        path(&rules),
        "--log-level",
        "trace",
    ]);
    assert!(!o.status.success());
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("row 2 holds [number] and [number]"), "{all}");
    assert!(all.contains("row 2: [number] on [number]"), "{all}");
    for needle in ["9990000018", "447700900123", "07700 900123"] {
        assert!(
            !all.contains(needle),
            "the output carries {needle:?}: {all}"
        );
    }
}

#[test]
fn help_explains_the_commands() {
    let o = presend(&["--help"]);
    let text = stdout(&o);
    for word in ["validate", "check-rules", "info", "history"] {
        assert!(text.contains(word), "{text}");
    }
    let o = presend(&["validate", "--help"]);
    let text = stdout(&o);
    for flag in [
        "--history",
        "--rules",
        "--plugin",
        "--now",
        "--format",
        "--out",
    ] {
        assert!(text.contains(flag), "{text}");
    }
}

#[test]
fn a_validator_from_a_file_gives_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("validator.wasm");
    std::fs::write(&wasm, presend_host::EMBEDDED_VALIDATOR).unwrap();
    let from_file = validate_example(None, &["--format", "json", "--plugin", path(&wasm)]);
    let embedded = validate_example(None, &["--format", "json"]);
    assert_eq!(verdicts_json(&from_file), verdicts_json(&embedded));
    let o = presend(&["info", "--plugin", path(&dir.path().join("nope.wasm"))]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope.wasm"), "{}", stderr(&o));
}

/// Guards the fall-back from the instance pool: under `ulimit -v` the
/// pool's address space (64 slots of about 4 GiB) cannot be reserved, and
/// the command must still validate, on fresh memory a call.
#[test]
fn under_an_address_space_limit_it_validates_without_the_pool() {
    let patients = example("patients.csv");
    let args = [
        "validate",
        path(&patients),
        "--now",
        NOW,
        "--format",
        "json",
    ];
    let free = presend(&args);
    assert!(free.status.success(), "{}", stderr(&free));
    // 16 GiB: room for one validator's memory, not for the pool's.
    let limited = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 16777216 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_presend"))
        .args(["--log-level", "warn"])
        .args(args)
        .output()
        .expect("sh runs");
    assert!(limited.status.success(), "{}", stderr(&limited));
    // It did go without the pool, and said so.
    assert!(
        stderr(&limited).contains("no address space for the instance pool"),
        "{}",
        stderr(&limited)
    );
    assert_eq!(verdicts_json(&limited), verdicts_json(&free));
}

#[test]
fn a_failure_is_reported_once_without_log_noise() {
    let o = presend(&[
        "validate",
        path(&example("patients.csv")),
        "--now",
        NOW,
        "--memory-limit-mib",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("presend: ") && err.contains("memory limit"),
        "{err}"
    );
}

#[test]
fn the_log_says_which_encoding_a_file_was_read_as() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("excel.csv");
    std::fs::write(
        &file,
        b"NHS Number,Name,Mobile\r\n9990000018,Zo\xEB,07700900123\r\n",
    )
    .unwrap();
    let o = presend(&[
        "validate",
        path(&file),
        "--now",
        NOW,
        "--log-level",
        "debug",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("file read as Windows1252"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("Zo"), "no cell content in the log");
}

/// Only the first run compiles the validator: later ones load it from the
/// per-user cache; `--no-cache` reads and writes none.
#[test]
fn the_command_compiles_the_validator_once_and_caches_it() {
    let home = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_presend"))
            .args(["info", "--log-level", "debug"])
            .args(extra)
            .env("XDG_CACHE_HOME", home.path())
            .output()
            .unwrap()
    };
    let cache = home.path().join("presend");
    let blobs = || -> usize {
        std::fs::read_dir(&cache).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "cwasm")
            })
            .count()
        })
    };
    let first = run(&["--no-cache"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(blobs(), 0, "--no-cache wrote a blob");
    let second = run(&[]);
    assert!(!stderr(&second).contains("component loaded from the cache"));
    assert_eq!(blobs(), 1);
    let third = run(&[]);
    assert!(
        stderr(&third).contains("component loaded from the cache"),
        "{}",
        stderr(&third)
    );
    assert_eq!(
        stdout(&third),
        stdout(&second),
        "the same validator either way"
    );
    let both = run(&["--no-cache", "--cache-dir", "x"]);
    assert!(!both.status.success());
}
