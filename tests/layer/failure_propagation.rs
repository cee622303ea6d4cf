//! A failed step fails its processes and pipeline, which carry the first failed step as the
//! root cause; an ERROR event directly in a process or pipeline fails it with no failed step.

use crate::support;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::RunStatus;

#[derive(Debug, thiserror::Error)]
#[error("{0} went wrong")]
struct StepError(&'static str);

#[instrument(skip_all, err, fields(etl.step))]
fn extract() -> Result<(), StepError> {
    Ok(())
}

#[instrument(skip_all, err, fields(etl.step))]
fn transform() -> Result<(), StepError> {
    Err(StepError("transform"))
}

#[instrument(skip_all, err, fields(etl.step))]
fn load() -> Result<(), StepError> {
    Err(StepError("load"))
}

#[instrument(skip_all, err, fields(etl.step))]
fn publish() -> Result<(), StepError> {
    Ok(())
}

both_stores!(
    a_failed_step_fails_its_process_and_pipeline,
    the_first_failed_step_is_the_root_cause,
    each_process_carries_its_own_first_failed_step,
    error_directly_in_a_process,
    error_directly_in_a_pipeline,
    an_earlier_error_of_the_process_stays_its_root_cause,
);

fn a_failed_step_fails_its_process_and_pipeline(store: Store) {
    #[instrument(skip_all, fields(etl.pipeline = "sales", etl.run_id = "r1"))]
    fn pipeline() {
        ingest();
        let _ = publish();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn ingest() {
        let _ = extract();
        let _ = transform();
    }

    let (runs, ()) = run(store, pipeline);
    let step = runs.step("transform");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(runs.step("extract").outcome.status, RunStatus::Success);
    assert_eq!(runs.step("publish").outcome.status, RunStatus::Success);

    let process = runs.process("ingest");
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("transform"));
    assert_eq!(process.failed_step_run_id(), step.step_run_id.as_deref());
    assert_eq!(process.outcome.error.full, step.outcome.error.full);
    assert_eq!(
        process.outcome.error.type_name,
        step.outcome.error.type_name
    );
    assert_eq!(
        process.outcome.error.message.as_deref(),
        Some("transform went wrong")
    );

    let p = runs.pipeline("sales");
    assert_eq!(p.outcome.status, RunStatus::Failed);
    assert_eq!(p.failed_step(), Some("transform"));
    assert_eq!(p.failed_step_run_id(), step.step_run_id.as_deref());
    assert_eq!(p.outcome.error.full, step.outcome.error.full);
    assert_eq!(p.outcome.error.type_name, step.outcome.error.type_name);
    assert_eq!(p.outcome.error.message, step.outcome.error.message);
}

fn the_first_failed_step_is_the_root_cause(store: Store) {
    #[instrument(skip_all, fields(etl.pipeline = "sales"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn ingest() {
        let _ = load();
        let _ = transform();
    }

    let (runs, ()) = run(store, pipeline);
    let first = runs.step("load");
    let second = runs.step("transform");
    assert_eq!(first.outcome.status, RunStatus::Failed);
    assert_eq!(second.outcome.status, RunStatus::Failed);
    assert_eq!(
        second.outcome.error.message.as_deref(),
        Some("transform went wrong"),
        "the second step keeps its own error"
    );
    for (failed_step, failed_id, message) in [
        {
            let p = runs.process("ingest");
            (
                p.failed_step(),
                p.failed_step_run_id(),
                &p.outcome.error.message,
            )
        },
        {
            let p = runs.pipeline("sales");
            (
                p.failed_step(),
                p.failed_step_run_id(),
                &p.outcome.error.message,
            )
        },
    ] {
        assert_eq!(failed_step, Some("load"));
        assert_eq!(failed_id, first.step_run_id.as_deref());
        assert_eq!(message.as_deref(), Some("load went wrong"));
    }
}

fn each_process_carries_its_own_first_failed_step(store: Store) {
    #[instrument(skip_all, fields(etl.pipeline = "sales"))]
    fn pipeline() {
        first();
        second();
        third();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn first() {
        let _ = load();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn second() {
        let _ = extract();
        let _ = transform();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn third() {
        let _ = publish();
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.process("first").failed_step(), Some("load"));
    let second = runs.process("second");
    assert_eq!(second.outcome.status, RunStatus::Failed);
    assert_eq!(second.failed_step(), Some("transform"));
    assert_eq!(
        second.failed_step_run_id(),
        runs.step("transform").step_run_id.as_deref()
    );
    let third = runs.process("third");
    assert_eq!(third.outcome.status, RunStatus::Success);
    assert_eq!(third.failed_step(), None);
    assert_eq!(third.outcome.error.full, None);
    let p = runs.pipeline("sales");
    assert_eq!(p.failed_step(), Some("load"));
    assert_eq!(p.outcome.error.message.as_deref(), Some("load went wrong"));
}

fn error_directly_in_a_process(store: Store) {
    #[instrument(skip_all, fields(etl.pipeline = "sales"))]
    fn pipeline() {
        ingest();
        other();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn ingest() {
        let _ = extract();
        tracing::error!(error.type = "Config", "no input configured");
    }

    #[instrument(skip_all, fields(etl.process))]
    fn other() {}

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.step("extract").outcome.status, RunStatus::Success);
    let process = runs.process("ingest");
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), None);
    assert_eq!(process.failed_step_run_id(), None);
    assert_eq!(process.outcome.error.type_name.as_deref(), Some("Config"));
    assert_eq!(
        process.outcome.error.message.as_deref(),
        Some("no input configured")
    );
    assert_eq!(runs.process("other").outcome.status, RunStatus::Success);
    let p = runs.pipeline("sales");
    assert_eq!(p.outcome.status, RunStatus::Failed);
    assert_eq!(p.failed_step(), None);
    assert_eq!(p.failed_step_run_id(), None);
    assert_eq!(p.outcome.error.type_name.as_deref(), Some("Config"));
    assert_eq!(
        p.outcome.error.message.as_deref(),
        Some("no input configured")
    );
}

fn error_directly_in_a_pipeline(store: Store) {
    #[instrument(skip_all, fields(etl.pipeline = "sales"))]
    fn pipeline() {
        ingest();
        tracing::error!("could not archive the input");
    }

    #[instrument(skip_all, fields(etl.process))]
    fn ingest() {
        let _ = extract();
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.step("extract").outcome.status, RunStatus::Success);
    assert_eq!(runs.process("ingest").outcome.status, RunStatus::Success);
    let p = runs.pipeline("sales");
    assert_eq!(p.outcome.status, RunStatus::Failed);
    assert_eq!(p.failed_step(), None);
    assert_eq!(p.failed_step_run_id(), None);
    assert_eq!(
        p.outcome.error.message.as_deref(),
        Some("could not archive the input")
    );
    assert_eq!(
        p.outcome.error.full.as_deref(),
        Some("could not archive the input")
    );
}

fn an_earlier_error_of_the_process_stays_its_root_cause(store: Store) {
    // The first error wins everywhere: a step failing after the process's own error is
    // recorded on the step, but the process keeps its own error and names no failed step.
    #[instrument(skip_all, fields(etl.pipeline = "sales"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(skip_all, fields(etl.process))]
    fn ingest() {
        tracing::error!("no input configured");
        let _ = load();
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.step("load").outcome.status, RunStatus::Failed);
    let process = runs.process("ingest");
    let p = runs.pipeline("sales");
    for (failed_step, message) in [
        (process.failed_step(), &process.outcome.error.message),
        (p.failed_step(), &p.outcome.error.message),
    ] {
        assert_eq!(failed_step, None);
        assert_eq!(message.as_deref(), Some("no input configured"));
    }
}
