//! Odd shapes have the behaviour the crate docs give them: step in step, process in process,
//! pipeline in pipeline, a span that never closes, a span cloned and closed late, `etl.*`
//! recorded late, unusable names, several markers on one span.

use crate::support;

use std::time::Duration;

use support::scenarios::{run, run_with, Store};
use tracing::field::Empty;
use tracing::{instrument, Span};
use tracing_etl::{
    record::{EntityKey, EventName},
    ExecutionRecord, RunStatus,
};

both_stores!(
    a_step_in_a_step,
    a_process_in_a_process,
    a_pipeline_in_a_pipeline,
    a_span_that_never_closes_stays_running,
    a_cloned_span_ends_when_its_last_handle_drops,
    key_fields_recorded_late_are_ignored_with_a_warning,
    an_empty_name_is_replaced_by_the_span_name,
    a_span_with_several_markers_is_the_outermost_kind,
);

#[instrument(fields(etl.step))]
fn failing() {
    tracing::error!(error.type = "Broken", "inner step failed");
}

fn a_step_in_a_step(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        outer();
    }

    #[instrument(fields(etl.step))]
    fn outer() {
        let _plain = tracing::info_span!("chunk").entered();
        failing();
        tracing::error!("outer step's own error comes second");
    }

    let (runs, ()) = run(store, pipeline);
    let process = runs.process("ingest");
    let inner = runs.step("failing");
    let outer = runs.step("outer");
    for step in [inner, outer] {
        assert_eq!(step.outcome.status, RunStatus::Failed);
        assert_eq!(
            step.outcome.error.message.as_deref(),
            Some("inner step failed")
        );
        assert_eq!(step.outcome.error.type_name.as_deref(), Some("Broken"));
        assert_eq!(
            step.process_run_id.as_deref(),
            process.process_run_id.as_deref()
        );
        assert_eq!(step.run.run_id, process.run.run_id);
    }
    // The root cause is the innermost step that failed.
    assert_eq!(process.failed_step(), Some("failing"));
    assert_eq!(process.failed_step_run_id(), inner.step_run_id.as_deref());
    assert_eq!(runs.pipeline("p").failed_step(), Some("failing"));
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
}

fn a_process_in_a_process(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        outer();
    }

    #[instrument(fields(etl.process))]
    fn outer() {
        inner();
    }

    #[instrument(fields(etl.process))]
    fn inner() {
        failing();
    }

    let (runs, ()) = run(store, pipeline);
    let outer = runs.process("outer");
    let inner = runs.process("inner");
    let step = runs.step("failing");
    assert_ne!(outer.process_run_id, inner.process_run_id);
    assert_eq!(
        step.process_run_id.as_deref(),
        inner.process_run_id.as_deref(),
        "the nearest process"
    );
    for process in [outer, inner] {
        assert_eq!(process.outcome.status, RunStatus::Failed);
        assert_eq!(process.failed_step(), Some("failing"));
        assert_eq!(process.failed_step_run_id(), step.step_run_id.as_deref());
        assert_eq!(process.run.run_id, runs.pipeline("p").run.run_id);
    }
    assert_eq!(runs.pipeline("p").failed_step(), Some("failing"));
}

fn a_pipeline_in_a_pipeline(store: Store) {
    #[instrument(fields(etl.pipeline, etl.run_id = "outer-run", etl.attempt = 2))]
    fn outer() {
        before();
        inner();
    }

    #[instrument(fields(etl.step))]
    fn before() {}

    #[instrument(fields(etl.pipeline, etl.run_id = "inner-run"))]
    fn inner() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        failing();
    }

    let (runs, ()) = run(store, outer);
    let outer = runs.pipeline("outer");
    let inner = runs.pipeline("inner");
    assert_eq!(
        (outer.run.run_id.as_str(), outer.run.attempt),
        ("outer-run", 2)
    );
    assert_eq!(
        (inner.run.run_id.as_str(), inner.run.attempt),
        ("inner-run", 1)
    );
    assert_eq!(runs.step("before").run.run_id, "outer-run");
    assert_eq!(runs.step("before").outcome.status, RunStatus::Success);
    assert_eq!(runs.process("ingest").run.run_id, "inner-run");
    let step = runs.step("failing");
    assert_eq!(step.run.run_id, "inner-run");
    assert_eq!(step.run.attempt, 1);
    for p in [inner, outer] {
        assert_eq!(p.outcome.status, RunStatus::Failed);
        assert_eq!(p.failed_step(), Some("failing"));
        assert_eq!(p.failed_step_run_id(), step.step_run_id.as_deref());
        assert_eq!(
            p.outcome.error.message.as_deref(),
            Some("inner step failed")
        );
    }
}

fn a_span_that_never_closes_stays_running(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {}

    let (runs, ()) = run(store, || {
        let pipeline = tracing::info_span!("stuck", etl.pipeline = Empty);
        pipeline.in_scope(|| {
            load();
            failing();
        });
        // Its process was "killed": the span is never closed.
        std::mem::forget(pipeline);
    });
    let p = runs.pipeline("stuck");
    assert_eq!(p.event(), EventName::PipelineStart);
    assert_eq!(p.outcome.status, RunStatus::Running);
    assert_eq!(p.outcome.duration_ms, None);
    assert_eq!(p.outcome.error.full, None);
    assert_eq!(p.failed_step(), None);
    assert_eq!(
        runs.records_of(&EntityKey::Pipeline(p.run.run_id.clone(), 1))
            .len(),
        1,
        "the start record only"
    );
    assert_eq!(runs.step("load").outcome.status, RunStatus::Success);
    assert_eq!(runs.step("failing").outcome.status, RunStatus::Failed);
    assert_eq!(runs.step("failing").event(), EventName::StepEnd);
}

fn a_cloned_span_ends_when_its_last_handle_drops(store: Store) {
    let (runs, ()) = run_with(store, |probe| {
        let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
        let step = tracing::info_span!("load", etl.step = Empty);
        let late = step.clone();
        step.in_scope(|| tracing::info!("working"));
        drop(step);
        let ends = |records: Vec<ExecutionRecord>| {
            records
                .iter()
                .filter(|r| r.event() == EventName::StepEnd)
                .count()
        };
        assert_eq!(ends(probe.records()), 0, "a clone is still alive");
        // Timing itself is under test here.
        std::thread::sleep(Duration::from_millis(30));
        late.in_scope(|| tracing::error!("failed through the late handle"));
        drop(late);
        assert_eq!(ends(probe.records()), 1);
    });
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert!(
        step.outcome.duration_ms.unwrap() >= 30,
        "{:?}",
        step.outcome.duration_ms
    );
    assert_eq!(runs.records_of(&step.key()).len(), 2);
    assert_eq!(runs.pipeline("p").failed_step(), Some("load"));
}

fn key_fields_recorded_late_are_ignored_with_a_warning(store: Store) {
    #[instrument(fields(etl.pipeline = "p", etl.run_id = Empty, etl.attempt = Empty, rows = Empty))]
    fn pipeline() {
        let span = Span::current();
        span.record("rows", 10);
        span.record("etl.run_id", "late-run");
        span.record("etl.attempt", 5);
        load();
    }

    #[instrument(fields(etl.step = Empty))]
    fn load() {
        Span::current().record("etl.step", "renamed");
    }

    let (runs, ()) = run(store, pipeline);
    let p = runs.pipeline("p");
    assert_ne!(p.run.run_id, "late-run");
    assert!(
        uuid::Uuid::parse_str(&p.run.run_id).is_ok(),
        "a generated id"
    );
    assert_eq!(p.run.attempt, 1);
    // A name is no key: recorded late, it is the step's name.
    assert_eq!(runs.step("renamed").run.run_id, p.run.run_id);
    // Each `record` call with a key field is one warning; `rows` is none of our business.
    assert_eq!(runs.warnings.len(), 2, "{:#?}", runs.warnings);
    assert!(runs.warnings.iter().all(|w| w.contains("`pipeline`")));
    assert!(runs.warnings.iter().all(|w| w.contains("ignored")));
}

fn an_empty_name_is_replaced_by_the_span_name(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = "").entered();
        let _q = tracing::info_span!("ingest", etl.process = "   ").entered();
        let _s = tracing::info_span!("load", etl.step = 5).entered();
        let _t = tracing::info_span!("marker", etl.step = true).entered();
    });
    assert_eq!(runs.pipeline("nightly").outcome.status, RunStatus::Success);
    assert_eq!(runs.process("ingest").outcome.status, RunStatus::Success);
    assert_eq!(runs.step("load").outcome.status, RunStatus::Success);
    assert_eq!(runs.step("marker").outcome.status, RunStatus::Success);
    // `true` marks a step as well as no value does; the others are unusable names.
    assert_eq!(runs.warnings.len(), 3, "{:#?}", runs.warnings);
    for (warning, (field, span)) in runs.warnings.iter().zip([
        ("etl.pipeline", "nightly"),
        ("etl.process", "ingest"),
        ("etl.step", "load"),
    ]) {
        assert!(
            warning.contains(field) && warning.contains(span),
            "{warning:?}"
        );
    }
}

fn a_span_with_several_markers_is_the_outermost_kind(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("both", etl.step = Empty, etl.pipeline = Empty).entered();
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
    });
    assert_eq!(runs.pipelines.len(), 1);
    assert_eq!(runs.pipeline("both").outcome.status, RunStatus::Success);
    assert_eq!(runs.steps.len(), 1, "only `load` is a step");
    assert_eq!(
        runs.step("load").run.run_id,
        runs.pipeline("both").run.run_id
    );
    assert_eq!(runs.warnings.len(), 1, "{:#?}", runs.warnings);
    assert!(runs.warnings[0].contains("more than one"));
}
