//! Against `SqliteStore`: one row per entity, upserted from running to its end, readable from
//! the file by another connection while the program records and after it stopped.

use tracing::field::Empty;
use tracing::instrument;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecordsLayer, RunStatus, SqliteStore};
use tracing_subscriber::prelude::*;

#[instrument(fields(etl.pipeline = "nightly", etl.run_id = %run_id))]
fn pipeline(run_id: &str) {
    ingest();
}

#[instrument(fields(etl.process))]
fn ingest() {
    extract();
    let _ = load();
}

#[instrument(fields(etl.step))]
fn extract() {}

#[instrument(err, fields(etl.step))]
fn load() -> Result<(), String> {
    Err("no space left on device".into())
}

fn count(db: &SqliteStore, sql: &str) -> i64 {
    db.connection()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

#[test]
fn one_row_per_entity_readable_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    for run_id in ["r1", "r2"] {
        // A fresh store on the same file each time, as separate program runs would.
        let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path).unwrap());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            pipeline(run_id)
        });
        let stats = guard.shutdown().unwrap();
        assert_eq!(stats.written, 8, "start and end records of 4 entities");
    }

    let mut db = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM pipeline_runs"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM process_runs"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM step_runs"), 4);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM step_runs WHERE event != 'step_end' OR duration_ms IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pipeline_runs WHERE status = 'failed'"
        ),
        2,
        "statuses are stored lower-case"
    );

    let pipelines = db.read_pipelines(&RunFilter::default()).unwrap();
    let ids: Vec<&str> = pipelines.iter().map(|p| p.run.run_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2"]);
    for p in &pipelines {
        assert_eq!(p.outcome.status, RunStatus::Failed);
        assert_eq!(p.failed_step(), Some("load"));
        assert_eq!(
            p.outcome.error.message.as_deref(),
            Some("no space left on device")
        );
        let step = db
            .read_steps(&RunFilter::default())
            .unwrap()
            .into_iter()
            .find(|s| s.run.run_id == p.run.run_id && s.name == "load")
            .unwrap();
        assert_eq!(p.failed_step_run_id(), step.step_run_id.as_deref());
        let process = db
            .read_processes(&RunFilter::default())
            .unwrap()
            .into_iter()
            .find(|r| r.run.run_id == p.run.run_id)
            .unwrap();
        assert_eq!(
            step.process_run_id.as_deref(),
            process.process_run_id.as_deref()
        );
    }
}

#[test]
fn a_run_in_progress_is_a_running_row_then_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path).unwrap());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.run_id = "r1");
        guard.flush().unwrap();
        // Another connection, while the program is still recording.
        let mut reader = SqliteStore::open_read_only(&path).unwrap();
        let rows = reader.read_pipelines(&RunFilter::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].outcome.status, RunStatus::Running);
        assert_eq!(rows[0].outcome.duration_ms, None);

        drop(p);
        guard.flush().unwrap();
        let rows = reader.read_pipelines(&RunFilter::default()).unwrap();
        assert_eq!(rows.len(), 1, "the end record replaced the start record");
        assert_eq!(rows[0].outcome.status, RunStatus::Success);
        assert!(rows[0].outcome.duration_ms.is_some());

        // A pipeline whose process dies before it ends stays `running`.
        std::mem::forget(tracing::info_span!(
            "killed",
            etl.pipeline = Empty,
            etl.run_id = "r2"
        ));
    });
    drop(guard);
    let mut db = SqliteStore::open_read_only(&path).unwrap();
    let statuses: Vec<(String, RunStatus)> = db
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|p| (p.run.run_id, p.outcome.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("r1".to_owned(), RunStatus::Success),
            ("r2".to_owned(), RunStatus::Running)
        ]
    );
}

#[test]
fn read_only_a_file_without_tables_is_an_empty_history_and_a_foreign_database_an_error() {
    use tracing_etl::store::{RecordReader, RunFilter};
    use tracing_etl::{record::EntityKind, StoreError};

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let mut store = SqliteStore::open_read_only(&empty).unwrap();
    for kind in EntityKind::ALL {
        assert!(store
            .read_records(kind, &RunFilter::default())
            .unwrap()
            .is_empty());
    }
    assert!(store.read_recorders().unwrap().is_empty());
    drop(store);
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "nothing written"
    );

    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open_read_only(&foreign).unwrap_err();
    assert!(matches!(err, StoreError::InvalidData { .. }), "{err}");
    assert!(
        err.to_string().contains("not a tracing-etl database"),
        "{err}"
    );
}

/// The names of the indexes of the file's tables.
fn index_names(db: &SqliteStore) -> Vec<String> {
    let mut stmt = db
        .connection()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.map(Result::unwrap).collect()
}

#[test]
fn opening_for_writing_creates_a_missing_index_and_a_read_only_open_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let all = index_names(&SqliteStore::open(&path).unwrap());
    assert!(all.iter().any(|n| n == "step_runs_by_run"), "{all:?}");
    {
        let db = SqliteStore::open(&path).unwrap();
        db.connection()
            .execute_batch("DROP INDEX step_runs_by_run")
            .unwrap();
    }
    let read_only = index_names(&SqliteStore::open_read_only(&path).unwrap());
    assert!(!read_only.iter().any(|n| n == "step_runs_by_run"));
    assert_eq!(index_names(&SqliteStore::open(&path).unwrap()), all);
}
