//! `tracing-etl replay`: the records a writer left in its spill file, because its store was down
//! when it stopped, reach the store once it is back.

use crate::cli_support;

use std::time::Duration;

use cli_support::{cli, nightly, History};
use serde_json::Value;
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, RunStatus, StoreError,
};
use tracing_subscriber::prelude::*;

/// A store that is down.
struct Down;

impl ExecutionRecordStore for Down {
    fn write_batch(&mut self, _: &[ExecutionRecord]) -> Result<(), StoreError> {
        Err(StoreError::other("connection refused"))
    }
}

/// Records a failed run while the store is down; returns the spill history left behind.
fn spill_a_run(dir: &std::path::Path) -> std::path::PathBuf {
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .spill_dir(dir)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .shutdown_timeout(Duration::from_millis(20))
        .on_store_error(|_| {})
        .build(Down);
    let recorder_id = guard.handle().recorder_id().to_owned();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _ = nightly("spilled-run", 1, true);
    });
    assert!(guard.shutdown().is_err(), "the store never came back");
    let history = dir.join(format!("spill-{recorder_id}"));
    assert!(history.is_dir());
    history
}

#[test]
fn replay_writes_a_spill_file_into_the_store_and_removes_it() {
    let spill = tempfile::tempdir().unwrap();
    let file = spill_a_run(spill.path());
    let history = History::new();

    let out = cli(&history.path)
        .arg("replay")
        .arg(&file)
        .arg("--remove")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        format!(
            "replayed 8 records from {} (file removed)\n",
            file.display()
        )
    );
    assert!(!file.exists());

    let mut store = history.reader();
    let runs = store.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run.run_id, "spilled-run");
    assert_eq!(runs[0].outcome.status, RunStatus::Failed);
    assert_eq!(runs[0].failed_step(), Some("parse"));
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 2);
}

#[test]
fn a_spill_history_reads_as_a_json_lines_history() {
    let spill = tempfile::tempdir().unwrap();
    let history = spill_a_run(spill.path());
    let mut store = cli_support::bare_cli();
    store
        .arg("--store")
        .arg(format!("jsonl:{}", history.display()));
    let out = store
        .args(["--json", "runs"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: Value = serde_json::from_slice(&out).unwrap();
    let runs = json.as_array().expect("a list of runs");
    assert_eq!(runs.len(), 1, "{json}");
    assert_eq!(runs[0]["run_id"], "spilled-run", "{json}");
    assert_eq!(runs[0]["status"], "failed", "{json}");
}

#[test]
fn replaying_twice_changes_nothing_and_json_reports_the_count() {
    let spill = tempfile::tempdir().unwrap();
    let file = spill_a_run(spill.path());
    let history = History::new();
    for _ in 0..2 {
        let out = cli(&history.path)
            .args(["--json", "replay"])
            .arg(&file)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["records"], 8);
        assert_eq!(json["removed"], false);
    }
    let mut store = history.reader();
    assert_eq!(
        store.read_pipelines(&RunFilter::default()).unwrap().len(),
        1
    );
    assert_eq!(
        store.read_processes(&RunFilter::default()).unwrap().len(),
        1
    );
    assert!(file.exists());
}

#[test]
fn a_spill_history_torn_by_a_kill_replays_its_complete_records_with_a_warning() {
    let spill = tempfile::tempdir().unwrap();
    let dir = spill_a_run(spill.path());
    // A kill in the middle of the last write: the pipeline's end record, cut in half.
    let file = dir.join("pipeline_runs.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let (before, last) = text.trim_end().rsplit_once('\n').unwrap();
    std::fs::write(&file, format!("{before}\n{}", &last[..last.len() / 2])).unwrap();
    let history = History::new();

    let output = cli(&history.path)
        .arg("replay")
        .arg(&dir)
        .assert()
        .success()
        .get_output()
        .clone();
    let out = String::from_utf8(output.stdout).unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    assert_eq!(out, format!("replayed 7 records from {}\n", dir.display()));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tracing-etl: warning: "), "{err}");
    assert!(err.contains(&format!("{} line 2", file.display())), "{err}");
    // Everything before the torn line is in the store: the run, still running.
    let mut store = history.reader();
    let runs = store.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.status, RunStatus::Running);
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 2);
}

#[test]
fn a_missing_or_corrupt_spill_file_is_a_one_line_error() {
    let history = History::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("spill-nope.jsonl");
    let out = cli(&history.path)
        .arg("replay")
        .arg(&missing)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("spill-nope.jsonl"), "{err}");

    let corrupt = dir.path().join("spill-corrupt.jsonl");
    // Not a record, and not the last line (a last line cut short is skipped with a warning).
    std::fs::write(&corrupt, "{\"kind\":\"step\",\"event\":1}\n{}\n").unwrap();
    let out = cli(&history.path)
        .arg("replay")
        .arg(&corrupt)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("spill-corrupt.jsonl:1"), "{err}");
    assert!(
        corrupt.exists(),
        "a file that could not be replayed is kept"
    );
}
