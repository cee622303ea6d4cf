//! Spans without an `etl.pipeline` / `etl.process` / `etl.step` field produce no record, whatever
//! their names, other fields or events.

use crate::support;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::RunStatus;

both_stores!(
    plain_spans_produce_nothing,
    only_entities_among_plain_spans_are_recorded
);

fn plain_spans_produce_nothing(store: Store) {
    #[instrument(fields(etl_step = "not a marker", step = "nor this"))]
    fn load(rows: u32) {
        tracing::error!(error = "boom", "an error outside any entity");
    }

    let (runs, ()) = run(store, || {
        let _a = tracing::info_span!("etl.pipeline", pipeline = "daily").entered();
        let _b = tracing::error_span!("etl.step").entered();
        load(3);
        tracing::warn!("a warning");
    });
    assert_eq!(runs.entity_count(), 0);
    assert!(runs.records.is_empty(), "{:#?}", runs.records);
    assert_eq!(runs.stats.written, 0);
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
}

fn only_entities_among_plain_spans_are_recorded(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        for i in 0..3 {
            let _iteration = tracing::info_span!("iteration", i).entered();
            helper();
        }
        load();
    }

    #[instrument]
    fn helper() {
        let _deeper = tracing::debug_span!("deeper").entered();
    }

    #[instrument(fields(etl.step))]
    fn load() {
        helper();
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.pipelines.len(), 1);
    assert!(runs.processes.is_empty());
    assert_eq!(runs.steps.len(), 1);
    assert_eq!(
        runs.records.len(),
        4,
        "a start and an end record per entity"
    );
    assert_eq!(runs.stats.written, 4);
    assert_eq!(runs.pipeline("p").outcome.status, RunStatus::Success);
}
