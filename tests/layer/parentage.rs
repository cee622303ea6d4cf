//! Which run and process an entity belongs to, following span parentage.

use crate::support;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::RunStatus;

both_stores!(
    a_step_directly_under_a_pipeline_has_no_process,
    non_entity_spans_between_entities_are_transparent,
    an_entity_without_a_pipeline_gets_a_run_of_its_own,
    two_pipelines_in_a_row_are_two_runs,
    explicit_parents_are_followed,
);

fn a_step_directly_under_a_pipeline_has_no_process(store: Store) {
    #[instrument(fields(etl.pipeline = "p", etl.run_id = "r1", etl.correlation_id = "c1"))]
    fn pipeline() {
        ingest();
        publish();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        load();
    }

    #[instrument(fields(etl.step))]
    fn load() {}

    #[instrument(fields(etl.step))]
    fn publish() {}

    let (runs, ()) = run(store, pipeline);
    let publish = runs.step("publish");
    assert_eq!(publish.process_run_id, None);
    assert_eq!(publish.run.run_id, "r1");
    assert_eq!(publish.run.correlation_id.as_deref(), Some("c1"));
    assert_eq!(publish.run.attempt, 1);
    assert_eq!(publish.outcome.status, RunStatus::Success);
    assert_eq!(
        runs.step("load").process_run_id.as_deref(),
        runs.process("ingest").process_run_id.as_deref()
    );
}

fn non_entity_spans_between_entities_are_transparent(store: Store) {
    #[instrument(fields(etl.pipeline = "p", etl.run_id = "r1"))]
    fn pipeline() {
        let _plain = tracing::info_span!("retry_loop", attempt = 1).entered();
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        let _a = tracing::debug_span!("batch", n = 3).entered();
        let _b = tracing::trace_span!("chunk").entered();
        load();
    }

    #[instrument(fields(etl.step))]
    fn load() {}

    let (runs, ()) = run(store, pipeline);
    let process = runs.process("ingest");
    assert_eq!(process.run.run_id, "r1");
    let load = runs.step("load");
    assert_eq!(load.run.run_id, "r1");
    assert_eq!(
        load.process_run_id.as_deref(),
        process.process_run_id.as_deref()
    );
    assert_eq!(runs.entity_count(), 3);
}

fn an_entity_without_a_pipeline_gets_a_run_of_its_own(store: Store) {
    #[instrument(fields(etl.process))]
    fn standalone() {
        load();
    }

    #[instrument(fields(etl.step))]
    fn load() {}

    #[instrument(fields(etl.step))]
    fn lonely() {}

    let (runs, ()) = run(store, || {
        standalone();
        lonely();
    });
    assert!(runs.pipelines.is_empty(), "no pipeline record is invented");
    let process = runs.process("standalone");
    let run_id = uuid::Uuid::parse_str(&process.run.run_id).expect("a generated run id");
    assert_eq!(run_id.get_version_num(), 7);
    assert_eq!(process.run.attempt, 1);
    assert_eq!(process.run.correlation_id, None);
    assert_eq!(process.outcome.status, RunStatus::Success);
    let load = runs.step("load");
    assert_eq!(
        load.run.run_id, process.run.run_id,
        "the step shares its process's run"
    );
    assert_eq!(
        load.process_run_id.as_deref(),
        process.process_run_id.as_deref()
    );
    let lonely = runs.step("lonely");
    assert_ne!(lonely.run.run_id, process.run.run_id, "a run of its own");
    assert!(uuid::Uuid::parse_str(&lonely.run.run_id).is_ok());
    assert_eq!(lonely.process_run_id, None);
    assert_eq!(lonely.outcome.status, RunStatus::Success);
}

fn two_pipelines_in_a_row_are_two_runs(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline(n: u32) {
        load(n);
    }

    #[instrument(fields(etl.step))]
    fn load(n: u32) {
        if n == 2 {
            tracing::error!("second run fails");
        }
    }

    let (runs, ()) = run(store, || {
        pipeline(1);
        pipeline(2);
    });
    assert_eq!(runs.pipelines.len(), 2);
    assert_ne!(runs.pipelines[0].run.run_id, runs.pipelines[1].run.run_id);
    for p in &runs.pipelines {
        let steps: Vec<_> = runs
            .steps
            .iter()
            .filter(|s| s.run.run_id == p.run.run_id)
            .collect();
        assert_eq!(steps.len(), 1, "one step per run");
        assert_eq!(steps[0].outcome.status, p.outcome.status);
        if p.outcome.status == RunStatus::Failed {
            assert_eq!(p.failed_step_run_id(), steps[0].step_run_id.as_deref());
        }
    }
    let failed = runs
        .pipelines
        .iter()
        .filter(|p| p.outcome.status == RunStatus::Failed)
        .count();
    assert_eq!(failed, 1);
}

fn explicit_parents_are_followed(store: Store) {
    let (runs, ()) = run(store, || {
        let pipeline = tracing::info_span!("p", etl.pipeline = "p", etl.run_id = "r1");
        let process = tracing::info_span!(parent: &pipeline, "ingest", etl.process = "ingest");
        let batch = tracing::info_span!(parent: &process, "batch");
        // Made outside every span's scope: only the explicit parents place them.
        tracing::info_span!(parent: &process, "load", etl.step = "load").in_scope(|| {});
        tracing::info_span!(parent: &batch, "parse", etl.step = "parse").in_scope(|| {});
        pipeline.in_scope(|| {
            // Inside the pipeline's scope, but explicitly a root: a run of its own.
            tracing::info_span!(parent: None, "orphan", etl.step = "orphan").in_scope(|| {});
        });
    });
    let process = runs.process("ingest");
    assert_eq!(process.run.run_id, "r1");
    for step in ["load", "parse"] {
        let step = runs.step(step);
        assert_eq!(step.run.run_id, "r1");
        assert_eq!(
            step.process_run_id.as_deref(),
            process.process_run_id.as_deref()
        );
    }
    let orphan = runs.step("orphan");
    assert_ne!(
        orphan.run.run_id, "r1",
        "an explicit root starts a run of its own"
    );
    assert_eq!(orphan.process_run_id, None);
}

/// With a per-layer filter, spans the layer does not see are skipped on the way up, and
/// entities it does not see are not recorded.
#[test]
fn a_filtered_layer_sees_through_the_spans_its_filter_disables() {
    use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::prelude::*;

    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    // A second layer that sees every span, so DEBUG spans exist in the registry.
    let subscriber = tracing_subscriber::registry()
        .with(layer.with_filter(LevelFilter::INFO))
        .with(tracing_subscriber::layer::Identity::new().with_filter(LevelFilter::TRACE));
    tracing::subscriber::with_default(subscriber, || {
        let _p = tracing::info_span!("p", etl.pipeline = "p", etl.run_id = "r1").entered();
        let _i = tracing::info_span!("ingest", etl.process = "ingest").entered();
        let _batch = tracing::debug_span!("batch").entered();
        tracing::info_span!("load", etl.step = "load").in_scope(|| {
            tracing::error!(error = "disk full", "load failed");
        });
        tracing::debug_span!("hidden", etl.step = "hidden").in_scope(|| {});
    });
    drop(guard);

    let steps = store.step_runs();
    assert_eq!(steps.len(), 1, "the DEBUG step is filtered out: {steps:?}");
    let process = &store.process_runs()[0];
    assert_eq!(steps[0].name, "load");
    assert_eq!(steps[0].run.run_id, "r1");
    assert_eq!(
        steps[0].process_run_id.as_deref(),
        process.process_run_id.as_deref()
    );
    assert_eq!(steps[0].outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("load"));
    assert_eq!(store.pipeline_runs()[0].outcome.status, RunStatus::Failed);
}
