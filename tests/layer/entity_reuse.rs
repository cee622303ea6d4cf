//! Entities are reused once the writer has built their records: nothing of an earlier entity
//! (its failure, its name, its run, its parent, its duration) shows in a later one.

use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus};
use tracing_subscriber::prelude::*;

#[tracing::instrument(fields(etl.pipeline = "nightly", etl.run_id = %run_id, etl.attempt = attempt))]
fn pipeline(run_id: &str, attempt: u32, fail: bool) {
    extract(fail);
}

#[tracing::instrument(fields(etl.process = "extract"))]
fn extract(fail: bool) {
    for table in ["orders", "customers"] {
        read(table, fail && table == "customers");
    }
}

#[tracing::instrument(fields(etl.step = %table))]
fn read(table: &str, fail: bool) {
    if fail {
        tracing::error!(error.type = "BadRow", "row 7 of {table} has a bad amount");
    }
}

#[test]
fn a_failed_run_leaves_nothing_in_the_runs_after_it() {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline("first", 3, true);
        // Every record of the first run is written, so its entities are free for reuse.
        guard.flush().expect("flush");
        for run in 0..50 {
            pipeline(&format!("later-{run}"), 1, false);
            guard.flush().expect("flush");
        }
    });
    let stats = guard.shutdown().expect("shut down");
    assert_eq!(stats.dropped, 0);

    let pipelines = store.pipeline_runs();
    let processes = store.process_runs();
    let steps = store.step_runs();
    assert_eq!(
        (pipelines.len(), processes.len(), steps.len()),
        (51, 51, 102)
    );

    let first = pipelines.iter().find(|p| p.run.run_id == "first").unwrap();
    assert_eq!(first.outcome.status, RunStatus::Failed);
    assert_eq!(first.run.attempt, 3);
    assert_eq!(first.failed_step(), Some("customers"));

    for later in pipelines.iter().filter(|p| p.run.run_id != "first") {
        assert_eq!(later.outcome.status, RunStatus::Success, "{later:?}");
        assert_eq!(later.run.attempt, 1, "{later:?}");
        assert_eq!(later.outcome.error.full, None, "{later:?}");
        assert_eq!(later.failed_step(), None, "{later:?}");
        assert!(later.outcome.duration_ms.is_some(), "{later:?}");
    }
    for process in &processes {
        let failed = process.run.run_id == "first";
        assert_eq!(
            process.outcome.status == RunStatus::Failed,
            failed,
            "{process:?}"
        );
        assert_eq!(process.name, "extract");
    }
    for step in &steps {
        let failed = step.run.run_id == "first" && step.name == "customers";
        assert_eq!(step.outcome.status == RunStatus::Failed, failed, "{step:?}");
        assert_eq!(step.outcome.error.type_name.is_some(), failed, "{step:?}");
        // Each step belongs to the process of its own run.
        let process = processes
            .iter()
            .find(|p| p.process_run_id == step.process_run_id)
            .expect("the step's process");
        assert_eq!(process.run.run_id, step.run.run_id, "{step:?}");
    }
    // Ids stay unique across reuse.
    let mut ids: Vec<_> = steps.iter().map(|s| s.entity_id().unwrap()).collect();
    ids.extend(processes.iter().map(|p| p.entity_id().unwrap()));
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count);
}
