//! `tracing-etl report RUN`: the run page as one self-contained file.

use crate::cli_support::bare_cli;
use crate::histories::{kinds, standard, Kind};

fn report(store: &str, args: &[&str]) -> std::process::Output {
    bare_cli()
        .args(["--store", store, "report"])
        .args(args)
        .output()
        .unwrap()
}

/// The file stands alone: its style inline, no script, nothing fetched, no link to a server.
fn assert_standalone(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<style>:root {"), "{page}");
    assert!(page.contains("script-src 'none'"), "{page}");
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<link"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("href=\"/"), "{page}");
}

#[test]
fn a_report_is_the_run_page_in_one_file() {
    for kind in kinds() {
        let history = standard(kind);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.html");
        let out = report(
            &history.url(),
            &["r-retry", "--attempt", "1", "-o", file.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrote "));
        let page = std::fs::read_to_string(&file).unwrap();
        assert_standalone(&page);
        assert!(page.contains("id=\"root-cause\""), "{page}");
        assert!(
            page.contains("row 58: amount &quot;twelve&quot; is not a number"),
            "{page}"
        );
        assert_eq!(page.matches("data-step-run-id=").count(), 2, "{kind:?}");
        assert_eq!(page.matches("data-process-run-id=").count(), 1, "{kind:?}");
        // The other attempt is named, not linked.
        assert!(
            page.contains("attempt 2 <span class=\"status-success\">"),
            "{page}"
        );

        // To stdout, `latest` and a prefix as `show` takes them.
        let out = report(&history.url(), &["latest"]);
        assert!(out.status.success());
        let page = String::from_utf8(out.stdout).unwrap();
        assert_standalone(&page);
        assert!(page.contains("<h1>Run <code>s-1</code></h1>"), "{page}");
        let out = report(&history.url(), &["r-o"]);
        assert!(String::from_utf8(out.stdout)
            .unwrap()
            .contains("<code>r-ok</code>"));
    }
}

#[test]
fn a_report_of_a_hostile_run_is_inert_and_a_missing_run_is_an_error() {
    let history = crate::security::hostile(Kind::Sqlite);
    let out = report(&history.url(), &["latest"]);
    let page = String::from_utf8(out.stdout).unwrap();
    assert_standalone(&page);
    assert!(
        page.contains("&lt;script&gt;alert(4)&lt;/script&gt;"),
        "{page}"
    );

    let out = report(&history.url(), &["nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no run id starts with \"nope\""),
        "{stderr}"
    );
    let out = report(&history.url(), &["latest", "--attempt", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no attempt 3"));
}
