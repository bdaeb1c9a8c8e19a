//! `presend serve` against slow clients, floods and odd requests, over
//! loopback: what it refuses before reading a body, the JSON of every
//! error, the `?now=` window, the token file, and a shutdown that a stalled
//! client cannot hold up. Every loop is bounded in count and time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve::{Server, TOKEN};

/// Sends `head` (request line and headers, without the blank line's end)
/// and reads whatever the server answers within `wait`.
fn send_head_and_read(addr: &str, head: &str, wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while start.elapsed() < wait {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_body_over_the_limit_is_refused_before_it_is_sent() {
    let server = Server::start(&[]);
    // 200 MB declared, nothing sent, and the client waits for `100 Continue`.
    let answer = send_head_and_read(
        &server.addr,
        "POST /v1/batches HTTP/1.1\r\nHost: t\r\nContent-Length: 200000000\r\nExpect: 100-continue\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("\"code\":\"input-too-large\""), "{answer}");
}

#[test]
fn overload_is_refused_before_the_body_is_read() {
    let server = Server::start(&["--max-batches", "1", "--body-timeout-secs", "2"]);
    // The only slot: a request whose body never finishes arriving.
    let mut holder = TcpStream::connect(&server.addr).unwrap();
    holder
        .write_all(
            b"POST /v1/batches HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nNHS Number,",
        )
        .unwrap();
    crate::serve::wait_until("the slot is taken", || {
        server.metric("presend_batches_in_flight") == 1
    });
    // A second request is refused from its headers alone.
    let answer = send_head_and_read(
        &server.addr,
        "POST /v1/batches HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"busy\""), "{answer}");
    // The slow body runs out of time and gives the slot back.
    let mut rest = String::new();
    holder
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = holder.read_to_string(&mut rest);
    assert!(rest.starts_with("HTTP/1.1 408"), "{rest}");
    assert!(rest.contains("\"code\":\"slow-body\""), "{rest}");
    crate::serve::wait_until("the slot is free", || {
        server.metric("presend_batches_in_flight") == 0
    });
}

/// A client that sends a big batch and never reads the answer: the answer
/// is written as it comes, so the server waits on it, but only for the body
/// timeout; then the batch is given up and its slot is free again.
#[test]
fn a_client_that_stops_reading_the_answer_loses_it_and_the_slot() {
    let server = Server::start(&["--max-batches", "1", "--body-timeout-secs", "2"]);
    // 100,000 patients: some 20 MB of answer, far more than the sockets'
    // buffers hold.
    let big = crate::common::numbered_patients(100_000);
    let mut stalled = TcpStream::connect(&server.addr).unwrap();
    let head = format!(
        "POST /v1/batches?now=2026-11-27T09:00:00Z HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    stalled.write_all(head.as_bytes()).unwrap();
    stalled.write_all(&big).unwrap();
    // It reads nothing. The batch holds the slot while it waits...
    crate::serve::wait_until("the batch runs", || {
        server.metric("presend_batches_in_flight") == 1
    });
    // ...and gives it up once the client has read nothing for 2 s.
    crate::serve::wait_until("the slot is free", || {
        server.metric("presend_batches_in_flight") == 0
    });
    assert_eq!(
        server.metric("presend_batches_total{outcome=\"failed\"}"),
        1
    );
    let ok = server.request(
        "POST",
        "/v1/batches?now=2026-11-27T09:00:00Z",
        &[],
        &std::fs::read(crate::common::example("patients.csv")).unwrap(),
    );
    assert_eq!(ok.status, 200);
    drop(stalled);
}

#[test]
fn every_error_is_the_documented_json() {
    let server = Server::start(&[]);
    let cases: [(&str, &str, u16, &str); 6] = [
        ("GET", "/nope", 404, "not-found"),
        ("GET", "/v1/batches", 405, "method-not-allowed"),
        (
            "POST",
            "/v1/batches?now=2026-11-27T09:00:00Z&now=2026-11-27T09:00:00Z",
            400,
            "bad-query",
        ),
        ("POST", "/v1/batches?then=1", 400, "bad-query"),
        ("POST", "/v1/batches?now=yesterday", 400, "bad-now"),
        (
            "POST",
            "/v1/batches?now=0001-01-01T00:00:00Z",
            400,
            "now-out-of-range",
        ),
    ];
    for (method, path, status, code) in cases {
        let r = server.request(method, path, &[], b"NHS Number,Mobile\n");
        assert_eq!(r.status, status, "{method} {path}");
        let json = r.json();
        assert_eq!(json["error"]["code"], code, "{method} {path}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[test]
fn a_stalled_client_cannot_hold_up_shutdown() {
    let server = Server::start(&["--shutdown-grace-secs", "1"]);
    // Half a request's headers, then nothing.
    let mut stalled = TcpStream::connect(&server.addr).unwrap();
    stalled
        .write_all(b"POST /v1/batches HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    // The server has taken it on: open are it and the metrics request.
    crate::serve::wait_until("the stalled connection is open", || {
        server.metric("presend_connections_open") >= 2
    });
    let mut server = server;
    let pid = server.child.id().to_string();
    let sent = Instant::now();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM with a 1 s grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    drop(stalled);
}

#[test]
fn admin_refusals_are_counted_and_a_weak_or_open_token_file_is_refused() {
    let server = Server::start(&[]);
    for _ in 0..50 {
        let r = server.request(
            "POST",
            "/v1/admin/rollback",
            &[("Authorization", "Bearer wrong")],
            b"",
        );
        assert_eq!(r.status, 401);
    }
    assert_eq!(server.metric("presend_admin_refusals_total"), 50);

    let dir = tempfile::tempdir().unwrap();
    let try_token = |text: &str, mode: u32| {
        let path = dir.path().join("token");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_presend"))
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-token-file"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{text:?} with mode {mode:o} was accepted"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(try_token(&format!("{TOKEN}\n"), 0o666).contains("chmod 600"));
    assert!(try_token("x\n", 0o600).contains("at least 32"));
    assert!(try_token(&format!("{TOKEN}\nsecond line\n"), 0o600).contains("one line"));
    assert!(try_token(&format!("{TOKEN}é\n"), 0o600).contains("visible ASCII"));
}

/// The active deployment's rules sha256.
fn active_rules(server: &Server) -> String {
    server.deployment()["active"]["rules"]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A reload that must be refused with `422` saying `why`, leaving the
/// version that served before still serving.
fn refused_reload(server: &Server, why: &str) {
    let before = active_rules(server);
    let started = Instant::now();
    let r = server.admin("reload");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "reload answered late"
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains(why), "{message}");
    assert_eq!(active_rules(server), before, "the old version still serves");
}

#[test]
fn odd_files_in_the_deploy_directory_are_refused_and_never_wedge_it() {
    let server = Server::start(&[]);
    let dir = server.deploy_dir();
    let rules = dir.join("rules.toml");
    let default_rules = active_rules(&server);

    // A FIFO: refused at once (it would block a reader for ever), and the
    // operator's levers still answer.
    let made = Command::new("mkfifo").arg(&rules).status().unwrap();
    assert!(made.success(), "mkfifo (coreutils) is needed for this test");
    refused_reload(&server, "not a regular file");
    assert_ne!(server.admin("rollback").status, 0);
    std::fs::remove_file(&rules).unwrap();

    // A link to a device, and a link to nothing: refused, never the defaults.
    std::os::unix::fs::symlink("/dev/zero", &rules).unwrap();
    refused_reload(&server, "not a regular file");
    std::fs::remove_file(&rules).unwrap();
    std::os::unix::fs::symlink(dir.join("gone.toml"), &rules).unwrap();
    refused_reload(&server, "link to nothing");
    std::fs::remove_file(&rules).unwrap();

    // Too large, checked before it is read.
    let mut huge = std::fs::read_to_string(crate::common::example("rules/advisory.toml")).unwrap();
    huge.push_str(&format!("# {}\n", "x".repeat(2 << 20)));
    std::fs::write(&rules, huge).unwrap();
    refused_reload(&server, "more than the 1048576");
    std::fs::remove_file(&rules).unwrap();

    // A good version is still picked up after all that.
    let advisory = std::fs::read(crate::common::example("rules/advisory.toml")).unwrap();
    crate::serve::deploy(&dir, "rules.toml", &advisory);
    assert_eq!(server.admin("reload").status, 200);
    let advisory_rules = active_rules(&server);
    assert_ne!(advisory_rules, default_rules);

    // Removing it is not a deploy of the defaults.
    std::fs::remove_file(&rules).unwrap();
    refused_reload(&server, "was removed");
    assert_eq!(active_rules(&server), advisory_rules);
    // Five refused reloads, each counted (the watcher may count more).
    assert!(server.metric("presend_preflight_failures_total") >= 5);

    // And SIGTERM still ends it.
    let mut server = server;
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let started = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Seconds until the server closes `stream` (reads return 0 or fail), at
/// most `wait`; `None` if it stayed open.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < wait {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn half_sent_headers_and_idle_connections_are_closed() {
    let server = Server::start(&["--header-timeout-secs", "1"]);
    // Half the headers, then nothing: closed after about a second.
    let mut half = TcpStream::connect(&server.addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    assert!(
        closed_within(&mut half, Duration::from_secs(10)).is_some(),
        "half-sent headers held open"
    );
    // A keep-alive connection that answered a request and then sits idle.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(
        closed_within(&mut idle, Duration::from_secs(10)).is_some(),
        "idle connection held open"
    );
}

#[test]
fn connections_over_the_cap_are_turned_away_and_health_still_answers() {
    let server = Server::start(&["--max-connections", "3", "--header-timeout-secs", "30"]);
    // Three idle connections take every place.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
                .unwrap();
            s
        })
        .collect();
    // Connections are accepted in the order they were made, so the three
    // above hold every place before the next one is looked at.
    let answer = send_head_and_read(
        &server.addr,
        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("\"code\":\"too-many-connections\""),
        "{answer}"
    );
    // One leaves: the next client is served.
    drop(held.pop());
    crate::serve::wait_until("a place is free", || {
        send_head_and_read(
            &server.addr,
            "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .starts_with("HTTP/1.1 200")
    });
    drop(held);
    assert!(server.metric_when_served("presend_connections_refused_total") >= 1);
}
