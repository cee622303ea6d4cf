//! The pages in a real headless Chromium, driven over WebDriver (`chromedriver`, from Debian's
//! `chromium-driver`): the run page of a failed run shows its root cause and one bar per process
//! and step; the hostile history runs no script and injects no element; the runs page filters
//! through its form; a running run's bar grows as the page reloads itself. Each page's
//! screenshot is saved under `target/web-screenshots/`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_subscriber::prelude::*;

use crate::histories::{standard, Kind};
use crate::server::Server;

/// How long the browser may take to start or to reload a page: a bound on a hang, not a
/// measurement.
const PATIENCE: Duration = Duration::from_secs(60);

/// `chromedriver` on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver ({e}): apt-get install chromium chromium-driver")
            });
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port }
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,1000"] }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn screenshot(browser: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// No alert is open, and the page has no element the history's text could have injected.
async fn assert_nothing_ran(browser: &Client, what: &str) {
    assert!(
        browser.get_alert_text().await.is_err(),
        "{what}: an alert is open"
    );
    assert!(
        browser
            .find_all(Locator::Css("img"))
            .await
            .unwrap()
            .is_empty(),
        "{what}: an <img>"
    );
    assert!(
        browser
            .find_all(Locator::Css("b"))
            .await
            .unwrap()
            .is_empty(),
        "{what}: a <b>"
    );
    let scripts = browser.find_all(Locator::Css("script")).await.unwrap();
    assert_eq!(scripts.len(), 1, "{what}: only the page's own script");
}

async fn duration_of(browser: &Client, css: &str) -> i64 {
    let bar = browser.find(Locator::Css(css)).await.unwrap();
    bar.attr("data-duration-ms")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_a_real_browser() {
    let driver = Driver::start();
    let browser = driver.browser().await;

    // A failed run: its root cause, and one bar per process and step.
    let history = standard(Kind::Sqlite);
    let server = Server::start(&history.url(), &[]);
    let base = format!("http://{}", server.addr);
    browser.goto(&format!("{base}/runs/r-bad")).await.unwrap();
    let cause = browser
        .find(Locator::Id("root-cause"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cause.contains("parse"), "{cause}");
    assert!(
        cause.contains("row 58: amount \"twelve\" is not a number"),
        "{cause}"
    );
    let mut store =
        tracing_etl::SqliteStore::open_read_only(history.url().strip_prefix("sqlite:").unwrap())
            .unwrap();
    let filter = RunFilter::default().run_id("r-bad");
    let steps = store.read_steps(&filter).unwrap();
    let processes = store.read_processes(&filter).unwrap();
    let step_bars = browser
        .find_all(Locator::Css("svg.timeline rect[data-step-run-id]"))
        .await
        .unwrap();
    let process_bars = browser
        .find_all(Locator::Css("svg.timeline rect[data-process-run-id]"))
        .await
        .unwrap();
    assert_eq!(
        (step_bars.len(), process_bars.len()),
        (steps.len(), processes.len())
    );
    // Drawn, not only present: every bar takes room on the page.
    let drawn = browser
        .execute(
            "return Array.from(document.querySelectorAll('svg.timeline rect'))\
                 .map(r => r.getBoundingClientRect().width);",
            vec![],
        )
        .await
        .unwrap();
    let widths = drawn.as_array().unwrap();
    assert_eq!(widths.len(), 1 + steps.len() + processes.len());
    assert!(widths.iter().all(|w| w.as_f64().unwrap() > 0.0), "{drawn}");
    screenshot(&browser, "run-failed").await;
    for (path, name) in [
        ("/", "runs"),
        ("/failures", "failures"),
        ("/running", "running"),
        ("/pipelines/nightly", "pipeline"),
    ] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        screenshot(&browser, name).await;
    }

    // The runs page filters through its form.
    browser.goto(&format!("{base}/")).await.unwrap();
    browser
        .find(Locator::Css("input[name=pipeline]"))
        .await
        .unwrap()
        .send_keys("nightly")
        .await
        .unwrap();
    browser
        .find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("failed")
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !browser
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("status=failed")
    {
        assert!(Instant::now() < deadline, "the form was not sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut rows = Vec::new();
    for row in browser
        .find_all(Locator::Css("table.runs tbody tr"))
        .await
        .unwrap()
    {
        rows.push(row.attr("data-run-id").await.unwrap().unwrap());
    }
    assert_eq!(rows, ["r-bad", "r-retry"]);
    drop(server);

    // The hostile history runs nothing.
    let hostile = crate::security::hostile(Kind::Sqlite);
    let server = Server::start(&hostile.url(), &[]);
    let base = format!("http://{}", server.addr);
    let run = format!("{base}/runs/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E");
    for url in [
        format!("{base}/"),
        run,
        format!("{base}/failures"),
        format!("{base}/pipelines/javascript%3Aalert%281%29"),
    ] {
        browser.goto(&url).await.unwrap();
        assert_nothing_ran(&browser, &url).await;
    }
    screenshot(&browser, "hostile").await;
    // The pipeline link is a link to the page, not a `javascript:` URL.
    browser.goto(&format!("{base}/")).await.unwrap();
    let link = browser
        .find(Locator::LinkText("javascript:alert(1)"))
        .await
        .unwrap();
    link.click().await.unwrap();
    assert_nothing_ran(&browser, "after the click").await;
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(&base));
    drop(server);

    // A running run's bar grows as its page reloads itself.
    let history = standard(Kind::Sqlite);
    let (layer, guard) = history.layer();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || {
        crate::cli_support::open_stuck("now", false)
    });
    guard.flush().unwrap();
    let server = Server::start(&history.url(), &[]);
    browser
        .goto(&format!("http://{}/runs/now", server.addr))
        .await
        .unwrap();
    let bar = "svg.timeline rect[data-status=running][data-step-run-id]";
    let before = duration_of(&browser, bar).await;
    let loaded = browser
        .execute("return performance.timeOrigin;", vec![])
        .await
        .unwrap();
    screenshot(&browser, "run-running").await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = browser
            .execute("return performance.timeOrigin;", vec![])
            .await;
        if now.is_ok_and(|t| t != loaded) && browser.find(Locator::Css(bar)).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the page did not reload itself");
    }
    let after = duration_of(&browser, bar).await;
    assert!(
        after > before,
        "the running bar did not grow: {before} ms, then {after} ms"
    );
    drop(spans);
    guard.shutdown().unwrap();
    browser.close().await.unwrap();
}
