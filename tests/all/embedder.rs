//! The library as a platform developer meets it, through its public API only
//! (the crate docs' walk-through): one validator shared by threads, options
//! built with the setters, every failure sorted by kind, codes matched as
//! enums, and a dependency tree without the command line's crates.

use std::sync::Arc;

use presend_host::deployment::Deployments;
use presend_host::history::{CsvHistory, HistoryStore, NumberHistory, SqliteHistory};
use presend_host::{
    BatchOptions, Error, ErrorKind, FileErrorCode, Limits, ReasonCode, Runtime, Status, Validator,
};

use crate::common::{NOW, example, root};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn what_a_platform_shares_between_threads_is_send_and_sync() {
    assert_send_sync::<Runtime>();
    assert_send_sync::<Validator>();
    assert_send_sync::<BatchOptions>();
    assert_send_sync::<Deployments>();
    assert_send_sync::<CsvHistory>();
    assert_send_sync::<SqliteHistory>();
    assert_send_sync::<Error>();
}

#[test]
fn one_validator_shared_by_four_threads_gives_each_batch_the_same_verdicts() {
    let runtime = Runtime::new().unwrap();
    let validator = Arc::new(Validator::embedded(&runtime).unwrap());
    let store: Arc<dyn HistoryStore> =
        Arc::new(CsvHistory::load(example("history.csv"), &*validator).unwrap());
    let options = validator.options().as_of_unix(NOW).history(store);
    let csv = Arc::new(std::fs::read(example("patients.csv")).unwrap());
    let reports: Vec<_> = (0..4)
        .map(|_| {
            let (validator, options, csv) = (validator.clone(), options.clone(), csv.clone());
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| validator.validate(&csv, &options).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(reports.len(), 20);
    // The example history's published counts (README).
    let s = reports[0].summary;
    assert_eq!(
        (s.total, s.accepted, s.rejected, s.likely_to_fail),
        (300, 237, 20, 43)
    );
    assert!(reports.iter().all(|r| r == &reports[0]));
    // Codes are matched as enums: every patient held back carries the code.
    for p in &reports[0].patients {
        let coded = p.reasons.iter().any(|r| r.code == ReasonCode::LikelyToFail);
        if p.status == Status::LikelyToFail {
            assert!(coded, "row {}", p.row);
        }
    }
}

#[test]
fn options_are_built_with_setters_and_now_as_system_time() {
    let runtime = Runtime::new().unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    let day = std::time::Duration::from_secs(86_400);
    let then = std::time::SystemTime::UNIX_EPOCH + day * 20_000;
    let options = validator.options().as_of(then);
    assert_eq!(options.now, 20_000 * 86_400);
    assert_eq!(
        options.rules.identity(),
        validator.default_rules().identity()
    );
    assert!(options.history.is_none());
    // A date of birth after "now" is refused: "now" was taken.
    let csv = b"NHS Number,Mobile,Date of Birth\n9990000018,07700 900123,01/01/2026\n";
    let report = validator.validate(csv, &options).unwrap();
    assert_eq!(report.patients[0].status, Status::Rejected);
    assert_eq!(
        report.patients[0].reasons[0].code,
        ReasonCode::InvalidDateOfBirth
    );
}

/// A platform's own store that fails with a cause it can inspect.
struct Unreachable;

impl HistoryStore for Unreachable {
    fn lookup(&self, _: &[String]) -> presend_host::Result<Vec<NumberHistory>> {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        Err(Error::history_caused_by(
            "history-service",
            "cannot reach it",
            cause,
        ))
    }
}

#[test]
fn every_failure_says_whose_problem_it_is() {
    let runtime = Runtime::new().unwrap();
    let validator = Validator::embedded(&runtime).unwrap();
    let csv = std::fs::read(example("patients.csv")).unwrap();

    // The practice's file.
    let err = validator
        .validate(b"NHS Number,Name\n9990000018,Alex\n", &validator.options())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::File);
    assert!(
        matches!(
            &err,
            Error::File {
                code: FileErrorCode::MissingColumn,
                ..
            }
        ),
        "{err:?}"
    );

    // The history store, its cause kept.
    let err = validator
        .validate(&csv, &validator.options().history(Arc::new(Unreachable)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::History);
    let cause = std::error::Error::source(&err).expect("the store's error");
    let io = cause
        .downcast_ref::<std::io::Error>()
        .expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

    // The deployed validator.
    let tight = Runtime::with_limits(Limits {
        memory_bytes: 64 << 10,
        ..Limits::default()
    })
    .unwrap();
    let err = Validator::embedded(&tight).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validator);
    assert!(err.plugin().is_some());

    // Our configuration: rules, a component.
    let err = validator
        .check_rules("name = \"x\"\nversion = \"1\"\n", "rules.toml")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let err = Validator::load(&runtime, b"not wasm", "x.wasm").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(
        std::error::Error::source(&err).is_some(),
        "wasmtime's reason"
    );

    // The host: a file it cannot read.
    let err = Validator::load_file(&runtime, root().join("no-such.wasm")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Host);

    // A SQLite failure keeps SQLite's error as its cause.
    let dir = tempfile::tempdir().unwrap();
    let not_a_db = dir.path().join("history.db");
    std::fs::write(
        &not_a_db,
        b"SQLite format 3\0 and then nothing a database holds",
    )
    .unwrap();
    let err = SqliteHistory::open(&not_a_db).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::History);
    assert!(std::error::Error::source(&err).is_some(), "{err}");
}

/// The README lists the stable codes; the host's enums know exactly those,
/// and so does the validator itself (a second implementation of the list).
#[test]
fn code_enums_are_the_readmes_lists_and_the_validators() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let listed = |from: &str, to: &str| -> Vec<String> {
        let start = readme.find(from).expect(from) + from.len();
        let end = start + readme[start..].find(to).expect(to);
        readme[start..end]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let reasons = listed("Reason codes are stable strings:", "(the header row again");
    let files = listed("File-level codes:", "\n\n");
    let known = |codes: Vec<&str>| -> Vec<String> { codes.into_iter().map(String::from).collect() };
    assert_eq!(
        known(ReasonCode::KNOWN.iter().map(ReasonCode::as_str).collect()),
        reasons
    );
    assert_eq!(
        known(
            FileErrorCode::KNOWN
                .iter()
                .map(FileErrorCode::as_str)
                .collect()
        ),
        files
    );
    let validators: Vec<&str> = presend_plugin::ReasonCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(known(validators), reasons);
}

/// An embedder builds the library alone: none of the command line's or the
/// service's crates, and no anyhow of ours (wasmtime brings its own).
#[test]
fn the_library_alone_builds_no_command_line_crates() {
    let tree = |extra: &[&str]| -> Vec<String> {
        let out = std::process::Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["tree", "-p", "presend-host", "-e", "normal,no-proc-macro"])
            .args(["--prefix", "none", "--locked", "--offline"])
            .args(extra)
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').next().map(String::from))
            .collect()
    };
    let all = tree(&[]);
    assert!(all.iter().any(|c| c == "wasmtime"), "{all:?}");
    for crate_name in ["clap", "clap_derive", "axum", "tokio", "tracing-subscriber"] {
        assert!(
            !all.iter().any(|c| c == crate_name),
            "{crate_name} in {all:?}"
        );
    }
    let direct = tree(&["--depth", "1"]);
    assert!(!direct.iter().any(|c| c == "anyhow"), "{direct:?}");
}
