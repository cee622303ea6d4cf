//! OpenLineage events from the layer's lineage writer: one `START` and one terminal event per
//! entity with the right parents, the failed step's `FAIL` carrying its error, over HTTP to a
//! real endpoint and to a file; no event lost or sent twice while the endpoint is down, fails a
//! request mid-batch, or comes back; events it rejects are reported, not retried; the history
//! keeps being written while the endpoint is down.

use crate::lineage_support::LineageReceiver;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tracing::instrument;
use tracing_etl::lineage::{pipeline_run_uuid, OpenLineageConfig, RejectedEvent};
use tracing_etl::writer::WriterConfig;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus, WriterGuard};
use tracing_subscriber::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("row {0} has no amount")]
struct BadRow(usize);

#[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = "run-1"))]
fn daily_sales(steps: usize) -> Result<(), BadRow> {
    extract(steps);
    load()
}

#[instrument(skip_all, fields(etl.process))]
fn extract(steps: usize) {
    for _ in 0..steps {
        read();
    }
}

#[instrument(skip_all, fields(etl.step))]
fn read() {}

#[instrument(skip_all, fields(etl.process))]
fn load() -> Result<(), BadRow> {
    write()
}

#[instrument(skip_all, err(Debug), fields(etl.step))]
fn write() -> Result<(), BadRow> {
    Err(BadRow(7))
}

/// Quick retries, no waiting at shutdown beyond a few seconds, spill files under `dir`.
fn writer(dir: &std::path::Path) -> WriterConfig {
    WriterConfig::default()
        .with_retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .with_shutdown_timeout(Duration::from_secs(20))
        .with_spill_dir(dir)
        .with_store_error_callback(|_| {})
}

/// Runs `daily_sales` with `steps` read steps and lineage as `config` says; the history store
/// and the guard.
fn run_job(config: OpenLineageConfig, steps: usize) -> (InMemoryStore, WriterGuard) {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_lineage(config)
        .build(store.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        daily_sales(steps).unwrap_err();
    });
    (store, guard)
}

fn run_id(event: &Value) -> &str {
    event["run"]["runId"].as_str().unwrap()
}

fn job_name(event: &Value) -> &str {
    event["job"]["name"].as_str().unwrap()
}

/// Checks that every run has exactly one `START` and one terminal event, the START first;
/// returns the terminal event of each run by run id.
fn one_start_and_one_end(events: &[Value]) -> HashMap<String, Value> {
    let mut starts: HashMap<String, usize> = HashMap::new();
    let mut ends: HashMap<String, Value> = HashMap::new();
    for event in events {
        let id = run_id(event).to_owned();
        match event["eventType"].as_str().unwrap() {
            "START" => {
                assert!(!ends.contains_key(&id), "START after the end: {event}");
                *starts.entry(id).or_default() += 1;
            }
            "COMPLETE" | "FAIL" | "ABORT" => {
                assert!(
                    ends.insert(id.clone(), event.clone()).is_none(),
                    "two terminal events for run {id}"
                );
            }
            other => panic!("unexpected event type {other}"),
        }
    }
    assert!(
        starts.values().all(|&n| n == 1),
        "one START per run: {starts:?}"
    );
    let mut started: Vec<_> = starts.keys().collect();
    let mut ended: Vec<_> = ends.keys().collect();
    started.sort();
    ended.sort();
    assert_eq!(started, ended, "every run started has ended");
    ends
}

/// The events of a `daily_sales` run with `steps` read steps, checked: names, types, parents,
/// the error of the failed step.
fn check_job(events: &[Value], steps: usize) {
    assert_eq!(events.len(), 2 * (1 + 2 + steps + 1));
    let ends = one_start_and_one_end(events);
    let by_name =
        |name: &str| -> Vec<&Value> { ends.values().filter(|e| job_name(e) == name).collect() };
    let pipeline = by_name("daily_sales");
    assert_eq!(pipeline.len(), 1);
    let pipeline = pipeline[0];
    // "run-1" is no UUID: the run id is derived from it, and kept in the facet of our own.
    assert_eq!(
        run_id(pipeline),
        pipeline_run_uuid("run-1", 1).hyphenated().to_string()
    );
    assert_eq!(pipeline["run"]["facets"]["tracing_etl"]["runId"], "run-1");
    assert_eq!(pipeline["eventType"], "FAIL");
    assert!(pipeline["run"]["facets"].get("parent").is_none());

    let extract = by_name("daily_sales.extract")[0];
    let load = by_name("daily_sales.load")[0];
    assert_eq!(extract["eventType"], "COMPLETE");
    assert_eq!(load["eventType"], "FAIL");
    for process in [extract, load] {
        let parent = &process["run"]["facets"]["parent"];
        assert_eq!(parent["run"]["runId"], run_id(pipeline));
        assert_eq!(parent["job"]["name"], "daily_sales");
        assert_eq!(parent["root"]["run"]["runId"], run_id(pipeline));
    }
    let reads = by_name("daily_sales.extract.read");
    assert_eq!(reads.len(), steps);
    for read in reads {
        assert_eq!(read["eventType"], "COMPLETE");
        let parent = &read["run"]["facets"]["parent"];
        assert_eq!(parent["run"]["runId"], run_id(extract));
        assert_eq!(parent["job"]["name"], "daily_sales.extract");
        assert_eq!(parent["root"]["run"]["runId"], run_id(pipeline));
        assert_eq!(parent["root"]["job"]["name"], "daily_sales");
    }
    let write = by_name("daily_sales.load.write")[0];
    assert_eq!(write["eventType"], "FAIL");
    assert_eq!(
        write["run"]["facets"]["parent"]["run"]["runId"],
        run_id(load)
    );
    let error = &write["run"]["facets"]["errorMessage"];
    assert_eq!(error["message"], "BadRow(7)");
    assert_eq!(error["programmingLanguage"], "Rust");
    assert_eq!(error["stackTrace"], "BadRow(7)");
    assert!(error["_schemaURL"]
        .as_str()
        .unwrap()
        .starts_with("https://openlineage.io/spec/facets/"));
    for event in events {
        assert_eq!(event["job"]["namespace"], "warehouse");
        assert_eq!(
            event["run"]["facets"]["processing_engine"]["name"],
            "tracing-etl"
        );
    }
}

#[test]
fn http_events_have_one_start_and_one_end_per_entity_with_parents_and_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = LineageReceiver::start();
    let config = OpenLineageConfig::http(receiver.url())
        .with_api_key("s3cret")
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()));
    let (store, guard) = run_job(config, 3);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 14);

    let received = receiver.received();
    assert!(received.iter().all(|r| r.path == "/api/v1/lineage"));
    assert!(received
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer s3cret")));
    let events: Vec<Value> = received.into_iter().map(|r| r.event).collect();
    check_job(&events, 3);
    // The history is as without lineage.
    assert_eq!(store.pipeline_runs()[0].outcome.status, RunStatus::Failed);
    assert_eq!(store.step_runs().len(), 4);
}

#[test]
fn file_events_are_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage").join("events.jsonl");
    let config = OpenLineageConfig::file(&path)
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()));
    let (_store, guard) = run_job(config, 2);
    guard.shutdown().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    check_job(&events, 2);
}

#[test]
fn no_event_is_lost_while_the_endpoint_is_down_and_the_history_is_written_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = LineageReceiver::stopped();
    let config = OpenLineageConfig::http(receiver.url())
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()).with_max_batch(4).with_outage_buffer(8));
    let (store, mut guard) = run_job(config, 20);

    // The endpoint refuses connections: the history is written all the same.
    guard.handle().flush().unwrap();
    assert_eq!(store.step_runs().len(), 21);
    assert_eq!(guard.handle().stats().written, 48);
    let lineage = guard.lineage().unwrap();
    assert!(lineage
        .handle()
        .flush_timeout(Duration::from_millis(200))
        .is_err());
    assert_eq!(lineage.stats().written, 0);

    // It comes back: every event arrives, once.
    receiver.resume();
    let stats = guard.shutdown_lineage().unwrap().unwrap();
    assert_eq!(stats.written, 48);
    assert_eq!(stats.dropped + stats.abandoned, 0);
    check_job(&receiver.events(), 20);
    guard.shutdown().unwrap();
}

#[test]
fn no_event_is_lost_when_the_endpoint_goes_away_mid_run_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = LineageReceiver::start();
    let config = OpenLineageConfig::http(receiver.url())
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()));
    let store = InMemoryStore::new();
    let (layer, mut guard) = ExecutionRecordsLayer::builder()
        .with_lineage(config)
        .build(store.clone());
    let stopped = Mutex::new(Some(&mut receiver));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _run = tracing::info_span!("run", etl.pipeline = "daily_sales", etl.run_id = "run-1")
            .entered();
        {
            let _extract =
                tracing::info_span!("extract", etl.process = tracing::field::Empty).entered();
            for i in 0..10 {
                let _read = tracing::info_span!("read", etl.step = tracing::field::Empty).entered();
                if i == 4 {
                    // Half-way, the endpoint goes away.
                    let receiver = stopped.lock().unwrap().take().unwrap();
                    receiver.wait_for(6);
                    receiver.stop();
                }
            }
        }
        let _load = tracing::info_span!("load", etl.process = tracing::field::Empty).entered();
        let _write = tracing::info_span!("write", etl.step = tracing::field::Empty).entered();
    });
    // The borrow of `receiver` ends here.
    let _ = stopped.into_inner();
    assert!(receiver.events().len() < 28, "some events wait");
    receiver.resume();
    let stats = guard.shutdown_lineage().unwrap().unwrap();
    assert_eq!(stats.written, 2 * 14);
    let events = receiver.events();
    assert_eq!(events.len(), 28);
    let ends = one_start_and_one_end(&events);
    assert!(ends.values().all(|e| e["eventType"] == "COMPLETE"));
    guard.shutdown().unwrap();
}

#[test]
fn an_event_sent_before_a_failed_request_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = LineageReceiver::start();
    // Requests 5 and 9 fail: the batch is retried from its start.
    receiver.fail_requests(&[5, 9]);
    let config = OpenLineageConfig::http(receiver.url())
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()).with_flush_interval(Duration::from_secs(60)));
    let (_store, guard) = run_job(config, 4);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 16);
    assert_eq!(
        receiver.requests(),
        16 + 2,
        "each event sent once, the two failures again"
    );
    check_job(&receiver.events(), 4);
}

#[test]
fn events_the_endpoint_rejects_are_reported_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = LineageReceiver::start();
    receiver.answer(400);
    let rejected: Arc<Mutex<Vec<RejectedEvent>>> = Arc::default();
    let seen = rejected.clone();
    let config = OpenLineageConfig::http(receiver.url())
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()))
        .on_rejected(move |r| seen.lock().unwrap().push(r.clone()));
    let (_store, guard) = run_job(config, 1);
    guard.shutdown().unwrap();

    let rejected = rejected.lock().unwrap();
    assert_eq!(rejected.len(), 10);
    assert_eq!(receiver.requests(), 10, "none sent twice");
    assert!(rejected.iter().all(|r| r.status == 400));
    assert_eq!(rejected[0].response, "event refused");
    let first: Value = serde_json::from_str(&rejected[0].event).unwrap();
    assert_eq!(first["eventType"], "START");
}

#[test]
fn server_errors_are_retried_until_the_endpoint_takes_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = LineageReceiver::start();
    receiver.answer(503);
    let config = OpenLineageConfig::http(receiver.url())
        .with_namespace("warehouse")
        .with_writer_config(writer(dir.path()));
    let (_store, mut guard) = run_job(config, 1);
    let lineage = guard.lineage().unwrap();
    assert!(lineage
        .handle()
        .flush_timeout(Duration::from_millis(300))
        .is_err());
    assert!(receiver.requests() > 1, "retried");
    assert!(receiver.events().is_empty());
    receiver.answer(200);
    let stats = guard.shutdown_lineage().unwrap().unwrap();
    assert_eq!(stats.written, 10);
    check_job(&receiver.events(), 1);
}
