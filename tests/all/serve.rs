//! `presend serve` over HTTP, as a platform's harness drives it: batches,
//! live swaps under load, the deploy-directory watcher, admin endpoints,
//! overload, metrics and graceful shutdown.
//!
//! Over 400 lines: one file for the service under test, most of it the
//! swap-under-load and shutdown scenarios, which need their own small client.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::example;

const NOW: &str = "2026-11-27T09:00:00Z";
pub(crate) const TOKEN: &str = "s3cret-token-for-tests-0123456789abcdef";

/// A running `presend serve`, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server on a free port with a deploy directory, the example
    /// history and the admin token, plus `extra` arguments.
    pub(crate) fn start(extra: &[&str]) -> Server {
        Server::start_with_history(&example("history.csv"), extra)
    }

    /// [`Server::start`], with `history` as `--history`.
    pub(crate) fn start_with_history(history: &Path, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let deploy = dir.path().join("deploy");
        std::fs::create_dir(&deploy).unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_presend"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--poll-ms",
                "50",
                "--canary-now",
                NOW,
            ])
            .arg("--history")
            .arg(history)
            .arg("--deploy-dir")
            .arg(&deploy)
            .arg("--admin-token-file")
            .arg(&token)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("presend: listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr, dir }
    }

    pub(crate) fn deploy_dir(&self) -> PathBuf {
        self.dir.path().join("deploy")
    }

    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http(&self.addr, method, path, headers, body)
    }

    fn batch(&self, csv: &[u8]) -> Response {
        self.request("POST", &format!("/v1/batches?now={NOW}"), &[], csv)
    }

    pub(crate) fn admin(&self, what: &str) -> Response {
        let auth = format!("Bearer {TOKEN}");
        self.request(
            "POST",
            &format!("/v1/admin/{what}"),
            &[("Authorization", &auth)],
            b"",
        )
    }

    pub(crate) fn deployment(&self) -> Value {
        self.request("GET", "/v1/deployment", &[], b"").json()
    }

    pub(crate) fn metric(&self, name: &str) -> u64 {
        let r = self.request("GET", "/metrics", &[], b"");
        let text = String::from_utf8(r.body).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in {} answer\n{text}", r.status))
    }

    /// [`Server::metric`] once `/metrics` answers: while every connection
    /// place is taken (or about to be freed), it may be turned away first.
    pub(crate) fn metric_when_served(&self, name: &str) -> u64 {
        let mut value = None;
        wait_until("/metrics answers", || {
            let r = self.request("GET", "/metrics", &[], b"");
            value = (r.status == 200).then(|| {
                String::from_utf8_lossy(&r.body)
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                    .unwrap_or_else(|| panic!("no metric {name}"))
            });
            value.is_some()
        });
        value.expect("set when served")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        body = unchunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Writes `bytes` to `dir/name` the documented way: beside it, then renamed.
pub(crate) fn deploy(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.partial"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn patients() -> Vec<u8> {
    std::fs::read(example("patients.csv")).unwrap()
}

#[test]
fn a_batch_over_http_is_the_cli_json_with_its_deployment() {
    let server = Server::start(&[]);
    let response = server.batch(&patients());
    assert_eq!(response.status, 200);
    let mut json = response.json();
    let deployment = json.as_object_mut().unwrap().remove("deployment").unwrap();
    assert_eq!(deployment, server.deployment()["active"]);
    assert_eq!(server.deployment()["previous"], Value::Null);
    for key in ["id", "validator", "rules", "activated_at"] {
        assert!(deployment.get(key).is_some(), "{key} in {deployment}");
    }
    let cli = Command::new(env!("CARGO_BIN_EXE_presend"))
        .args(["validate", "--format", "json", "--now", NOW, "--history"])
        .arg(example("history.csv"))
        .arg(example("patients.csv"))
        .output()
        .unwrap();
    let mut cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    cli.as_object_mut().unwrap().remove("deployment");
    assert_eq!(json, cli);

    // A file error is a 422 with the code and row; a bad ?now= a 400.
    let refused = server.batch(b"Mobile,Name\n07700900123,Ann\n");
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error"]["code"], "missing-column");
    assert_eq!(
        server
            .request("POST", "/v1/batches?now=yesterday", &[], b"x")
            .status,
        400
    );
    assert_eq!(server.request("GET", "/healthz", &[], b"").status, 200);
    assert_eq!(server.metric("presend_batches_total{outcome=\"ok\"}"), 1);
    assert_eq!(
        server.metric("presend_batches_total{outcome=\"failed\"}"),
        1
    );
    assert_eq!(
        server.metric("presend_patients_total{status=\"likely-to-fail\"}"),
        43
    );
}

/// `Accept: application/x-ndjson` gets one patient a line, then the
/// summary's line: the same patients and summary as the JSON document.
/// And a batch that fails after its answer has begun is cut off: no
/// closing chunk, so no client mistakes half a batch for a whole one.
#[test]
fn answers_stream_as_ndjson_and_a_late_error_cuts_them_off() {
    let server = Server::start(&[]);
    let document = server.batch(&patients()).json();
    let path = format!("/v1/batches?now={NOW}");
    let ndjson = server.request(
        "POST",
        &path,
        &[("Accept", "application/x-ndjson")],
        &patients(),
    );
    assert_eq!(ndjson.status, 200);
    assert_eq!(ndjson.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = String::from_utf8(ndjson.body.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, patients_lines) = lines.split_last().unwrap();
    let patients: Vec<Value> = patients_lines
        .iter()
        .map(|l| l["patient"].clone())
        .collect();
    assert_eq!(Value::Array(patients), document["patients"]);
    assert_eq!(last["summary"], document["summary"]);
    assert_eq!(last["validator"], document["validator"]);

    // Rules that allow 120,000 patients, and a file of 130,000 (4.9 MB, five
    // chunks of a megabyte): the row over the limit is in the fifth chunk,
    // read long after the first chunks' verdicts went out (they are at
    // most one chunk behind the reading).
    let rules = "name = \"big\"\nversion = \"1.0.0\"\n[csv]\nmax_rows = 120000\n";
    deploy(&server.deploy_dir(), "rules.toml", rules.as_bytes());
    wait_until("the rules serve", || {
        server.deployment()["active"]["rules"]["name"] == "big"
    });
    let big = crate::common::numbered_patients(130_000);
    assert!(big.len() > 4 << 20 && big.len() < 5 << 20);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&big).unwrap();
    let mut raw = Vec::new();
    // The server closes the connection mid-answer: a reset is an answer too.
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(2000)]
    );
    assert!(text.contains("\"patients\": ["), "the answer had begun");
    assert!(
        !raw.ends_with(b"0\r\n\r\n"),
        "the answer must not end as if whole"
    );
    assert!(
        !text.contains("\"summary\""),
        "no summary for a failed batch"
    );
    wait_until("the failure is counted", || {
        server.metric("presend_batches_total{outcome=\"failed\"}") == 1
    });
}

#[test]
fn admin_endpoints_refuse_requests_without_the_token() {
    let server = Server::start(&[]);
    for what in ["reload", "rollback"] {
        let path = format!("/v1/admin/{what}");
        assert_eq!(
            server.request("POST", &path, &[], b"").status,
            401,
            "{what} without a token"
        );
        let wrong = [("Authorization", "Bearer not-the-token")];
        assert_eq!(
            server.request("POST", &path, &wrong, b"").status,
            401,
            "{what} with a wrong token"
        );
    }
    assert_eq!(server.admin("reload").status, 200);
    assert_eq!(
        server.admin("rollback").status,
        409,
        "nothing to roll back to yet"
    );
}

#[test]
fn versions_swap_many_times_under_load_and_every_batch_is_one_version() {
    let server = Server::start(&["--max-batches", "16"]);
    let dir = server.deploy_dir();
    let default_sha = server.deployment()["active"]["rules"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let advisory = std::fs::read(example("rules/advisory.toml")).unwrap();
    let default = std::fs::read(example("rules/default.toml")).unwrap();
    let csv = patients();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (responses, swaps) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut got = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) || got.len() < 5 {
                        got.push(server.batch(&csv));
                    }
                    got
                })
            })
            .collect();
        let mut swaps = 0;
        for i in 0..12 {
            let rules = if i % 2 == 0 { &advisory } else { &default };
            deploy(&dir, "rules.toml", rules);
            let r = server.admin("reload");
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            swaps += 1;
            if i % 3 == 2 {
                assert_eq!(server.admin("rollback").status, 200);
                swaps += 1;
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let responses: Vec<Response> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        (responses, swaps)
    });
    assert!(swaps >= 12);
    // Every response is a whole batch of exactly one version: its verdicts
    // are those of the rules its deployment names.
    let mut seen = HashMap::new();
    for r in &responses {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let json = r.json();
        let sha = json["deployment"]["rules"]["sha256"]
            .as_str()
            .unwrap()
            .to_string();
        let summary = &json["summary"];
        let expected_ltf = if sha == default_sha { 43 } else { 0 };
        assert_eq!(
            summary["likely_to_fail"], expected_ltf,
            "rules {sha}: {summary}"
        );
        assert_eq!(json["rules"]["name"], json["deployment"]["rules"]["name"]);
        *seen.entry(sha).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 2, "both versions served: {seen:?}");
    // A reload of the version already serving (after a rollback to it) is
    // no swap: 12 reloads, 3 of them of the active version.
    assert_eq!(server.metric("presend_swaps_total"), 9);
    assert_eq!(server.metric("presend_rollbacks_total"), 4);
}

#[test]
fn the_watcher_picks_up_a_rename_and_ignores_a_half_written_file() {
    let server = Server::start(&[]);
    let dir = server.deploy_dir();
    let first = server.deployment()["active"].clone();

    // Half a rules file, written in place (not the documented way): it
    // fails preflight and the old version keeps serving.
    let advisory = std::fs::read_to_string(example("rules/advisory.toml")).unwrap();
    let cut = advisory.find("presend-advisory").unwrap() + 5;
    std::fs::write(dir.join("rules.toml"), &advisory[..cut]).unwrap();
    wait_until("the half-written rules are refused", || {
        server.metric("presend_preflight_failures_total") >= 1
    });
    // Half a component, too.
    let component = presend_host::EMBEDDED_VALIDATOR;
    std::fs::write(
        dir.join("validator.wasm"),
        &component[..component.len() / 2],
    )
    .unwrap();
    wait_until("the half-written component is refused", || {
        server.metric("presend_preflight_failures_total") >= 2
    });
    assert_eq!(server.deployment()["active"], first);
    assert_eq!(
        server.batch(&patients()).json()["summary"]["likely_to_fail"],
        43
    );
    // Asked to reload it now, the service says why it will not.
    let refused = server.admin("reload");
    assert_eq!(refused.status, 422);
    let why = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("validator.wasm") && why.contains("not a validator component"),
        "{why}"
    );
    assert_eq!(server.deployment()["active"], first);

    // Complete files renamed into place are picked up.
    deploy(&dir, "validator.wasm", component);
    deploy(&dir, "rules.toml", advisory.as_bytes());
    wait_until("the renamed rules serve", || {
        server.deployment()["active"]["rules"]["name"] == "presend-advisory"
    });
    let now = server.deployment();
    assert_eq!(now["previous"]["id"], first["id"]);
    assert_eq!(
        now["active"]["validator"]["sha256"],
        first["validator"]["sha256"]
    );
    assert_eq!(
        server.batch(&patients()).json()["summary"]["likely_to_fail"],
        0
    );
}

#[test]
fn overload_gets_503_with_retry_after_and_shutdown_lets_batches_finish() {
    let server = Server::start(&["--max-batches", "1"]);
    let big = crate::common::big_file(100_000);
    let addr = server.addr.clone();
    let path = format!("/v1/batches?now={NOW}");
    let (big_response, busy) = std::thread::scope(|scope| {
        // The big batch retries until it has the slot (a small one may hold it).
        let in_flight = scope.spawn(|| {
            loop {
                let r = http(&addr, "POST", &path, &[], &big);
                if r.status != 503 {
                    return r;
                }
            }
        });
        // While the big batch holds the only slot, small ones are turned away.
        let start = Instant::now();
        let mut busy = None;
        while busy.is_none()
            && !in_flight.is_finished()
            && start.elapsed() < Duration::from_secs(20)
        {
            let r = http(
                &addr,
                "POST",
                &path,
                &[],
                b"NHS Number,Mobile\n9990000018,07700900123\n",
            );
            if r.status == 503 {
                busy = Some(r);
            }
        }
        (in_flight.join().unwrap(), busy)
    });
    assert_eq!(big_response.status, 200);
    let busy = busy.expect("a request was turned away while the slot was taken");
    assert_eq!(
        busy.headers.get("retry-after").map(String::as_str),
        Some("1")
    );
    assert_eq!(busy.json()["error"]["code"], "busy");
    assert!(server.metric("presend_batches_total{outcome=\"overloaded\"}") >= 1);

    // SIGTERM with a batch in flight: the batch is answered, then the server exits 0.
    let mut server = server;
    let pid = server.child.id().to_string();
    let (response, status) = std::thread::scope(|scope| {
        let in_flight = scope.spawn(|| http(&addr, "POST", &path, &[], &big));
        // SIGTERM only once the server has taken the batch on.
        wait_until("the batch is in flight", || {
            server.metric("presend_batches_in_flight") == 1
        });
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        (in_flight.join().unwrap(), server.child.wait().unwrap())
    });
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["summary"]["total"], 100_000);
    assert!(status.success(), "{status:?}");
}
