//! A pipeline that succeeds: one start and one end record per entity, fields filled in.

use crate::support;

use tracing::instrument;
use tracing_etl::{record::EventName, ExecutionRecord, RunStatus};

#[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = %run_id, etl.correlation_id = "corr-7", etl.attempt = 2, etl.last_attempt = false))]
fn run(run_id: &str) {
    ingest();
    publish();
}

#[instrument(fields(etl.process))]
fn ingest() {
    extract();
    load();
}

#[instrument(fields(etl.step))]
fn extract() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

#[instrument(fields(etl.step = "load_orders"))]
fn load() {}

#[instrument(fields(etl.step))]
fn publish() {}

#[test]
fn every_entity_gets_a_start_and_an_end_record() {
    let (store, ()) = support::record(|| run("run-42"));

    let records = store.records();
    assert_eq!(
        records.len(),
        10,
        "5 entities × (start + end): {records:#?}"
    );
    let starts = records.iter().filter(|r| !r.event().is_end()).count();
    assert_eq!(starts, 5);
    for r in &records {
        if r.event().is_end() {
            assert_eq!(r.status(), RunStatus::Success);
        } else {
            assert_eq!(r.status(), RunStatus::Running);
        }
    }
    assert_eq!(records[0].event(), EventName::PipelineStart);
    assert_eq!(
        records.last().map(ExecutionRecord::event),
        Some(EventName::PipelineEnd)
    );
}

#[test]
fn records_carry_the_run_fields_names_and_parentage() {
    let (store, ()) = support::record(|| run("run-42"));

    let pipelines = store.pipeline_runs();
    assert_eq!(pipelines.len(), 1);
    let p = &pipelines[0];
    assert_eq!(p.event(), EventName::PipelineEnd);
    assert_eq!(p.name, "daily_sales");
    assert_eq!(p.run.run_id, "run-42");
    assert_eq!(p.run.correlation_id.as_deref(), Some("corr-7"));
    assert_eq!(p.run.attempt, 2);
    assert!(!p.run.last_attempt);
    assert_eq!(p.outcome.status, RunStatus::Success);
    assert!(p.outcome.duration_ms.unwrap() >= 5);
    assert_eq!(p.outcome.error.full, None);
    assert_eq!(p.failed_step(), None);

    let processes = store.process_runs();
    assert_eq!(processes.len(), 1);
    let ingest = &processes[0];
    assert_eq!(ingest.name, "ingest");
    assert_eq!(ingest.run.run_id, "run-42");
    assert_eq!(ingest.run.correlation_id.as_deref(), Some("corr-7"));
    assert_eq!(ingest.run.attempt, 2);
    assert!(uuid::Uuid::parse_str(ingest.process_run_id.as_deref().unwrap()).is_ok());

    let steps = store.step_runs();
    let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["extract", "load_orders", "publish"]);
    for s in &steps[..2] {
        assert_eq!(
            s.process_run_id.as_deref(),
            ingest.process_run_id.as_deref()
        );
        assert_eq!(s.run.run_id, "run-42");
        assert_eq!(s.run.attempt, 2);
    }
    assert_eq!(
        steps[2].process_run_id, None,
        "publish sits directly in the pipeline"
    );
    assert!(steps[0].outcome.duration_ms.unwrap() >= 5);
    assert!(p.started_at <= ingest.started_at && ingest.started_at <= steps[0].started_at);
}

#[test]
fn a_pipeline_without_run_id_gets_a_uuid_v7() {
    #[instrument(fields(etl.pipeline))]
    fn nightly() {}

    let (store, ()) = support::record(nightly);
    let p = &store.pipeline_runs()[0];
    assert_eq!(p.name, "nightly");
    let id = uuid::Uuid::parse_str(&p.run.run_id).expect("a uuid");
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(p.run.attempt, 1);
    assert!(p.run.last_attempt);
}
