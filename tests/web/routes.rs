//! Every page and API route on histories of each store kind, and the API against the CLI's
//! `--json` output.

use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecordStore, JsonLinesStore, SqliteStore};
use tracing_subscriber::prelude::*;

use crate::cli_support::bare_cli;
use crate::histories::{kinds, standard, History, Kind};
use crate::server::Server;

/// The run ids of the rows of a list page, in order.
fn row_ids(body: &str) -> Vec<String> {
    body.split("<tr data-run-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

pub fn reader(history: &History) -> Box<dyn RecordReader> {
    let url = history.url();
    match history.kind {
        Kind::Sqlite => {
            Box::new(SqliteStore::open_read_only(url.strip_prefix("sqlite:").unwrap()).unwrap())
        }
        Kind::Jsonl => {
            Box::new(JsonLinesStore::open_read_only(url.strip_prefix("jsonl:").unwrap()).unwrap())
        }
        #[cfg(feature = "postgres")]
        Kind::Postgres => Box::new(history.pg_schema().reader()),
    }
}

#[test]
fn the_runs_page_lists_filters_and_pages_runs_newest_first() {
    for kind in kinds() {
        let history = standard(kind);
        let server = Server::start(&history.url(), &[]);
        let body = server.get("/").html(200);
        assert_eq!(
            row_ids(&body),
            ["s-1", "w-1", "r-bad", "r-retry", "r-retry", "r-ok"],
            "{kind:?}"
        );
        // The abandoned `stuck` run is still running: its elapsed time, and the page reloads.
        assert!(body.contains("running for "), "{body}");
        assert!(body.contains("<body data-live=\"5\">"), "{body}");
        assert!(body.contains("<td>parse</td>"), "the failed step: {body}");
        assert!(body.contains("href=\"/runs/r-bad?attempt=1\""), "{body}");
        assert!(body.contains("href=\"/?pipeline=nightly\""), "{body}");

        let body = server.get("/?pipeline=nightly&status=failed").html(200);
        assert_eq!(row_ids(&body), ["r-bad", "r-retry"], "{kind:?}");
        assert!(!body.contains("data-live"), "nothing running: {body}");
        let body = server.get("/?status=success&since=1h&pipeline=").html(200);
        assert_eq!(row_ids(&body), ["w-1", "r-retry", "r-ok"], "{kind:?}");
        let body = server.get("/?since=2999-01-01").html(200);
        assert!(row_ids(&body).is_empty() && body.contains("No pipeline runs match."));

        let first = server.get("/?per_page=4").html(200);
        assert_eq!(row_ids(&first), ["s-1", "w-1", "r-bad", "r-retry"]);
        // "Older" starts after the page's last run (attempt 2 of r-retry), read from the bound.
        let marker = "rel=\"next\" href=\"";
        let next = first[first.find(marker).expect(&first) + marker.len()..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        assert!(
            next.starts_with("?per_page=4&page=2&before=") && next.ends_with("~2~r-retry"),
            "{next}"
        );
        assert!(!first.contains("rel=\"prev\""), "{first}");
        let second = server.get(&format!("/{next}")).html(200);
        assert_eq!(row_ids(&second), ["r-retry", "r-ok"]);
        assert!(
            second.contains("rel=\"first\" href=\"?per_page=4&amp;page=1\""),
            "{second}"
        );
        assert!(second.contains("page 2"), "{second}");
        assert!(!second.contains("rel=\"next\""), "{second}");
        // Pages by number still read the same rows.
        let by_number = server.get("/?per_page=4&page=2").html(200);
        assert_eq!(row_ids(&by_number), ["r-retry", "r-ok"]);
        assert!(
            by_number.contains("rel=\"prev\" href=\"?per_page=4&amp;page=1\""),
            "{by_number}"
        );

        for (query, message) in [
            (
                "status=done",
                "status=&quot;done&quot;: expected running, success or failed",
            ),
            ("since=yesterday", "since: "),
            ("per_page=0", "per_page=&quot;0&quot;"),
            ("per_page=501", "per_page=501: at most 500"),
            ("page=999999&per_page=500", "narrow the list"),
            ("page=202", "pages by number reach back at most 10000 rows"),
            (
                "before=yesterday",
                "before=&quot;yesterday&quot;: expected START~ATTEMPT~RUN_ID",
            ),
        ] {
            let body = server.get(&format!("/?{query}")).html(400);
            assert!(body.contains(message), "{query}: {body}");
        }
    }
}

#[test]
fn the_run_page_draws_every_process_and_step_and_shows_the_root_cause() {
    for kind in kinds() {
        let history = standard(kind);
        let server = Server::start(&history.url(), &[]);
        let mut store = reader(&history);
        for (run_id, attempt) in [("r-bad", 1), ("r-ok", 1), ("r-retry", 1), ("r-retry", 2)] {
            let body = server
                .get(&format!("/runs/{run_id}?attempt={attempt}"))
                .html(200);
            let filter = RunFilter::default().run_id(run_id).attempt(attempt);
            let processes = store.read_processes(&filter).unwrap();
            let steps = store.read_steps(&filter).unwrap();
            assert_eq!(
                body.matches("data-process-run-id=").count(),
                processes.len()
            );
            assert_eq!(body.matches("data-step-run-id=").count(), steps.len());
            assert_eq!(
                body.matches("<rect ").count(),
                1 + processes.len() + steps.len()
            );
            // SVG elements are closed: the HTML parser does not close them.
            assert_eq!(
                body.matches("<line ").count(),
                body.matches("</line>").count()
            );
            assert_eq!(
                body.matches("<rect ").count(),
                body.matches("</rect>").count()
            );
            for p in &processes {
                let id = p.process_run_id.as_deref().unwrap();
                assert!(
                    body.contains(&format!("data-process-run-id=\"{id}\"")),
                    "{body}"
                );
            }
            for s in &steps {
                let id = s.step_run_id.as_deref().unwrap();
                let status = s.outcome.status.as_str();
                assert!(
                    body.contains(&format!(
                        "data-step-run-id=\"{id}\" data-status=\"{status}\""
                    )),
                    "{body}"
                );
            }
            let failed = run_id == "r-bad" || attempt == 1 && run_id == "r-retry";
            assert_eq!(
                body.contains("id=\"root-cause\""),
                failed,
                "{run_id} {attempt}"
            );
            if failed {
                let parse = steps.iter().find(|s| s.name == "parse").unwrap();
                let cause = &body[body.find("id=\"root-cause\"").unwrap()..];
                assert!(
                    cause.contains(&format!(
                        "parse <span class=\"note mono\">(step_run_id {})</span>",
                        parse.step_run_id.as_deref().unwrap()
                    )),
                    "{cause}"
                );
                assert!(
                    cause.contains("row 58: amount &quot;twelve&quot; is not a number"),
                    "{cause}"
                );
                assert!(cause.contains("BadAmount"), "{cause}");
                assert!(
                    body.contains("class=\"bar-failed step root-cause\""),
                    "{body}"
                );
            }
        }
        // The last attempt by default, with links to the others.
        let body = server.get("/runs/r-retry").html(200);
        assert!(body.contains("<strong>attempt 2</strong>"), "{body}");
        assert!(
            body.contains("href=\"/runs/r-retry?attempt=1\">attempt 1</a>"),
            "{body}"
        );
        assert!(
            body.contains("href=\"/api/v1/runs/r-retry?attempt=2\""),
            "{body}"
        );

        // An abandoned run says so, and reloads while it is `running`.
        let body = server.get("/runs/s-1").html(200);
        assert!(body.contains("(abandoned: "), "{body}");
        assert!(body.contains("data-live=\"5\""), "{body}");

        let body = server.get("/runs/nope").html(404);
        assert!(body.contains("no run &quot;nope&quot; recorded"), "{body}");
        let body = server.get("/runs/r-ok?attempt=7").html(404);
        assert!(
            body.contains("run r-ok has no attempt 7 (recorded: 1)"),
            "{body}"
        );
        server.get("/runs/r-ok?attempt=first").html(400);
        server.get("/no/such/page").html(404);
    }
}

#[test]
fn the_failures_page_groups_failures_and_marks_recovered_runs() {
    for kind in kinds() {
        let history = standard(kind);
        let server = Server::start(&history.url(), &[]);
        let body = server.get("/failures").html(200);
        assert_eq!(row_ids(&body), ["r-bad", "r-retry"], "{kind:?}");
        let rows: Vec<&str> = body.split("<tr data-run-id=").skip(1).collect();
        assert!(rows[0].contains("no retry recorded"), "{}", rows[0]);
        assert!(
            rows[1].contains("attempt 2</a> <span class=\"status-success\">success</span> <strong class=\"recovered\">recovered on retry</strong>"),
            "{}",
            rows[1]
        );
        // Two failures of one pipeline and error type, in one group.
        let groups =
            &body[body.find("class=\"groups\"").unwrap()..body.find("<h2>Failed runs").unwrap()];
        assert!(groups.contains("<td class=\"num\">2</td>"), "{groups}");
        let body = server.get("/failures?pipeline=weekly").html(200);
        assert!(body.contains("No failed runs."), "{body}");
    }
}

#[test]
fn the_running_page_shows_live_and_abandoned_entities() {
    for kind in kinds() {
        let history = standard(kind);
        let server = Server::start(&history.url(), &[]);
        let body = server.get("/running").html(200);
        assert_eq!(row_ids(&body), ["s-1", "s-1", "s-1"], "{kind:?}");
        assert_eq!(
            body.matches("<td class=\"abandoned\">abandoned</td>")
                .count(),
            3,
            "{body}"
        );
        assert!(body.contains("data-live=\"5\""), "{body}");

        // A run whose recorder still beats is live, and its page counts its time.
        let (layer, guard) = history.layer();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let spans = tracing::dispatcher::with_default(&dispatch, || {
            crate::cli_support::open_stuck("now", false)
        });
        guard.flush().unwrap();
        let body = server.get("/running").html(200);
        assert_eq!(
            body.matches("<td class=\"status-running\">live</td>")
                .count(),
            3,
            "{body}"
        );
        let body = server.get("/runs/now").html(200);
        assert!(body.contains("(live: recorder "), "{body}");
        assert!(body.contains("running for "), "{body}");
        assert!(body.contains("class=\"bar-running step\""), "{body}");
        drop(spans);
        guard.shutdown().unwrap();
    }
    let history = History::new(Kind::Sqlite);
    let server = Server::start(&history.url(), &[]);
    let body = server.get("/running").html(200);
    assert!(
        body.contains("Nothing is running.") && !body.contains("data-live"),
        "{body}"
    );
}

/// The CLI's `--json` output for `args`.
fn cli_json(history: &History, args: &[&str]) -> serde_json::Value {
    let out = bare_cli()
        .args(["--store", &history.url(), "--json"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_api_answers_what_the_cli_prints_as_json() {
    for kind in kinds() {
        let history = standard(kind);
        let server = Server::start(&history.url(), &[]);
        for (path, args) in [
            ("/api/v1/runs", &["runs"][..]),
            (
                "/api/v1/runs?pipeline=nightly&status=failed",
                &["runs", "--pipeline", "nightly", "--status", "failed"],
            ),
            ("/api/v1/runs/r-retry", &["show", "r-retry"]),
            (
                "/api/v1/runs/r-retry?attempt=1",
                &["show", "r-retry", "--attempt", "1"],
            ),
            ("/api/v1/failures", &["failures"]),
            ("/api/v1/running", &["running"]),
        ] {
            let response = server.get(path);
            assert_eq!(response.status, 200, "{path}: {}", response.body);
            assert_eq!(response.header("content-type"), Some("application/json"));
            assert_eq!(response.json(), cli_json(&history, args), "{kind:?} {path}");
        }
        let page = server.get("/api/v1/runs?per_page=2&page=3").json();
        let ids: Vec<_> = page
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["r-retry", "r-ok"]);

        for (path, status, message) in [
            ("/api/v1/runs/nope", 404, "no run \"nope\" recorded"),
            ("/api/v1/runs?status=done", 400, "status=\"done\""),
            ("/api/v1/nope", 404, "no such API route"),
        ] {
            let response = server.get(path);
            assert_eq!(response.status, status, "{path}");
            let error = response.json();
            assert!(
                error["error"].as_str().unwrap().contains(message),
                "{path}: {error}"
            );
        }
    }
}

#[test]
fn the_trace_link_follows_the_template() {
    let history = standard(Kind::Sqlite);
    stamp_trace(&history, "r-bad", TRACE_ID);
    let template = "http://jaeger.test/trace/{trace_id}?uiFind={span_id}";
    let server = Server::start(&history.url(), &["--trace-url", template]);
    let body = server.get("/runs/r-bad").html(200);
    let link = format!("http://jaeger.test/trace/{TRACE_ID}?uiFind=00f067aa0ba902b7");
    let anchor = format!(
        "<a href=\"{}\" rel=\"noreferrer noopener\">",
        link.replace('&', "&amp;")
    );
    assert!(body.contains(&anchor), "{body}");
    let body = server.get("/failures").html(200);
    assert!(body.contains(&anchor), "{body}");
    // A run without a trace id has no link.
    let body = server.get("/runs/r-ok").html(200);
    assert!(!body.contains("jaeger.test"), "{body}");

    let json = server.get("/api/v1/runs/r-bad").json();
    assert_eq!(json["trace_url"], link.as_str());
    let out = bare_cli()
        .args([
            "--store",
            &history.url(),
            "--json",
            "--trace-url",
            template,
            "show",
            "r-bad",
        ])
        .output()
        .unwrap();
    assert_eq!(
        json,
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    );
}

pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Gives the pipeline record of `run_id` the trace ids the OTel export would have stamped on it.
pub fn stamp_trace(history: &History, run_id: &str, trace_id: &str) {
    let path = history.url();
    let mut store = SqliteStore::open(path.strip_prefix("sqlite:").unwrap()).unwrap();
    let mut run = store
        .read_pipelines(&RunFilter::default().run_id(run_id))
        .unwrap()
        .remove(0);
    run.trace_id = Some(trace_id.into());
    run.span_id = Some("00f067aa0ba902b7".into());
    store.write_batch(&[run]).unwrap();
}

#[test]
fn the_stylesheet_and_script_are_served_from_the_binary() {
    let history = History::new(Kind::Sqlite);
    let server = Server::start(&history.url(), &[]);
    let css = server.get("/assets/style.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.body.contains("svg.timeline"));
    let js = server.get("/assets/live.js");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.body.contains("location.reload()"));
    let page = server.get("/").html(200);
    assert!(
        page.contains("<link rel=\"stylesheet\" href=\"/assets/style.css\">"),
        "{page}"
    );
    assert!(
        page.contains("<script src=\"/assets/live.js\" defer></script>"),
        "{page}"
    );
}

#[test]
fn the_pipeline_page_sums_up_the_last_runs() {
    for kind in kinds() {
        let history = standard(kind);
        let server = Server::start(&history.url(), &[]);
        let body = server.get("/pipelines/nightly").html(200);
        assert!(body.contains("The last 4 runs."), "{body}");
        // r-ok and r-retry's second attempt succeeded, r-bad and r-retry's first failed.
        assert!(
            body.contains("<strong class=\"success-rate\">50%</strong>"),
            "{body}"
        );
        let chart = &body[body.find("<svg class=\"chart\"").unwrap()..body.find("</svg>").unwrap()];
        assert_eq!(chart.matches("<rect ").count(), 4, "{chart}");
        assert_eq!(
            chart.matches("data-status=\"failed\"").count(),
            2,
            "{chart}"
        );
        let steps: Vec<&str> = body
            .split("<tr data-step=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert_eq!(steps, ["parse", "publish", "read"], "{kind:?}");
        let parse = body.split("<tr data-step=\"parse\">").nth(1).unwrap();
        assert!(
            parse.starts_with("<td>parse</td><td class=\"num\">4</td><td class=\"num\">2</td>"),
            "{parse}"
        );
        assert_eq!(row_ids(&body), ["r-bad", "r-retry", "r-retry", "r-ok"]);
        assert!(
            body.contains("href=\"/?pipeline=nightly\">All its runs</a>"),
            "{body}"
        );

        let body = server.get("/pipelines/nightly?runs=2").html(200);
        assert_eq!(row_ids(&body), ["r-bad", "r-retry"]);
        let body = server.get("/pipelines/monthly").html(404);
        assert!(
            body.contains("no run of pipeline &quot;monthly&quot; recorded"),
            "{body}"
        );
        server.get("/pipelines/nightly?runs=0").html(400);
        let body = server.get("/pipelines/nightly?runs=201").html(400);
        assert!(body.contains("runs=201: at most 200"), "{body}");
        // The run page links to its pipeline's page.
        let body = server.get("/runs/r-ok").html(200);
        assert!(
            body.contains("<a href=\"/pipelines/nightly\">nightly</a>"),
            "{body}"
        );

        // The same as JSON: the runs as `runs --json` prints them, the rate, the steps.
        let response = server.get("/api/v1/pipelines/nightly");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let api = response.json();
        assert_eq!(api["pipeline"], "nightly", "{api}");
        assert_eq!(
            api["runs"],
            cli_json(&history, &["runs", "--pipeline", "nightly"]),
            "{kind:?}"
        );
        assert_eq!(api["success_rate"], 0.5, "{api}");
        let names: Vec<&str> = api["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["parse", "publish", "read"], "{api}");
        let parse = &api["steps"][0];
        assert_eq!((&parse["count"], &parse["failed"]), (&4.into(), &2.into()));
        assert!(
            parse["median_ms"].is_u64() && parse["p95_ms"].is_u64(),
            "{parse}"
        );
        let runs = server.get("/api/v1/pipelines/nightly?runs=2").json();
        assert_eq!(runs["runs"].as_array().unwrap().len(), 2, "{runs}");
        let missing = server.get("/api/v1/pipelines/monthly");
        assert_eq!(missing.status, 404);
        assert!(
            missing.json()["error"]
                .as_str()
                .unwrap()
                .contains("no run of pipeline \"monthly\" recorded"),
            "{}",
            missing.body
        );
        assert_eq!(server.get("/api/v1/pipelines/nightly?runs=0").status, 400);
    }
}

#[test]
fn the_pipeline_page_names_the_steps_that_got_slower() {
    let history = History::new(Kind::Sqlite);
    history.record(|| {
        // Oldest first: two quick runs of `load`, then two slow ones.
        for (run_id, sleep_ms) in [("s-1", 0), ("s-2", 0), ("s-3", 80), ("s-4", 80)] {
            let pipeline = tracing::info_span!("p", etl.pipeline = "slowing", etl.run_id = run_id);
            pipeline.in_scope(|| {
                let _load = tracing::info_span!("load", etl.step = "load").entered();
                std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
            });
            // Distinct start times, so that "newest" is well defined.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let server = Server::start(&history.url(), &[]);
    let body = server.get("/pipelines/slowing").html(200);
    let slower = &body[body.find("<h2>Slower steps</h2>").unwrap()..];
    assert!(
        slower.contains("<ul class=\"slower\"><li><strong>load</strong>: median "),
        "{slower}"
    );
}
