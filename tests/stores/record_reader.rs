//! Reading records back: filters, ordering, limits and recorder heartbeats, for every store that
//! can be read in this file (in memory, SQLite, JSON Lines and PostgreSQL).

use crate::pg_support;

use tracing::instrument;
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecordsLayer, InMemoryStore, JsonLinesStore, RunStatus, SqliteStore,
};
use tracing_subscriber::prelude::*;

#[instrument(skip_all, fields(etl.pipeline = "sales", etl.run_id = %run_id, etl.attempt = attempt))]
fn sales(run_id: &str, attempt: u32, fail: bool) {
    load(fail);
}

#[instrument(skip_all, fields(etl.step))]
fn load(fail: bool) {
    if fail {
        tracing::error!("boom");
    }
}

#[instrument(skip_all, fields(etl.pipeline = "costs", etl.run_id = %run_id))]
fn costs(run_id: &str) {}

fn record_runs(store: impl tracing_etl::ExecutionRecordStore) -> String {
    let (layer, guard) = ExecutionRecordsLayer::new(store);
    let recorder_id = guard.handle().recorder_id().to_owned();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        sales("run-a", 1, true);
        sales("run-a", 2, false);
        costs("run-b");
        sales("other", 1, false);
    });
    guard.shutdown().unwrap();
    recorder_id
}

fn check(reader: &mut dyn RecordReader, recorder_id: &str) {
    let all = reader.read_pipelines(&RunFilter::default()).unwrap();
    let ids: Vec<_> = all
        .iter()
        .map(|p| (p.run.run_id.as_str(), p.run.attempt))
        .collect();
    assert_eq!(
        ids,
        [("run-a", 1), ("run-a", 2), ("run-b", 1), ("other", 1)]
    );
    assert!(all
        .iter()
        .all(|p| p.recorder_id.as_deref() == Some(recorder_id)));

    let newest = reader
        .read_pipelines(&RunFilter::default().newest_first().limit(2))
        .unwrap();
    let ids: Vec<_> = newest.iter().map(|p| p.run.run_id.as_str()).collect();
    assert_eq!(ids, ["other", "run-b"]);

    let run_a = reader
        .read_pipelines(&RunFilter::default().run_id_prefix("run-"))
        .unwrap();
    assert_eq!(run_a.len(), 3);
    let failed = reader
        .read_pipelines(&RunFilter::default().status(RunStatus::Failed))
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].failed_step(), Some("load"));
    let second = reader
        .read_pipelines(&RunFilter::default().run_id("run-a").attempt(2))
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].outcome.status, RunStatus::Success);
    let costs = reader
        .read_pipelines(&RunFilter::default().name("costs"))
        .unwrap();
    assert_eq!(costs.len(), 1);
    let later = reader
        .read_pipelines(&RunFilter::default().since(costs[0].started_at))
        .unwrap();
    assert_eq!(later.len(), 2);

    let steps = reader
        .read_steps(&RunFilter::default().run_id("run-a"))
        .unwrap();
    assert_eq!(steps.len(), 2);
    let processes = reader.read_processes(&RunFilter::default()).unwrap();
    assert!(processes.is_empty());

    let recorders = reader.read_recorders().unwrap();
    assert_eq!(recorders.len(), 1);
    let me = &recorders[0];
    assert_eq!(me.recorder_id, recorder_id);
    assert_eq!(me.pid, std::process::id());
    assert!(
        me.stopped_at.is_some(),
        "a clean shutdown marks the recorder stopped"
    );
    assert!(!me.is_alive(chrono::Utc::now(), std::time::Duration::from_secs(60)));
}

#[test]
fn in_memory_store_reads_back_with_filters() {
    let store = InMemoryStore::new();
    let recorder_id = record_runs(store.clone());
    check(&mut store.clone(), &recorder_id);
}

#[test]
fn sqlite_store_reads_back_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let recorder_id = record_runs(SqliteStore::open(&path).unwrap());
    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    check(&mut reader, &recorder_id);
}

#[test]
fn json_lines_store_reads_back_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let recorder_id = record_runs(JsonLinesStore::open(dir.path()).unwrap());
    let (mut reader, warnings) =
        crate::jsonl::collecting(JsonLinesStore::open_read_only(dir.path()).unwrap());
    check(&mut reader, &recorder_id);
    assert!(warnings.lock().unwrap().is_empty());
}

#[test]
fn postgres_store_reads_back_with_filters() {
    let schema = pg_support::TestSchema::new("reader");
    let recorder_id = record_runs(schema.store());
    let mut reader = schema.reader();
    check(&mut reader, &recorder_id);
    for pattern in ["%", "_", "run-%", "' OR 1=1 --"] {
        let rows = reader
            .read_pipelines(&RunFilter::default().run_id_prefix(pattern))
            .unwrap();
        assert!(rows.is_empty(), "{pattern:?} matched {rows:?}");
    }
}

#[test]
fn sqlite_prefix_filter_treats_wildcards_literally() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    record_runs(SqliteStore::open(&path).unwrap());
    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    for pattern in ["%", "_", "run-%", "' OR 1=1 --"] {
        let rows = reader
            .read_pipelines(&RunFilter::default().run_id_prefix(pattern))
            .unwrap();
        assert!(rows.is_empty(), "{pattern:?} matched {rows:?}");
    }
}

#[test]
fn read_only_open_of_a_missing_or_foreign_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = SqliteStore::open_read_only(dir.path().join("nope.db")).unwrap_err();
    assert!(missing.to_string().contains("nope.db"), "{missing}");
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database at all, just some text").unwrap();
    let err = SqliteStore::open_read_only(&junk).unwrap_err();
    assert!(err.to_string().contains("junk.db"), "{err}");
}
