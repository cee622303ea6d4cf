//! Safe by default: stored text rendered as text, the bearer token, the security headers, the
//! warning for a server anyone may reach.

use crate::cli_support::bare_cli;
use crate::histories::{kinds, standard, History, Kind};
use crate::routes::stamp_trace;
use crate::server::Server;

const RUN: &str = "\"><img src=x onerror=alert(1)>";
const PIPELINE: &str = "javascript:alert(1)";
const PROCESS: &str = "\"><img src=x onerror=alert(2)>";
const STEP: &str = "<script>alert(3)</script>";
const MESSAGE: &str = "<script>alert(4)</script> and \"><img src=x onerror=alert(5)>";

/// A run whose every name and message is markup, failed in its one step.
pub fn hostile(kind: Kind) -> History {
    let history = History::new(kind);
    history.record(|| {
        let pipeline = tracing::info_span!("p", etl.pipeline = PIPELINE, etl.run_id = RUN);
        pipeline.in_scope(|| {
            let process = tracing::info_span!("proc", etl.process = PROCESS);
            process.in_scope(|| {
                let _step = tracing::info_span!("s", etl.step = STEP).entered();
                tracing::error!(error.type = "<b>Bad</b>", "{MESSAGE}");
            });
        });
    });
    history
}

/// The bytes show the markup as text: no element or attribute of it made it through.
fn assert_inert(body: &str, what: &str) {
    assert_eq!(
        body.matches("<script").count(),
        1,
        "{what}: only the page's own script: {body}"
    );
    assert!(
        body.contains("<script src=\"/assets/live.js\" defer></script>"),
        "{what}"
    );
    assert!(!body.contains("<img"), "{what}: {body}");
    assert!(!body.contains("<b>"), "{what}: {body}");
    assert!(
        !body.to_ascii_lowercase().contains("href=\"javascript:"),
        "{what}: {body}"
    );
    // Every `onerror` is inside escaped text or a percent-encoded link.
    assert_eq!(
        body.matches("onerror").count(),
        body.matches("&lt;img src=x onerror").count() + body.matches("%20onerror%3D").count(),
        "{what}: {body}"
    );
}

#[test]
fn stored_markup_renders_as_text() {
    for kind in kinds() {
        let history = hostile(kind);
        let server = Server::start(&history.url(), &[]);
        let escaped_run = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
        let run_path = "/runs/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E";

        let body = server.get("/").html(200);
        assert_inert(&body, "/");
        assert!(
            body.contains(&format!("<tr data-run-id=\"{escaped_run}\">")),
            "{body}"
        );
        assert!(
            body.contains(&format!("href=\"{run_path}?attempt=1\">{escaped_run}</a>")),
            "{body}"
        );
        assert!(
            body.contains(
                "<a href=\"/?pipeline=javascript%3Aalert%281%29\">javascript:alert(1)</a>"
            ),
            "{body}"
        );
        assert!(
            body.contains("<td>&lt;script&gt;alert(3)&lt;/script&gt;</td>"),
            "{body}"
        );

        let body = server.get(run_path).html(200);
        assert_inert(&body, "run page");
        assert!(
            body.contains("&lt;script&gt;alert(4)&lt;/script&gt; and &quot;&gt;&lt;img src=x onerror=alert(5)&gt;"),
            "{body}"
        );
        assert!(body.contains("&lt;b&gt;Bad&lt;/b&gt;"), "{body}");
        assert!(
            body.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
            "{body}"
        );
        assert!(
            body.contains(&format!("data-run-id=\"{escaped_run}\"")),
            "{body}"
        );
        assert_eq!(body.matches("data-step-run-id=").count(), 1);
        assert_eq!(body.matches("data-process-run-id=").count(), 1);

        let body = server.get("/failures").html(200);
        assert_inert(&body, "/failures");
        assert!(
            body.contains("&lt;b&gt;Bad&lt;/b&gt;: &lt;script&gt;alert(4)"),
            "{body}"
        );
        assert!(
            body.contains("href=\"/pipelines/javascript%3Aalert%281%29\""),
            "{body}"
        );

        let body = server.get("/pipelines/javascript%3Aalert%281%29").html(200);
        assert_inert(&body, "pipeline page");
        assert!(
            body.contains("<tr data-step=\"&lt;script&gt;alert(3)&lt;/script&gt;\">"),
            "{body}"
        );

        // The filter form puts the value back, quoted and escaped.
        let body = server
            .get("/?pipeline=%22%3E%3Cscript%3Ealert(6)%3C/script%3E")
            .html(200);
        assert_inert(&body, "filter");
        assert!(
            body.contains("value=\"&quot;&gt;&lt;script&gt;alert(6)&lt;/script&gt;\""),
            "{body}"
        );
        let body = server
            .get("/runs/%3Cscript%3Ealert(7)%3C%2Fscript%3E")
            .html(404);
        assert_inert(&body, "404");

        // JSON is JSON: the text as it was recorded.
        let json = server.get("/api/v1/runs").json();
        assert_eq!(json[0]["run_id"], RUN);
        assert_eq!(
            json[0]["pipeline"].as_str().or(json[0]["name"].as_str()),
            Some(PIPELINE)
        );
    }
}

#[test]
fn a_trace_link_that_is_not_http_is_shown_as_text() {
    let history = standard(Kind::Sqlite);
    stamp_trace(&history, "r-bad", "x\"><script>alert(8)</script>");
    let server = Server::start(
        &history.url(),
        &["--trace-url", "javascript:alert(1)//{trace_id}"],
    );
    let body = server.get("/runs/r-bad").html(200);
    assert_inert(&body, "trace");
    assert!(
        body.contains(
            "<code>javascript:alert(1)//x&quot;&gt;&lt;script&gt;alert(8)&lt;/script&gt;</code>"
        ),
        "{body}"
    );
}

#[test]
fn a_token_guards_every_route() {
    let history = standard(Kind::Sqlite);
    let server = Server::start(&history.url(), &["--token", "s3cret"]);
    for path in [
        "/",
        "/runs/r-ok",
        "/failures",
        "/running",
        "/api/v1/runs",
        "/assets/live.js",
        "/nope",
    ] {
        for headers in [
            &[][..],
            &[("Authorization", "Bearer wrong")],
            &[("Authorization", "s3cret")],
            &[("Authorization", "Bearer s3cre")],
        ] {
            let response = server.get_with(path, headers);
            assert_eq!(response.status, 401, "{path} {headers:?}");
            assert_eq!(
                response.header("www-authenticate"),
                Some("Bearer realm=\"tracing-etl\"")
            );
            assert!(response.header("content-security-policy").is_some());
        }
        let response = server.get_with(path, &[("Authorization", "Bearer s3cret")]);
        let expected = if path == "/nope" { 404 } else { 200 };
        assert_eq!(response.status, expected, "{path}: {}", response.body);
    }
    assert!(!server.startup.contains("warning"), "{}", server.startup);

    // The token from the environment.
    let out = bare_cli()
        .env("TRACING_ETL_SERVE_TOKEN", "")
        .args(["--store", &history.url(), "serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--token is empty"), "{stderr}");
}

#[test]
fn every_response_carries_the_security_headers() {
    let history = standard(Kind::Sqlite);
    let server = Server::start(&history.url(), &[]);
    for path in [
        "/",
        "/runs/r-bad",
        "/runs/nope",
        "/?status=bad",
        "/api/v1/runs",
        "/api/v1/nope",
        "/assets/style.css",
        "/nope",
    ] {
        let response = server.get(path);
        let csp = response
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}"));
        for directive in [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            "script-src 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
    }
    // No inline script or style in the pages: the policy would block them.
    for path in ["/", "/runs/r-bad", "/failures", "/running"] {
        let body = server.get(path).html(200);
        assert!(
            !body.contains("<script>") && !body.contains("<style") && !body.contains(" style="),
            "{path}: {body}"
        );
    }
}

#[test]
fn a_server_anyone_may_reach_without_a_token_is_warned_about() {
    let history = History::new(Kind::Sqlite);
    let open = Server::start_on(&history.url(), "0.0.0.0:0", &[]);
    assert!(
        open.startup.contains(
            "tracing-etl: warning: 0.0.0.0:0 is not a loopback address and there is no --token"
        ),
        "{}",
        open.startup
    );
    assert_eq!(open.get("/").status, 200);
    let guarded = Server::start_on(&history.url(), "0.0.0.0:0", &["--token", "t"]);
    assert!(!guarded.startup.contains("warning"), "{}", guarded.startup);
    let local = Server::start(&history.url(), &[]);
    assert!(!local.startup.contains("warning"), "{}", local.startup);
}
