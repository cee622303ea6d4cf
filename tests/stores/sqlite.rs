//! Against `SqliteStore`: one row per entity, upserted from running to its end, readable from
//! the file by another connection while the program records and after it stopped.

use tracing::field::Empty;
use tracing::instrument;
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

    let db = SqliteStore::open_read_only(&path).unwrap();
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

    let pipelines = db.pipeline_runs().unwrap();
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
            .step_runs()
            .unwrap()
            .into_iter()
            .find(|s| s.run.run_id == p.run.run_id && s.name == "load")
            .unwrap();
        assert_eq!(p.failed_step_run_id(), step.step_run_id.as_deref());
        let process = db
            .process_runs()
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
        let reader = SqliteStore::open_read_only(&path).unwrap();
        let rows = reader.pipeline_runs().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].outcome.status, RunStatus::Running);
        assert_eq!(rows[0].outcome.duration_ms, None);

        drop(p);
        guard.flush().unwrap();
        let rows = reader.pipeline_runs().unwrap();
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
    let db = SqliteStore::open_read_only(&path).unwrap();
    let statuses: Vec<(String, RunStatus)> = db
        .pipeline_runs()
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
