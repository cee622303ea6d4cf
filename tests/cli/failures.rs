//! `tracing-etl failures`: failed runs with their root cause and trace link; exit status 1 when
//! there are any.

use crate::cli_support;

use cli_support::{cli, nightly, History};
use serde_json::Value;
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecordStore, SqliteStore,
};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// Two failed runs and a successful one; the newer failure carries the trace ids that the OTel
/// export would have stamped on it.
fn history() -> History {
    let history = History::new();
    history.record(|| {
        nightly("ok-1", 1, false).unwrap();
        nightly("bad-1", 1, true).unwrap_err();
        nightly("bad-2", 1, true).unwrap_err();
    });
    let mut store = SqliteStore::open(&history.path).unwrap();
    let mut run = store
        .read_pipelines(&RunFilter::default().run_id("bad-2"))
        .unwrap()
        .remove(0);
    run.trace_id = Some(TRACE_ID.into());
    run.span_id = Some(SPAN_ID.into());
    store.write_batch(&[run]).unwrap();
    history
}

#[test]
fn failures_are_listed_with_root_cause_and_exit_status_1() {
    let history = history();
    let assert = cli(&history.path).arg("failures").assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for key in ["RUN ID", "PIPELINE", "FAILED STEP", "ERROR", "TRACE"] {
        assert!(lines[0].contains(key), "{out}");
    }
    assert!(lines[1].starts_with("bad-2 "), "{out}");
    assert!(lines[2].starts_with("bad-1 "), "{out}");
    for line in &lines[1..] {
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells[4], "parse", "{line}");
        assert_eq!(
            cells[5], "BadAmount: row 58: amount \"twelve\" is not a number",
            "{line}"
        );
    }
    // Without a template the trace id itself is shown, for pasting.
    assert!(lines[1].ends_with(TRACE_ID), "{out}");
    assert!(!lines[2].contains(TRACE_ID), "{out}");
}

#[test]
fn trace_links_come_from_the_template_or_the_environment() {
    let history = history();
    let jaeger = "http://localhost:16686/trace/{trace_id}";
    let link = format!("http://localhost:16686/trace/{TRACE_ID}");
    let assert = cli(&history.path)
        .args(["failures", "--trace-url", jaeger])
        .assert()
        .code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(out.lines().nth(1).unwrap().ends_with(&link), "{out}");

    let assert = cli(&history.path)
        .env(
            "TRACING_ETL_TRACE_URL",
            "https://jaeger.example/trace/{trace_id}?uiFind={span_id}",
        )
        .args(["failures", "--json"])
        .assert()
        .code(1);
    let runs: Vec<Value> = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0]["trace_url"],
        format!("https://jaeger.example/trace/{TRACE_ID}?uiFind={SPAN_ID}")
    );
    assert_eq!(runs[0]["trace_id"], TRACE_ID);
    assert!(runs[1].get("trace_url").is_none(), "no trace id, no link");
    assert_eq!(runs[1]["failed_step"], "parse");

    // `show` links the run's trace too.
    let out = cli(&history.path)
        .args(["show", "bad-2", "--trace-url", jaeger])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(&format!("trace: {link}\n")), "{out}");

    // A template without the placeholder is a usage error.
    let assert = cli(&history.path)
        .args(["failures", "--trace-url", "http://localhost:16686/trace/"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(err.contains("{trace_id}"), "{err}");
}

#[test]
fn since_and_pipeline_narrow_the_failures_and_none_is_exit_status_0() {
    let history = history();
    let assert = cli(&history.path)
        .args(["failures", "--since", "1h", "--json"])
        .assert()
        .code(1);
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&assert.get_output().stdout)
            .unwrap()
            .len(),
        2
    );
    cli(&history.path)
        .args(["failures", "--pipeline", "weekly"])
        .assert()
        .code(0)
        .stdout("no failed runs\n");
    cli(&history.path)
        .args(["failures", "--since", "2999-01-01", "--json"])
        .assert()
        .code(0)
        .stdout("[]\n");
    let clean = History::new();
    clean.record(|| nightly("ok", 1, false).unwrap());
    cli(&clean.path).arg("failures").assert().code(0);
}

/// The run id the layer gave the step `name` (recorded outside any pipeline span).
fn run_id_of_step(history: &History, name: &str) -> String {
    history
        .reader()
        .read_steps(&RunFilter::default().name(name))
        .unwrap()
        .remove(0)
        .run
        .run_id
}

#[test]
fn a_failure_outside_any_pipeline_is_listed_and_shown() {
    let history = History::new();
    history.record(|| {
        nightly("ok-1", 1, false).unwrap();
        cli_support::orphan().unwrap_err();
    });
    let run_id = run_id_of_step(&history, "orphan");

    let assert = cli(&history.path).arg("failures").assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let cells: Vec<&str> = lines[1]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[0], run_id, "{out}");
    assert_eq!(cells[1], "-", "{out}");
    assert_eq!(cells[4], "orphan", "{out}");
    assert_eq!(
        cells[5], "BadAmount: row 58: amount \"twelve\" is not a number",
        "{out}"
    );
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("has no pipeline record"), "{err}");

    let json = cli(&history.path)
        .args(["failures", "--json"])
        .assert()
        .code(1);
    let json: Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["kind"], "step");
    assert_eq!(json[0]["run_id"], run_id.as_str());
    assert_eq!(json[0]["step"], "orphan");
    // A filter by pipeline leaves it out: it has none.
    cli(&history.path)
        .args(["failures", "--pipeline", "nightly"])
        .assert()
        .code(0);

    let out = cli(&history.path)
        .args(["show", &run_id])
        .assert()
        .success();
    let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        out.starts_with(&format!("run {run_id}  (no pipeline record)\n")),
        "{out}"
    );
    let orphan = out
        .lines()
        .find(|l| l.contains("orphan"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(orphan.contains(" step "), "{orphan}");
    assert!(orphan.contains(" failed "), "{orphan}");
    assert!(orphan.contains("BadAmount: row 58"), "{orphan}");
    let json = cli(&history.path)
        .args(["show", &run_id, "--json"])
        .assert()
        .success();
    let json: Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(json["run_id"], run_id.as_str());
    assert_eq!(json["steps"][0]["step"], "orphan");
    assert_eq!(json["steps"][0]["status"], "failed");
}

#[test]
fn a_run_whose_latest_attempt_succeeded_is_not_a_failure() {
    use cli_support::retried;

    let history = History::new();
    history.record(|| {
        retried("retry-1", 1, true).unwrap_err();
        retried("retry-1", 2, false).unwrap();
    });
    let assert = cli(&history.path).arg("failures").assert().code(0);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(out, "no failed runs\n");

    // Every failed attempt on request.
    let assert = cli(&history.path)
        .args(["failures", "--all-attempts", "--json"])
        .assert()
        .code(1);
    let json: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["run_id"], "retry-1");
    assert_eq!(json[0]["attempt"], 1);

    // A run whose latest attempt failed is one, listed by that attempt.
    history.record(|| {
        retried("retry-2", 1, true).unwrap_err();
        retried("retry-2", 2, true).unwrap_err();
    });
    let assert = cli(&history.path)
        .args(["failures", "--json"])
        .assert()
        .code(1);
    let json: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let listed: Vec<(&str, u64)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["run_id"].as_str().unwrap(),
                f["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("retry-2", 2)]);

    // `show` judges "the last" by what is recorded, not by the flag set when the span opened.
    let show = |args: &[&str]| {
        let out = cli(&history.path).arg("show").args(args).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let out = show(&["retry-1"]);
    assert!(
        out.starts_with("run retry-1  pipeline retried  attempt 2\n"),
        "{out}"
    );
    let out = show(&["retry-1", "--attempt", "1"]);
    assert!(
        out.starts_with(
            "run retry-1  pipeline retried  attempt 1 (not the last: attempt 2 recorded later)\n"
        ),
        "{out}"
    );
    let out = show(&["retry-2"]);
    assert!(
        out.starts_with(
            "run retry-2  pipeline retried  attempt 2 \
             (the latest recorded; the job planned another attempt)\n"
        ),
        "{out}"
    );
}
