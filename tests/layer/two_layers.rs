//! Two records layers in one subscriber — SQLite for the command-line tool, another store for
//! the lake — record each entity under the same ids (generated run ids included) and the same
//! start time, so their histories join.

use std::collections::BTreeSet;

use tracing::instrument;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, SqliteStore};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[instrument(fields(etl.pipeline = "daily_sales"))] // no etl.run_id: a generated one
fn daily_sales() {
    ingest();
    publish();
}

#[instrument(fields(etl.process))]
fn ingest() {
    extract();
    std::thread::scope(|threads| {
        let parent = tracing::Span::current();
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        threads.spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || parent.in_scope(load));
        });
    });
}

#[instrument(fields(etl.step))]
fn extract() {}

#[instrument(fields(etl.step))]
fn load() {
    tracing::error!("disk full");
}

#[instrument(fields(etl.step))]
fn publish() {}

#[instrument(fields(etl.step))] // outside any pipeline: a run of its own, generated id
fn orphan() {}

/// `(run_id, entity id, process_run_id, started_at)` of every step, and the run ids and
/// process ids of the other tables.
type Ids = (
    BTreeSet<(String, String, Option<String>, String)>,
    BTreeSet<String>,
    BTreeSet<(String, String)>,
);

fn ids_of_memory(store: &InMemoryStore) -> Ids {
    ids(
        store
            .step_runs()
            .into_iter()
            .map(|s| {
                (
                    s.run.run_id,
                    s.step_run_id.unwrap_or_default(),
                    s.process_run_id,
                    s.started_at.to_rfc3339(),
                )
            })
            .collect(),
        store
            .pipeline_runs()
            .into_iter()
            .map(|p| p.run.run_id)
            .collect(),
        store
            .process_runs()
            .into_iter()
            .map(|p| (p.run.run_id, p.process_run_id.unwrap_or_default()))
            .collect(),
    )
}

fn ids(
    steps: BTreeSet<(String, String, Option<String>, String)>,
    pipelines: BTreeSet<String>,
    processes: BTreeSet<(String, String)>,
) -> Ids {
    (steps, pipelines, processes)
}

#[test]
fn sqlite_and_in_memory_layers_give_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (sqlite, sqlite_guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path).unwrap());
    let memory = InMemoryStore::new();
    let (lake, lake_guard) = ExecutionRecordsLayer::new(memory.clone());
    let filtered_memory = InMemoryStore::new();
    let (filtered, filtered_guard) = ExecutionRecordsLayer::new(filtered_memory.clone());
    let subscriber = tracing_subscriber::registry()
        .with(sqlite)
        .with(lake)
        // Behind a per-layer filter that hides nothing: still the same entities.
        .with(filtered.with_filter(LevelFilter::TRACE));
    tracing::subscriber::with_default(subscriber, || {
        daily_sales();
        daily_sales();
        orphan();
    });
    for guard in [sqlite_guard, lake_guard, filtered_guard] {
        guard.shutdown().unwrap();
    }

    let mut db = SqliteStore::open_read_only(&path).unwrap();
    let from_sqlite = ids(
        db.read_steps(&RunFilter::default())
            .unwrap()
            .into_iter()
            .map(|s| {
                (
                    s.run.run_id,
                    s.step_run_id.unwrap_or_default(),
                    s.process_run_id,
                    s.started_at.to_rfc3339(),
                )
            })
            .collect(),
        db.read_pipelines(&RunFilter::default())
            .unwrap()
            .into_iter()
            .map(|p| p.run.run_id)
            .collect(),
        db.read_processes(&RunFilter::default())
            .unwrap()
            .into_iter()
            .map(|p| (p.run.run_id, p.process_run_id.unwrap_or_default()))
            .collect(),
    );
    let from_memory = ids_of_memory(&memory);
    assert_eq!(from_memory.0.len(), 2 * 3 + 1, "every step, each once");
    assert_eq!(from_memory.1.len(), 2, "two runs, two generated ids");
    assert_eq!(from_memory, from_sqlite);
    assert_eq!(ids_of_memory(&filtered_memory), from_memory);
}

#[test]
fn one_layer_alone_is_unchanged() {
    // Sharing is only for layers that have company: the ids of a lone layer still differ from
    // those of a layer in another subscriber.
    let first = InMemoryStore::new();
    let second = InMemoryStore::new();
    for store in [&first, &second] {
        let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), daily_sales);
        guard.shutdown().unwrap();
    }
    assert_eq!(ids_of_memory(&first).0.len(), 3);
    assert!(ids_of_memory(&first)
        .0
        .is_disjoint(&ids_of_memory(&second).0));
}
