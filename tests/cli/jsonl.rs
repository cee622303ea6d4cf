//! The `tracing-etl` tool against a JSON Lines run history (`--jsonl DIR`) recorded through the
//! real layer: `runs`, `show`, `failures`, `running`, `reap`; a missing directory; incomplete
//! and corrupt lines.

use crate::cli_support;

use std::path::{Path, PathBuf};

use cli_support::{bare_cli, nightly, open_stuck, weekly};
use serde_json::Value;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecordsLayer, JsonLinesStore, RunStatus};
use tracing_subscriber::prelude::*;

/// A JSON Lines run history in a temporary directory.
struct History {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl History {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("history");
        History { _tmp: tmp, dir }
    }

    /// Runs `f` under the layer writing to this history, then shuts the writer down cleanly.
    fn record(&self, f: impl FnOnce()) {
        let (layer, guard) = ExecutionRecordsLayer::new(JsonLinesStore::open(&self.dir).unwrap());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        assert_eq!(guard.shutdown().unwrap().dropped, 0);
    }

    /// Records `stuck` (run `run_id`) whose spans are still open when the writer shuts down.
    fn record_stuck(&self, run_id: &str) {
        let (layer, guard) = ExecutionRecordsLayer::new(JsonLinesStore::open(&self.dir).unwrap());
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck(run_id, true));
        guard.shutdown().unwrap();
        drop(spans);
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn cli(&self) -> assert_cmd::Command {
        cli(&self.dir)
    }
}

fn cli(dir: &Path) -> assert_cmd::Command {
    let mut cmd = bare_cli();
    cmd.arg("--jsonl").arg(dir);
    cmd
}

fn history() -> History {
    let history = History::new();
    history.record(|| {
        nightly("run-1", 1, false).unwrap();
        nightly("run-2", 1, true).unwrap_err();
        weekly("run-3");
    });
    history
}

fn stdout(cmd: &mut assert_cmd::Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(cmd: &mut assert_cmd::Command, code: i32) -> Value {
    serde_json::from_str(&stdout(cmd.arg("--json"), code)).unwrap()
}

#[test]
fn runs_lists_the_latest_state_of_each_run() {
    let history = history();
    let runs = json(history.cli().arg("runs"), 0);
    let runs = runs.as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["run-3", "run-2", "run-1"],
        "newest first, one row each"
    );
    let failed = &runs[1];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["event"], "pipeline_end");
    assert_eq!(failed["failed_step"], "parse");
    assert_eq!(failed["error_type"], "BadAmount");
    assert!(failed["duration_ms"].is_u64());

    let out = stdout(history.cli().args(["runs", "--status", "failed"]), 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with("run-2 "), "{out}");
    assert!(lines[1].contains(" failed "), "{out}");
}

#[test]
fn show_is_a_tree_with_the_root_cause() {
    let history = history();
    let out = stdout(history.cli().args(["show", "run-2"]), 0);
    assert!(
        out.starts_with("run run-2  pipeline nightly  attempt 1\n"),
        "{out}"
    );
    let parse = out
        .lines()
        .find(|l| l.contains("parse"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(parse.contains("← root cause"), "{out}");
    assert!(
        parse.ends_with("BadAmount: row 58: amount \"twelve\" is not a number"),
        "{out}"
    );
    assert!(!out.contains("publish"), "{out}");

    let run = json(history.cli().args(["show", "run-1"]), 0);
    assert_eq!(run["status"], "success");
    let steps: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["read", "parse", "publish"]);
    assert_eq!(
        run["steps"][0]["process_run_id"],
        run["processes"][0]["process_run_id"]
    );
    assert_eq!(run["steps"][2]["process_run_id"], Value::Null);
}

#[test]
fn a_failure_outside_any_pipeline_is_listed_and_shown() {
    let history = History::new();
    history.record(|| {
        cli_support::orphan().unwrap_err();
    });
    let failures = json(history.cli().arg("failures"), 1);
    assert_eq!(failures.as_array().unwrap().len(), 1, "{failures}");
    assert_eq!(failures[0]["kind"], "step");
    assert_eq!(failures[0]["step"], "orphan");
    let run_id = failures[0]["run_id"].as_str().unwrap().to_owned();
    let run = json(history.cli().args(["show", &run_id]), 0);
    assert_eq!(run["run_id"], run_id.as_str());
    assert_eq!(run["steps"][0]["step"], "orphan");
    assert_eq!(run["steps"][0]["error_type"], "BadAmount");
}

#[test]
fn failures_exit_with_status_1() {
    let history = history();
    let failures = json(history.cli().arg("failures"), 1);
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["run_id"], "run-2");
    assert_eq!(failures[0]["failed_step"], "parse");

    let clean = History::new();
    clean.record(|| weekly("fine"));
    let out = stdout(clean.cli().arg("failures"), 0);
    assert!(!out.contains("fine"), "{out}");
}

#[test]
fn running_then_reap_appends_end_records() {
    let history = History::new();
    history.record(|| nightly("done", 1, false).unwrap());
    history.record_stuck("stuck-1");

    let running = json(history.cli().arg("running"), 0);
    let summary: Vec<(&str, &str, &str)> = running
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["run_id"].as_str().unwrap(),
                e["liveness"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("pipeline", "stuck-1", "abandoned"),
            ("process", "stuck-1", "abandoned"),
            ("step", "stuck-1", "abandoned"),
        ]
    );

    // A dry run writes nothing.
    let steps_before = std::fs::read(history.file("step_runs.jsonl")).unwrap();
    let planned = json(history.cli().args(["reap", "--dry-run"]), 0);
    assert_eq!(planned.as_array().unwrap().len(), 3);
    assert_eq!(
        std::fs::read(history.file("step_runs.jsonl")).unwrap(),
        steps_before
    );

    let reaped = json(history.cli().arg("reap"), 0);
    assert_eq!(reaped.as_array().unwrap().len(), 3);
    // Appended: the old lines are intact, one end line more for the step `write`.
    let steps_after = std::fs::read(history.file("step_runs.jsonl")).unwrap();
    assert!(steps_after.starts_with(&steps_before));
    let added: Vec<Value> = std::str::from_utf8(&steps_after[steps_before.len()..])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["step"], "write");
    assert_eq!(added[0]["event"], "step_end");
    assert_eq!(added[0]["error_type"], "abandoned");

    let running = json(history.cli().arg("running"), 0);
    assert_eq!(running, Value::Array(vec![]));
    let mut store = JsonLinesStore::open_read_only(&history.dir).unwrap();
    let stuck = store
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .into_iter()
        .find(|p| p.run.run_id == "stuck-1")
        .unwrap();
    assert_eq!(stuck.outcome.status, RunStatus::Failed);
    assert_eq!(stuck.failed_step(), Some("check"));
    // A second reap finds nothing.
    let out = stdout(history.cli().arg("reap"), 0);
    assert_eq!(out, "nothing to reap: no abandoned entities\n");
}

#[test]
fn a_missing_directory_is_an_error_and_is_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    for command in [
        &["runs"][..],
        &["show", "latest"],
        &["failures"],
        &["running"],
        &["reap"],
        &["reap", "--dry-run"],
    ] {
        let out = cli(&missing)
            .args(command)
            .assert()
            .code(2)
            .get_output()
            .clone();
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("tracing-etl: no run history at ") && err.contains("nope"),
            "{err}"
        );
        assert!(!missing.exists(), "{command:?} created the directory");
    }

    let file = tmp.path().join("runs.db");
    std::fs::write(&file, "").unwrap();
    let out = cli(&file).arg("runs").assert().code(2).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn an_incomplete_last_line_is_a_warning_on_stderr_and_the_command_succeeds() {
    let history = history();
    let path = history.file("pipeline_runs.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"event\":\"pipeline_start\",\"run_id\":\"run-");
    std::fs::write(&path, text).unwrap();

    let out = history
        .cli()
        .args(["runs", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 3);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tracing-etl: warning: "), "{err}");
    assert!(err.contains("pipeline_runs.jsonl line 7"), "{err}");
}

#[test]
fn a_corrupt_line_in_the_middle_is_an_error_naming_file_and_line() {
    let history = history();
    let path = history.file("step_runs.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, "[not a record]");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let out = history
        .cli()
        .args(["show", "run-1"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("step_runs.jsonl line 2"), "{err}");
    // Commands that do not read that file still work.
    history.cli().arg("runs").assert().success();
}
