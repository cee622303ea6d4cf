//! Which run and process an entity belongs to, following span parentage.

mod support;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::RunStatus;

both_stores!(
    a_step_directly_under_a_pipeline_has_no_process,
    non_entity_spans_between_entities_are_transparent,
    an_entity_without_a_pipeline_gets_a_run_of_its_own,
    two_pipelines_in_a_row_are_two_runs,
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
    assert_eq!(publish.run_id, "r1");
    assert_eq!(publish.correlation_id.as_deref(), Some("c1"));
    assert_eq!(publish.attempt, 1);
    assert_eq!(publish.status, RunStatus::Success);
    assert_eq!(
        runs.step("load").process_run_id.as_deref(),
        Some(runs.process("ingest").process_run_id.as_str())
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
    assert_eq!(process.run_id, "r1");
    let load = runs.step("load");
    assert_eq!(load.run_id, "r1");
    assert_eq!(
        load.process_run_id.as_deref(),
        Some(process.process_run_id.as_str())
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
    let run_id = uuid::Uuid::parse_str(&process.run_id).expect("a generated run id");
    assert_eq!(run_id.get_version_num(), 7);
    assert_eq!(process.attempt, 1);
    assert_eq!(process.correlation_id, None);
    assert_eq!(process.status, RunStatus::Success);
    let load = runs.step("load");
    assert_eq!(
        load.run_id, process.run_id,
        "the step shares its process's run"
    );
    assert_eq!(
        load.process_run_id.as_deref(),
        Some(process.process_run_id.as_str())
    );
    let lonely = runs.step("lonely");
    assert_ne!(lonely.run_id, process.run_id, "a run of its own");
    assert!(uuid::Uuid::parse_str(&lonely.run_id).is_ok());
    assert_eq!(lonely.process_run_id, None);
    assert_eq!(lonely.status, RunStatus::Success);
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
    assert_ne!(runs.pipelines[0].run_id, runs.pipelines[1].run_id);
    for p in &runs.pipelines {
        let steps: Vec<_> = runs.steps.iter().filter(|s| s.run_id == p.run_id).collect();
        assert_eq!(steps.len(), 1, "one step per run");
        assert_eq!(steps[0].status, p.status);
        if p.status == RunStatus::Failed {
            assert_eq!(
                p.failed_step_run_id.as_deref(),
                Some(steps[0].step_run_id.as_str())
            );
        }
    }
    let failed = runs
        .pipelines
        .iter()
        .filter(|p| p.status == RunStatus::Failed)
        .count();
    assert_eq!(failed, 1);
}
