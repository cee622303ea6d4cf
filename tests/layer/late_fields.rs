//! `etl.*` values recorded after the span opened (`Span::record` on a field declared `Empty`)
//! are taken where they can be: an entity's name at any time, `etl.correlation_id` and
//! `etl.last_attempt` on the entity that starts the run until a process or step opens in it.
//! The keys (`etl.run_id`, `etl.attempt`) are not: the start record is keyed by them.

use crate::support;

use support::scenarios::{run, Store};
use tracing::field::Empty;
use tracing::{instrument, Span};
use tracing_etl::RunStatus;

both_stores!(
    run_fields_recorded_before_the_first_child_are_the_runs,
    run_fields_recorded_after_a_child_opened_are_ignored,
    names_recorded_later_name_the_entity,
    a_step_renamed_after_it_failed_is_the_failed_step_by_its_new_name,
    run_fields_recorded_on_a_step_in_a_pipeline_are_ignored,
);

#[instrument(fields(etl.step))]
fn load() {}

fn run_fields_recorded_before_the_first_child_are_the_runs(store: Store) {
    // A retry loop that learns whether this attempt is its last, and the id to correlate with,
    // only once the pipeline span is open.
    #[instrument(fields(
        etl.pipeline = "daily_sales",
        etl.attempt = attempt,
        etl.last_attempt = Empty,
        etl.correlation_id = Empty,
    ))]
    fn daily_sales(attempt: u32, attempts: u32) {
        let span = Span::current();
        span.record("etl.last_attempt", attempt == attempts);
        span.record("etl.correlation_id", "batch-42");
        load();
    }

    let (runs, ()) = run(store, || {
        daily_sales(1, 2);
        daily_sales(2, 2);
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let mut pipelines: Vec<_> = runs
        .pipelines
        .iter()
        .map(|p| {
            (
                p.run.attempt,
                p.run.last_attempt,
                p.run.correlation_id.clone(),
            )
        })
        .collect();
    pipelines.sort();
    let batch = Some("batch-42".to_owned());
    assert_eq!(
        pipelines,
        [(1, false, batch.clone()), (2, true, batch.clone())]
    );
    assert!(runs.steps.iter().all(|s| s.run.correlation_id == batch));
}

fn run_fields_recorded_after_a_child_opened_are_ignored(store: Store) {
    #[instrument(fields(etl.pipeline = "p", etl.last_attempt = Empty, etl.correlation_id = Empty))]
    fn pipeline() {
        load();
        let span = Span::current();
        span.record("etl.last_attempt", false);
        span.record("etl.correlation_id", "too-late");
    }

    let (runs, ()) = run(store, pipeline);
    let p = runs.pipeline("p");
    assert!(p.run.last_attempt);
    assert_eq!(p.run.correlation_id, None);
    assert_eq!(
        runs.step("load").run.correlation_id,
        None,
        "the step kept its run's"
    );
    assert_eq!(runs.warnings.len(), 2, "{:#?}", runs.warnings);
    assert!(runs
        .warnings
        .iter()
        .all(|w| w.contains("after a process or step opened in it are ignored")));
}

fn names_recorded_later_name_the_entity(store: Store) {
    #[instrument(fields(etl.pipeline = Empty))]
    fn pipeline(table: &str) {
        Span::current().record("etl.pipeline", format!("load_{table}").as_str());
        ingest(table);
    }

    #[instrument(skip_all, fields(etl.process = Empty))]
    fn ingest(table: &str) {
        Span::current().record("etl.process", format!("ingest_{table}").as_str());
        let step = tracing::info_span!("copy", etl.step = Empty);
        step.record("etl.step", format!("copy_{table}").as_str());
        step.in_scope(|| {});
    }

    let (runs, ()) = run(store, || pipeline("orders"));
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    assert_eq!(
        runs.pipeline("load_orders").outcome.status,
        RunStatus::Success
    );
    assert_eq!(
        runs.process("ingest_orders").outcome.status,
        RunStatus::Success
    );
    assert_eq!(runs.step("copy_orders").outcome.status, RunStatus::Success);
}

fn a_step_renamed_after_it_failed_is_the_failed_step_by_its_new_name(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        let step = tracing::info_span!("copy", etl.step = Empty);
        step.in_scope(|| tracing::error!("disk full"));
        step.record("etl.step", "copy_orders");
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.step("copy_orders").outcome.status, RunStatus::Failed);
    assert_eq!(runs.pipeline("p").failed_step(), Some("copy_orders"));
}

fn run_fields_recorded_on_a_step_in_a_pipeline_are_ignored(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        let step = tracing::info_span!("load", etl.step = Empty, etl.correlation_id = Empty);
        step.record("etl.correlation_id", "mine");
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.step("load").run.correlation_id, None);
    assert_eq!(runs.warnings.len(), 1, "{:#?}", runs.warnings);
    assert!(runs.warnings[0].contains("inherits them from its pipeline"));
}
