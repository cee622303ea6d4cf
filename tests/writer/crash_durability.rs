//! A recording process killed with SIGKILL mid-run: the SQLite file is intact, the entities it
//! had open keep their start records (`running`), those it had closed keep their end records,
//! a later run appends normally, and `tracing-etl running` calls the killed run abandoned.
//! And what a flush adds: the records are in the database file itself, not only in the WAL.

#![cfg(unix)]

use crate::cli_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cli_support::{cli, History};
use serde_json::Value;
use tracing::field::Empty;
use tracing::Dispatch;
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecordsLayer, RunStatus, SqliteStore,
};
use tracing_subscriber::prelude::*;

/// Selects the child mode of [`child_records_until_killed`]: the database to record into.
const CHILD_DB: &str = "TRACING_ETL_CRASH_TEST_DB";

/// Not a test on its own: the process that [`a_killed_recorder_leaves_an_intact_history`]
/// starts and kills. Records a pipeline `crashing` (run `killed`) with a process `load` whose
/// steps `part0`..`part2` succeed and `check` fails, then opens a step `stuck`, says `ready`
/// and waits to be killed — without flushing: the records reach the file on their own.
#[test]
#[ignore = "child process of a_killed_recorder_leaves_an_intact_history"]
fn child_records_until_killed() {
    let Some(db) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let (layer, _guard) = ExecutionRecordsLayer::builder()
        .heartbeat_interval(Duration::from_millis(100))
        .build(SqliteStore::open(db).unwrap());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let _pipeline =
            tracing::info_span!("crashing", etl.pipeline = Empty, etl.run_id = "killed").entered();
        let _process = tracing::info_span!("load", etl.process = Empty).entered();
        for i in 0..3 {
            let _step = tracing::info_span!("part", etl.step = %format!("part{i}")).entered();
        }
        {
            let _check = tracing::info_span!("check", etl.step = Empty).entered();
            tracing::error!(error.type = "CheckError", "2 rows without a key");
        }
        let _stuck = tracing::info_span!("stuck", etl.step = Empty).entered();
        println!("ready");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

/// Kills the child when dropped, should the test fail before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_child(db: &Path) -> KillOnDrop {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            // libtest names a test by its path in the binary, without the binary's name.
            concat!(module_path!(), "::child_records_until_killed")
                .split_once("::")
                .unwrap()
                .1,
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "ready");
    assert!(ready, "the child did not start recording");
    KillOnDrop(child)
}

/// Polls `check` every 10 ms until it holds, for at most 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn integrity(db: &Path) -> String {
    SqliteStore::open_read_only(db)
        .unwrap()
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn status_by_name(db: &Path, run_id: &str) -> Vec<(String, RunStatus)> {
    let mut store = SqliteStore::open_read_only(db).unwrap();
    let mut rows = Vec::new();
    for p in store.read_pipelines(&RunFilter::default()).unwrap() {
        if p.run.run_id == run_id {
            rows.push((p.name, p.outcome.status));
        }
    }
    for p in store.read_processes(&RunFilter::default()).unwrap() {
        if p.run.run_id == run_id {
            rows.push((p.name, p.outcome.status));
        }
    }
    for s in store.read_steps(&RunFilter::default()).unwrap() {
        if s.run.run_id == run_id {
            rows.push((s.name, s.outcome.status));
        }
    }
    rows
}

fn owned(rows: &[(&str, RunStatus)]) -> Vec<(String, RunStatus)> {
    rows.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

#[test]
fn a_killed_recorder_leaves_an_intact_history() {
    let history = History::new();
    let db = &history.path;
    let mut child = start_child(db);

    // The start record of `stuck`, queued last, is on disk: so is everything before it.
    eventually("the child's records are in the file", || {
        SqliteStore::open_read_only(db)
            .unwrap()
            .read_steps(&RunFilter::default())
            .unwrap()
            .iter()
            .any(|s| s.name == "stuck")
    });
    // SIGKILL: no destructor, no flush, no `stopped_at`.
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    assert_eq!(integrity(db), "ok");
    let expected = owned(&[
        ("crashing", RunStatus::Running),
        ("load", RunStatus::Running),
        ("part0", RunStatus::Success),
        ("part1", RunStatus::Success),
        ("part2", RunStatus::Success),
        ("check", RunStatus::Failed),
        ("stuck", RunStatus::Running),
    ]);
    assert_eq!(status_by_name(db, "killed"), expected);
    let mut store = SqliteStore::open_read_only(db).unwrap();
    let check = store
        .read_steps(&RunFilter::default())
        .unwrap()
        .into_iter()
        .find(|s| s.name == "check")
        .unwrap();
    assert_eq!(check.outcome.error.type_name.as_deref(), Some("CheckError"));
    let pipeline = &store.read_pipelines(&RunFilter::default()).unwrap()[0];
    assert_eq!(pipeline.outcome.duration_ms, None, "a start record");
    assert_eq!(pipeline.outcome.error.full, None);
    let recorders = store.read_recorders().unwrap();
    assert_eq!(recorders.len(), 1);
    assert_eq!(recorders[0].stopped_at, None);
    drop(store);

    // The command-line tool calls the open entities abandoned once three 100 ms beats are
    // missed.
    let mut entities = Vec::new();
    eventually("`running` calls the killed run abandoned", || {
        let out = cli(db)
            .args(["running", "--json", "--grace", "0s"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        entities = serde_json::from_slice::<Vec<Value>>(&out).unwrap();
        entities.iter().all(|e| e["liveness"] == "abandoned")
    });
    let running: Vec<(&str, &str)> = entities
        .iter()
        .map(|e| {
            let kind = e["kind"].as_str().unwrap();
            (kind, e[kind].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        running,
        [
            ("pipeline", "crashing"),
            ("process", "load"),
            ("step", "stuck")
        ]
    );
    for e in &entities {
        assert_eq!(e["run_id"], "killed");
        let reason = e["reason"].as_str().unwrap();
        // Killed on this host: its process is gone, which decides at once.
        assert!(reason.contains("is gone from this host"), "{reason}");
    }

    // A later run appends to the same file as usual.
    history.record(|| {
        let _p = tracing::info_span!("after", etl.pipeline = Empty, etl.run_id = "later").entered();
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
    });
    assert_eq!(integrity(db), "ok");
    assert_eq!(
        status_by_name(db, "later"),
        owned(&[("after", RunStatus::Success), ("load", RunStatus::Success)])
    );
    assert_eq!(status_by_name(db, "killed"), expected, "untouched");
}

/// The pipelines found in a copy of the database file alone, without its WAL: what the file
/// itself holds.
fn pipelines_in_the_file_alone(db: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(db, &copy).unwrap();
    SqliteStore::open(&copy)
        .unwrap()
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|p| p.run.run_id)
        .collect()
}

/// A committed record is in the WAL (safe from a kill); a flush checkpoints it into the
/// database file, syncing both (safe from a power loss).
#[test]
fn a_flush_moves_committed_records_into_the_database_file() {
    let history = History::new();
    let db = &history.path;
    let (layer, guard) = ExecutionRecordsLayer::builder()
        // Only explicit flushes here.
        .flush_interval(Duration::from_secs(3600))
        .build(SqliteStore::open(db).unwrap());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let _open = tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("nightly", etl.pipeline = Empty, etl.run_id = "r1")
    });
    eventually("the start record is committed", || {
        !SqliteStore::open_read_only(db)
            .unwrap()
            .read_pipelines(&RunFilter::default())
            .unwrap()
            .is_empty()
    });
    assert!(
        pipelines_in_the_file_alone(db).is_empty(),
        "committed to the WAL only"
    );
    guard.flush().unwrap();
    assert_eq!(pipelines_in_the_file_alone(db), ["r1"]);
}
