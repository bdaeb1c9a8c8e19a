//! `POST /v1/deliveries` on a real `presend serve`: GOV.UK Notify's callback
//! objects and the plain form, recorded in the SQLite history and seen by
//! the next batch; its token; what it skips, refuses and never half-does.

use serde_json::json;

use crate::serve::{Response, Server};

const RECEIPTS_TOKEN: &str = "receipts-token-for-tests-0123456789abcdef";

/// A server with a new SQLite history and the receipts token.
fn server(dir: &tempfile::TempDir) -> Server {
    with_receipts(dir.path().join("history.db"), dir, &[])
}

/// A server recording receipts into `history` (a path or a URL), its token
/// file written in `dir`, plus `extra` arguments.
pub(crate) fn with_receipts(
    history: impl AsRef<std::ffi::OsStr>,
    dir: &tempfile::TempDir,
    extra: &[&str],
) -> Server {
    let token = dir.path().join("receipts-token");
    std::fs::write(&token, RECEIPTS_TOKEN).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut args = vec!["--receipts-token-file", token.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_with_history(std::path::Path::new(history.as_ref()), &args)
}

pub(crate) fn post(server: &Server, body: &serde_json::Value) -> Response {
    let auth = format!("Bearer {RECEIPTS_TOKEN}");
    server.request(
        "POST",
        "/v1/deliveries",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// The status of the one patient, whose number is 07700 900001.
pub(crate) fn status(server: &Server) -> String {
    let csv = b"NHS Number,Mobile\n9990000018,07700 900001\n";
    let r = server.request("POST", "/v1/batches?now=2026-11-27T09:00:00Z", &[], csv);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["patients"][0]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A Notify delivery-status callback for message `id`.
pub(crate) fn notify(id: &str, status: &str, completed_at: &str) -> serde_json::Value {
    json!({
        "id": id,
        "reference": "practice-42",
        "to": "07700900001",
        "status": status,
        "created_at": "2026-11-26T09:00:00.000000Z",
        "completed_at": completed_at,
        "sent_at": "2026-11-26T09:00:01.000000Z",
        "notification_type": "sms",
    })
}

#[test]
fn a_failure_callback_holds_the_number_back_and_a_delivery_makes_it_good() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir);
    assert_eq!(status(&server), "accepted");

    let failed = notify("m1", "permanent-failure", "2026-11-26T09:00:05.000000Z");
    let r = post(&server, &failed);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({"recorded": 1, "duplicates": 0, "skipped": 0, "refused": []})
    );
    assert_eq!(status(&server), "likely-to-fail");
    // The same callback again changes nothing.
    assert_eq!(post(&server, &failed).json()["duplicates"], 1);

    // A later message delivered, in the plain form: good again.
    let delivered = json!([{
        "message_id": "m2", "mobile_number": "+44 7700 900001",
        "sent_at": "2026-11-27T08:00:00Z", "status": "delivered",
    }]);
    assert_eq!(post(&server, &delivered).json()["recorded"], 1);
    assert_eq!(status(&server), "accepted");
}

#[test]
fn receipts_need_the_token_and_a_bad_body_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir);
    let body = notify("m1", "permanent-failure", "2026-11-26T09:00:05Z").to_string();
    for auth in [None, Some("Bearer wrong")] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let r = server.request("POST", "/v1/deliveries", &headers, body.as_bytes());
        assert_eq!(r.status, 401);
    }
    assert_eq!(server.metric("presend_receipts_refusals_total"), 2);

    // Malformed JSON: 400, and nothing recorded.
    let auth = format!("Bearer {RECEIPTS_TOKEN}");
    let r = server.request(
        "POST",
        "/v1/deliveries",
        &[("Authorization", &auth)],
        b"[{\"id\": \"m1\", \"to\": ",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad-json");
    assert_eq!(status(&server), "accepted");

    // Skipped (an email, a number abroad) and refused (by index) items;
    // the good one is recorded.
    let mut email = notify("e1", "delivered", "2026-11-26T09:00:05Z");
    email["notification_type"] = json!("email");
    let mut abroad = notify("a1", "permanent-failure", "2026-11-26T09:00:05Z");
    abroad["to"] = json!("+33612345678");
    let mut unknown = notify("u1", "bounced", "2026-11-26T09:00:05Z");
    unknown["status"] = json!("bounced");
    let good = notify("g1", "temporary-failure", "2026-11-26T09:00:05Z");
    let r = post(&server, &json!([email, abroad, unknown, good]));
    let answer = r.json();
    assert_eq!(answer["recorded"], 1, "{answer}");
    assert_eq!(answer["skipped"], 2, "{answer}");
    assert_eq!(answer["refused"][0]["index"], 2, "{answer}");
    assert!(
        answer["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("status")
    );
    assert_eq!(status(&server), "likely-to-fail");
}

#[test]
fn without_a_receipts_token_the_endpoint_is_disabled() {
    let server = Server::start(&[]);
    let r = server.request("POST", "/v1/deliveries", &[], b"[]");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "receipts-disabled");
}
