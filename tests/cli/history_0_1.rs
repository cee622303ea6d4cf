//! Run histories written by tracing-etl 0.1 (schema version 1, `tests/fixtures/history-0.1`,
//! see its README) still open: the JSON Lines files read as they were written (and lines
//! written now keep their form), the SQLite file and the PostgreSQL schema are read as they
//! are when opened read-only and migrated in place when opened for writing, the spill file
//! replays, and the command-line tool prints the JSON it printed then.

use crate::{cli_support, pg_support};

use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use tracing_etl::{
    record::{EntityKind, Phase, RecorderHeartbeat},
    store::{RecordReader, RunFilter, POSTGRES_SCHEMA_VERSION, SQLITE_SCHEMA_VERSION},
    EtlInstrument, ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, InMemoryStore,
    JsonLinesStore, PostgresStore, RunStatus, SqliteStore,
};
use tracing_subscriber::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/history-0.1")
        .join(name)
}

/// A copy of the fixture `name` (a file or a directory) in a temporary directory.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join(name);
    let from = fixture(name);
    if from.is_dir() {
        std::fs::create_dir(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    } else {
        std::fs::copy(&from, &to).unwrap();
    }
    (tmp, to)
}

/// Every current row of a store: pipelines, processes, steps (each oldest first), recorders.
struct Rows {
    pipelines: Vec<ExecutionRecord>,
    processes: Vec<ExecutionRecord>,
    steps: Vec<ExecutionRecord>,
    recorders: Vec<RecorderHeartbeat>,
}

fn rows(store: &mut dyn RecordReader) -> Rows {
    let all = RunFilter::default();
    Rows {
        pipelines: store.read_pipelines(&all).unwrap(),
        processes: store.read_processes(&all).unwrap(),
        steps: store.read_steps(&all).unwrap(),
        recorders: store.read_recorders().unwrap(),
    }
}

const MESSAGE: &str = "line 7: amount \"12,5\" is not a number\n(row skipped: é日)";

fn hex(text: Option<&str>, len: usize) -> bool {
    text.is_some_and(|t| t.len() == len && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the fixture holds. `migrated`: whether processes and steps know their run's
/// `last_attempt` (a history migrated to schema 2), or read it as `true` (rows and lines
/// written before the column existed).
fn check(rows: &Rows, migrated: bool) {
    let runs: Vec<(&str, u32, RunStatus, bool)> = rows
        .pipelines
        .iter()
        .map(|p| {
            (
                p.run.run_id.as_str(),
                p.run.attempt,
                p.outcome.status,
                p.run.last_attempt,
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("fixture-good", 1, RunStatus::Success, true),
            ("fixture-failed", 1, RunStatus::Failed, false),
            ("fixture-failed", 2, RunStatus::Success, true),
            ("fixture-running", 1, RunStatus::Running, true),
        ]
    );
    assert_eq!(rows.processes.len(), 5);
    assert_eq!(rows.steps.len(), 11);
    let recorder = &rows.recorders[..];
    assert_eq!(recorder.len(), 1, "{recorder:?}");
    assert!(recorder[0].stopped_at.is_some());

    let all = rows
        .pipelines
        .iter()
        .chain(&rows.processes)
        .chain(&rows.steps);
    for r in all {
        let pipeline = rows
            .pipelines
            .iter()
            .find(|p| p.run.run_id == r.run.run_id && p.run.attempt == r.run.attempt)
            .unwrap();
        assert_eq!(r.recorder_id, Some(recorder[0].recorder_id.clone()));
        assert!(
            hex(r.trace_id.as_deref(), 32) && hex(r.span_id.as_deref(), 16),
            "{r:?}"
        );
        assert_eq!(r.trace_id, pipeline.trace_id, "one trace per run");
        let expected_last =
            !migrated && r.kind != EntityKind::Pipeline || pipeline.run.last_attempt;
        assert_eq!(r.run.last_attempt, expected_last, "{r:?}");
        match r.run.run_id.as_str() {
            "fixture-running" => {
                assert_eq!(
                    (r.phase, r.outcome.status),
                    (Phase::Start, RunStatus::Running)
                );
                assert_eq!(r.run.correlation_id, None);
            }
            _ => {
                assert_eq!(r.phase, Phase::End, "{r:?}");
                assert_eq!(r.run.correlation_id.as_deref(), Some("nightly-2026-11-29"));
                assert!(r.outcome.duration_ms.is_some(), "{r:?}");
            }
        }
        if r.kind == EntityKind::Step {
            let process = r.process_run_id.as_deref();
            let enclosing = rows
                .processes
                .iter()
                .find(|p| p.process_run_id.as_deref() == process);
            match r.name.as_str() {
                "notify" | "wait" => assert_eq!(process, None),
                "write_totals" => assert_eq!(enclosing.unwrap().name, "load"),
                _ => assert_eq!(enclosing.unwrap().name, "extract"),
            }
            assert_eq!(
                enclosing.map_or(r.run.run_id.as_str(), |p| &p.run.run_id),
                r.run.run_id
            );
        }
    }

    // The failure, with its root cause, on the failed step, its process and its pipeline.
    let failed: Vec<&ExecutionRecord> = rows
        .pipelines
        .iter()
        .chain(&rows.processes)
        .chain(&rows.steps)
        .filter(|r| r.outcome.status == RunStatus::Failed)
        .collect();
    let kinds: Vec<(EntityKind, &str)> = failed.iter().map(|r| (r.kind, r.name.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (EntityKind::Pipeline, "daily_sales"),
            (EntityKind::Process, "extract"),
            (EntityKind::Step, "validate"),
        ]
    );
    let step = failed[2];
    for r in &failed {
        assert_eq!(r.outcome.error.message.as_deref(), Some(MESSAGE));
        assert_eq!(r.outcome.error.type_name.as_deref(), Some("BadAmount"));
        assert_eq!(r.outcome.error.full.as_deref(), Some("BadAmount"));
        assert_eq!(
            (r.run.attempt, r.run.run_id.as_str()),
            (1, "fixture-failed")
        );
    }
    for r in &failed[..2] {
        assert_eq!(r.failed_step(), Some("validate"));
        assert_eq!(r.failed_step_run_id(), step.step_run_id.as_deref());
    }
    assert_eq!(step.root_cause, None);
}

/// Records a new run into `store`, as this release writes it.
fn record_now<S: ExecutionRecordStore>(store: S) {
    let (layer, guard) = ExecutionRecordsLayer::new(store);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let run = tracing::info_span!(
            "nightly",
            etl.pipeline = "daily_sales",
            etl.run_id = "after-upgrade",
            etl.attempt = 3,
            etl.last_attempt = false
        );
        let _run = run.enter();
        drop(tracing::info_span!("load", etl.step = "load").entered());
        // A status the 0.1 schema did not allow: the migration widened it.
        drop(
            std::future::ready(())
                .instrument_tracked(tracing::info_span!("abandoned", etl.step = "abandoned")),
        );
    });
    guard.shutdown().unwrap();
}

/// The new run, read back next to the old ones.
fn check_new_run(store: &mut dyn RecordReader) {
    let filter = RunFilter::default().run_id("after-upgrade");
    let pipelines = store.read_pipelines(&filter).unwrap();
    let steps = store.read_steps(&filter).unwrap();
    assert_eq!(pipelines.len(), 1);
    assert_eq!(steps.len(), 2);
    for r in pipelines.iter().chain(&steps) {
        let expected = if r.name == "abandoned" {
            RunStatus::Cancelled
        } else {
            RunStatus::Success
        };
        assert_eq!(r.outcome.status, expected, "{}", r.name);
        assert_eq!((r.run.attempt, r.run.last_attempt), (3, false));
    }
    assert_eq!(
        store.read_pipelines(&RunFilter::default()).unwrap().len(),
        5
    );
}

fn jsonl_rows() -> Rows {
    let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut store = JsonLinesStore::open_read_only(fixture("jsonl"))
        .unwrap()
        .with_read_warning_callback({
            let warnings = warnings.clone();
            move |w| warnings.lock().unwrap().push(w.to_string())
        });
    let rows = rows(&mut store);
    assert!(warnings.lock().unwrap().is_empty(), "{warnings:?}");
    rows
}

/// The rows of two stores that keep the same records, the same but for `last_attempt` where
/// `b` knows it and `a` does not.
fn assert_same(a: &Rows, b: &Rows) {
    let fix = |rows: &[ExecutionRecord], pipelines: &[ExecutionRecord]| -> Vec<ExecutionRecord> {
        rows.iter()
            .cloned()
            .map(|mut r| {
                r.run.last_attempt = pipelines
                    .iter()
                    .find(|p| p.run.run_id == r.run.run_id && p.run.attempt == r.run.attempt)
                    .unwrap()
                    .run
                    .last_attempt;
                r
            })
            .collect()
    };
    assert_eq!(a.pipelines, b.pipelines);
    assert_eq!(
        fix(&a.processes, &a.pipelines),
        fix(&b.processes, &b.pipelines)
    );
    assert_eq!(fix(&a.steps, &a.pipelines), fix(&b.steps, &b.pipelines));
    // Heartbeats to the microsecond (what PostgreSQL keeps).
    let beats = |rows: &Rows| -> Vec<RecorderHeartbeat> {
        let micros = |t: DateTime<Utc>| t.trunc_subsecs(6);
        rows.recorders
            .iter()
            .cloned()
            .map(|mut r| {
                r.started_at = micros(r.started_at);
                r.last_beat_at = micros(r.last_beat_at);
                r.stopped_at = r.stopped_at.map(micros);
                r
            })
            .collect()
    };
    assert_eq!(beats(a), beats(b));
}

#[test]
fn json_lines_written_by_0_1_read_as_written() {
    check(&jsonl_rows(), false);
}

#[test]
fn json_lines_written_now_keep_the_0_1_form() {
    // Every line of the fixture, read and written again: the same object, with the run's
    // `last_attempt` now on process and step lines too (`true`, as they read).
    for (file, kind) in [
        ("pipeline_runs.jsonl", EntityKind::Pipeline),
        ("process_runs.jsonl", EntityKind::Process),
        ("step_runs.jsonl", EntityKind::Step),
    ] {
        let text = std::fs::read_to_string(fixture("jsonl").join(file)).unwrap();
        let records: Vec<ExecutionRecord> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(records.iter().all(|r| r.kind == kind));
        let tmp = tempfile::tempdir().unwrap();
        let mut store = JsonLinesStore::open(tmp.path()).unwrap();
        store.write_batch(&records).unwrap();
        store.flush().unwrap();
        let written = std::fs::read_to_string(tmp.path().join(file)).unwrap();
        assert_eq!(written.lines().count(), text.lines().count());
        for (old, new) in text.lines().zip(written.lines()) {
            if kind == EntityKind::Pipeline {
                assert_eq!(new, old, "pipeline lines are written as 0.1 wrote them");
            }
            let mut old: serde_json::Map<String, Value> = serde_json::from_str(old).unwrap();
            let new: serde_json::Map<String, Value> = serde_json::from_str(new).unwrap();
            old.entry("last_attempt").or_insert(Value::Bool(true));
            assert_eq!(new, old);
        }
    }
}

#[test]
fn a_json_lines_history_of_0_1_takes_new_runs() {
    let (_tmp, dir) = copy("jsonl");
    record_now(JsonLinesStore::open(&dir).unwrap());
    let mut store = JsonLinesStore::open_read_only(&dir).unwrap();
    check_new_run(&mut store);
    let mut rows = rows(&mut store);
    rows.pipelines.retain(|r| r.run.run_id != "after-upgrade");
    rows.steps.retain(|r| r.run.run_id != "after-upgrade");
    rows.recorders.remove(1);
    check(&rows, false);
}

/// `(table, column, type, not null, primary key)`.
type SqliteColumn = (String, String, String, bool, i64);

/// Every column, and every index name.
fn sqlite_schema(path: &Path) -> (Vec<SqliteColumn>, Vec<String>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut columns = Vec::new();
    for table in ["pipeline_runs", "process_runs", "step_runs", "recorders"] {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((table.to_owned(), r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        columns.extend(rows.map(Result::unwrap));
    }
    columns.sort();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    let indexes = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (columns, indexes)
}

#[test]
fn a_sqlite_history_of_0_1_reads_as_it_is_and_migrates_in_place() {
    let (tmp, path) = copy("history.db");

    // Read-only: nothing changes, and it reads what 0.1 wrote.
    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(reader.schema_version().unwrap(), 1);
    let before = rows(&mut reader);
    check(&before, false);
    assert_same(&before, &jsonl_rows());
    drop(reader);
    assert_eq!(
        SqliteStore::open_read_only(&path)
            .unwrap()
            .schema_version()
            .unwrap(),
        1
    );

    // Opened for writing: migrated in place to the current schema, which is the schema of a
    // new file.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SQLITE_SCHEMA_VERSION);
    let after = rows(&mut SqliteStore::open_read_only(&path).unwrap());
    check(&after, true);
    assert_same(&before, &after);
    let fresh = tmp.path().join("fresh.db");
    drop(SqliteStore::open(&fresh).unwrap());
    assert_eq!(sqlite_schema(&path), sqlite_schema(&fresh));
    // Version 4's indexes, and none of those they replace.
    let (_, indexes) = sqlite_schema(&path);
    for index in [
        "pipeline_runs_by_start",
        "pipeline_runs_by_name",
        "pipeline_runs_status_by_start",
        "process_runs_by_run",
        "step_runs_by_run",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{index}: {indexes:?}");
    }
    for gone in [
        "pipeline_runs_started_at",
        "pipeline_runs_status",
        "step_runs_run",
    ] {
        assert!(!indexes.iter().any(|i| i == gone), "{gone}: {indexes:?}");
    }

    // It takes new runs, and opens again without migrating again.
    record_now(store);
    let mut store = SqliteStore::open(&path).unwrap();
    check_new_run(&mut store);
    assert_eq!(store.schema_version().unwrap(), SQLITE_SCHEMA_VERSION);
}

/// The fixture's dump restored into `schema` (which must not exist).
fn restore_dump(schema: &str) {
    let dump = std::fs::read_to_string(fixture("postgres.sql")).unwrap();
    // psql meta-commands (`\restrict`) are not SQL; the schema gets the test's name.
    let sql: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .map(|line| line.replace("tracing_etl_fixture_v1", schema) + "\n")
        .collect();
    // Its own session: the dump empties `search_path`.
    let mut client = pg_support::admin();
    client.batch_execute(&sql).unwrap();
}

/// `(table, column, type, nullable, default)` of every column of `schema`, and its indexes and
/// constraints.
fn postgres_schema(client: &mut postgres::Client, schema: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let columns = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text,
                    coalesce(column_default, '')::text
             FROM information_schema.columns WHERE table_schema = $1
             ORDER BY table_name, column_name",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (0..5).map(|i| r.get::<_, String>(i)).collect())
        .collect();
    let mut names: Vec<String> = client
        .query(
            "SELECT indexname::text || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0).replace(schema, "S"))
        .collect();
    names.extend(
        client
            .query(
                "SELECT conname::text || ' ' || pg_get_constraintdef(c.oid)
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                 WHERE n.nspname = $1",
                &[&schema],
            )
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0)),
    );
    names.sort();
    (columns, names)
}

#[test]
fn a_postgres_history_of_0_1_reads_as_it_is_and_migrates_in_place() {
    let mut old = pg_support::TestSchema::new("from01");
    restore_dump(&old.name);
    let version = |s: &mut pg_support::TestSchema| -> i32 {
        let sql = format!("SELECT version FROM {}", s.table("tracing_etl_schema"));
        s.admin.query_one(&sql, &[]).unwrap().get(0)
    };
    assert_eq!(version(&mut old), 1);

    // Read-only: nothing changes, and it reads what 0.1 wrote.
    let mut reader = old.reader();
    let before = rows(&mut reader);
    check(&before, false);
    assert_same(&before, &jsonl_rows());
    drop(reader);
    assert_eq!(version(&mut old), 1);

    // Connected for writing: migrated in place to the schema a new store creates.
    let store = old.store();
    assert_eq!(version(&mut old), POSTGRES_SCHEMA_VERSION);
    let after = rows(&mut old.reader());
    check(&after, true);
    assert_same(&before, &after);
    let fresh = pg_support::TestSchema::new("fresh");
    drop(fresh.store());
    let (old_name, fresh_name) = (old.name.clone(), fresh.name.clone());
    assert_eq!(
        postgres_schema(&mut old.admin, &old_name),
        postgres_schema(&mut pg_support::admin(), &fresh_name)
    );
    let (_, indexes) = postgres_schema(&mut old.admin, &old_name);
    for index in [
        "pipeline_runs_by_name ",
        "pipeline_runs_unfinished_by_start ",
        "step_runs_by_run ",
    ] {
        assert!(
            indexes.iter().any(|i| i.starts_with(index)),
            "{index}: {indexes:?}"
        );
    }
    assert!(
        !indexes.iter().any(|i| i.starts_with("step_runs_run ")),
        "{indexes:?}"
    );

    // It takes new runs, and connects again without migrating again.
    record_now(store);
    let mut store: PostgresStore = old.store();
    check_new_run(&mut store);
}

#[test]
fn a_spill_file_of_0_1_replays() {
    let mut store = InMemoryStore::new();
    let written = tracing_etl::writer::replay_spill(fixture("spill.jsonl"), &mut store).unwrap();
    assert_eq!(written, 38);
    assert_eq!(store.records().len(), 38);
    let mut rows = rows(&mut store);
    // The spill file has no heartbeats.
    rows.recorders = jsonl_rows().recorders;
    check(&rows, false);
    assert_same(&rows, &jsonl_rows());
}

/// The tool's JSON now, against what 0.1 printed for the same history: the same, but for the
/// run's `last_attempt` now also on processes and steps.
fn assert_same_json(now: &Value, then: &Value, path: &str) {
    match (now, then) {
        (Value::Object(now), Value::Object(then)) => {
            for (key, value) in now {
                match then.get(key) {
                    Some(old) => assert_same_json(value, old, &format!("{path}.{key}")),
                    None => assert_eq!(key, "last_attempt", "{path}: {key} is new"),
                }
            }
            for key in then.keys() {
                assert!(now.contains_key(key), "{path}: {key} is gone");
            }
        }
        (Value::Array(now), Value::Array(then)) => {
            assert_eq!(now.len(), then.len(), "{path}");
            for (i, (a, b)) in now.iter().zip(then).enumerate() {
                assert_same_json(a, b, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(now, then, "{path}"),
    }
}

/// `show --json` as 0.1 printed it (steps nested in their processes) in today's form: processes
/// without steps, every step in `steps`, in start order.
fn flat_show(mut run: Value) -> Value {
    let mut steps: Vec<Value> = Vec::new();
    for process in run["processes"].as_array_mut().unwrap() {
        let nested = process.as_object_mut().unwrap().remove("steps").unwrap();
        steps.extend(nested.as_array().unwrap().iter().cloned());
    }
    steps.extend(run["steps"].as_array().unwrap().iter().cloned());
    let start = |s: &Value| -> chrono::DateTime<chrono::Utc> {
        s["started_at"].as_str().unwrap().parse().unwrap()
    };
    steps.sort_by_key(start);
    run["steps"] = Value::Array(steps);
    run
}

#[test]
fn the_tool_prints_the_json_it_printed_for_a_0_1_history() {
    let (_db_dir, db) = copy("history.db");
    let jsonl = fixture("jsonl");
    // `failures` now judges a run by its latest attempt: `fixture-failed` recovered in attempt
    // 2, so what 0.1 listed is what `--all-attempts` lists.
    let cases: [(&str, &[&str], i32); 5] = [
        (
            "show_failed_attempt1.json",
            &["show", "fixture-failed", "--attempt", "1"],
            0,
        ),
        ("show_good.json", &["show", "fixture-good"], 0),
        ("runs.json", &["runs"], 0),
        ("failures.json", &["failures", "--all-attempts"], 1),
        ("running.json", &["running"], 0),
    ];
    for (expected, args, code) in cases {
        let mut then: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("cli").join(expected)).unwrap())
                .unwrap();
        if args[0] == "show" {
            then = flat_show(then);
        }
        for store in [
            ["--db", db.to_str().unwrap()],
            ["--jsonl", jsonl.to_str().unwrap()],
        ] {
            let out = cli_support::bare_cli()
                .args(store)
                .args(args)
                .arg("--json")
                .assert()
                .code(code)
                .get_output()
                .stdout
                .clone();
            let now: Value = serde_json::from_slice(&out).unwrap();
            assert_same_json(&now, &then, &format!("{expected} {store:?}"));
        }
    }
    for store in [
        ["--db", db.to_str().unwrap()],
        ["--jsonl", jsonl.to_str().unwrap()],
    ] {
        let out = cli_support::bare_cli()
            .args(store)
            .args(["failures", "--json"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            Value::Array(vec![])
        );
    }
    // Only read: the SQLite file is still at schema version 1.
    assert_eq!(
        SqliteStore::open_read_only(&db)
            .unwrap()
            .schema_version()
            .unwrap(),
        1
    );
}
