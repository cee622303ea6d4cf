//! `tracing-etl runs`: newest first, filters, `--since` parsing, table and JSON output.

use crate::cli_support;

use cli_support::{cli, nightly, weekly, History};
use serde_json::Value;
use tracing_etl::EtlInstrument;

fn history() -> History {
    let history = History::new();
    history.record(|| {
        nightly("run-1", 1, false).unwrap();
        nightly("run-2", 1, true).unwrap_err();
        weekly("run-3");
    });
    history
}

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn table_lists_runs_newest_first_with_status_duration_and_failed_step() {
    let history = history();
    let out = stdout(cli(&history.path).arg("runs"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "RUN", "ID", "PIPELINE", "ATTEMPT", "STATUS", "STARTED", "(UTC)", "DURATION", "FAILED",
            "STEP"
        ]
    );
    let cells = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let run3 = cells(lines[1]);
    assert_eq!(&run3[..4], ["run-3", "weekly", "1", "success"]);
    let run2 = cells(lines[2]);
    assert_eq!(&run2[..4], ["run-2", "nightly", "1", "failed"]);
    assert_eq!(run2.last().unwrap(), "parse");
    assert!(run2[6].ends_with("ms"), "duration: {run2:?}");
    assert_eq!(cells(lines[3])[0], "run-1");
    // Columns are aligned: every status starts in the same column.
    let col = lines[0].find("STATUS").unwrap();
    for line in &lines[1..] {
        assert!(
            line[col..].starts_with("success") || line[col..].starts_with("failed"),
            "{line:?}"
        );
    }
    // Piped output is never coloured.
    assert!(!out.contains('\u{1b}'), "{out:?}");
}

#[test]
fn json_is_an_array_of_records_keyed_by_field_names() {
    let history = history();
    let out = stdout(cli(&history.path).args(["runs", "--json"]));
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(runs.len(), 3);
    let failed = &runs[1];
    assert_eq!(failed["run_id"], "run-2");
    assert_eq!(failed["pipeline"], "nightly");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["event"], "pipeline_end");
    assert_eq!(failed["attempt"], 1);
    assert_eq!(failed["failed_step"], "parse");
    assert_eq!(failed["error_type"], "BadAmount");
    assert_eq!(
        failed["error_message"],
        "row 58: amount \"twelve\" is not a number"
    );
    assert!(failed["duration_ms"].is_u64());
    assert!(failed["recorder_id"].is_string());
    for key in [
        "correlation_id",
        "trace_id",
        "span_id",
        "started_at",
        "last_attempt",
    ] {
        assert!(failed.get(key).is_some(), "missing {key}");
    }
    assert!(failed.get("trace_url").is_none(), "no template, no link");
}

#[test]
fn filters_by_status_pipeline_and_limit() {
    let history = history();
    let ids = |args: &[&str]| -> Vec<String> {
        let out = stdout(cli(&history.path).arg("runs").arg("--json").args(args));
        serde_json::from_str::<Vec<Value>>(&out)
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&["--status", "failed"]), ["run-2"]);
    assert_eq!(ids(&["--status", "success"]), ["run-3", "run-1"]);
    assert!(ids(&["--status", "running"]).is_empty());
    assert_eq!(ids(&["--pipeline", "nightly"]), ["run-2", "run-1"]);
    assert_eq!(ids(&["--limit", "1"]), ["run-3"]);
    assert!(ids(&["--pipeline", "nope"]).is_empty());
}

#[test]
fn since_takes_durations_and_dates() {
    let history = history();
    let count = |since: &str| -> usize {
        let out = stdout(cli(&history.path).args(["runs", "--json", "--since", since]));
        serde_json::from_str::<Vec<Value>>(&out).unwrap().len()
    };
    assert_eq!(count("24h"), 3);
    assert_eq!(count("2000-01-01"), 3);
    assert_eq!(count("2000-01-01T00:00:00Z"), 3);
    assert_eq!(count("2999-01-01"), 0);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(count(&tomorrow), 0);

    for bad in ["yesterday", "24", "2026-13-01", ""] {
        let assert = cli(&history.path)
            .args(["runs", "--since", bad])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(err.contains("--since"), "{bad:?}: {err}");
    }
}

#[test]
fn an_empty_history_lists_nothing() {
    let history = History::new();
    let out = stdout(cli(&history.path).arg("runs"));
    assert_eq!(out.trim(), "no pipeline runs match");
    let out = stdout(cli(&history.path).args(["runs", "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn db_comes_from_the_environment_when_not_given() {
    let history = history();
    let out = cli_support::bare_cli()
        .env("TRACING_ETL_DB", &history.path)
        .args(["runs", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(serde_json::from_slice::<Vec<Value>>(&out).unwrap().len(), 3);
}

#[test]
fn filters_cancelled_runs_and_prints_their_status() {
    let history = History::new();
    history.record(|| {
        nightly("run-1", 1, false).unwrap();
        // A pipeline whose future was dropped before it completed.
        let span = tracing::info_span!("nightly", etl.pipeline = true, etl.run_id = "run-2");
        drop(std::future::pending::<()>().instrument_tracked(span));
    });
    let out = stdout(
        cli(&history.path)
            .args(["runs", "--json", "--status", "cancelled"])
            .env("NO_COLOR", "1"),
    );
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(runs.len(), 1, "{out}");
    assert_eq!(runs[0]["run_id"], "run-2");
    assert_eq!(runs[0]["status"], "cancelled");
    assert_eq!(runs[0]["error_type"], "cancelled");
    let table = stdout(cli(&history.path).arg("runs").env("NO_COLOR", "1"));
    let line = table.lines().find(|l| l.contains("run-2")).unwrap();
    assert!(line.contains("cancelled"), "{table}");
}
