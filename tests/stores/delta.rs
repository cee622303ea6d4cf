//! Against `DeltaStore`: the tables' layout and types as the Delta log declares them, one
//! commit per flush, reading back the latest row per entity, a root that cannot be written
//! (an outage, then a recovery that loses nothing), checkpoints, compaction, and the tables the
//! example job wrote read by independent readers (the `deltalake` Python package and DuckDB).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::instrument;
use tracing_etl::{
    record::EntityKind,
    store::{RecordReader, RunFilter},
    DeltaStore, ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer,
    ExecutionRecordsLayerBuilder, RunStatus, StoreError,
};
use tracing_subscriber::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("disk full while loading {table}")]
struct LoadError {
    table: &'static str,
}

#[instrument(skip_all, fields(etl.pipeline = "nightly", etl.run_id = %run_id))]
fn pipeline(run_id: &str, fail: bool) {
    ingest(fail);
}

#[instrument(skip_all, fields(etl.process))]
fn ingest(fail: bool) {
    extract();
    if fail {
        let _ = load();
    }
}

#[instrument(skip_all, fields(etl.step))]
fn extract() {}

#[instrument(skip_all, err, fields(etl.step))]
fn load() -> Result<(), LoadError> {
    Err(LoadError { table: "sales" })
}

/// Now, to the microsecond (what Delta's `timestamp` keeps).
fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Records `runs` runs (every third failing) through the layer into `store`.
fn record_runs(store: DeltaStore, runs: usize) {
    let (layer, guard) = ExecutionRecordsLayer::new(store);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..runs {
            pipeline(&format!("run-{i}"), i % 3 == 2);
        }
    });
    guard.shutdown().expect("writer shut down");
}

/// The commits of a table's log, oldest first, each as its actions.
fn commits(table: &Path) -> Vec<Vec<Value>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        })
        .collect()
}

/// The schema the table's first commit declares: column name, type, nullable.
fn declared_schema(table: &Path) -> (Vec<(String, String, bool)>, Vec<String>) {
    let first = &commits(table)[0];
    let meta = first
        .iter()
        .find_map(|a| a.get("metaData"))
        .expect("a metaData action");
    let schema: Value = serde_json::from_str(meta["schemaString"].as_str().unwrap()).unwrap();
    let fields = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["type"].as_str().unwrap().to_owned(),
                f["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    let partitions = meta["partitionColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    (fields, partitions)
}

#[test]
fn tables_are_typed_as_the_original_and_partitioned_by_date() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    record_runs(DeltaStore::open(&root).unwrap(), 3);
    for kind in EntityKind::ALL {
        let table = root.join(kind.table());
        let (fields, partitions) = declared_schema(&table);
        assert_eq!(partitions, ["started_date"], "{kind}");
        let ty = |name: &str| {
            fields
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, t, nullable)| (t.as_str(), *nullable))
                .unwrap_or_else(|| panic!("{kind}: no column {name} in {fields:?}"))
        };
        assert_eq!(ty("started_at"), ("timestamp", false));
        assert_eq!(ty("duration_ms"), ("long", true));
        assert_eq!(ty("attempt"), ("integer", false));
        assert_eq!(ty("last_attempt"), ("boolean", false));
        assert_eq!(ty("event"), ("string", false));
        assert_eq!(ty("status"), ("string", false));
        assert_eq!(ty("error_message"), ("string", true));
        assert_eq!(ty("trace_id"), ("string", true));
        assert_eq!(ty("span_id"), ("string", true));
        assert_eq!(ty("recorder_id"), ("string", true));
        assert_eq!(ty("started_date"), ("date", false));
        assert_eq!(ty(kind.as_str()), ("string", false));
        // Data files live under their date.
        let today = chrono::Utc::now().date_naive();
        let dates: Vec<String> = std::fs::read_dir(&table)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("started_date="))
            .collect();
        assert!(
            dates.iter().all(|d| {
                let date = d.trim_start_matches("started_date=");
                date == today.to_string() || date == (today - chrono::Days::new(1)).to_string()
            }) && !dates.is_empty(),
            "{dates:?}"
        );
    }
    let pipelines = root.join("pipeline_runs");
    let (fields, _) = declared_schema(&pipelines);
    assert!(fields.iter().any(|(n, _, _)| n == "failed_step"));
}

#[test]
fn a_flush_is_one_commit_per_table_and_reads_the_latest_row() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    let mut store = DeltaStore::open(&root).unwrap();
    let now = now();
    let start = ExecutionRecord::step_start("r", "s1", "load", now);
    let end = start.clone().ended(RunStatus::Failed, 12);
    // Three batches, one flush: one commit (after the table's creation).
    store.write_batch(std::slice::from_ref(&start)).unwrap();
    store.write_batch(std::slice::from_ref(&end)).unwrap();
    store.write_batch(std::slice::from_ref(&start)).unwrap();
    // Not committed yet, but read back all the same.
    assert_eq!(
        store.read_steps(&RunFilter::default()).unwrap(),
        std::slice::from_ref(&end)
    );
    let steps = root.join("step_runs");
    assert_eq!(commits(&steps).len(), 1, "only the creation");
    store.flush().unwrap();
    let log = commits(&steps);
    assert_eq!(log.len(), 2);
    let adds: Vec<&Value> = log[1].iter().filter_map(|a| a.get("add")).collect();
    assert_eq!(adds.len(), 1, "one file for one date: {adds:?}");
    assert_eq!(
        adds[0]["partitionValues"]["started_date"],
        now.date_naive().to_string()
    );
    // Every row is kept: the start, the end and the start again.
    let stats: Value = serde_json::from_str(adds[0]["stats"].as_str().unwrap()).unwrap();
    assert_eq!(stats["numRecords"], 3);
    // A flush with nothing pending commits nothing; tables without rows get no commit.
    store.flush().unwrap();
    assert_eq!(commits(&steps).len(), 2);
    assert_eq!(commits(&root.join("pipeline_runs")).len(), 1);
    drop(store);

    let mut reader = DeltaStore::open_read_only(&root).unwrap();
    assert_eq!(reader.read_steps(&RunFilter::default()).unwrap(), [end]);
    let err = reader.write_batch(&[ExecutionRecord::step_start("r", "s2", "x", now)]);
    assert!(matches!(err, Err(StoreError::Io { .. })), "{err:?}");
}

/// `bursts` pipeline runs recorded through the layer 300 ms apart (more than the writer's usual
/// 200 ms flush interval), with the writer settings `config` makes; returns the commits of
/// `step_runs` after its creation.
fn commits_of_bursts(
    store: DeltaStore,
    root: &Path,
    bursts: usize,
    config: impl FnOnce(ExecutionRecordsLayerBuilder) -> ExecutionRecordsLayerBuilder,
) -> usize {
    let (layer, guard) = config(ExecutionRecordsLayer::builder()).build(store);
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for burst in 0..bursts {
            pipeline(&format!("burst-{burst}"), false);
            // The run's six records reached the store before the pause.
            let deadline = Instant::now() + Duration::from_secs(10);
            while handle.stats().written < 6 * (burst as u64 + 1) {
                assert!(Instant::now() < deadline, "{:?}", handle.stats());
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    guard.shutdown().expect("writer shut down");
    let mut reader = DeltaStore::open_read_only(root).unwrap();
    assert_eq!(
        reader.read_steps(&RunFilter::default()).unwrap().len(),
        bursts
    );
    commits(&root.join("step_runs")).len() - 1
}

#[test]
fn the_store_asks_its_writer_for_a_long_flush_interval_unless_one_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DeltaStore::open(tmp.path().join("l")).unwrap();
    assert_eq!(
        store.preferred_flush_interval(),
        Some(tracing_etl::store::DEFAULT_COMMIT_INTERVAL)
    );
    // With the writer's defaults: one commit for the whole run, at shutdown.
    let root = tmp.path().join("default");
    let store = DeltaStore::open(&root).unwrap();
    assert_eq!(commits_of_bursts(store, &root, 4, |b| b), 1);
    // An explicit interval wins over the store's: a commit per burst at least.
    let root = tmp.path().join("explicit");
    let store = DeltaStore::open(&root).unwrap();
    let commits = commits_of_bursts(store, &root, 4, |b| {
        b.flush_interval(Duration::from_millis(50))
    });
    assert!(commits >= 4, "{commits} commits");
    // The store's own setting.
    let root = tmp.path().join("own");
    let store = DeltaStore::open(&root)
        .unwrap()
        .with_commit_interval(Duration::from_millis(50));
    let commits = commits_of_bursts(store, &root, 4, |b| b);
    assert!(commits >= 4, "{commits} commits");
}

#[test]
fn read_only_opening_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing-here");
    let err = DeltaStore::open_read_only(&missing).unwrap_err();
    assert!(err.to_string().contains("nothing-here"), "{err}");
    assert!(!missing.exists());
    // An empty directory: no tables, empty reads.
    let mut empty = DeltaStore::open_read_only(tmp.path()).unwrap();
    assert!(empty
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .is_empty());
    assert!(empty.read_recorders().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_root_that_cannot_be_written_is_an_error_then_an_outage_that_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Under a file: no directory can be made there (even for root).
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let err = DeltaStore::open(file.join("lake")).unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");

    // The root disappears while the store writes: flushes fail, then succeed once it is back.
    let root = tmp.path().join("lake");
    let mut store = DeltaStore::open(&root).unwrap();
    let now = now();
    let records: Vec<ExecutionRecord> = (0..10)
        .map(|i| ExecutionRecord::step_start("r", format!("s{i}"), "load", now))
        .collect();
    store.write_batch(&records[..5]).unwrap();
    let away = tmp.path().join("lake-away");
    std::fs::rename(&root, &away).unwrap();
    std::fs::write(&root, "in the way").unwrap();
    let err = store.flush().unwrap_err();
    assert!(matches!(err, StoreError::Delta { .. }), "{err:?}");
    assert!(err.to_string().contains("step_runs"), "{err}");
    store.write_batch(&records[5..]).unwrap();
    assert!(store.flush().is_err());
    std::fs::remove_file(&root).unwrap();
    std::fs::rename(&away, &root).unwrap();
    store.flush().unwrap();
    drop(store);
    let steps = DeltaStore::open_read_only(&root)
        .unwrap()
        .read_steps(&RunFilter::default())
        .unwrap();
    assert_eq!(steps, records);
}

/// The rows the data files of a table's commits hold, by their statistics.
fn committed_rows(table: &Path) -> u64 {
    commits(table)
        .iter()
        .flatten()
        .filter_map(|a| a.get("add"))
        .map(|add| {
            let stats: Value = serde_json::from_str(add["stats"].as_str().unwrap()).unwrap();
            stats["numRecords"].as_u64().unwrap()
        })
        .sum()
}

#[test]
fn past_its_bound_a_store_in_an_outage_refuses_batches_instead_of_keeping_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    let mut store = DeltaStore::open(&root).unwrap().with_max_pending_rows(4);
    let now = now();
    let records: Vec<ExecutionRecord> = (0..6)
        .map(|i| ExecutionRecord::step_start("r", format!("s{i}"), "load", now))
        .collect();
    store.write_batch(&records[..3]).unwrap();
    let away = tmp.path().join("lake-away");
    std::fs::rename(&root, &away).unwrap();
    std::fs::write(&root, "in the way").unwrap();
    // Past the bound the table commits at once, which fails: the batch is refused (the writer
    // keeps it), and retrying it while the outage lasts is refused again.
    for _ in 0..3 {
        let err = store.write_batch(&records[3..]).unwrap_err();
        assert!(matches!(err, StoreError::Delta { .. }), "{err:?}");
    }
    std::fs::remove_file(&root).unwrap();
    std::fs::rename(&away, &root).unwrap();
    store.write_batch(&records[3..]).unwrap();
    store.flush().unwrap();
    // Every record once: the refused attempts left nothing behind.
    assert_eq!(committed_rows(&root.join("step_runs")), 6);
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap(), records);
}

#[test]
fn compaction_merges_each_dates_files_and_keeps_the_rows() {
    const FLUSHES: usize = 8;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    let mut store = DeltaStore::open(&root).unwrap();
    let day = chrono::DateTime::parse_from_rfc3339("2026-03-01T23:59:00Z")
        .unwrap()
        .to_utc();
    for flush in 0..FLUSHES {
        // Two dates per flush: one file each.
        let records: Vec<ExecutionRecord> = (0..50)
            .flat_map(|i| {
                let at = day + chrono::Duration::seconds(i * 2);
                let start = ExecutionRecord::step_start("c", format!("{flush}/{i}"), "load", at);
                [start.clone(), start.ended(RunStatus::Success, 5)]
            })
            .collect();
        store.write_batch(&records).unwrap();
        store.flush().unwrap();
    }
    let before = store.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(before.len(), FLUSHES * 50);
    assert_eq!(store.data_files().unwrap()[2], FLUSHES * 2);

    let report = store.compact().unwrap();
    let steps = report[2];
    assert_eq!((steps.files_before, steps.files_after), (FLUSHES * 2, 2));
    assert!(steps.version.is_some());
    // Tables with nothing to merge are left alone.
    assert_eq!(report[0].version, None);
    assert_eq!(store.data_files().unwrap()[2], 2);
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap(), before);
    let log = commits(&root.join("step_runs"));
    let last = log.last().unwrap();
    let op = last.iter().find_map(|a| a.get("commitInfo")).unwrap();
    assert_eq!(op["operation"], "OPTIMIZE");
    assert!(last
        .iter()
        .filter_map(|a| a.get("add"))
        .all(|a| a["dataChange"] == false));
    // Compacting again changes nothing.
    assert_eq!(store.compact().unwrap()[2].version, None);
    // Appends go on after the compaction's commit.
    let later = ExecutionRecord::step_start("c", "later", "load", day + chrono::Duration::hours(1));
    store.write_batch(std::slice::from_ref(&later)).unwrap();
    store.flush().unwrap();
    let mut before = before;
    before.push(later);
    drop(store);
    assert_eq!(
        DeltaStore::open_read_only(&root)
            .unwrap()
            .read_steps(&RunFilter::default().run_id("c"))
            .unwrap(),
        before
    );
}

#[test]
fn every_tenth_commit_writes_a_checkpoint_and_one_that_fails_is_written_at_the_next() {
    const COMMITS: usize = 20;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    let mut store = DeltaStore::open(&root).unwrap();
    let steps = root.join("step_runs");
    let log = steps.join("_delta_log");
    let meta = commits(&steps)[0]
        .iter()
        .find_map(|a| a.get("metaData"))
        .cloned()
        .expect("a metaData action");
    assert_eq!(meta["configuration"]["delta.checkpointInterval"], "10");
    let checkpoint = |version: u64| log.join(format!("{version:020}.checkpoint.parquet"));
    // A directory where the checkpoint of version 19 goes: writing it fails.
    std::fs::create_dir(checkpoint(19)).unwrap();

    let now = now();
    let records: Vec<ExecutionRecord> = (0..COMMITS)
        .map(|i| ExecutionRecord::step_start("r", format!("s{i}"), "load", now))
        .collect();
    for record in &records {
        // Versions 1 to 20 (the table's creation is version 0); the failed checkpoint does
        // not fail the flush that committed the rows.
        store.write_batch(std::slice::from_ref(record)).unwrap();
        store.flush().unwrap();
    }
    assert!(checkpoint(9).is_file());
    assert!(checkpoint(19).is_dir(), "not written over");
    assert!(
        checkpoint(20).is_file(),
        "the next commit writes the owed checkpoint"
    );
    let last: Value =
        serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap())
            .unwrap();
    assert_eq!(last["version"], 20);
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap(), records);
    drop(store);
    // Readers load the table from its checkpoint: this crate's, and deltalake's in Python.
    let mut reader = DeltaStore::open_read_only(&root).unwrap();
    assert_eq!(reader.read_steps(&RunFilter::default()).unwrap(), records);
    let Some(python) = python() else { return };
    let out = Command::new(&python)
        .arg("-c")
        .arg(
            "import sys, duckdb; from deltalake import DeltaTable, QueryBuilder\n\
             t = DeltaTable(sys.argv[1]); d = duckdb.connect()\n\
             d.register('c', QueryBuilder().register('t', t)\
                 .execute('SELECT count(*) AS n FROM t').read_all())\n\
             print(t.version(), d.execute('SELECT n FROM c').fetchone()[0])",
        )
        .arg(&steps)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20 20");
}

#[test]
fn filters_skip_dates_before_since() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    let mut store = DeltaStore::open(&root).unwrap();
    let old = chrono::DateTime::parse_from_rfc3339("2025-01-01T10:00:00Z")
        .unwrap()
        .to_utc();
    let new = old + chrono::Duration::days(30);
    let records = [
        ExecutionRecord::pipeline_start("old", "nightly", old),
        ExecutionRecord::pipeline_start("new", "nightly", new),
    ];
    store.write_batch(&records).unwrap();
    store.flush().unwrap();
    // A file of a date before `since` is not even opened: damage it and read around it.
    let old_dir = root.join("pipeline_runs/started_date=2025-01-01");
    for file in std::fs::read_dir(&old_dir).unwrap() {
        std::fs::write(file.unwrap().path(), b"not parquet").unwrap();
    }
    let since = store
        .read_pipelines(&RunFilter::default().since(new))
        .unwrap();
    assert_eq!(since, [records[1].clone()]);
    let err = store.read_pipelines(&RunFilter::default()).unwrap_err();
    assert!(err.to_string().contains("started_date=2025-01-01"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Independent readers

/// The example job, built by `cargo test --all-features`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("etl_job{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --all-features` builds it \
         (or `cargo build --features cli,otlp,delta --example etl_job`)",
        binary.display()
    );
    binary
}

/// The example job run into `delta:ROOT`: whether the run succeeded.
fn run_example(root: &Path, run_id: &str, input: &Path, output: &Path) -> bool {
    let status = Command::new(example_binary())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--run-id", run_id, "--store"])
        .arg(format!("delta:{}", root.display()))
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .env("RUST_LOG", "error")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("TRACING_ETL_STORE")
        .output()
        .unwrap();
    status.status.success()
}

/// The Python interpreter with `deltalake` and `duckdb`: `TRACING_ETL_PYTHON`, which CI sets
/// (`.ci/run` makes the virtual environment). Without it the test is skipped, except in CI
/// (`CI` set), where a missing interpreter is a failure.
fn python() -> Option<PathBuf> {
    match std::env::var_os("TRACING_ETL_PYTHON").filter(|v| !v.is_empty()) {
        Some(python) => Some(PathBuf::from(python)),
        None if std::env::var_os("CI").is_some() => {
            panic!("TRACING_ETL_PYTHON is not set: CI must provide the Python readers")
        }
        None => {
            eprintln!(
                "skipped: set TRACING_ETL_PYTHON to a Python with deltalake and duckdb \
                 (`bash .ci/python-readers` makes one in .ci/venv)"
            );
            None
        }
    }
}

#[test]
fn python_deltalake_and_duckdb_read_what_the_example_wrote() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/orders.csv");
    let output = tmp.path().join("daily_sales.csv");
    assert!(run_example(&root, "run-ok", &input, &output));
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/orders_bad.csv");
    assert!(!run_example(&root, "run-failed", &bad, &output));

    // What this crate reads back.
    let mut store = DeltaStore::open_read_only(&root).unwrap();
    let ours: Vec<Vec<ExecutionRecord>> = EntityKind::ALL
        .iter()
        .map(|&kind| store.read_records(kind, &RunFilter::default()).unwrap())
        .collect();
    let failed = ours[0]
        .iter()
        .find(|p| p.run.run_id == "run-failed")
        .unwrap()
        .clone();
    assert_eq!(failed.outcome.status, RunStatus::Failed);
    let cause = failed.root_cause.clone().expect("a root cause");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stores/read_delta.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&root)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    for (kind, ours) in EntityKind::ALL.iter().zip(&ours) {
        let table = &seen[kind.table()];
        assert_eq!(
            table["partition_columns"],
            serde_json::json!(["started_date"])
        );
        let types = &table["types"];
        assert_eq!(types["started_at"], "timestamp", "{kind}");
        assert_eq!(types["duration_ms"], "long", "{kind}");
        assert_eq!(types["attempt"], "integer", "{kind}");
        // Every record is a row: a start and an end per entity.
        assert_eq!(table["rows"], 2 * ours.len(), "{kind}");
        // The latest row per key, by deltalake's own SQL and by DuckDB's.
        let mut expected: Vec<(String, String)> = ours
            .iter()
            .map(|r| {
                let key = match r.entity_id() {
                    Some(id) => id.to_owned(),
                    None => format!("{}:{}", r.run.run_id, r.run.attempt),
                };
                (key, r.outcome.status.as_str().to_owned())
            })
            .collect();
        expected.sort();
        for reader in ["latest_deltalake", "latest_duckdb"] {
            let got: Vec<(String, String)> = table[reader]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_owned(),
                        p[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "{kind} by {reader}");
        }
    }
    let root_cause = &seen["failed_run"];
    assert_eq!(root_cause["run_id"], "run-failed");
    assert_eq!(root_cause["failed_step"], cause.step.as_str());
    assert_eq!(root_cause["failed_step_run_id"], cause.step_run_id.as_str());
    assert_eq!(
        root_cause["error_message"],
        failed.outcome.error.message.as_deref().unwrap()
    );
}
