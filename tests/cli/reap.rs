//! `tracing-etl reap`: abandoned entities become `failed` with `error_type = "abandoned"`;
//! live ones are left alone; a second reap changes nothing; `--dry-run` writes nothing.

use crate::cli_support;

use cli_support::{cli, nightly, open_stuck, record_stuck, History};
use serde_json::Value;
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecord, ExecutionRecordsLayer, RunStatus, SqliteStore,
};
use tracing_subscriber::prelude::*;

type Snapshot = (
    Vec<ExecutionRecord>,
    Vec<ExecutionRecord>,
    Vec<ExecutionRecord>,
);

fn snapshot(history: &History) -> Snapshot {
    let mut store = history.reader();
    let all = RunFilter::default();
    (
        store.read_pipelines(&all).unwrap(),
        store.read_processes(&all).unwrap(),
        store.read_steps(&all).unwrap(),
    )
}

#[test]
fn dry_run_shows_what_would_be_reaped_and_writes_nothing() {
    let history = History::new();
    record_stuck(&history, "stuck-1");
    let before = snapshot(&history);
    let out = cli(&history.path)
        .args(["reap", "--dry-run"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("would mark 3 abandoned entities failed (dry run, nothing written):\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 5, "{out}");
    assert_eq!(snapshot(&history), before);

    let out = cli(&history.path)
        .args(["reap", "--dry-run", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let planned: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(planned.len(), 3);
    assert!(planned.iter().all(|r| r["status"] == "failed"));
    assert_eq!(snapshot(&history), before);
}

#[test]
fn abandoned_entities_are_marked_failed_and_a_second_reap_changes_nothing() {
    let history = History::new();
    history.record(|| nightly("done", 1, false).unwrap());
    record_stuck(&history, "stuck-1");
    let before = snapshot(&history);

    let out = cli(&history.path)
        .args(["reap", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let reaped: Vec<Value> = serde_json::from_slice(&out).unwrap();
    let kinds: Vec<&str> = reaped.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pipeline", "process", "step"]);

    let (pipelines, processes, steps) = snapshot(&history);
    // The finished run is untouched.
    assert_eq!(pipelines[0], before.0[0]);
    let pipeline = &pipelines[1];
    assert_eq!(pipeline.run.run_id, "stuck-1");
    assert_eq!(pipeline.outcome.status, RunStatus::Failed);
    assert_eq!(pipeline.event().as_str(), "pipeline_end");
    assert_eq!(
        pipeline.outcome.error.type_name.as_deref(),
        Some("abandoned")
    );
    assert_eq!(pipeline.outcome.duration_ms, None, "nobody saw it end");
    let message = pipeline.outcome.error.message.as_deref().unwrap();
    assert!(message.starts_with("recorder "), "{message}");
    assert!(message.contains("shut down at"), "{message}");
    assert!(
        message.contains("marked failed by tracing-etl reap at"),
        "{message}"
    );
    // Everything else is kept.
    assert_eq!(pipeline.started_at, before.0[1].started_at);
    assert_eq!(pipeline.recorder_id, before.0[1].recorder_id);

    // Root cause: the first failed step — `check` failed before the program went away.
    let check = steps.iter().find(|s| s.name == "check").unwrap();
    assert_eq!(check.outcome.status, RunStatus::Failed);
    assert_eq!(
        check.outcome.error.type_name.as_deref(),
        Some("CheckError"),
        "not reaped"
    );
    assert_eq!(pipeline.failed_step(), Some("check"));
    assert_eq!(pipeline.failed_step_run_id(), check.step_run_id.as_deref());
    let load = processes
        .iter()
        .find(|p| p.run.run_id == "stuck-1")
        .unwrap();
    assert_eq!(load.outcome.status, RunStatus::Failed);
    assert_eq!(load.outcome.error.type_name.as_deref(), Some("abandoned"));
    assert_eq!(load.failed_step(), Some("check"));
    let write = steps.iter().find(|s| s.name == "write").unwrap();
    assert_eq!(write.outcome.status, RunStatus::Failed);
    assert_eq!(write.event().as_str(), "step_end");
    assert_eq!(write.outcome.error.type_name.as_deref(), Some("abandoned"));

    // `show` tells both: the root cause, and that the run was abandoned.
    let out = cli(&history.path)
        .args(["show", "stuck-1"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let line = |name: &str| {
        out.lines()
            .find(|l| {
                l.trim_start_matches(['├', '└', '│', '─', ' '])
                    .starts_with(name)
            })
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    assert!(line("stuck ").contains("  abandoned: recorder "), "{out}");
    assert!(line("load ").contains("  abandoned: recorder "), "{out}");
    assert!(
        line("check  ← root cause").ends_with("CheckError: 3 rows without a key"),
        "{out}"
    );
    assert!(out.contains("root cause: step check "), "{out}");

    // Idempotent: nothing left to reap, nothing changes.
    let after = snapshot(&history);
    cli(&history.path)
        .arg("reap")
        .assert()
        .success()
        .stdout("nothing to reap: no abandoned entities\n");
    assert_eq!(snapshot(&history), after);
    cli(&history.path)
        .args(["running", "--json"])
        .assert()
        .success()
        .stdout("[]\n");
    // The reaped run is now a failure like any other.
    let out = cli(&history.path)
        .args(["failures", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let failures: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(failures[0]["run_id"], "stuck-1");
    assert_eq!(failures[0]["error_type"], "abandoned");
}

#[test]
fn without_an_earlier_failure_the_step_it_died_in_is_the_root_cause() {
    let history = History::new();
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&history.path).unwrap());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck("clean", false));
    guard.shutdown().unwrap();
    drop(spans);

    let out = cli(&history.path)
        .arg("reap")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("marked 3 abandoned entities failed:\n"),
        "{out}"
    );
    let (pipelines, processes, steps) = snapshot(&history);
    let write = steps.iter().find(|s| s.name == "write").unwrap();
    assert_eq!(pipelines[0].failed_step(), Some("write"));
    assert_eq!(
        pipelines[0].failed_step_run_id(),
        write.step_run_id.as_deref()
    );
    assert_eq!(processes[0].failed_step(), Some("write"));
    let check = steps.iter().find(|s| s.name == "check").unwrap();
    assert_eq!(check.outcome.status, RunStatus::Success);

    let out = cli(&history.path)
        .args(["show", "clean"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("write  ← root cause"), "{out}");
    assert!(out.contains("  type     abandoned\n"), "{out}");
}

#[test]
fn live_entities_are_left_alone() {
    let history = History::new();
    record_stuck(&history, "dead");
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&history.path).unwrap());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck("alive", false));
    guard.flush().unwrap();

    cli(&history.path).arg("reap").assert().success();
    let (pipelines, _, steps) = snapshot(&history);
    let status = |run: &str| {
        pipelines
            .iter()
            .find(|p| p.run.run_id == run)
            .unwrap()
            .outcome
            .status
    };
    assert_eq!(status("dead"), RunStatus::Failed);
    assert_eq!(status("alive"), RunStatus::Running);
    assert!(steps
        .iter()
        .filter(|s| s.run.run_id == "alive" && s.name == "write")
        .all(|s| s.outcome.status == RunStatus::Running));

    // `--older-than` spares recent entities even when abandoned.
    tracing::dispatcher::with_default(&dispatch, || drop(spans));
    guard.shutdown().unwrap();
    let history2 = History::new();
    record_stuck(&history2, "recent");
    cli(&history2.path)
        .args(["reap", "--older-than", "1h"])
        .assert()
        .success()
        .stdout("nothing to reap: no abandoned entities\n");
    assert_eq!(
        snapshot(&history2).0[0].outcome.status,
        RunStatus::Running,
        "spared by --older-than"
    );
}

#[cfg(feature = "openlineage")]
#[test]
fn with_the_openlineage_variables_reap_sends_an_abort_event_for_each_entity_it_marks() {
    let history = History::new();
    record_stuck(&history, "stuck-1");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let out = cli(&history.path)
        .arg("reap")
        .env("OPENLINEAGE__TRANSPORT__TYPE", "file")
        .env("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", &path)
        .env("OPENLINEAGE_NAMESPACE", "nightly")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("sent 3 OpenLineage ABORT events\n"),
        "{out}"
    );

    let events: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut names: Vec<&str> = events
        .iter()
        .map(|e| e["job"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["stuck", "stuck.load", "stuck.load.write"]);
    assert!(events.iter().all(|e| e["eventType"] == "ABORT"));
    assert!(events.iter().all(|e| e["job"]["namespace"] == "nightly"));
    let by_name = |name: &str| events.iter().find(|e| e["job"]["name"] == name).unwrap();
    assert_eq!(
        by_name("stuck.load.write")["run"]["facets"]["parent"]["run"]["runId"],
        by_name("stuck.load")["run"]["runId"]
    );
    let message = by_name("stuck")["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("marked failed by tracing-etl reap"),
        "{message}"
    );

    // Nothing left to reap, nothing sent.
    cli(&history.path)
        .arg("reap")
        .env("OPENLINEAGE__TRANSPORT__TYPE", "file")
        .env("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", &path)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
}
