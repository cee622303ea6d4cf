//! `tracing-etl running`: entities still running, told apart as live (their recorder beats) or
//! abandoned (their recorder shut down, was killed, or never beat).

use crate::cli_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use cli_support::{cli, nightly, open_stuck, record_stuck, History};
use serde_json::Value;
use tracing_etl::{ExecutionRecordsLayer, SqliteStore};
use tracing_subscriber::prelude::*;

fn running_json(history: &History, args: &[&str]) -> Vec<Value> {
    let out = cli(&history.path)
        .arg("running")
        .arg("--json")
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

fn summary(entities: &[Value]) -> Vec<(String, String, String)> {
    entities
        .iter()
        .map(|e| {
            let name = ["pipeline", "process", "step"]
                .iter()
                .find_map(|k| e.get(*k).and_then(Value::as_str))
                .unwrap();
            (
                e["kind"].as_str().unwrap().to_owned(),
                name.to_owned(),
                e["liveness"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn owned(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn entities_left_open_at_a_clean_shutdown_are_abandoned() {
    let history = History::new();
    history.record(|| nightly("done", 1, false).unwrap());
    record_stuck(&history, "stuck-1");

    let entities = running_json(&history, &[]);
    assert_eq!(
        summary(&entities),
        owned(&[
            ("pipeline", "stuck", "abandoned"),
            ("process", "load", "abandoned"),
            ("step", "write", "abandoned"),
        ])
    );
    for e in &entities {
        assert_eq!(e["run_id"], "stuck-1");
        assert_eq!(e["status"], "running");
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("shut down at"), "{reason}");
        assert!(e["recorder"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", std::process::id())));
    }

    let out = cli(&history.path).arg("running").assert().success();
    let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for key in [
        "KIND", "NAME", "RUN ID", "STARTED", "AGE", "STATE", "REASON",
    ] {
        assert!(lines[0].contains(key), "{out}");
    }
    assert!(lines[1].starts_with("pipeline  stuck "), "{out}");
    assert!(
        lines.iter().skip(1).all(|l| l.contains(" abandoned ")),
        "{out}"
    );
}

#[test]
fn entities_of_a_beating_recorder_are_live() {
    let history = History::new();
    record_stuck(&history, "old");
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&history.path).unwrap());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck("now", false));
    guard.flush().unwrap();

    let entities = running_json(&history, &[]);
    let live: Vec<_> = entities
        .iter()
        .filter(|e| e["run_id"] == "now")
        .map(|e| e["liveness"].as_str().unwrap())
        .collect();
    assert_eq!(live, ["live", "live", "live"]);
    let reason = entities[3]["reason"].as_str().unwrap();
    assert!(
        reason.contains(" beat ") && reason.ends_with(" ago"),
        "{reason}"
    );
    assert!(entities
        .iter()
        .filter(|e| e["run_id"] == "old")
        .all(|e| e["liveness"] == "abandoned"));

    // `show` of a running run says which.
    let out = cli(&history.path).args(["show", "now"]).assert().success();
    let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("running (live: recorder "),
        "{out}"
    );
    let out = cli(&history.path).args(["show", "old"]).assert().success();
    let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("running (abandoned: "),
        "{out}"
    );

    // Closed under their dispatcher (the registry closes parents through the current one).
    tracing::dispatcher::with_default(&dispatch, || drop(spans));
    guard.shutdown().unwrap();
    // Closed: no longer running.
    let entities = running_json(&history, &[]);
    assert!(
        entities.iter().all(|e| e["run_id"] == "old"),
        "{entities:?}"
    );
}

#[test]
fn older_than_keeps_entities_that_started_long_enough_ago() {
    let history = History::new();
    record_stuck(&history, "stuck-1");
    assert_eq!(running_json(&history, &["--older-than", "0s"]).len(), 3);
    assert!(running_json(&history, &["--older-than", "1h"]).is_empty());
    cli(&history.path)
        .args(["running", "--older-than", "an hour"])
        .assert()
        .code(2);
    cli(&history.path)
        .args(["running", "--older-than", "1h"])
        .assert()
        .success()
        .stdout("nothing is running\n");
}

#[test]
fn records_whose_recorder_never_beat_are_abandoned() {
    let history = History::new();
    let recorder_id = record_stuck(&history, "stuck-1");
    let store = SqliteStore::open(&history.path).unwrap();
    store
        .connection()
        .execute(
            "DELETE FROM recorders WHERE recorder_id = ?1",
            [&recorder_id],
        )
        .unwrap();
    let entities = running_json(&history, &[]);
    assert_eq!(entities.len(), 3);
    for e in &entities {
        assert_eq!(e["liveness"], "abandoned");
        assert_eq!(e["recorder"], Value::Null);
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("never left a heartbeat"), "{reason}");
    }
}

/// The environment variable that turns [`child_records_until_killed`] into the child of
/// [`a_killed_recorder_stops_beating_and_its_runs_are_abandoned`].
const CHILD_DB: &str = "TRACING_ETL_CLI_TEST_CHILD_DB";

/// Not a test on its own: the process that `a_killed_recorder_…` starts and kills. It records
/// an open pipeline, process and step with a fast heartbeat, says `ready`, and waits to be
/// killed. Without its environment variable it does nothing.
#[test]
#[ignore = "child process of a_killed_recorder_stops_beating_and_its_runs_are_abandoned"]
fn child_records_until_killed() {
    let Some(db) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .heartbeat_interval(Duration::from_millis(100))
        .build(SqliteStore::open(db).unwrap());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let _spans = tracing::dispatcher::with_default(&dispatch, || open_stuck("killed", true));
    guard.flush().unwrap();
    println!("ready");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Starts [`child_records_until_killed`] on `history` and waits until it has recorded.
pub(crate) fn spawn_recorder(history: &History) -> std::process::Child {
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
        .env(CHILD_DB, &history.path)
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
    child
}

#[test]
fn a_killed_recorder_stops_beating_and_its_runs_are_abandoned() {
    let history = History::new();
    let mut child = spawn_recorder(&history);

    let entities = running_json(&history, &["--grace", "5s"]);
    let names = summary(&entities);
    assert_eq!(
        names,
        owned(&[
            ("pipeline", "stuck", "live"),
            ("process", "load", "live"),
            ("step", "write", "live"),
        ])
    );
    let pid = child.id();
    assert!(entities[0]["recorder"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{pid}")));

    child.kill().unwrap();
    child.wait().unwrap();
    // Its process gone from this host, it is dead at once, however long the grace.
    let entities = running_json(&history, &["--grace", "1h"]);
    assert_eq!(entities.len(), 3);
    for e in &entities {
        assert_eq!(e["liveness"], "abandoned");
        let reason = e["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("(pid {pid}) is gone from this host")),
            "{reason}"
        );
    }

    // And `reap` closes them, naming the step the process died in.
    cli(&history.path)
        .args(["reap", "--grace", "1h"])
        .assert()
        .success();
    let out = cli(&history.path)
        .args(["show", "killed", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let run: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error_type"], "abandoned");
    assert_eq!(
        run["failed_step"], "check",
        "a step that failed first is the root cause"
    );
}
