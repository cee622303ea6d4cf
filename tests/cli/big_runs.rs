//! `tracing-etl show` on runs too big for a tree (a summary; `--all` and `--json` stream every
//! step) and on a root cause too long for a terminal (cut, `--full` prints it whole), on
//! SQLite, JSON Lines and PostgreSQL, whose streaming reads differ.

use crate::cli_support;

use assert_cmd::Command;
use cli_support::{huge, long_error, HUGE_FAIL_EVERY};
use serde_json::Value;
use tracing_etl::{ExecutionRecordStore, ExecutionRecordsLayer, JsonLinesStore, SqliteStore};
use tracing_subscriber::prelude::*;

/// Steps of the big run: more than a tree shows (1000).
const STEPS: usize = 1_600;

/// The length of the long error message.
const LONG: usize = 60_000;

/// Records the big run `huge-1` and the long error `long-1` into `store`.
fn record(store: impl ExecutionRecordStore) {
    let (layer, guard) = ExecutionRecordsLayer::new(store);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        huge("huge-1", STEPS);
        long_error("long-1", LONG);
    });
    assert_eq!(guard.shutdown().unwrap().dropped, 0);
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

/// What `show` must print for the big run and the long error, `cli` naming the history.
fn check(cli: impl Fn() -> Command) {
    let failed = STEPS / HUGE_FAIL_EVERY;
    let out = stdout(cli().args(["show", "huge-1"]));
    // A summary, not a tree of 1601 steps.
    assert!(out.lines().count() < 60, "{out}");
    let total = format!(
        "{} steps: {} success, {failed} failed (more than 1000: a summary;",
        STEPS + 1,
        STEPS + 1 - failed
    );
    assert!(out.contains(&total), "{out}");
    let load = out
        .lines()
        .find(|l| l.contains("load") && l.contains("process"))
        .unwrap_or_else(|| panic!("no process row in\n{out}"));
    assert!(
        load.contains(&format!("{} success, {failed} failed", STEPS - failed)),
        "{load}"
    );
    assert!(
        out.contains("steps outside any process: 1 success"),
        "{out}"
    );
    assert!(out.contains(&format!("failed steps ({failed}):")), "{out}");
    // The failed-steps table alone: a failed step may also be among the slowest.
    let failed_table = out
        .split("failed steps (")
        .nth(1)
        .and_then(|rest| rest.split("slowest steps").next())
        .expect("failed steps table");
    let failed_rows: Vec<&str> = failed_table
        .lines()
        .filter(|l| l.contains("BadChunk: chunk"))
        .collect();
    assert_eq!(failed_rows.len(), failed, "{out}");
    assert!(failed_rows[0].contains("← root cause"), "{out}");
    assert!(
        failed_rows[0].contains(&format!("chunk {HUGE_FAIL_EVERY}: checksum mismatch")),
        "{out}"
    );
    let slowest = out.split("slowest steps").nth(1).expect("slowest steps");
    let first = slowest.lines().nth(2).unwrap();
    assert!(first.starts_with("slow "), "{slowest}");
    assert!(out.contains("root cause: step chunk"), "{out}");

    // --all: every step, one line each, in start order.
    let all = stdout(cli().args(["show", "huge-1", "--all"]));
    let chunks = all.lines().filter(|l| l.starts_with("chunk ")).count();
    assert_eq!(chunks, STEPS, "--all lists every step");
    assert_eq!(all.lines().filter(|l| l.starts_with("slow ")).count(), 1);
    assert_eq!(
        all.lines().filter(|l| l.contains("← root cause")).count(),
        1
    );

    // --json: every step, with its process.
    let json: Value = serde_json::from_str(&stdout(cli().args(["show", "huge-1", "--json"])))
        .expect("show --json prints one JSON object");
    assert_eq!(json["run_id"], "huge-1");
    assert_eq!(json["status"], "failed");
    let processes = json["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1);
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), STEPS + 1);
    let in_load = steps
        .iter()
        .filter(|s| s["process_run_id"] == processes[0]["process_run_id"])
        .count();
    assert_eq!(in_load, STEPS);
    let starts: Vec<chrono::DateTime<chrono::Utc>> = steps
        .iter()
        .map(|s| s["started_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "start order");

    // A long root cause: cut, with its length; whole with --full and in --json.
    let out = stdout(cli().args(["show", "long-1"]));
    assert!(out.len() < 10_000, "{} bytes", out.len());
    assert!(
        out.contains(&format!(
            "… cut: {LONG} characters, {} lines in all (--full or --json shows all)",
            LONG / 100
        )),
        "{out}"
    );
    let full = stdout(cli().args(["show", "long-1", "--full"]));
    assert!(full.len() > LONG, "{} bytes", full.len());
    // Every line of the message below the tree, and its first in the tree.
    assert_eq!(full.matches(&"y".repeat(99)).count(), LONG / 100 + 1);
    let json: Value =
        serde_json::from_str(&stdout(cli().args(["show", "long-1", "--json"]))).unwrap();
    assert_eq!(
        json["steps"][0]["error_message"].as_str().unwrap().len(),
        LONG
    );
}

#[test]
fn show_sums_up_a_big_run_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("runs.db");
    record(SqliteStore::open(&db).unwrap());
    check(|| cli_support::cli(&db));
}

#[test]
fn show_sums_up_a_big_run_on_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("history");
    record(JsonLinesStore::open(&dir).unwrap());
    check(|| {
        let mut cmd = cli_support::bare_cli();
        cmd.arg("--jsonl").arg(&dir);
        cmd
    });
}

#[cfg(feature = "postgres")]
#[test]
fn show_sums_up_a_big_run_on_postgres() {
    let schema = crate::pg_support::TestSchema::new("clibig");
    record(schema.store());
    check(|| {
        let mut cmd = cli_support::bare_cli();
        cmd.args([
            "--postgres",
            &crate::pg_support::url(),
            "--pg-schema",
            &schema.name,
        ]);
        cmd
    });
}
