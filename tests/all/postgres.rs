//! What only PostgreSQL histories do, against a real server: several
//! `presend serve` processes sharing one database; the database stopped
//! under load and started again; the schema migrated once by hosts that
//! start together, upgraded from version 1 and refused when newer; a
//! password that never reaches a log line or an error; and `serve
//! --prune-older-than`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use presend_host::history::{HistoryStore, Outcome, PostgresHistory, Receipt};
use serde_json::json;

use crate::common::{NOW, example};
use crate::deliveries::{notify, post, status, with_receipts};
use crate::pg_cluster::Cluster;

/// The password in the URLs the services are given. The throwaway server
/// trusts loopback, so it is never checked: the tests only look for it.
const PASSWORD: &str = "pg-password-never-logged-7f3a";

fn url_with_password(server: &Cluster, db: &str) -> String {
    format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}",
        server.port()
    )
}

#[test]
fn two_servers_on_one_database_see_each_others_receipts() {
    let server = Cluster::start();
    server.create_database("shared");
    let url = url_with_password(&server, "shared");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = with_receipts(&url, &dir_a, &[]);
    let b = with_receipts(&url, &dir_b, &[]);
    assert_eq!(status(&a), "accepted");
    assert_eq!(status(&b), "accepted");

    // A failure reported to one host holds the number back on the other.
    let failed = notify("m1", "permanent-failure", "2026-11-26T09:00:05Z");
    assert_eq!(post(&a, &failed).json()["recorded"], 1);
    assert_eq!(status(&b), "likely-to-fail");
    // The same callback retried against the other host is a duplicate.
    assert_eq!(post(&b, &failed).json()["duplicates"], 1);

    // A later delivery reported to the second makes it good on both.
    let delivered = json!([{
        "message_id": "m2", "mobile_number": "07700 900001",
        "sent_at": "2026-11-27T08:00:00Z", "status": "delivered",
    }]);
    assert_eq!(post(&b, &delivered).json()["recorded"], 1);
    assert_eq!(status(&a), "accepted");
    assert_eq!(status(&b), "accepted");
}

#[test]
fn with_the_database_stopped_batches_fail_closed_and_all_is_served_after_a_restart() {
    const PER_REQUEST: usize = 40;
    let server = Cluster::start();
    server.create_database("presend");
    let url = url_with_password(&server, "presend");
    let dir = tempfile::tempdir().unwrap();
    let mut service = with_receipts(&url, &dir, &[]);
    assert_eq!(status(&service), "accepted");

    // Receipts keep arriving, each request with messages of its own, while
    // the database is stopped and started again.
    let posting = AtomicBool::new(true);
    let answers: Vec<(usize, u16)> = std::thread::scope(|s| {
        let poster = s.spawn(|| {
            let mut answers = Vec::new();
            let mut request = 0;
            while posting.load(Ordering::SeqCst) {
                let body: Vec<_> = (0..PER_REQUEST)
                    .map(|i| {
                        json!({
                            "message_id": format!("r{request}-{i}"),
                            "mobile_number": format!("07700 9004{:02}", i),
                            "sent_at": "2026-11-26T09:00:00Z",
                            "status": "delivered",
                        })
                    })
                    .collect();
                answers.push((request, post(&service, &json!(body)).status));
                request += 1;
            }
            answers
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        server.stop();

        // Down: a batch fails closed, naming the store but not its password.
        let csv = std::fs::read(example("patients.csv")).unwrap();
        let r = service.request("POST", "/v1/batches?now=2026-11-27T09:00:00Z", &[], &csv);
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        let answer = r.json();
        assert_eq!(answer["error"]["code"], "history-unavailable", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        let shown = format!("postgres://postgres@127.0.0.1:{}/presend", server.port());
        assert!(message.contains(&shown), "{message}");
        assert!(
            !r.body
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes())
        );
        let receipt = post(
            &service,
            &notify("down", "delivered", "2026-11-26T09:00:05Z"),
        );
        assert_eq!(receipt.status, 503);
        assert_eq!(receipt.json()["error"]["code"], "history-unavailable");

        server.start_again();
        std::thread::sleep(std::time::Duration::from_millis(300));
        posting.store(false, Ordering::SeqCst);
        poster.join().unwrap()
    });

    // The service lived through it and serves again.
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "presend serve died"
    );
    assert_eq!(status(&service), "accepted");
    assert_eq!(
        post(
            &service,
            &notify("up", "permanent-failure", "2026-11-26T09:00:05Z")
        )
        .status,
        200
    );
    assert_eq!(status(&service), "likely-to-fail");

    // Nothing half-written: each request's receipts are all there or none.
    let mut client = server.client("presend");
    let mut refused = 0;
    for (request, code) in &answers {
        let stored: i64 = client
            .query_one(
                "SELECT count(*) FROM attempts WHERE message_id LIKE $1",
                &[&format!("r{request}-%")],
            )
            .unwrap()
            .get(0);
        let stored = usize::try_from(stored).unwrap();
        match code {
            200 => assert_eq!(stored, PER_REQUEST, "request {request} answered 200"),
            503 => {
                refused += 1;
                assert!(
                    stored == 0 || stored == PER_REQUEST,
                    "request {request}: {stored}"
                );
            }
            other => panic!("request {request} answered {other}"),
        }
    }
    assert!(answers.iter().any(|(_, c)| *c == 200), "{answers:?}");
    assert!(
        refused > 0 || answers.len() < 3,
        "no request met the stopped database"
    );
}

#[test]
fn hosts_starting_together_migrate_once_and_an_old_schema_is_upgraded() {
    let server = Cluster::start();
    // Four hosts connect to a new database at once.
    let fresh = server.create_database("fresh");
    std::thread::scope(|s| {
        let hosts: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PostgresHistory::connect(&fresh).map(|_| ())))
            .collect();
        for h in hosts {
            h.join().unwrap().unwrap();
        }
    });
    let version: i64 = server
        .client("fresh")
        .query_one("SELECT version FROM presend_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 3);

    // Version 1, as a presend without receipts would have written it.
    let old = server.create_database("old");
    let mut client = server.client("old");
    client
        .batch_execute(
            "CREATE TABLE presend_schema (version BIGINT NOT NULL);
             INSERT INTO presend_schema VALUES (1);
             CREATE TABLE attempts (mobile_number TEXT NOT NULL, sent_at BIGINT NOT NULL,
                                    status TEXT NOT NULL, failure_reason TEXT);
             CREATE INDEX attempts_by_number ON attempts (mobile_number, sent_at, status);",
        )
        .unwrap();
    client
        .execute(
            "INSERT INTO attempts VALUES ('+447700900001', $1, 'failed', NULL)",
            &[&(NOW - 86_400)],
        )
        .unwrap();
    let store = PostgresHistory::connect(&old).unwrap();
    let number = vec!["+447700900001".to_string()];
    assert_eq!(store.lookup(&number).unwrap()[0].attempts.len(), 1, "kept");
    let receipt = Receipt {
        message_id: "m1".into(),
        number: number[0].clone(),
        sent_at: NOW - 60,
        outcome: Outcome::Delivered,
        status_at: NOW - 30,
    };
    assert_eq!(store.record(&[receipt]).unwrap().recorded, 1);
    assert_eq!(store.lookup(&number).unwrap()[0].attempts.len(), 2);
    drop(store);

    // Written by a newer presend: refused, saying so.
    client
        .execute("UPDATE presend_schema SET version = 99", &[])
        .unwrap();
    let err = PostgresHistory::connect(&old).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn the_password_never_reaches_a_log_line_or_an_error() {
    let server = Cluster::start();
    server.create_database("presend");
    let validate = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_presend"))
            .args(["--log-level", "trace", "validate"])
            .arg(example("patients.csv"))
            .args([
                "--history",
                url,
                "--now",
                "2026-11-27T09:00:00Z",
                "--no-cache",
            ])
            .output()
            .unwrap()
    };
    let contains =
        |bytes: &[u8], what: &str| bytes.windows(what.len()).any(|w| w == what.as_bytes());

    // Working: every log line at trace level, and the output.
    let out = validate(&url_with_password(&server, "presend"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stderr.is_empty(), "trace logs were written");
    assert!(!contains(&out.stderr, PASSWORD) && !contains(&out.stdout, PASSWORD));

    // Failing: nobody listens on that port. The error names the store
    // without its password, and says what to do.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port();
    drop(nobody);
    let out = validate(&format!(
        "postgres://presend:{PASSWORD}@127.0.0.1:{port}/presend"
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(
        stderr.contains(&format!("postgres://presend@127.0.0.1:{port}/presend")),
        "{stderr}"
    );
    assert!(
        stderr.contains("check that the server is running"),
        "{stderr}"
    );
}

#[test]
fn serve_prunes_old_attempts_when_it_starts() {
    let server = Cluster::start();
    let url = server.create_database("presend");
    // Prune counts from the real clock, so the attempts are dated from it.
    let now = presend_host::timestamp::now();
    let attempt = |id: &str, days_ago: i64| Receipt {
        message_id: id.into(),
        number: "+447700900001".into(),
        sent_at: now - days_ago * 86_400,
        outcome: Outcome::Delivered,
        status_at: now - days_ago * 86_400,
    };
    PostgresHistory::connect(&url)
        .unwrap()
        .record(&[attempt("new", 1), attempt("old", 400)])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _service = with_receipts(&url, &dir, &["--prune-older-than", "365"]);
    let mut client = server.client("presend");
    crate::serve::wait_until("the old attempt is pruned", || {
        let ids: Vec<String> = client
            .query("SELECT message_id FROM attempts", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        ids == ["new"]
    });
}

#[test]
fn serve_takes_the_url_from_the_environment_so_ps_never_shows_the_password() {
    use std::io::BufRead;
    let server = Cluster::start();
    server.create_database("presend");
    let mut child = Command::new(env!("CARGO_BIN_EXE_presend"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PRESEND_HISTORY", url_with_password(&server, "presend"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("presend: listening on http://")
        .unwrap()
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    let shows = cmdline
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes());
    // The history is the database: a failure stored there holds the number back.
    PostgresHistory::connect(&server.url("presend"))
        .unwrap()
        .record(&[Receipt {
            message_id: "m1".into(),
            number: "+447700900001".into(),
            sent_at: NOW - 600,
            outcome: Outcome::PermanentFailure,
            status_at: NOW - 300,
        }])
        .unwrap();
    let csv = b"NHS Number,Mobile\n9990000018,07700 900001\n";
    let r = crate::serve::http(
        &addr,
        "POST",
        "/v1/batches?now=2026-11-27T09:00:00Z",
        &[],
        csv,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(!shows, "the password is on the command line");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["patients"][0]["status"], "likely-to-fail");
}
