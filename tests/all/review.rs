//! The review page over plain HTTP, against a real `presend serve`: the
//! headers every response carries, the upload's redirect, the reasons file
//! against `presend validate --out`, escaping, the cross-site refusal, a
//! file that cannot be validated, and expiry. `browser.rs` drives the same
//! pages in Chromium.

use crate::common::example;
use crate::serve::{Response, Server, wait_until};

pub(crate) const NOW: &str = "2026-11-27T09:00:00Z";

/// A multipart form with `csv` as its `file` field, as a browser sends it.
pub(crate) fn form(csv: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----presend-test-boundary-7d3f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"patients.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `csv` to the review page, with extra headers.
fn upload(server: &Server, csv: &[u8], extra: &[(&str, &str)]) -> Response {
    let (content_type, body) = form(csv);
    let mut headers = vec![("Content-Type", content_type.as_str())];
    headers.extend_from_slice(extra);
    server.request("POST", &format!("/review?now={NOW}"), &headers, &body)
}

/// The review's path, from a 303's Location.
fn review_path(r: &Response) -> String {
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    r.headers["location"].clone()
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// What `presend validate --out` writes for the example file and history,
/// as of NOW: the oracle for the review's download.
pub(crate) fn reasons_from_the_cli() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reasons.csv");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_presend"))
        .arg("validate")
        .arg(example("patients.csv"))
        .arg("--history")
        .arg(example("history.csv"))
        .args(["--now", NOW, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    std::fs::read(&out).unwrap()
}

#[test]
fn every_page_carries_the_headers_that_keep_patient_data_in_it() {
    let server = Server::start(&[]);
    let path = review_path(&upload(
        &server,
        &std::fs::read(example("patients.csv")).unwrap(),
        &[],
    ));
    // 128 random bits, as 32 hex digits.
    let id = path.strip_prefix("/review/").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    for page in [
        "/".to_string(),
        path.clone(),
        format!("{path}?view=accepted&page=2"),
        format!("{path}/row/6"),
        format!("{path}/reasons.csv"),
        "/assets/presend.css".to_string(),
        "/review/00000000000000000000000000000000".to_string(),
    ] {
        let r = server.request("GET", &page, &[], b"");
        let h = &r.headers;
        assert_eq!(h["cache-control"], "no-store", "{page}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{page}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{page}");
        let csp = &h["content-security-policy"];
        assert!(
            csp.contains("default-src 'self'") && csp.contains("script-src 'none'"),
            "{page}: {csp}"
        );
    }
    // The JSON API too.
    let r = server.request("GET", "/healthz", &[], b"");
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[test]
fn the_reasons_download_is_the_file_of_presend_validate_out() {
    let server = Server::start(&[]);
    let path = review_path(&upload(
        &server,
        &std::fs::read(example("patients.csv")).unwrap(),
        &[],
    ));
    let r = server.request("GET", &format!("{path}/reasons.csv"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/csv"));
    assert!(r.headers["content-disposition"].contains("attachment"));

    let expected = reasons_from_the_cli();
    assert!(expected.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    assert_eq!(r.body, expected);
    // One line per patient not accepted, and the header.
    assert_eq!(
        expected
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        64
    );
}

#[test]
fn a_cell_written_as_html_is_shown_as_text() {
    let server = Server::start(&[]);
    let csv = b"NHS Number,First Name,Mobile\n123,<script>alert(1)</script>,07700 900001\n";
    let path = review_path(&upload(&server, csv, &[]));
    let page = text(&server.request("GET", &format!("{path}/row/2"), &[], b""));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
}

#[test]
fn a_form_posted_from_another_site_is_refused() {
    let server = Server::start(&[]);
    let csv = std::fs::read(example("patients.csv")).unwrap();
    for headers in [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site"), ("Origin", "null")],
        vec![("Sec-Fetch-Site", "same-site")],
    ] {
        let r = upload(&server, &csv, &headers);
        assert_eq!(r.status, 403, "{headers:?}");
        assert!(text(&r).contains("sent from another website"));
    }
    // From the page itself: accepted, as a browser without and with
    // Sec-Fetch-Site sends it (the second with Origin: null, since the page
    // sends no referrer).
    let origin = format!("http://{}", server.addr);
    review_path(&upload(&server, &csv, &[("Origin", &origin)]));
    review_path(&upload(
        &server,
        &csv,
        &[("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
    ));
}

#[test]
fn a_file_that_cannot_be_checked_comes_back_to_the_form_with_the_reason() {
    let server = Server::start(&[]);
    let r = upload(&server, b"NHS Number,Surname\n9990000018,Example\n", &[]);
    assert_eq!(r.status, 422);
    let page = text(&r);
    assert!(page.contains("id=\"error-message\""), "{page}");
    assert!(
        page.to_lowercase().contains("mobile"),
        "names the missing column: {page}"
    );
    assert!(page.contains("<form"), "the form again");
    // Declared larger than the service takes: refused before the body is
    // read, and still the form with the reason, as 422.
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!(
            "POST /review HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 200000000\r\nConnection: close\r\n\r\n",
            server.addr
        )
        .as_bytes(),
    )
    .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(answer.contains("split it into smaller files"), "{answer}");
    // Not a form at all.
    let r = server.request("POST", "/review", &[("Content-Type", "text/csv")], b"a,b\n");
    assert_eq!(r.status, 400);
}

#[test]
fn a_review_is_gone_after_its_time_and_an_unknown_one_never_was() {
    let server = Server::start(&["--review-ttl-secs", "1"]);
    let path = review_path(&upload(
        &server,
        &std::fs::read(example("patients.csv")).unwrap(),
        &[],
    ));
    assert_eq!(server.request("GET", &path, &[], b"").status, 200);
    wait_until("the review expires", || {
        server.request("GET", &path, &[], b"").status == 404
    });
    let r = server.request("GET", &format!("{path}/reasons.csv"), &[], b"");
    assert_eq!(r.status, 404);
    assert!(text(&r).contains("no longer here"));
    let r = server.request("GET", "/review/0123456789abcdef0123456789abcdef", &[], b"");
    assert_eq!(r.status, 404);
}

#[test]
fn a_hundred_thousand_patients_are_paged_and_found() {
    let server = Server::start(&[]);
    let csv = crate::common::big_file(100_000);
    let path = review_path(&upload(&server, &csv, &[]));
    let page = text(&server.request("GET", &path, &[], b""));
    // 50 rows a page, never the whole list.
    assert_eq!(page.matches("<tr data-row=").count(), 50, "one page");
    assert!(page.contains("id=\"next-page\""));
    // Find one patient by row number, and by NHS number (row 77777 holds
    // 9000077775), in whichever list it is.
    for find in ["77777", "900 007 7775"] {
        let found: usize = ["not-accepted", "accepted"]
            .iter()
            .map(|view| {
                let page = text(&server.request(
                    "GET",
                    &format!("{path}?view={view}&find={}", find.replace(' ', "+")),
                    &[],
                    b"",
                ));
                assert_eq!(
                    page.matches("<tr data-row=").count(),
                    page.matches("data-row=\"77777\"").count()
                );
                page.matches("data-row=\"77777\"").count()
            })
            .sum();
        assert_eq!(found, 1, "{find}");
    }
}
