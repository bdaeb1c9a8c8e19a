//! The review page in a real browser: headless Chromium driven through
//! WebDriver (chromedriver, fantoccini) against a real `presend serve` on a
//! loopback port, as a practice would use it, and checked by axe-core for
//! WCAG 2.2 A/AA violations. A screenshot of the review is written to
//! `target/tmp/review-page.png` for people to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core from npm
//! (`npm ci --prefix tests/browser`); without them the tests fail saying
//! what to install. `.ci/install` installs all three.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::{example, root};
use crate::review::NOW;
use crate::serve::{Server, http};

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn found(path: &str) -> bool {
    std::path::Path::new(path).exists()
}

fn start_driver() -> Driver {
    assert!(
        found("/usr/bin/chromium") && found("/usr/bin/chromedriver"),
        "Chromium and its WebDriver are not installed – install Debian's packages: apt-get install chromium chromium-driver"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

/// A headless Chromium session. The flags are those that work as root on
/// a machine with no network but loopback.
async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1200,1600",
                format!("--user-data-dir={profile}"),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// axe-core's script, from its npm package.
fn axe_source() -> String {
    let path: PathBuf = root().join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "axe-core is not installed at {} – run `npm ci --prefix tests/browser`",
            path.display()
        )
    })
}

/// Runs axe-core on the page shown and fails on any WCAG 2.x A/AA (or
/// best-practice) violation, listing them.
async fn assert_accessible(client: &Client, axe: &str, what: &str) {
    client.execute(axe, vec![]).await.expect("axe-core loads");
    let violations = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
                .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))))
                .catch(e => done([{id: 'axe-failed', impact: String(e), nodes: []}]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    assert_eq!(violations, json!([]), "axe-core on {what}");
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Chooses `path` in the upload form and sends it.
async fn upload(client: &Client, path: &std::path::Path) {
    let path = path.canonicalize().unwrap();
    client
        .find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    client
        .find(Locator::Css("#upload"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_practice_uploads_its_list_reviews_it_and_downloads_the_reasons() {
    let driver = start_driver();
    let server = Server::start(&[]);
    let axe = axe_source();
    let base = format!("http://{}", server.addr);
    block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("{base}/?now={NOW}")).await.unwrap();
        assert_accessible(&c, &axe, "the upload page").await;
        upload(&c, &example("patients.csv")).await;
        c.wait()
            .for_element(Locator::Css("#count-accepted"))
            .await
            .expect("the review page");
        let review = c.current_url().await.unwrap().to_string();
        assert!(review.starts_with(&format!("{base}/review/")), "{review}");

        // The counts the reviewed golden file has for the example data.
        let number = |id: &'static str| {
            let c = &c;
            async move { text_of(c, &format!("#{id} .number")).await }
        };
        assert_eq!(number("count-accepted").await, "237");
        assert_eq!(number("count-not-accepted").await, "63");
        assert_eq!(number("count-rejected").await, "20");
        assert_eq!(number("count-likely-to-fail").await, "43");
        assert!(
            text_of(&c, "#validator-version")
                .await
                .starts_with("presend-validator ")
        );
        assert!(
            text_of(&c, "#rules-version")
                .await
                .starts_with("presend-default ")
        );
        assert_accessible(&c, &axe, "the review page").await;
        let shot = c.screenshot().await.unwrap();
        let shot_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("review-page.png");
        std::fs::write(&shot_path, &shot).unwrap();
        assert!(shot.starts_with(b"\x89PNG"), "a PNG");

        // Open a likely-to-fail patient: the reasons, the number's record,
        // and that a single message may still be sent.
        let first = c
            .find(Locator::XPath(
                "//table[@id='patients']//tr[.//strong[contains(@class,'likely-to-fail')]]//a",
            ))
            .await
            .unwrap();
        first.click().await.unwrap();
        let heading = text_of(&c, "h1").await;
        assert!(heading.starts_with("Row "), "{heading}");
        let reasons = text_of(&c, "#reasons").await;
        assert!(reasons.contains("messages failed"), "{reasons}");
        assert!(
            text_of(&c, "#on-purpose")
                .await
                .contains("single message on purpose")
        );
        assert_accessible(&c, &axe, "a patient's page").await;
        c.back().await.unwrap();

        // The accepted patients have their own view.
        c.find(Locator::Css("#tab-accepted"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let caption = text_of(&c, "#patients caption").await;
        assert!(caption.contains("237 in all"), "{caption}");
        let current = c
            .find(Locator::Css("#tab-accepted"))
            .await
            .unwrap()
            .attr("aria-current")
            .await
            .unwrap();
        assert_eq!(current.as_deref(), Some("page"));
        assert_accessible(&c, &axe, "the accepted view").await;

        // The download is the file `presend validate --out` writes.
        let href = c
            .find(Locator::Css("#download"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .expect("a link");
        let downloaded = http(&server.addr, "GET", &href, &[], b"").body;
        assert_eq!(downloaded, crate::review::reasons_from_the_cli());
        c.close().await.unwrap();
    });
}

#[test]
fn a_file_without_a_mobile_column_shows_why_and_an_expired_review_is_gone() {
    let driver = start_driver();
    let server = Server::start(&["--review-ttl-secs", "2"]);
    let axe = axe_source();
    let base = format!("http://{}", server.addr);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("no-mobile.csv");
    std::fs::write(&bad, "NHS Number,Surname\n9990000018,Example\n").unwrap();
    block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("{base}/?now={NOW}")).await.unwrap();
        upload(&c, &bad).await;
        let message = c
            .wait()
            .for_element(Locator::Css("#error-message"))
            .await
            .expect("the form with the message")
            .text()
            .await
            .unwrap();
        assert!(message.to_lowercase().contains("mobile"), "{message}");
        assert_accessible(&c, &axe, "the upload page with an error").await;

        // A good file, then its review after its time.
        upload(&c, &example("patients.csv")).await;
        c.wait()
            .for_element(Locator::Css("#count-accepted"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        c.refresh().await.unwrap();
        assert_eq!(text_of(&c, "h1").await, "This review is no longer here");
        assert_accessible(&c, &axe, "the expired review").await;
        c.close().await.unwrap();
    });
}
