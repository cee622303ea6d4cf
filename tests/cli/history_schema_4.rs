//! Run histories written before the volume columns (schema version 4,
//! `tests/fixtures/history-schema-4`, see its README) open, keep their rows and gain the
//! columns: the SQLite file and the PostgreSQL schema migrate in place when opened for writing,
//! the Delta tables get the columns by schema evolution, the JSON Lines lines read as they were
//! written (the lines of entities without volume keep their form). New runs with rows and
//! datasets go in beside the old ones, and the command-line tool's volume report reads them.

use crate::{cli_support, pg_support};

use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::field::Empty;
use tracing_etl::{
    record::EntityKind,
    store::{RecordReader, RunFilter, POSTGRES_SCHEMA_VERSION, SQLITE_SCHEMA_VERSION},
    EtlSpanExt, ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, JsonLinesStore,
    PostgresStore, RunStatus, SqliteStore,
};
use tracing_subscriber::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/history-schema-4")
        .join(name)
}

/// A copy of the fixture `name` (a file or a directory tree) in a temporary directory.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    fn copy_tree(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                copy_tree(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join(name);
    copy_tree(&fixture(name), &to);
    (tmp, to)
}

/// Every current row: pipelines, processes, steps, each oldest first.
fn rows(store: &mut dyn RecordReader) -> [Vec<ExecutionRecord>; 3] {
    let all = RunFilter::default();
    EntityKind::ALL.map(|kind| store.read_records(kind, &all).unwrap())
}

/// What the fixture holds: four pipeline runs, five processes, eleven steps, none with volume.
fn check_old(rows: &[Vec<ExecutionRecord>; 3]) {
    let runs: Vec<(&str, u32, RunStatus)> = rows[0]
        .iter()
        .map(|p| (p.run.run_id.as_str(), p.run.attempt, p.outcome.status))
        .collect();
    assert_eq!(
        runs,
        [
            ("fixture-good", 1, RunStatus::Success),
            ("fixture-failed", 1, RunStatus::Failed),
            ("fixture-failed", 2, RunStatus::Success),
            ("fixture-running", 1, RunStatus::Running),
        ]
    );
    assert_eq!((rows[1].len(), rows[2].len()), (5, 11));
    for r in rows.iter().flatten() {
        assert!(r.volume.is_empty(), "{r:?}");
    }
    let failed = rows[2]
        .iter()
        .find(|s| s.name == "validate" && s.run.run_id == "fixture-failed" && s.run.attempt == 1);
    assert_eq!(failed.unwrap().outcome.status, RunStatus::Failed);
}

/// Runs of `daily_sales` that give their rows out, the last one 0, each a second apart, and a
/// step with datasets.
fn record_volume_runs<S: ExecutionRecordStore>(store: S, rows_out: &[u64]) {
    let (layer, guard) = ExecutionRecordsLayer::new(store);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (i, &rows) in rows_out.iter().enumerate() {
            let run_id = format!("volume-{i}");
            let p = tracing::info_span!(
                "daily_sales",
                etl.pipeline = Empty,
                etl.run_id = run_id.as_str(),
                etl.rows_out = rows
            );
            let _p = p.enter();
            let s = tracing::info_span!(
                "load",
                etl.step = Empty,
                etl.inputs = "s3://landing/orders.csv",
                etl.rows_in = rows + 1
            );
            s.add_output("postgres://warehouse/sales.orders");
            s.record_rows_out(rows);
            drop(s);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    guard.shutdown().unwrap();
}

fn check_volume_runs(store: &mut dyn RecordReader, rows_out: &[u64]) {
    let filter = RunFilter::default().run_id_prefix("volume-");
    let pipelines = store.read_pipelines(&filter).unwrap();
    let got: Vec<Option<u64>> = pipelines.iter().map(ExecutionRecord::rows_out).collect();
    let expected: Vec<Option<u64>> = rows_out.iter().copied().map(Some).collect();
    assert_eq!(got, expected);
    let steps = store.read_steps(&filter).unwrap();
    assert_eq!(steps.len(), rows_out.len());
    for (s, &rows) in steps.iter().zip(rows_out) {
        assert_eq!((s.rows_in(), s.rows_out()), (Some(rows + 1), Some(rows)));
        assert_eq!(s.inputs(), ["s3://landing/orders.csv"]);
        assert_eq!(s.outputs(), ["postgres://warehouse/sales.orders"]);
    }
}

const VOLUMES: [u64; 4] = [1_200, 1_300, 1_100, 0];

/// `(column, type)` of a SQLite table.
fn sqlite_columns(path: &Path, table: &str) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT name, type FROM pragma_table_info('{table}')"
        ))
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_sqlite_history_of_schema_4_migrates_and_takes_volume() {
    let (tmp, path) = copy("history.db");
    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(reader.schema_version().unwrap(), 4);
    let before = rows(&mut reader);
    check_old(&before);
    drop(reader);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SQLITE_SCHEMA_VERSION);
    assert_eq!(SQLITE_SCHEMA_VERSION, 5);
    let after = rows(&mut SqliteStore::open_read_only(&path).unwrap());
    assert_eq!(after, before, "every row kept");
    let fresh = tmp.path().join("fresh.db");
    drop(SqliteStore::open(&fresh).unwrap());
    for table in ["pipeline_runs", "process_runs", "step_runs"] {
        let columns = sqlite_columns(&path, table);
        assert_eq!(columns, sqlite_columns(&fresh, table), "{table}");
        for column in ["rows_in", "rows_out", "inputs", "outputs"] {
            assert!(columns.iter().any(|(c, _)| c == column), "{table}.{column}");
        }
    }

    record_volume_runs(store, &VOLUMES);
    let mut store = SqliteStore::open_read_only(&path).unwrap();
    check_volume_runs(&mut store, &VOLUMES);
    check_old(&{
        let mut rows = rows(&mut store);
        for r in &mut rows {
            r.retain(|r| !r.run.run_id.starts_with("volume-"));
        }
        rows
    });
}

#[test]
fn json_lines_of_schema_4_read_as_written_and_take_volume() {
    let (_tmp, dir) = copy("jsonl");
    let before = rows(&mut JsonLinesStore::open_read_only(&dir).unwrap());
    check_old(&before);
    // Lines without volume are written in the form they had.
    for file in [
        "pipeline_runs.jsonl",
        "process_runs.jsonl",
        "step_runs.jsonl",
    ] {
        let text = std::fs::read_to_string(fixture("jsonl").join(file)).unwrap();
        let records: Vec<ExecutionRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let out = tempfile::tempdir().unwrap();
        let mut store = JsonLinesStore::open(out.path()).unwrap();
        store.write_batch(&records).unwrap();
        store.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join(file)).unwrap(),
            text
        );
    }
    record_volume_runs(JsonLinesStore::open(&dir).unwrap(), &VOLUMES);
    let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut store = JsonLinesStore::open_read_only(&dir)
        .unwrap()
        .with_read_warning_callback({
            let warnings = warnings.clone();
            move |w: &tracing_etl::store::ReadWarning| warnings.lock().unwrap().push(w.to_string())
        });
    check_volume_runs(&mut store, &VOLUMES);
    // The new lines carry the columns as JSON: counts and arrays of strings.
    let steps = std::fs::read_to_string(dir.join("step_runs.jsonl")).unwrap();
    let last: Value = serde_json::from_str(steps.lines().last().unwrap()).unwrap();
    assert_eq!(last["rows_out"], 0);
    assert_eq!(
        last["inputs"],
        serde_json::json!(["s3://landing/orders.csv"])
    );
    let warnings = warnings.lock().unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// The fixture's dump restored into `schema` (which must not exist).
fn restore_dump(schema: &str) {
    let dump = std::fs::read_to_string(fixture("postgres.sql")).unwrap();
    let sql: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .map(|line| line.replace("tracing_etl_fixture_v4", schema) + "\n")
        .collect();
    pg_support::admin().batch_execute(&sql).unwrap();
}

#[test]
fn a_postgres_history_of_schema_4_migrates_and_takes_volume() {
    let mut old = pg_support::TestSchema::new("from4");
    restore_dump(&old.name);
    let version = |s: &mut pg_support::TestSchema| -> i32 {
        let sql = format!("SELECT version FROM {}", s.table("tracing_etl_schema"));
        s.admin.query_one(&sql, &[]).unwrap().get(0)
    };
    assert_eq!(version(&mut old), 4);
    let before = rows(&mut old.reader());
    check_old(&before);

    let store = old.store();
    assert_eq!(version(&mut old), POSTGRES_SCHEMA_VERSION);
    assert_eq!(rows(&mut old.reader()), before, "every row kept");
    let columns: Vec<String> = old
        .admin
        .query(
            "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns
             WHERE table_schema = $1 AND column_name IN ('rows_in', 'rows_out', 'inputs', 'outputs')",
            &[&old.name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns.len(), 12, "{columns:?}");

    record_volume_runs(store, &VOLUMES);
    let mut store: PostgresStore = old.store();
    check_volume_runs(&mut store, &VOLUMES);
}

#[cfg(feature = "delta")]
#[test]
fn delta_tables_of_schema_4_gain_the_columns() {
    use tracing_etl::DeltaStore;

    let (_tmp, root) = copy("delta");
    let before = rows(&mut DeltaStore::open_read_only(&root).unwrap());
    check_old(&before);
    let log = |table: &str| -> usize {
        std::fs::read_dir(root.join(table).join("_delta_log"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count()
    };
    let commits_before = log("step_runs");
    let store = DeltaStore::open(&root).unwrap();
    assert_eq!(log("step_runs"), commits_before + 1, "one schema commit");
    drop(store);
    assert_eq!(
        log("step_runs"),
        commits_before + 1,
        "opened again: nothing to add"
    );
    drop(DeltaStore::open(&root).unwrap());
    assert_eq!(log("step_runs"), commits_before + 1);
    assert_eq!(
        rows(&mut DeltaStore::open_read_only(&root).unwrap()),
        before
    );

    record_volume_runs(DeltaStore::open(&root).unwrap(), &VOLUMES);
    check_volume_runs(&mut DeltaStore::open_read_only(&root).unwrap(), &VOLUMES);
}

#[test]
fn the_tool_reports_rows_out_beside_the_median_of_earlier_runs() {
    let (_tmp, db) = copy("history.db");
    record_volume_runs(SqliteStore::open(&db).unwrap(), &VOLUMES);

    let out = cli_support::cli(&db)
        .args([
            "--json",
            "runs",
            "--pipeline",
            "daily_sales",
            "--volume-window",
            "2",
        ])
        .assert()
        .success();
    let runs: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let by_run = |id: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {runs}"))
            .clone()
    };
    // Newest first; the window of 2 runs before each: fixture runs have no rows out.
    let last = by_run("volume-3");
    assert_eq!(
        (
            &last["rows_out"],
            &last["rows_out_median"],
            &last["rows_out_median_runs"]
        ),
        (&Value::from(0), &Value::from(1_200), &Value::from(2))
    );
    let third = by_run("volume-2");
    assert_eq!(third["rows_out_median"], 1_250);
    let second = by_run("volume-1");
    assert_eq!(
        (&second["rows_out_median"], &second["rows_out_median_runs"]),
        (&Value::from(1_200), &Value::from(1))
    );
    let first = by_run("volume-0");
    assert_eq!(
        (&first["rows_out_median"], &first["rows_out_median_runs"]),
        (&Value::Null, &Value::from(0))
    );
    let old = by_run("fixture-good");
    assert!(old.get("rows_out").is_none(), "{old}");

    // The table: rows out, the median and the change.
    let out = cli_support::cli(&db)
        .args(["runs", "--pipeline", "daily_sales"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("ROWS OUT") && text.contains("MEDIAN (PREV 20)"),
        "{text}"
    );
    let line = text.lines().find(|l| l.starts_with("volume-3")).unwrap();
    assert!(line.contains("1,200") && line.contains("-100.0%"), "{line}");

    // failures --volume-drop: the run with 0 rows out, exit 1; 1,100 against 1,250 is a 12 %
    // drop, under 50 %.
    let out = cli_support::cli(&db)
        .args([
            "--json",
            "failures",
            "--volume-drop",
            "50",
            "--pipeline",
            "daily_sales",
        ])
        .assert()
        .code(1);
    let failures: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let drop = &failures[0];
    assert_eq!(drop["run_id"], "volume-3");
    assert_eq!(drop["volume_drop"], true);
    assert_eq!(drop["rows_out_median"], 1_200);
    assert_eq!(drop["rows_out_drop_pct"], 100.0);
    assert_eq!(drop["status"], "success");
    // At 8 %, volume-2 is one too: 1,100 against the median 1,250 of the runs before it.
    let out = cli_support::cli(&db)
        .args([
            "--json",
            "failures",
            "--volume-drop",
            "8",
            "--pipeline",
            "daily_sales",
        ])
        .assert()
        .code(1);
    let failures: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let ids: Vec<&str> = failures
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["volume-3", "volume-2"]);
    // Without --volume-drop the volume runs are no failures: only the fixture's failed run
    // (recovered by attempt 2) is not listed either.
    cli_support::cli(&db)
        .args(["failures", "--pipeline", "daily_sales"])
        .assert()
        .code(0);
    // The text table says why.
    let out = cli_support::cli(&db)
        .args(["failures", "--volume-drop", "50%"])
        .assert()
        .code(1);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains(
            "volume drop: 0 rows out, 100.0% below the median 1,200 of the 3 runs before"
        ),
        "{text}"
    );
    for bad in ["0", "150", "lots", "-5"] {
        let out = cli_support::cli(&db)
            .args(["failures", &format!("--volume-drop={bad}")])
            .assert()
            .code(2);
        let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(
            stderr.contains("--volume-drop") && stderr.contains(bad),
            "{stderr}"
        );
    }

    // show: rows per step and the datasets.
    let out = cli_support::cli(&db)
        .args(["show", "volume-1"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("ROWS IN") && text.contains("ROWS OUT"),
        "{text}"
    );
    let load = text.lines().find(|l| l.contains("load")).unwrap();
    assert!(load.contains("1,301") && load.contains("1,300"), "{load}");
    assert!(text.contains("in   s3://landing/orders.csv"), "{text}");
    assert!(
        text.contains("out  postgres://warehouse/sales.orders"),
        "{text}"
    );
    // A run without volume shows no such columns.
    let out = cli_support::cli(&db)
        .args(["show", "fixture-good"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        !text.contains("ROWS IN") && !text.contains("datasets:"),
        "{text}"
    );
}
